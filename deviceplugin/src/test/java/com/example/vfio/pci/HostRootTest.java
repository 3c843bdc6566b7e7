package com.example.vfio.pci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class HostRootTest {
    private final HostRoot root = new HostRoot(Path.of("/host"));

    @ParameterizedTest
    @ValueSource(strings = {"../x", "..", "a/b", "vfio-pci/../../..", "", "x y", "vfio\npci"})
    @DisplayName("driver names that could make a path are refused before any path is built")
    void hostileDriverNames(String name) {
        assertThatThrownBy(() -> root.pciDriver(name)).isInstanceOf(InvalidNameException.class)
                .hasMessageStartingWith("not a valid driver name");
    }

    @Test
    @DisplayName("fixed paths stay below the root; climbing out is refused")
    void resolveStaysInside() {
        assertThat(root.resolve("sys/bus/pci/drivers_probe")).isEqualTo(Path.of("/host/sys/bus/pci/drivers_probe"));
        assertThatThrownBy(() -> root.resolve("sys/../../etc/passwd")).isInstanceOf(InvalidNameException.class);
        assertThatThrownBy(() -> root.resolve("/etc/passwd")).isInstanceOf(InvalidNameException.class);
    }

    @Test
    @DisplayName("PCI addresses round-trip in lower case and anything else is refused")
    void pciAddresses() {
        assertThat(PciAddress.parse("0000:41:00.0").toString()).isEqualTo("0000:41:00.0");
        assertThat(PciAddress.parse("0000:AF:1F.7").toString()).isEqualTo("0000:af:1f.7");
        assertThat(root.pciDevice(PciAddress.parse("0000:41:00.0")))
                .isEqualTo(Path.of("/host/sys/bus/pci/devices/0000:41:00.0"));
        for (String bad : new String[] {"41:00.0", "0000:41:00.8", "0000:41:20.0", "0000:41:00.0/../..", "../../..",
                "0000-41-00.0", "g000:41:00.0"}) {
            assertThat(PciAddress.isValid(bad)).as(bad).isFalse();
            assertThatThrownBy(() -> PciAddress.parse(bad)).isInstanceOf(InvalidNameException.class);
        }
    }

    @Test
    @DisplayName("kernel releases with path characters are refused")
    void kernelRelease() {
        assertThat(root.kernelModules("6.12.48-amd64")).isEqualTo(Path.of("/host/lib/modules/6.12.48-amd64"));
        assertThatThrownBy(() -> root.kernelModules("../../etc")).isInstanceOf(InvalidNameException.class);
        assertThatThrownBy(() -> root.kernelModules("..")).isInstanceOf(InvalidNameException.class);
    }
}
