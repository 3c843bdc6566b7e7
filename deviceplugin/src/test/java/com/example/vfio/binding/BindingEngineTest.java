package com.example.vfio.binding;

import static com.example.vfio.binding.GpuServer.ACCEL;
import static com.example.vfio.binding.GpuServer.AUDIO;
import static com.example.vfio.binding.GpuServer.GPU;
import static com.example.vfio.binding.GpuServer.GRACE;
import static com.example.vfio.binding.GpuServer.NIC;
import static com.example.vfio.binding.GpuServer.STUBBED;
import static com.example.vfio.binding.GpuServer.VF;
import static com.example.vfio.binding.GpuServer.companion;
import static com.example.vfio.binding.GpuServer.unmanaged;
import static com.example.vfio.binding.GpuServer.want;
import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.api.BindResult;
import com.example.vfio.api.BindState;
import com.example.vfio.binding.SysfsWriteException.Errno;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.viability.HostAssessment;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BindingEngineTest {
    @TempDir
    java.nio.file.Path dir;

    GpuServer server;

    @BeforeEach
    void host() {
        server = new GpuServer(dir).write();
    }

    private static DeviceOutcome of(List<DeviceOutcome> outcomes, String address) {
        return outcomes.stream().filter(o -> o.address().equals(address)).findFirst().orElseThrow();
    }

    @Test
    @DisplayName("a GPU and its HDMI audio companion go to vfio-pci, the companion first, and their group becomes viable")
    void gpuWithCompanion() {
        List<DeviceOutcome> outcomes = server.run(server.engine(), want(GPU, "auto"), companion(AUDIO, GPU));

        assertThat(outcomes).extracting(DeviceOutcome::state).containsOnly(BindState.Bound);
        assertThat(server.kernel.writes()).containsExactly(
                "override 0000:41:00.1 vfio-pci", "unbind 0000:41:00.1 snd_hda_intel", "probe 0000:41:00.1",
                "override 0000:41:00.0 vfio-pci", "unbind 0000:41:00.0 nouveau", "probe 0000:41:00.0");
        HostAssessment after = server.assess();
        assertThat(after.groupOf(PciAddress.parse(GPU)).viable()).isTrue();
        assertThat(after.verdict(PciAddress.parse(GPU)).viable()).isTrue();
        assertThat(of(outcomes, GPU).message()).startsWith("bound to vfio-pci (was nouveau); auto: no vfio_pci alias");
        assertThat(of(outcomes, AUDIO).message()).isEqualTo("bound to vfio-pci (was snd_hda_intel); companion of"
                + " 0000:41:00.0: IOMMU group 14 is viable only when all of it is on VFIO drivers");
        assertThat(server.kernel.modprobes()).isEmpty();
    }

    @Test
    @DisplayName("auto loads the variant module its vfio_pci alias names and binds the driver name the module registers")
    void autoPicksVariantDriver() {
        List<DeviceOutcome> outcomes = server.run(server.engine(), want(GRACE, "auto"));

        DeviceOutcome grace = of(outcomes, GRACE);
        assertThat(grace.state()).isEqualTo(BindState.Bound);
        assertThat(grace.fromDriver()).isEqualTo("vfio-pci");
        assertThat(grace.toDriver()).isEqualTo("nvgrace-gpu-vfio-pci");
        assertThat(grace.message()).contains("auto: alias vfio_pci:v000010DEd00002342sv*sd*bc*sc*i*");
        assertThat(server.kernel.modprobes()).containsExactly("nvgrace_gpu_vfio_pci");
        assertThat(server.overrideOf(GRACE)).isEqualTo("nvgrace-gpu-vfio-pci");
        assertThat(server.assess().verdict(PciAddress.parse(GRACE)).viable()).isTrue();
    }

    @Test
    @DisplayName("an explicit driver may be named by its driver or its module name")
    void driverOrModuleName() {
        List<DeviceOutcome> outcomes = server.run(server.engine(), want(GRACE, "nvgrace-gpu-vfio-pci"),
                want(VF, "mlx5_vfio_pci"));

        assertThat(of(outcomes, GRACE).state()).isEqualTo(BindState.Bound);
        assertThat(server.driverOf(GRACE)).isEqualTo("nvgrace-gpu-vfio-pci");
        assertThat(of(outcomes, VF).state()).isEqualTo(BindState.Bound);
        assertThat(server.driverOf(VF)).isEqualTo("mlx5_vfio_pci");
        assertThat(server.kernel.modprobes()).containsExactlyInAnyOrder("nvgrace_gpu_vfio_pci", "mlx5_vfio_pci");
    }

    @Test
    @DisplayName("a device already on the desired driver is Unchanged and nothing is written")
    void alreadyBound() {
        List<DeviceOutcome> outcomes = server.run(server.engine(), want(GRACE, "vfio-pci"));

        assertThat(of(outcomes, GRACE).state()).isEqualTo(BindState.Unchanged);
        assertThat(of(outcomes, GRACE).message()).startsWith("already on vfio-pci");
        assertThat(server.kernel.writes()).isEmpty();
        assertThat(server.kernel.modprobes()).isEmpty();
    }

    @Test
    @DisplayName("host gives a device back to the driver the journal recorded, and the journal forgets it")
    void hostRestoresOriginalDriver() {
        server.run(server.engine(), want(AUDIO, "vfio-pci"));
        assertThat(server.journal().originalDriver(PciAddress.parse(AUDIO))).contains("snd_hda_intel");

        List<DeviceOutcome> outcomes = server.run(server.engine(), want(AUDIO, "host"));

        assertThat(of(outcomes, AUDIO).state()).isEqualTo(BindState.Bound);
        assertThat(of(outcomes, AUDIO).message()).isEqualTo("given back to snd_hda_intel");
        server.assertRestored(AUDIO, "snd_hda_intel");
    }

    @Test
    @DisplayName("host gives the companions bound along with a device back with it, from the journal")
    void companionsGoBackWithTheirDevice() {
        server.run(server.engine(), want(GPU, "vfio-pci"), companion(AUDIO, GPU));
        assertThat(server.journal().entry(PciAddress.parse(AUDIO)).orElseThrow().companionOf()).isEqualTo(GPU);

        List<DeviceOutcome> outcomes = server.run(server.engine(), want(GPU, "host"));

        assertThat(outcomes).extracting(DeviceOutcome::address).containsExactly(GPU, AUDIO);
        assertThat(of(outcomes, AUDIO).state()).isEqualTo(BindState.Bound);
        assertThat(of(outcomes, AUDIO).message()).isEqualTo("given back to snd_hda_intel");
        assertThat(server.driverOf(GPU)).isEqualTo("nouveau");
        assertThat(server.driverOf(AUDIO)).isEqualTo("snd_hda_intel");
        assertThat(server.kernel.writes().subList(6, 12)).containsExactly("override 0000:41:00.0 \\n",
                "unbind 0000:41:00.0 vfio-pci", "probe 0000:41:00.0", "override 0000:41:00.1 \\n",
                "unbind 0000:41:00.1 vfio-pci", "probe 0000:41:00.1");
        assertThat(server.journal().entries()).isEmpty();
    }

    @Test
    @DisplayName("host restores an original driver_override as well as the driver it chose")
    void hostRestoresOriginalOverride() {
        server.run(server.engine(), want(STUBBED, "vfio-pci"));
        assertThat(server.driverOf(STUBBED)).isEqualTo("vfio-pci");

        List<DeviceOutcome> outcomes = server.run(server.engine(), want(STUBBED, "host"));

        assertThat(of(outcomes, STUBBED).state()).isEqualTo(BindState.Bound);
        assertThat(server.driverOf(STUBBED)).isEqualTo("pci-stub");
        assertThat(server.overrideOf(STUBBED)).isEqualTo("pci-stub");
        assertThat(server.journal().entries()).isEmpty();
    }

    @Test
    @DisplayName("host without a journal entry clears the override and lets the kernel bind the native driver")
    void hostWithoutJournalUsesNativeDriver() {
        server.host.device(GPU).driver("vfio-pci", "vfio_pci").vfioDev("vfio1").override("vfio-pci");
        server.host.devVfio("14").driver("nouveau", "nouveau");
        server.write();
        server.kernel.nativeDriver(GPU, "nouveau");

        List<DeviceOutcome> outcomes = server.run(server.engine(), want(GPU, "host"));

        assertThat(of(outcomes, GPU).state()).isEqualTo(BindState.Bound);
        assertThat(server.driverOf(GPU)).isEqualTo("nouveau");
        assertThat(server.overrideOf(GPU)).isEqualTo("(null)");
        assertThat(server.kernel.writes()).containsExactly("override 0000:41:00.0 \\n",
                "unbind 0000:41:00.0 vfio-pci", "probe 0000:41:00.0");
    }

    @Test
    @DisplayName("a device that was driverless before binding is left driverless when given back")
    void driverlessStaysDriverless() {
        server.run(server.engine(), want(ACCEL, "auto"));
        assertThat(server.driverOf(ACCEL)).isEqualTo("vfio-pci");

        List<DeviceOutcome> outcomes = server.run(server.engine(), want(ACCEL, "host"));

        assertThat(of(outcomes, ACCEL).message()).isEqualTo("given back: left driverless, as it was");
        assertThat(server.driverOf(ACCEL)).isNull();
        assertThat(server.journal().entries()).isEmpty();
    }

    @Test
    @DisplayName("after a reboot put the device back on its host driver, host is Unchanged and the journal forgets it")
    void rebootRestoredOriginal() {
        server.run(server.engine(), want(AUDIO, "vfio-pci"));
        server.write(); // the reboot: every driver_override gone, native drivers bound again

        List<DeviceOutcome> outcomes = server.run(server.engine(), want(AUDIO, "host"));

        assertThat(of(outcomes, AUDIO).state()).isEqualTo(BindState.Unchanged);
        assertThat(server.kernel.writes()).isEmpty();
        assertThat(server.journal().entries()).isEmpty();
    }

    @Test
    @DisplayName("managed: false never rebinds: the device is only reported")
    void unmanagedIsOnlyReported() {
        List<DeviceOutcome> outcomes = server.run(server.engine(), unmanaged(GPU, "vfio-pci"));

        assertThat(of(outcomes, GPU).state()).isEqualTo(BindState.Unchanged);
        assertThat(of(outcomes, GPU).message()).isEqualTo("managed: false, so never rebound: left on nouveau, not a"
                + " VFIO driver, so it is not offered to VMs");
        assertThat(server.kernel.writes()).isEmpty();
    }

    @Test
    @DisplayName("EBUSY on unbind rolls the device back to its driver and says why")
    void unbindBusyRollsBack() {
        server.kernel.failNext(AUDIO, "unbind", Errno.EBUSY);

        DeviceOutcome audio = of(server.run(server.engine(), want(AUDIO, "vfio-pci")), AUDIO);

        assertThat(audio.state()).isEqualTo(BindState.Failed);
        assertThat(audio.message()).contains("EBUSY").endsWith("rolled back to snd_hda_intel");
        server.assertRestored(AUDIO, "snd_hda_intel");
    }

    @Test
    @DisplayName("a probe that silently binds nothing is caught by verification and rolled back")
    void silentProbeRollsBack() {
        server.kernel.probeBindsNothing(AUDIO);

        DeviceOutcome audio = of(server.run(server.engine(), want(AUDIO, "vfio-pci")), AUDIO);

        assertThat(audio.state()).isEqualTo(BindState.Failed);
        assertThat(audio.message()).startsWith("drivers_probe bound nothing: vfio-pci did not take the device");
        assertThat(server.driverOf(AUDIO)).isNull();
        assertThat(audio.message()).contains("rolling back did not restore snd_hda_intel");
        assertThat(server.journal().entry(PciAddress.parse(AUDIO)).orElseThrow().step()).isNotNull();
    }

    @Test
    @DisplayName("a probe that binds nothing once is rolled back to the host driver by the rollback's own probe")
    void silentProbeOnceRollsBackCleanly() {
        server.kernel.probeBindsNothing(ACCEL);

        DeviceOutcome accel = of(server.run(server.engine(), want(ACCEL, "vfio-pci")), ACCEL);

        assertThat(accel.state()).isEqualTo(BindState.Failed);
        assertThat(accel.message()).endsWith("rolled back to no driver");
        assertThat(server.overrideOf(ACCEL)).isEqualTo("(null)");
        assertThat(server.journal().entries()).isEmpty();
    }

    @Test
    @DisplayName("EINVAL on the driver_override write leaves the device as it was")
    void overrideInvalid() {
        server.kernel.failNext(GPU, "override", Errno.EINVAL);

        DeviceOutcome gpu = of(server.run(server.engine(), want(GPU, "vfio-pci")), GPU);

        assertThat(gpu.state()).isEqualTo(BindState.Failed);
        assertThat(gpu.message()).contains("EINVAL").endsWith("rolled back to nouveau");
        assertThat(server.driverOf(GPU)).isEqualTo("nouveau");
        assertThat(server.kernel.writes()).containsExactly("override 0000:41:00.0 vfio-pci");
    }

    @Test
    @DisplayName("a journal that cannot be written between two writes stops the bind and rolls the device back")
    void journalLostMidBind() {
        server.kernel.afterWrite(AUDIO, "override", () -> {
            try {
                // something else took the journal's place: the atomic rename onto it fails
                Files.delete(server.journalFile);
                Files.createDirectories(server.journalFile.resolve("in-the-way"));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });

        DeviceOutcome audio = of(server.run(server.engine(), want(AUDIO, "vfio-pci")), AUDIO);

        assertThat(audio.state()).isEqualTo(BindState.Failed);
        assertThat(audio.message()).startsWith("cannot write the binding journal")
                .contains("; rolled back to snd_hda_intel (the journal could not record that: cannot write");
        assertThat(server.driverOf(AUDIO)).isEqualTo("snd_hda_intel");
        assertThat(server.overrideOf(AUDIO)).isEqualTo("(null)");
        assertThat(server.kernel.writes()).containsExactly("override 0000:41:00.1 vfio-pci", "override 0000:41:00.1 \\n");
    }

    @Test
    @DisplayName("a device that vanished after planning fails alone; the other devices are still bound")
    void vanishedDeviceFailsAlone() {
        BindingEngine engine = server.engine();
        BindPlan plan = engine.plan(server.assess(), List.of(want(AUDIO, "vfio-pci"), want(ACCEL, "vfio-pci")));
        server.kernel.vanish(AUDIO);

        List<DeviceOutcome> outcomes = engine.apply(plan);

        assertThat(of(outcomes, AUDIO).state()).isEqualTo(BindState.Failed);
        assertThat(of(outcomes, AUDIO).message()).contains("vanished");
        assertThat(of(outcomes, ACCEL).state()).isEqualTo(BindState.Bound);
    }

    @Test
    @DisplayName("ENODEV from the kernel mid-bind fails that device; the next device is still bound")
    void enodevMidBind() {
        server.kernel.failNext(AUDIO, "probe", Errno.ENODEV);

        List<DeviceOutcome> outcomes = server.run(server.engine(), want(AUDIO, "vfio-pci"), want(ACCEL, "vfio-pci"));

        assertThat(of(outcomes, AUDIO).state()).isEqualTo(BindState.Failed);
        assertThat(of(outcomes, AUDIO).message()).contains("ENODEV").endsWith("rolled back to snd_hda_intel");
        assertThat(server.driverOf(AUDIO)).isEqualTo("snd_hda_intel");
        assertThat(of(outcomes, ACCEL).state()).isEqualTo(BindState.Bound);
    }

    @Test
    @DisplayName("a module modprobe cannot find fails with modprobe's words and nothing is written")
    void missingModule() {
        DeviceOutcome gpu = of(server.run(server.engine(), want(GPU, "xe_vfio_pci")), GPU);

        assertThat(gpu.state()).isEqualTo(BindState.Failed);
        assertThat(gpu.message()).isEqualTo("cannot load the driver: modprobe: FATAL: Module xe_vfio_pci not found in"
                + " directory /lib/modules/6.12.0-test; nothing was changed");
        assertThat(server.kernel.writes()).isEmpty();
        assertThat(Files.exists(server.journalFile)).isFalse();
    }

    @Test
    @DisplayName("a driver that is not a VFIO driver gives no vfio-dev/, so the bind is rolled back")
    void nonVfioDriverRolledBack() {
        DeviceOutcome nic = of(server.run(server.engine(), want(NIC, "e1000e")), NIC);

        assertThat(nic.state()).isEqualTo(BindState.Failed);
        assertThat(nic.message()).startsWith("bound to e1000e, but it has no vfio-dev/: e1000e is not a VFIO driver")
                .endsWith("rolled back to i40e");
        assertThat(server.driverOf(NIC)).isEqualTo("i40e");
    }

    @Test
    @DisplayName("VFs enabled between plan and bind: vfio-pci's probe fails with -EBUSY and the PF is rolled back")
    void kernelRefusesPfWithVfs() throws Exception {
        server.host.device(GpuServer.PF).sriov(8);
        server.write();
        BindingEngine engine = server.engine();
        BindPlan plan = engine.plan(server.assess(), List.of(want(GpuServer.PF, "vfio-pci")));
        assertThat(plan.changes().get(0).action()).isEqualTo(PlannedChange.Action.BIND);
        Files.writeString(server.host.path().resolve("sys/bus/pci/devices").resolve(GpuServer.PF)
                .resolve("sriov_numvfs"), "1\n");

        DeviceOutcome pf = of(engine.apply(plan), GpuServer.PF);

        assertThat(pf.state()).isEqualTo(BindState.Failed);
        assertThat(pf.message()).startsWith("drivers_probe bound nothing").endsWith("rolled back to mlx5_core");
        assertThat(server.kernel.dmesg()).anySatisfy(line -> assertThat(line)
                .contains("Cannot bind to PF with SR-IOV enabled"));
        assertThat(server.driverOf(GpuServer.PF)).isEqualTo("mlx5_core");
    }

    @Test
    @DisplayName("outcomes become the CRD's bind results as they are")
    void outcomesAsBindResults() {
        List<DeviceOutcome> outcomes = server.run(server.engine(), want(GPU, "vfio-pci"));

        BindResult result = of(outcomes, GPU).toBindResult();
        assertThat(result.getAddress()).isEqualTo(GPU);
        assertThat(result.getDesiredDriver()).isEqualTo("vfio-pci");
        assertThat(result.getState()).isEqualTo(BindState.Bound);
        assertThat(result.getTime()).isEqualTo("2026-11-24T06:00:00Z");
        assertThat(Map.of("message", result.getMessage())).containsEntry("message",
                "bound to vfio-pci (was nouveau); policy names vfio-pci");
    }
}
