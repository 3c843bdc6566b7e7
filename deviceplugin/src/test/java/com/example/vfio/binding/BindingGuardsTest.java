package com.example.vfio.binding;

import com.example.vfio.pci.FakeHost;
import static com.example.vfio.binding.GpuServer.AUDIO;
import static com.example.vfio.binding.GpuServer.BOOT_VGA;
import static com.example.vfio.binding.GpuServer.BRIDGE;
import static com.example.vfio.binding.GpuServer.GPU;
import static com.example.vfio.binding.GpuServer.GRACE;
import static com.example.vfio.binding.GpuServer.NIC;
import static com.example.vfio.binding.GpuServer.NO_GROUP_NIC;
import static com.example.vfio.binding.GpuServer.NVME;
import static com.example.vfio.binding.GpuServer.PF;
import static com.example.vfio.binding.GpuServer.forced;
import static com.example.vfio.binding.GpuServer.want;
import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.api.BindState;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.binding.PlannedChange.Action;
import com.example.vfio.pci.PciAddress;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every refusal: the device is not touched, and the reason says what to do. */
class BindingGuardsTest {
    @TempDir
    java.nio.file.Path dir;

    GpuServer server;

    @BeforeEach
    void host() {
        server = new GpuServer(dir);
    }

    /** Plans and applies one desired device; asserts it was refused without a single write, and returns why. */
    private String refusal(DeviceHolders holders, DesiredDevice desired) {
        var before = FakeHost.contentsOf(server.host.path(), true);
        BindingEngine engine = server.engine(holders, server.kernel);
        BindPlan plan = engine.plan(server.assess(), List.of(desired));
        assertThat(plan.changes()).singleElement().extracting(PlannedChange::action).isEqualTo(Action.REFUSED);
        List<DeviceOutcome> outcomes = engine.apply(plan);
        assertThat(outcomes).singleElement().extracting(DeviceOutcome::state).isEqualTo(BindState.Refused);
        assertThat(server.kernel.writes()).isEmpty();
        assertThat(server.kernel.modprobes()).isEmpty();
        assertThat(FakeHost.contentsOf(server.host.path(), true)).isEqualTo(before);
        return outcomes.get(0).message();
    }

    private String refusal(DesiredDevice desired) {
        return refusal(DeviceHolders.none(), desired);
    }

    private PlannedChange.Action planned(DesiredDevice desired) {
        return server.engine().plan(server.assess(), List.of(desired)).changes().get(0).action();
    }

    @Test
    @DisplayName("a device a pod holds is never rebound, not even with force")
    void heldByPod() {
        server.write();
        DeviceHolders pods = a -> a.equals(PciAddress.parse(GRACE)) ? Optional.of("pod default/vm-1")
                : Optional.empty();

        assertThat(refusal(pods, forced(GRACE, "auto"))).isEqualTo("held by pod default/vm-1: a device a pod holds is"
                + " never rebound; it is done once the pod releases it");
    }

    @Test
    @DisplayName("a group node a process holds open (QEMU outside Kubernetes) refuses rebinding and names the process")
    void groupNodeOpenByProcess() {
        server.host.processWithOpenFile(4242, "qemu-system-x86", 23, "/dev/vfio/16");
        server.write();

        assertThat(refusal(want(GRACE, "host"))).startsWith("process 4242 (qemu-system-x86) has /dev/vfio/16 open:"
                + " the device is in use");
    }

    @Test
    @DisplayName("a VFIO cdev a process holds open (DPDK through iommufd) refuses rebinding")
    void cdevOpenByProcess() {
        server.host.processWithOpenFile(777, "dpdk-testpmd", 9, "/dev/vfio/devices/vfio0").cdev("vfio0");
        server.write();

        assertThat(refusal(want(GRACE, "auto"))).startsWith("process 777 (dpdk-testpmd) has /dev/vfio/devices/vfio0"
                + " open");
    }

    @Test
    @DisplayName("a VM that opens the group between plan and apply is seen right before the first write")
    void processStartsAfterPlanning() throws Exception {
        server.write();
        BindingEngine engine = server.engine();
        BindPlan plan = engine.plan(server.assess(), List.of(want(GRACE, "auto")));
        assertThat(plan.changes().get(0).action()).isEqualTo(Action.BIND);
        var fd = java.nio.file.Files.createDirectories(server.host.path().resolve("proc/5150/fd"));
        java.nio.file.Files.writeString(server.host.path().resolve("proc/5150/comm"), "qemu-kvm\n");
        java.nio.file.Files.createSymbolicLink(fd.resolve("31"), java.nio.file.Path.of("/dev/vfio/16"));

        List<DeviceOutcome> outcomes = engine.apply(plan);

        assertThat(outcomes).singleElement().satisfies(o -> {
            assertThat(o.state()).isEqualTo(BindState.Refused);
            assertThat(o.message()).startsWith("process 5150 (qemu-kvm) has /dev/vfio/16 open");
        });
        assertThat(server.kernel.writes()).isEmpty();
        assertThat(server.kernel.modprobes()).isEmpty();
    }

    @Test
    @DisplayName("a process with some other file open does not block binding")
    void unrelatedOpenFiles() {
        server.host.processWithOpenFile(100, "bash", 0, "/dev/pts/0").processWithOpenFile(101, "qemu", 5, "/dev/vfio/160");
        server.write();

        assertThat(planned(want(GRACE, "auto"))).isEqualTo(Action.BIND);
    }

    @Test
    @DisplayName("a PCI bridge is refused")
    void bridge() {
        server.write();

        assertThat(refusal(forced(BRIDGE, "vfio-pci"))).startsWith("is a PCI bridge: vfio-pci refuses bridges");
    }

    @Test
    @DisplayName("a device without an IOMMU group is refused")
    void withoutGroup() {
        server.write();

        assertThat(refusal(forced(NO_GROUP_NIC, "vfio-pci"))).startsWith("has no IOMMU group: VFIO cannot isolate it");
    }

    @Test
    @DisplayName("a PF with VFs enabled is refused")
    void pfWithVfs() {
        server.write();

        assertThat(refusal(forced(PF, "vfio-pci"))).startsWith("is an SR-IOV PF with 1 VFs enabled");
    }

    @Test
    @DisplayName("the boot VGA device is refused unless the policy says force")
    void bootVga() {
        server.write();

        assertThat(refusal(want(BOOT_VGA, "vfio-pci")))
                .isEqualTo("boot VGA device (the node's console); set force: true to bind it anyway");
        assertThat(planned(forced(BOOT_VGA, "vfio-pci"))).isEqualTo(Action.BIND);
    }

    @Test
    @DisplayName("the NVMe disk behind / and /boot is refused unless forced")
    void backsMountedFileSystem() {
        server.host.blockDevice("nvme0n1", NVME).blockDevice("nvme0n1p1", NVME).blockDevice("nvme0n1p2", NVME)
                .mount("/dev/nvme0n1p2", "/", "ext4").mount("/dev/nvme0n1p1", "/boot", "vfat")
                .mount("proc", "/proc", "proc");
        server.write();

        assertThat(refusal(want(NVME, "vfio-pci"))).isEqualTo("backs the node's mounted file systems (/, /boot); set"
                + " force: true to bind it anyway");
        assertThat(planned(forced(NVME, "vfio-pci"))).isEqualTo(Action.BIND);
    }

    @Test
    @DisplayName("a disk behind a device-mapper volume mounted on a path with a space is found through slaves/")
    void backsDeviceMapperVolume() throws Exception {
        server.host.blockDevice("nvme0n1p3", NVME).mount("/dev/mapper/vg-data", "/srv/my data", "xfs");
        server.write();
        var sys = server.host.path().resolve("sys");
        var dm = java.nio.file.Files.createDirectories(sys.resolve("devices/virtual/block/dm-0/slaves"));
        java.nio.file.Files.createSymbolicLink(dm.resolve("nvme0n1p3"), java.nio.file.Path.of(
                "../../../../pci0000:00/" + NVME + "/nvme/nvme0/nvme0n1p3"));
        java.nio.file.Files.createSymbolicLink(sys.resolve("class/block/dm-0"),
                java.nio.file.Path.of("../../devices/virtual/block/dm-0"));
        var mapper = java.nio.file.Files.createDirectories(server.host.path().resolve("dev/mapper"));
        java.nio.file.Files.createSymbolicLink(mapper.resolve("vg-data"), java.nio.file.Path.of("../dm-0"));

        assertThat(refusal(want(NVME, "vfio-pci"))).startsWith("backs the node's mounted file systems (/srv/my data)");
    }

    @Test
    @DisplayName("a disk holding active swap is refused")
    void backsSwap() {
        server.host.blockDevice("nvme0n1p4", NVME).swap("/dev/nvme0n1p4");
        server.write();

        assertThat(refusal(want(NVME, "vfio-pci"))).startsWith("backs the node's mounted file systems (swap)");
    }

    @Test
    @DisplayName("a NIC whose interface is up with an address is refused unless forced")
    void backsUpInterface() {
        server.host.netInterface("eth0", NIC, "up").ipv4Route("eth0");
        server.write();

        assertThat(refusal(want(NIC, "vfio-pci"))).isEqualTo("backs the node's network interface eth0 (up, with an"
                + " address); set force: true to bind it anyway");
        assertThat(planned(forced(NIC, "vfio-pci"))).isEqualTo(Action.BIND);
    }

    @Test
    @DisplayName("a NIC with only a global IPv6 address counts; one that is down or only link-local does not")
    void interfaceAddressRules() {
        server.host.netInterface("eth1", NIC, "up").ipv6Address("eth1", true);
        server.write();
        assertThat(refusal(want(NIC, "vfio-pci"))).contains("eth1 (up, with an address)");

        server = new GpuServer(dir.resolve("linklocal"));
        server.host.netInterface("eth1", NIC, "up").ipv6Address("eth1", false);
        server.write();
        assertThat(planned(want(NIC, "vfio-pci"))).isEqualTo(Action.BIND);

        server = new GpuServer(dir.resolve("down"));
        server.host.netInterface("eth1", NIC, "down").ipv4Route("eth1");
        server.write();
        assertThat(planned(want(NIC, "vfio-pci"))).isEqualTo(Action.BIND);
    }

    @Test
    @DisplayName("a NIC enslaved to a bond that carries the node's address is refused")
    void enslavedToBond() {
        server.host.virtualInterface("bond0", "up").netInterface("eth0", NIC, "up").enslave("eth0", "bond0")
                .ipv4Route("bond0");
        server.write();

        assertThat(refusal(want(NIC, "vfio-pci"))).contains("eth0 (in bond0)");
    }

    @Test
    @DisplayName("hostile names are refused before any path is built from them")
    void hostileNames() {
        server.write();

        assertThat(refusal(want("../../../../etc", "vfio-pci"))).startsWith("not a PCI address (dddd:bb:ss.f)");
        assertThat(refusal(new DesiredDevice(GPU, "../../../../etc/passwd", "gpu", "p", null, null, null, null)))
                .startsWith("not a driver name");
        assertThat(refusal(new DesiredDevice(GPU, "vfio-pci\nhost", "gpu", "p", null, null, null, null)))
                .startsWith("not a driver name");
    }

    @Test
    @DisplayName("a device whose driver link leaves the root is refused for every driver, and nothing is written in or outside the root")
    void driverLinkOutsideRoot() throws java.io.IOException {
        java.nio.file.Path outside = java.nio.file.Files.createDirectories(dir.resolve("outside/sys/bus/pci/drivers/e1000e"));
        java.nio.file.Files.writeString(outside.resolve("unbind"), "");
        server.host.device(GpuServer.ACCEL).link("driver", outside.toString());
        server.write();

        for (String driver : List.of("vfio-pci", "auto", "host")) {
            assertThat(refusal(want(GpuServer.ACCEL, driver))).as(driver)
                    .startsWith("its driver link does not lead to a driver in " + server.root() + "/sys/bus/pci/drivers");
        }
        assertThat(outside.resolve("unbind")).isEmptyFile();
    }

    @Test
    @DisplayName("an address the node does not have is refused")
    void unknownDevice() {
        server.write();

        assertThat(refusal(want("0000:ff:1f.7", "vfio-pci"))).isEqualTo("no such PCI device on this node");
    }

    @Test
    @DisplayName("a refused companion does not stop the other members of the group")
    void refusalIsPerDevice() {
        server.host.processWithOpenFile(1, "init", 3, "/dev/null");
        server.write();
        DeviceHolders pods = a -> a.equals(PciAddress.parse(AUDIO)) ? Optional.of("pod media/player")
                : Optional.empty();
        BindingEngine engine = server.engine(pods, server.kernel);

        List<DeviceOutcome> outcomes = engine.apply(engine.plan(server.assess(),
                List.of(want(GPU, "vfio-pci"), GpuServer.companion(AUDIO, GPU))));

        assertThat(Map.of(outcomes.get(0).address(), outcomes.get(0).state(), outcomes.get(1).address(),
                outcomes.get(1).state())).isEqualTo(Map.of(GPU, BindState.Bound, AUDIO, BindState.Refused));
    }
}
