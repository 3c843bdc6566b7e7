package com.example.vfio.pci;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Tuple;
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

    /**
     * Whatever a driver link points at, the device is said to be on a driver only when the link really leads to
     * that driver's directory in the root's sys/bus/pci/drivers, always when it has the kernel's own form; any
     * other link is the device's problem, which makes it and its group not viable. A rescan that finds the link
     * new and a first scan agree.
     */
    @Property(tries = 200)
    void aDriverIsNamedOnlyWhenItsLinkLeadsToTheRootsDrivers(@ForAll("driverLink") String target) throws IOException {
        FakeHost host = FakeHost.at(dir);
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci").driver("vfio-pci", "vfio_pci").driver("nouveau", "nouveau");
        host.device("0000:41:00.0").ids(0x10de, 0x2330).group("14").vfioDev("vfio0");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).group("14").driver("vfio-pci", "vfio_pci").vfioDev("vfio1");
        host.devVfio("14");
        HostRoot root = host.write().root();
        Files.createDirectories(dir.resolve("elsewhere/sys/bus/pci/drivers/vfio-pci"));
        PciAddress address = PciAddress.parse("0000:41:00.0");
        SysfsScanner rescanning = new SysfsScanner(root);
        rescanning.scan();
        Path link = dir.resolve("sys/devices/pci0000:00/0000:41:00.0/driver");
        Files.createSymbolicLink(link, Path.of(target.replace("$ROOT", dir.toString())));

        HostSnapshot rescan = rescanning.scan();
        HostSnapshot first = new SysfsScanner(root).scan();
        PciDevice device = first.device(address).orElseThrow();
        HostAssessment assessment = new ViabilityAnalyzer().assess(first);

        assertThat(rescan.device(address)).contains(device);
        if (target.equals("../../../bus/pci/drivers/vfio-pci") || target.equals("$ROOT/sys/bus/pci/drivers/vfio-pci")) {
            assertThat(device.driver()).isEqualTo("vfio-pci");
        }
        if (device.driver() != null) {
            Path driverDir = dir.toRealPath().resolve("sys/bus/pci/drivers").resolve(device.driver());
            if (Files.exists(link)) {
                assertThat(link.toRealPath()).isEqualTo(driverDir);
            } else { // a driver being unloaded: named, and said to be gone
                assertThat(driverDir).doesNotExist();
                assertThat(device.problems()).singleElement().asString().contains("which does not exist");
            }
            assertThat(device.driverUnknown()).isFalse();
        } else {
            assertThat(device.driverUnknown()).isTrue();
            assertThat(device.problems()).anySatisfy(p -> assertThat(p).startsWith("driver link points to"));
            assertThat(assessment.verdict(address).viable()).isFalse();
            assertThat(assessment.verdict(address).reasons()).anySatisfy(r -> assertThat(r).startsWith("sysfs: driver link points to"));
            assertThat(assessment.groups().get("14").viable()).isFalse();
            assertThat(assessment.verdict(PciAddress.parse("0000:41:00.1")).viable()).isFalse();
        }
    }

    @Provide
    Arbitrary<String> driverLink() {
        Arbitrary<String> start = Arbitraries.of("", "", "/", "$ROOT/", "$ROOT/elsewhere/");
        Arbitrary<String> climbs = Arbitraries.integers().between(0, 10).map("../"::repeat);
        Arbitrary<String> middle = Arbitraries.of("bus", "pci", "drivers", "sys", "..", ".", "etc", "devices", "pci0000:00")
                .list().ofMaxSize(5).map(parts -> parts.isEmpty() ? "" : String.join("/", parts) + "/");
        Arbitrary<String> name = Arbitraries.of("vfio-pci", "nouveau", "etc", "gone", "bad name", "..");
        Arbitrary<String> composed = Combinators.combine(start, climbs, middle, name)
                .as((s, c, m, n) -> (s.isEmpty() ? c : s) + m + n);
        return Arbitraries.frequencyOf(
                Tuple.of(6, composed),
                Tuple.of(1, Arbitraries.of("../../../bus/pci/drivers/vfio-pci", "$ROOT/sys/bus/pci/drivers/vfio-pci",
                        "../../../bus/pci/drivers/nouveau", "/etc", "../../../bus/pci/drivers/../drivers/vfio-pci",
                        "$ROOT/elsewhere/sys/bus/pci/drivers/vfio-pci", "../../../bus/pci/drivers/gone")));
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
