package com.example.vfio.binding;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;

/**
 * The fixture host of the binding tests, a GPU server with the cases binding meets, with its
 * simulated kernel and a journal outside the host tree:
 * <pre>
 * group 1   0000:00:01.0  PCI bridge on pcieport
 * group 2   0000:02:00.0  boot VGA on ast
 * none      0000:05:00.0  NIC without an IOMMU group, on e1000e
 * group 14  0000:41:00.0  GPU on nouveau          + 0000:41:00.1 HDMI audio on snd_hda_intel
 * group 16  0000:43:00.0  Grace Hopper GPU on vfio-pci (its alias names nvgrace_gpu_vfio_pci)
 * group 20  0000:60:00.0  accelerator, driverless
 * group 21  0000:61:00.0  device on pci-stub through driver_override
 * group 30  0000:81:00.0  ConnectX PF on mlx5_core with one VF enabled
 * group 31  0000:81:00.2  its VF on mlx5_core (alias names mlx5_vfio_pci)
 * group 40  0000:82:00.0  NVMe disk on nvme
 * group 41  0000:85:00.0  NIC on i40e
 * </pre>
 */
final class GpuServer {
    static final String BRIDGE = "0000:00:01.0";
    static final String BOOT_VGA = "0000:02:00.0";
    static final String NO_GROUP_NIC = "0000:05:00.0";
    static final String GPU = "0000:41:00.0";
    static final String AUDIO = "0000:41:00.1";
    static final String GRACE = "0000:43:00.0";
    static final String ACCEL = "0000:60:00.0";
    static final String STUBBED = "0000:61:00.0";
    static final String PF = "0000:81:00.0";
    static final String VF = "0000:81:00.2";
    static final String NVME = "0000:82:00.0";
    static final String NIC = "0000:85:00.0";

    static final Clock CLOCK = Clock.fixed(Instant.parse("2026-11-24T06:00:00Z"), ZoneOffset.UTC);

    final FakeHost host;
    final Path journalFile;
    SimulatedKernel kernel;

    GpuServer(Path dir) {
        host = FakeHost.at(dir.resolve("host")).kernel("6.12.0-test");
        journalFile = dir.resolve("state/journal.json");
        host.alias("vfio_pci:v000010DEd00002342sv*sd*bc*sc*i*", "nvgrace_gpu_vfio_pci");
        host.alias("vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*", "mlx5_vfio_pci");
        host.driver("vfio-pci", "vfio_pci");
        host.driver("pci-stub", "pci_stub");
        host.device(BRIDGE).ids(0x8086, 0x347a).bridge().group("1").driver("pcieport", null);
        host.device(BOOT_VGA).ids(0x1a03, 0x2000).cls(0x030000).group("2").bootVga().driver("ast", "ast");
        host.device(NO_GROUP_NIC).ids(0x8086, 0x10d3).cls(0x020000).driver("e1000e", "e1000e");
        host.device(GPU).ids(0x10de, 0x2330).cls(0x030200).group("14").driver("nouveau", "nouveau");
        host.device(AUDIO).ids(0x10de, 0x22a3).cls(0x040300).group("14").driver("snd_hda_intel", "snd_hda_intel");
        host.device(GRACE).ids(0x10de, 0x2342).cls(0x030200).group("16").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio0");
        host.devVfio("16");
        host.device(ACCEL).ids(0x1ded, 0x0100).cls(0x120000).group("20");
        host.device(STUBBED).ids(0x1ded, 0x0200).cls(0x120000).group("21").driver("pci-stub", "pci_stub")
                .override("pci-stub");
        host.device(PF).ids(0x15b3, 0x1021).cls(0x020000).group("30").driver("mlx5_core", "mlx5_core")
                .sriov(8, VF);
        host.device(VF).ids(0x15b3, 0x101e).cls(0x020000).group("31").physfn(PF).driver("mlx5_core", "mlx5_core");
        host.device(NVME).ids(0x8086, 0x0a54).cls(0x010802).group("40").driver("nvme", "nvme");
        host.device(NIC).ids(0x8086, 0x1572).cls(0x020000).group("41").driver("i40e", "i40e");
    }

    /** Writes the tree and starts a simulated kernel over it. */
    GpuServer write() {
        host.write();
        kernel = new SimulatedKernel(host)
                .module("nvgrace_gpu_vfio_pci", "nvgrace-gpu-vfio-pci", true)
                .module("mlx5_vfio_pci", "mlx5_vfio_pci", true);
        return this;
    }

    HostRoot root() {
        return host.root();
    }

    BindingJournal journal() {
        return BindingJournal.open(journalFile, CLOCK);
    }

    /** A fresh engine over the same root and journal file, as after a restart. */
    BindingEngine engine(DeviceHolders holders, SysfsWriter writer) {
        return new BindingEngine(root(), writer, kernel, journal(), holders, CLOCK);
    }

    BindingEngine engine() {
        return engine(DeviceHolders.none(), kernel);
    }

    HostAssessment assess() {
        return new ViabilityAnalyzer().assess(new SysfsScanner(root()).scan());
    }

    /** One pass: plan against a fresh scan, then apply. */
    List<DeviceOutcome> run(BindingEngine engine, DesiredDevice... desired) {
        return engine.apply(engine.plan(assess(), List.of(desired)));
    }

    String driverOf(String address) {
        return kernel.driverOf(address);
    }

    String overrideOf(String address) {
        try {
            return Files.readString(host.path().resolve("sys/bus/pci/devices").resolve(address).resolve("driver_override"))
                    .strip();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static DesiredDevice want(String address, String driver) {
        return new DesiredDevice(address, driver, driver.equals("host") ? null : "gpu", "test-policy", null, null, null,
                null);
    }

    static DesiredDevice companion(String address, String of) {
        return new DesiredDevice(address, "vfio-pci", null, "test-policy", null, true, null, of);
    }

    static DesiredDevice forced(String address, String driver) {
        return new DesiredDevice(address, driver, "gpu", "test-policy", null, null, true, null);
    }

    static DesiredDevice unmanaged(String address, String driver) {
        return new DesiredDevice(address, driver, "gpu", "test-policy", null, false, null, null);
    }

    /** The device is where it started: on its host driver, no override, nothing left in the journal. */
    void assertRestored(String address, String hostDriver) {
        assertThat(driverOf(address)).isEqualTo(hostDriver);
        assertThat(overrideOf(address)).isEqualTo("(null)");
        assertThat(journal().entries()).isEmpty();
    }
}
