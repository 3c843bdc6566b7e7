package com.example.vfio.viability;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.pci.ModuleAliases;
import java.io.BufferedReader;
import java.io.StringReader;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class DriverChooserTest {
    private static final String CONNECTX_VF = "pci:v000015B3d0000101Esv000015B3sd00000047bc02sc00i00";

    private static DriverChooser chooser(String aliases, Map<String, String> loaded) {
        return new DriverChooser(ModuleAliases.parse(new BufferedReader(new StringReader(aliases)), "modules.alias"),
                loaded);
    }

    @Test
    @DisplayName("the most specific alias wins even when a wider one comes first in the file")
    void mostSpecificWins() {
        DriverChooser chooser = chooser("""
                alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci
                alias vfio_pci:v000015B3d*sv*sd*bc*sc*i* wide_vendor_vfio_pci
                alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci
                """, Map.of());

        assertThat(chooser.best(CONNECTX_VF).module()).isEqualTo("mlx5_vfio_pci");
        assertThat(chooser.best(CONNECTX_VF).matchedAlias()).isEqualTo("vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*");
    }

    @Test
    @DisplayName("equally specific aliases are decided by file order")
    void tiesByFileOrder() {
        DriverChooser chooser = chooser("""
                alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* first_vfio_pci
                alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* second_vfio_pci
                """, Map.of());

        assertThat(chooser.best(CONNECTX_VF).module()).isEqualTo("first_vfio_pci");
    }

    @Test
    @DisplayName("no matching variant falls back to vfio-pci")
    void fallbackToVfioPci() {
        DriverChooser chooser = chooser("alias vfio_pci:v000010DEd00002342sv*sd*bc*sc*i* nvgrace_gpu_vfio_pci\n",
                Map.of());

        DriverChoice choice = chooser.best(CONNECTX_VF);
        assertThat(choice).isEqualTo(new DriverChoice("vfio_pci", "vfio-pci", null));
        assertThat(choice.isFallback()).isTrue();
    }

    @Test
    @DisplayName("hex is compared without regard to case (older kernels printed lower case)")
    void caseInsensitiveHex() {
        DriverChooser chooser = chooser("alias vfio_pci:v000015b3d0000101esv*sd*bc*sc*i* mlx5_vfio_pci\n", Map.of());

        assertThat(chooser.best(CONNECTX_VF).module()).isEqualTo("mlx5_vfio_pci");
        assertThat(chooser.best(CONNECTX_VF.toLowerCase()).module()).isEqualTo("mlx5_vfio_pci");
    }

    @Test
    @DisplayName("the recommended driver is the name the loaded module registers")
    void driverNameOfLoadedModule() {
        DriverChooser chooser = chooser("alias vfio_pci:v00008086d0000E20Bsv*sd*bc*sc*i* xe_vfio_pci\n",
                Map.of("xe_vfio_pci", "xe-vfio-pci"));

        assertThat(chooser.best("pci:v00008086d0000E20Bsv00000000sd00000000bc03sc00i00").driver())
                .isEqualTo("xe-vfio-pci");
    }

    @Test
    @DisplayName("non-vfio aliases and junk lines are never candidates")
    void onlyVfioAliasesCount() {
        DriverChooser chooser = chooser("""
                alias pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_core
                this is not an alias line
                alias vfio_pci:v000015B3d0000101E
                """, Map.of());

        assertThat(chooser.best(CONNECTX_VF).isFallback()).isTrue();
    }

    @Test
    @DisplayName("an unreadable modalias falls back to vfio-pci")
    void unreadableModalias() {
        DriverChooser chooser = chooser("alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n", Map.of());

        assertThat(chooser.best((String) null)).isEqualTo(new DriverChoice("vfio_pci", "vfio-pci", null));
    }
}
