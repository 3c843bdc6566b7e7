package com.example.vfio.pci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.viability.DeviceVerdict;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SysfsScannerTest {
    @TempDir
    Path dir;

    private HostSnapshot scan(FakeHost host) {
        return new SysfsScanner(host.write().root()).scan();
    }

    private static PciAddress at(String address) {
        return PciAddress.parse(address);
    }

    @Test
    @DisplayName("every sysfs fact of a device is read: ids, class, NUMA, header, driver and module, SR-IOV, vfio-dev")
    void readsEveryFact() {
        FakeHost host = FakeHost.at(dir).kernel("6.12.48-amd64");
        host.device("0000:81:00.0").ids(0x15b3, 0x1021).subsystem(0x15b3, 0x0047).cls(0x020000).numa(1).group("30")
                .driver("mlx5_core", "mlx5_core").sriov(8, "0000:81:00.2");
        host.device("0000:81:00.2").ids(0x15b3, 0x101e).numa(1).group("31").physfn("0000:81:00.0")
                .driver("mlx5_vfio_pci", "mlx5_vfio_pci").vfioDev("vfio4").override("mlx5_vfio_pci");
        host.device("0000:02:00.0").ids(0x1a03, 0x2000).cls(0x030000).bootVga().group("2");
        host.device("0000:00:01.0").bridge().group("1").driver("pcieport", null);
        host.devVfio("31").iommufd(true).cdev("vfio4");
        HostSnapshot snapshot = scan(host);

        PciDevice pf = snapshot.device(at("0000:81:00.0")).orElseThrow();
        assertThat(pf.vendorHex()).isEqualTo("15b3");
        assertThat(pf.deviceHex()).isEqualTo("1021");
        assertThat(pf.subsystemVendor()).isEqualTo(0x15b3);
        assertThat(pf.subsystemDevice()).isEqualTo(0x0047);
        assertThat(pf.classHex()).isEqualTo("020000");
        assertThat(pf.numaNode()).isEqualTo(1);
        assertThat(pf.headerType()).isEqualTo(PciDevice.HEADER_ENDPOINT);
        assertThat(pf.driver()).isEqualTo("mlx5_core");
        assertThat(pf.driverModule()).isEqualTo("mlx5_core");
        assertThat(pf.driverOverride()).isNull();
        assertThat(pf.sriovTotalVfs()).isEqualTo(8);
        assertThat(pf.virtfns()).containsExactly(at("0000:81:00.2"));
        assertThat(pf.modalias()).isEqualTo("pci:v000015B3d00001021sv000015B3sd00000047bc02sc00i00");
        assertThat(pf.problems()).isEmpty();

        PciDevice vf = snapshot.device(at("0000:81:00.2")).orElseThrow();
        assertThat(vf.physfn()).isEqualTo(at("0000:81:00.0"));
        assertThat(vf.vfioDevs()).containsExactly("vfio4");
        assertThat(vf.driverOverride()).isEqualTo("mlx5_vfio_pci");
        assertThat(vf.iommuGroup()).isEqualTo("31");

        assertThat(snapshot.device(at("0000:02:00.0")).orElseThrow().bootVga()).isTrue();
        assertThat(snapshot.device(at("0000:02:00.0")).orElseThrow().driver()).isNull();
        PciDevice rootPort = snapshot.device(at("0000:00:01.0")).orElseThrow();
        assertThat(rootPort.isBridge()).isTrue();
        assertThat(rootPort.driverModule()).isNull();

        assertThat(snapshot.kernelRelease()).isEqualTo("6.12.48-amd64");
        assertThat(snapshot.iommuEnabled()).isTrue();
        assertThat(snapshot.groups().get("31").members()).containsExactly(at("0000:81:00.2"));
        assertThat(snapshot.deviceNodes().container()).isTrue();
        assertThat(snapshot.deviceNodes().groups()).containsExactly("31");
        assertThat(snapshot.deviceNodes().iommufd()).isTrue();
        assertThat(snapshot.deviceNodes().cdevs()).containsExactly("vfio4");
        assertThat(snapshot.notes()).isEmpty();
    }

    @Test
    @DisplayName("the PCI driver a loaded VFIO module registers is read from sys/module")
    void moduleDriverNames() {
        FakeHost host = FakeHost.at(dir);
        host.alias("vfio_pci:v00008086d0000E20Bsv*sd*bc*sc*i*", "xe_vfio_pci");
        host.driver("xe-vfio-pci", "xe_vfio_pci").driver("vfio-pci", "vfio_pci");
        HostSnapshot snapshot = scan(host);

        assertThat(snapshot.moduleDrivers()).containsEntry("xe_vfio_pci", "xe-vfio-pci")
                .containsEntry("vfio_pci", "vfio-pci");
    }

    @Test
    @DisplayName("a class that is not hex is reported on the device, which is still listed")
    void malformedClass() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").file("class", "0xzz0300").group("14");
        HostSnapshot snapshot = scan(host);

        PciDevice device = snapshot.device(at("0000:41:00.0")).orElseThrow();
        assertThat(device.classCode()).isEqualTo(-1);
        assertThat(device.classHex()).isNull();
        assertThat(device.problems()).containsExactly("class holds '0xzz0300', not a 6-digit hex number");
    }

    @Test
    @DisplayName("a truncated modalias is reported and not used")
    void truncatedModalias() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").file("modalias", "pci:v000010DEd0000").group("14");
        HostSnapshot snapshot = scan(host);

        PciDevice device = snapshot.device(at("0000:41:00.0")).orElseThrow();
        assertThat(device.modalias()).isNull();
        assertThat(device.problems()).singleElement().asString().contains("not a full PCI modalias (truncated?)");
    }

    @Test
    @DisplayName("a missing vendor file is a problem on the device, not a crash")
    void missingVendor() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").omit("vendor");
        HostSnapshot snapshot = scan(host);

        assertThat(snapshot.device(at("0000:41:00.0")).orElseThrow().problems()).containsExactly("vendor is missing");
    }

    @Test
    @DisplayName("a dangling driver link still names the driver and says it does not exist")
    void danglingDriverLink() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").link("driver", "../../../bus/pci/drivers/gone_driver");
        HostSnapshot snapshot = scan(host);

        PciDevice device = snapshot.device(at("0000:41:00.0")).orElseThrow();
        assertThat(device.driver()).isEqualTo("gone_driver");
        assertThat(device.driverModule()).isNull();
        assertThat(device.problems()).singleElement().asString().contains("which does not exist");
    }

    @Test
    @DisplayName("a driver link that leaves the root names no driver: the device says where it points, is not viable and blocks its group")
    void driverLinkOutsideRoot() throws IOException {
        FakeHost host = FakeHost.at(dir.resolve("host"));
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci").driver("vfio-pci", "vfio_pci");
        // vfio-dev/ present, and the last name a real VFIO driver's: only where the link leads gives it away
        Path otherTree = Files.createDirectories(dir.resolve("other/sys/bus/pci/drivers/vfio-pci"));
        host.device("0000:41:00.0").ids(0x10de, 0x2330).group("14").vfioDev("vfio0").link("driver", "/etc");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).group("14").driver("vfio-pci", "vfio_pci").vfioDev("vfio1");
        host.device("0000:42:00.0").group("15").vfioDev("vfio2").link("driver", otherTree.toString());
        host.device("0000:43:00.0").group("16").vfioDev("vfio3").link("driver", "../../../../../../../../../../etc");
        host.device("0000:44:00.0").group("17").vfioDev("vfio4")
                .link("driver", "../../../bus/pci/drivers/../../../../../etc/vfio-pci");
        host.devVfio("14").devVfio("15").devVfio("16").devVfio("17");
        HostAssessment assessment = new ViabilityAnalyzer().assess(scan(host));

        for (String address : List.of("0000:41:00.0", "0000:42:00.0", "0000:43:00.0", "0000:44:00.0")) {
            PciDevice device = assessment.snapshot().device(at(address)).orElseThrow();
            assertThat(device.driver()).as(address).isNull();
            assertThat(device.driverUnknown()).as(address).isTrue();
            assertThat(device.problems()).as(address).singleElement().asString()
                    .startsWith("driver link points to '").contains("not to a driver in " + dir.resolve("host")
                            + "/sys/bus/pci/drivers: which driver holds the device is unknown");
            DeviceVerdict verdict = assessment.verdict(at(address));
            assertThat(verdict.vfioDriver()).as(address).isFalse();
            assertThat(verdict.viable()).as(address).isFalse();
            assertThat(assessment.groups().get(device.iommuGroup()).viable()).as(address).isFalse();
        }
        assertThat(assessment.snapshot().device(at("0000:41:00.0")).orElseThrow().problems().get(0))
                .startsWith("driver link points to '/etc', not to a driver in");
        // the sibling on vfio-pci is told why its group is blocked
        assertThat(assessment.verdict(at("0000:41:00.1")).reasons()).contains("group 14 is not viable: 0000:41:00.0 is"
                + " bound to a driver its sysfs link does not name (see its reasons)");
        assertThat(assessment.groups().get("14").blockers()).singleElement()
                .satisfies(b -> assertThat(b.address()).isEqualTo(at("0000:41:00.0")))
                .satisfies(b -> assertThat(b.driver()).isNull());
    }

    @Test
    @DisplayName("a rescan judges a driver link as a first scan does: turned outside the root, added there, or dangling")
    void driverLinkOutsideRootOnRescans() throws IOException {
        FakeHost host = FakeHost.at(dir.resolve("host"));
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci").driver("vfio-pci", "vfio_pci");
        host.device("0000:41:00.0").group("14").driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.device("0000:42:00.0").group("15");
        host.device("0000:43:00.0").group("16");
        host.devVfio("14");
        SysfsScanner scanner = new SysfsScanner(host.write().root());
        HostSnapshot first = scanner.scan();
        assertThat(first.device(at("0000:41:00.0")).orElseThrow().driver()).isEqualTo("vfio-pci");
        assertThat(first.device(at("0000:42:00.0")).orElseThrow().isBound()).isFalse();

        Path devices = dir.resolve("host/sys/devices/pci0000:00");
        Files.delete(devices.resolve("0000:41:00.0/driver"));
        Files.createSymbolicLink(devices.resolve("0000:41:00.0/driver"), Path.of("/etc"));
        Files.createSymbolicLink(devices.resolve("0000:42:00.0/driver"), Path.of("/etc"));
        Files.createSymbolicLink(devices.resolve("0000:43:00.0/driver"), dir.resolve("nowhere/vfio-pci"));
        HostSnapshot rescanned = scanner.scan();
        HostSnapshot again = scanner.scan();
        HostSnapshot fresh = new SysfsScanner(host.root()).scan();

        for (String address : List.of("0000:41:00.0", "0000:42:00.0", "0000:43:00.0")) {
            PciDevice device = rescanned.device(at(address)).orElseThrow();
            assertThat(device.driverUnknown()).as(address).isTrue();
            assertThat(device.driver()).as(address).isNull();
            assertThat(device).as(address + ": rescan and first scan agree").isEqualTo(fresh.device(at(address)).orElseThrow());
            assertThat(again.device(at(address)).orElseThrow()).as(address).isEqualTo(device);
            assertThat(new ViabilityAnalyzer().assess(rescanned).verdict(at(address)).viable()).as(address).isFalse();
        }
    }

    @Test
    @DisplayName("a driver being unloaded is a problem of its devices only while its directory is gone")
    void driverUnloadedAndLoadedAgain() throws IOException {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").ids(0x10de, 0x2330).group("14").driver("nouveau", "nouveau");
        SysfsScanner scanner = new SysfsScanner(host.write().root());
        assertThat(scanner.scan().device(at("0000:41:00.0")).orElseThrow().problems()).isEmpty();

        Path driver = dir.resolve("sys/bus/pci/drivers/nouveau");
        Path away = dir.resolve("nouveau-away");
        Files.move(driver, away);
        PciDevice unloading = scanner.scan().device(at("0000:41:00.0")).orElseThrow();
        Files.move(away, driver);
        PciDevice loaded = scanner.scan().device(at("0000:41:00.0")).orElseThrow();

        assertThat(unloading.problems()).singleElement().asString().contains("which does not exist");
        assertThat(loaded.problems()).isEmpty();
        assertThat(loaded.driver()).isEqualTo("nouveau");
    }

    @Test
    @DisplayName("an attribute larger than a sysfs page is refused with its size")
    void hugeAttribute() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").file("numa_node", "1".repeat(10_000));
        HostSnapshot snapshot = scan(host);

        PciDevice device = snapshot.device(at("0000:41:00.0")).orElseThrow();
        assertThat(device.numaNode()).isEqualTo(-1);
        assertThat(device.problems()).singleElement().asString().contains("more than 4096 bytes");
    }

    @Test
    @DisplayName("junk lines in modules.alias are skipped and the first few are named")
    void junkAliasLines() {
        FakeHost host = FakeHost.at(dir);
        host.aliasLine("garbage here").aliasLine("alias only-two").aliasLine("alias vfio_pci:v*d* ../../etc")
                .alias("vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*", "mlx5_vfio_pci")
                .aliasLine("x").aliasLine("y");
        HostSnapshot snapshot = scan(host);

        assertThat(snapshot.aliases().vfioModules()).containsExactly("mlx5_vfio_pci");
        assertThat(snapshot.notes()).hasSize(4);
        assertThat(snapshot.notes().get(0)).contains("modules.alias line 2: not an alias line, skipped: 'garbage here'");
        assertThat(snapshot.notes().get(2)).contains("module name '../../etc'");
        assertThat(snapshot.notes().get(3)).contains("2 more unreadable lines skipped");
    }

    @Test
    @DisplayName("a scanner that scans again reads a changed modules.alias again, and keeps its notes when unchanged")
    void modulesAliasChangedBetweenScans() {
        FakeHost host = FakeHost.at(dir);
        host.aliasLine("garbage here").alias("vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*", "mlx5_vfio_pci");
        SysfsScanner scanner = new SysfsScanner(host.write().root());
        HostSnapshot first = scanner.scan();
        HostSnapshot unchanged = scanner.scan();

        host.alias("vfio_pci:v000010DEd00002342sv*sd*bc*sc*i*", "nvgrace_gpu_vfio_pci").write();
        HostSnapshot changed = scanner.scan();

        assertThat(first.aliases().vfioModules()).containsExactly("mlx5_vfio_pci");
        assertThat(unchanged.aliases().vfioModules()).containsExactly("mlx5_vfio_pci");
        assertThat(unchanged.notes()).isEqualTo(first.notes()).singleElement().asString().contains("garbage here");
        assertThat(changed.aliases().vfioModules()).containsExactly("mlx5_vfio_pci", "nvgrace_gpu_vfio_pci");
    }

    @Test
    @DisplayName("a scanner that scans again sees a driver moved in place, and a device replaced at the same address")
    void rescansSeeDriverMovesAndReplacedDevices() throws IOException {
        FakeHost host = FakeHost.at(dir);
        host.driver("vfio-pci", "vfio_pci");
        host.device("0000:41:00.0").ids(0x10de, 0x2330).numa(0).group("14").driver("nouveau", "nouveau");
        SysfsScanner scanner = new SysfsScanner(host.write().root());
        assertThat(scanner.scan().device(at("0000:41:00.0")).orElseThrow().driver()).isEqualTo("nouveau");

        Path device = dir.resolve("sys/devices/pci0000:00/0000:41:00.0");
        Files.writeString(device.resolve("driver_override"), "vfio-pci\n"); // the directory itself is unchanged
        Files.delete(device.resolve("driver"));
        Files.createSymbolicLink(device.resolve("driver"), Path.of("../../../bus/pci/drivers/vfio-pci"));
        Files.createDirectories(device.resolve("vfio-dev/vfio0"));
        PciDevice moved = scanner.scan().device(at("0000:41:00.0")).orElseThrow();

        host.remove("0000:41:00.0");
        host.device("0000:41:00.0").ids(0x1002, 0x740f).numa(1).group("14");
        host.write();
        PciDevice replaced = scanner.scan().device(at("0000:41:00.0")).orElseThrow();

        assertThat(moved.driver()).isEqualTo("vfio-pci");
        assertThat(moved.vfioDevs()).containsExactly("vfio0");
        assertThat(moved.vendor()).isEqualTo(0x10de);
        assertThat(moved.driverOverride()).isEqualTo("vfio-pci");
        assertThat(replaced.vendor()).isEqualTo(0x1002);
        assertThat(replaced.device()).isEqualTo(0x740f);
        assertThat(replaced.numaNode()).isEqualTo(1);
        assertThat(replaced.driver()).isNull();
    }

    @Test
    @DisplayName("a rescan of an unchanged host hands back the same snapshot; a driver move, a new one sharing the untouched devices")
    void unchangedHostGivesTheSameSnapshot() throws IOException {
        FakeHost host = FakeHost.at(dir);
        host.driver("vfio-pci", "vfio_pci");
        host.device("0000:41:00.0").ids(0x10de, 0x2330).group("14").driver("nouveau", "nouveau");
        host.device("0000:42:00.0").ids(0x10de, 0x2330).group("15").driver("nouveau", "nouveau");
        SysfsScanner scanner = new SysfsScanner(host.write().root());
        HostSnapshot first = scanner.scan();
        HostSnapshot again = scanner.scan();

        Path device = dir.resolve("sys/devices/pci0000:00/0000:41:00.0");
        Files.delete(device.resolve("driver"));
        Files.createSymbolicLink(device.resolve("driver"), Path.of("../../../bus/pci/drivers/vfio-pci"));
        HostSnapshot moved = scanner.scan();

        assertThat(again).isSameAs(first);
        assertThat(moved).isNotSameAs(first);
        assertThat(moved.device(at("0000:41:00.0")).orElseThrow().driver()).isEqualTo("vfio-pci");
        assertThat(moved.device(at("0000:42:00.0")).orElseThrow()).isSameAs(first.device(at("0000:42:00.0")).orElseThrow());
    }

    @Test
    @DisplayName("a device read before the kernel gave it its IOMMU group gets it, and a place among the members, at the next scan")
    void deviceReadBeforeItsGroupGetsItNextScan() throws IOException {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").ids(0x10de, 0x2330).group("14").driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).group("14").driver("snd_hda_intel", "snd_hda_intel");
        host.devVfio("14");
        host.write();
        // the kernel links the device into the bus first, and into its IOMMU group a moment later
        Path groupLink = dir.resolve("sys/devices/pci0000:00/0000:41:00.1/iommu_group");
        Path member = dir.resolve("sys/kernel/iommu_groups/14/devices/0000:41:00.1");
        Path groupTarget = Files.readSymbolicLink(groupLink);
        Path memberTarget = Files.readSymbolicLink(member);
        Files.delete(groupLink);
        Files.delete(member);
        SysfsScanner scanner = new SysfsScanner(host.root());
        HostSnapshot midAdd = scanner.scan();

        Files.createSymbolicLink(groupLink, groupTarget);
        Files.createSymbolicLink(member, memberTarget);
        HostSnapshot next = scanner.scan();
        HostSnapshot fresh = new SysfsScanner(host.root()).scan();

        assertThat(midAdd.device(at("0000:41:00.1")).orElseThrow().iommuGroup()).isNull();
        assertThat(next.device(at("0000:41:00.1")).orElseThrow().iommuGroup()).isEqualTo("14");
        assertThat(next.group("14").orElseThrow().members()).containsExactly(at("0000:41:00.0"), at("0000:41:00.1"));
        assertThat(next.devices()).isEqualTo(fresh.devices());
        assertThat(next.groups()).isEqualTo(fresh.groups());
        assertThat(new ViabilityAnalyzer().assess(next).groups().get("14").viable()).isFalse();
    }

    @Test
    @DisplayName("a scanner that scans again lists a group's members again when one of them is unplugged or plugged in")
    void rescansFollowGroupMembers() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").ids(0x10de, 0x2330).group("14");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).group("14");
        SysfsScanner scanner = new SysfsScanner(host.write().root());
        IommuGroup before = scanner.scan().group("14").orElseThrow();
        IommuGroup unchanged = scanner.scan().group("14").orElseThrow();

        unplug("0000:41:00.1", "14");
        HostSnapshot afterUnplug = scanner.scan();
        host.write();
        IommuGroup afterReplug = scanner.scan().group("14").orElseThrow();

        assertThat(before.members()).containsExactly(at("0000:41:00.0"), at("0000:41:00.1"));
        assertThat(unchanged).isEqualTo(before);
        assertThat(afterUnplug.devices()).containsOnlyKeys(at("0000:41:00.0"));
        assertThat(afterUnplug.group("14").orElseThrow().members()).containsExactly(at("0000:41:00.0"));
        assertThat(afterReplug.members()).containsExactly(at("0000:41:00.0"), at("0000:41:00.1"));
    }

    @Test
    @DisplayName("a device seen before whose link is turned to a directory outside the root is dropped on the next scan")
    void knownDeviceLinkMovedOutsideRoot() throws IOException {
        FakeHost host = FakeHost.at(dir.resolve("host"));
        host.device("0000:41:00.0").ids(0x10de, 0x2330).group("14");
        host.device("0000:42:00.0").group("15");
        SysfsScanner scanner = new SysfsScanner(host.write().root());
        assertThat(scanner.scan().devices()).containsKey(at("0000:41:00.0"));

        Path outside = Files.createDirectories(dir.resolve("outside/0000:41:00.0"));
        Files.writeString(outside.resolve("vendor"), "0x8086\n");
        Path link = dir.resolve("host/sys/bus/pci/devices/0000:41:00.0");
        Files.delete(link);
        Files.createSymbolicLink(link, outside);
        HostSnapshot snapshot = scanner.scan();

        assertThat(snapshot.devices()).containsOnlyKeys(at("0000:42:00.0"));
        assertThat(snapshot.notes()).singleElement().asString().contains("0000:41:00.0: its sysfs link points outside");
    }

    /** Hot unplug the way the kernel leaves sysfs: the bus link, the group's entry, then the directory. */
    private void unplug(String address, String group) {
        try {
            Files.delete(dir.resolve("sys/bus/pci/devices/" + address));
            Files.delete(dir.resolve("sys/kernel/iommu_groups/" + group + "/devices/" + address));
            FakeHost.deleteTree(dir.resolve("sys/devices/pci0000:00/" + address));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    @DisplayName("a modules.alias far larger than any real one is ignored with a note")
    void hugeModulesAlias() throws IOException {
        FakeHost host = FakeHost.at(dir).kernel("6.12.0");
        host.write();
        try (RandomAccessFile file = new RandomAccessFile(
                dir.resolve("lib/modules/6.12.0/modules.alias").toFile(), "rw")) {
            file.setLength(SysfsScanner.MAX_ALIAS_FILE_BYTES + 1);
        }
        HostSnapshot snapshot = new SysfsScanner(host.root()).scan();

        assertThat(snapshot.aliases().vfioAliases()).isEmpty();
        assertThat(snapshot.notes()).singleElement().asString().contains("far more than a module alias list: ignored");
    }

    @Test
    @DisplayName("a device whose sysfs directory is gone is skipped and said to have disappeared")
    void deviceGoneBeforeItIsRead() throws IOException {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").group("14");
        host.device("0000:42:00.0").group("15");
        host.write();
        FakeHost.deleteTree(dir.resolve("sys/devices/pci0000:00/0000:41:00.0"));
        HostSnapshot snapshot = new SysfsScanner(host.root()).scan();

        assertThat(snapshot.devices()).containsOnlyKeys(at("0000:42:00.0"));
        assertThat(snapshot.notes()).contains("0000:41:00.0 disappeared during the scan (hot unplug?): skipped");
    }

    @Test
    @DisplayName("devices unplugged while scans run never break a scan: each device is whole or absent")
    void hotUnplugDuringScans() throws Exception {
        FakeHost host = FakeHost.at(dir);
        for (int i = 0; i < 64; i++) {
            host.device(String.format("0000:%02x:00.0", i + 1)).ids(0x10de, 0x2330).group(Integer.toString(i));
        }
        host.write();
        AtomicBoolean done = new AtomicBoolean();
        List<Throwable> failures = new ArrayList<>();
        Thread unplugger = new Thread(() -> {
            try {
                for (int i = 0; i < 64; i++) {
                    // the kernel's order: bus_remove_device drops the bus link, then kobject_del the directory
                    String address = String.format("0000:%02x:00.0", i + 1);
                    Files.delete(dir.resolve("sys/bus/pci/devices/" + address));
                    FakeHost.deleteTree(dir.resolve("sys/devices/pci0000:00/" + address));
                    Thread.sleep(1);
                }
            } catch (Exception e) {
                failures.add(e);
            } finally {
                done.set(true);
            }
        });
        unplugger.start();
        SysfsScanner scanner = new SysfsScanner(host.root());
        while (!done.get()) {
            HostSnapshot snapshot = scanner.scan();
            assertThat(snapshot.allDevices()).allSatisfy(d -> {
                assertThat(d.vendor()).isEqualTo(0x10de);
                assertThat(d.device()).isEqualTo(0x2330);
            });
        }
        unplugger.join();
        assertThat(failures).isEmpty();
        HostSnapshot after = scanner.scan();
        assertThat(after.devices()).isEmpty();
    }

    @Test
    @DisplayName("a device link that points outside the root is never followed")
    void linkOutsideRoot() throws IOException {
        FakeHost host = FakeHost.at(dir.resolve("host"));
        host.device("0000:41:00.0");
        host.write();
        Path outside = Files.createDirectories(dir.resolve("outside/0000:99:00.0"));
        Files.writeString(outside.resolve("vendor"), "0x8086\n");
        Files.createSymbolicLink(dir.resolve("host/sys/bus/pci/devices/0000:99:00.0"), outside);
        HostSnapshot snapshot = new SysfsScanner(host.root()).scan();

        assertThat(snapshot.devices()).containsOnlyKeys(at("0000:41:00.0"));
        assertThat(snapshot.notes()).singleElement().asString().contains("0000:99:00.0: its sysfs link points outside");
    }

    @Test
    @DisplayName("entries that are not PCI addresses are skipped with a note")
    void hostileEntryNames() throws IOException {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0");
        host.write();
        Files.createSymbolicLink(dir.resolve("sys/bus/pci/devices/..evil"), Path.of("../../../devices"));
        HostSnapshot snapshot = new SysfsScanner(host.root()).scan();

        assertThat(snapshot.devices()).containsOnlyKeys(at("0000:41:00.0"));
        assertThat(snapshot.notes()).singleElement().asString().contains("'..evil' is not a PCI address");
    }

    @Test
    @DisplayName("a root that does not exist, or is not a host, is a clear error")
    void badRoot() throws IOException {
        assertThatThrownBy(() -> new SysfsScanner(new HostRoot(dir.resolve("nope"))).scan())
                .isInstanceOf(HostReadException.class)
                .hasMessageContaining("does not exist or is not a directory (check --root)");
        Files.createDirectories(dir.resolve("empty"));
        assertThatThrownBy(() -> new SysfsScanner(new HostRoot(dir.resolve("empty"))).scan())
                .isInstanceOf(HostReadException.class)
                .hasMessageContaining("sys/bus/pci/devices does not exist");
    }

    @Test
    @DisplayName("a missing kernel release or modules.alias is a note, and scanning goes on")
    void missingReleaseAndAliases() throws IOException {
        FakeHost host = FakeHost.at(dir).noModulesAlias();
        host.device("0000:41:00.0");
        host.write();
        HostSnapshot withoutAliases = new SysfsScanner(host.root()).scan();
        assertThat(withoutAliases.notes()).singleElement().asString().contains("modules.alias is missing");

        Files.delete(dir.resolve("proc/sys/kernel/osrelease"));
        HostSnapshot withoutRelease = new SysfsScanner(host.root()).scan();
        assertThat(withoutRelease.kernelRelease()).isNull();
        assertThat(withoutRelease.notes()).singleElement().asString().contains("kernel release unknown");
        assertThat(withoutRelease.devices()).hasSize(1);
    }
}
