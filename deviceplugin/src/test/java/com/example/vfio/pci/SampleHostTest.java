package com.example.vfio.pci;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SampleHostTest {
    static final Path SHIPPED = Path.of("..", "examples", "sample-host");

    @TempDir
    Path dir;

    @Test
    @DisplayName("the shipped sample host is exactly what SampleHost describes")
    void shippedTreeIsCurrent() throws IOException {
        SampleHost.describe(FakeHost.at(dir)).write();

        assertThat(FakeHost.contentsOf(SHIPPED, false))
                .as("examples/sample-host is stale: regenerate it with "
                        + "'mvn -q -pl deviceplugin -am test-compile && java -cp deviceplugin/target/test-classes:deviceplugin/target/classes com.example.vfio.pci.SampleHost examples/sample-host', then commit")
                .isEqualTo(FakeHost.contentsOf(dir, false));
    }

    @Test
    @DisplayName("on the sample host only the fully vfio-bound groups are ready, and each 'no' says why")
    void sampleHostVerdicts() {
        HostAssessment result = new ViabilityAnalyzer().assess(new SysfsScanner(new HostRoot(SHIPPED)).scan());

        assertThat(result.devices().entrySet().stream().filter(e -> e.getValue().viable()).map(e -> e.getKey().toString()))
                .containsExactly("0000:42:00.0", "0000:42:00.1", "0000:43:00.0", "0000:81:00.2");
        assertThat(result.verdict(PciAddress.parse("0000:41:00.0")).reasons()).anySatisfy(r -> assertThat(r)
                .startsWith("group 14 is not viable: 0000:41:00.1 is bound to snd_hda_intel"));
        assertThat(result.verdict(PciAddress.parse("0000:91:02.0")).reasons())
                .anySatisfy(r -> assertThat(r).contains("0000:91:01.0 is bound to e1000"));
        assertThat(result.verdict(PciAddress.parse("0000:83:00.0")).recommended().module()).isEqualTo("qat_vfio_pci");
        assertThat(result.verdict(PciAddress.parse("0000:81:00.3")).recommended().module()).isEqualTo("mlx5_vfio_pci");
        assertThat(result.snapshot().notes()).isEmpty();
    }

}
