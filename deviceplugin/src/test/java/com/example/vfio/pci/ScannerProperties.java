package com.example.vfio.pci;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.viability.ViabilityAnalyzer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterProperty;

/** Whatever a sysfs attribute holds, a scan and its assessment finish and say what was wrong. */
class ScannerProperties {
    private final Path dir;

    ScannerProperties() throws IOException {
        dir = Files.createTempDirectory("scanner-properties");
    }

    @AfterProperty
    void cleanUp() throws IOException {
        FakeHost.deleteTree(dir);
    }

    @Property(tries = 150)
    void anyAttributeContentIsReadOrReported(@ForAll("attribute") String file, @ForAll("content") String content) {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").ids(0x10de, 0x2330).group("14").driver("vfio-pci", "vfio_pci").file(file, content);
        host.device("0000:41:00.1").group("14");
        host.devVfio("14");
        HostSnapshot snapshot = new SysfsScanner(host.write().root()).scan();
        new ViabilityAnalyzer().assess(snapshot);

        assertThat(snapshot.devices()).containsKey(PciAddress.parse("0000:41:00.0"));
    }

    @Provide
    Arbitrary<String> attribute() {
        return Arbitraries.of("vendor", "device", "class", "modalias", "numa_node", "driver_override", "boot_vga",
                "subsystem_vendor", "sriov_totalvfs", "sriov_numvfs");
    }

    @Provide
    Arbitrary<String> content() {
        return Arbitraries.oneOf(
                Arbitraries.strings().ofMaxLength(40),
                Arbitraries.strings().withChars("0123456789abcdefxX-").ofMaxLength(12),
                Arbitraries.strings().withChars("pci:vdsbcisc0123456789ABCDEF").ofMaxLength(60));
    }
}
