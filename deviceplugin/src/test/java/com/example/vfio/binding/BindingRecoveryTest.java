package com.example.vfio.binding;

import static com.example.vfio.binding.GpuServer.ACCEL;
import static com.example.vfio.binding.GpuServer.AUDIO;
import static com.example.vfio.binding.GpuServer.GRACE;
import static com.example.vfio.binding.GpuServer.want;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.example.vfio.api.BindState;
import com.example.vfio.binding.SimulatedKernel.SimulatedCrash;
import com.example.vfio.pci.PciAddress;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The daemon dies between two writes, or a write hangs: the journal finishes or rolls the step back. */
class BindingRecoveryTest {
    @TempDir
    java.nio.file.Path dir;

    GpuServer server;

    @BeforeEach
    void host() {
        server = new GpuServer(dir).write();
    }

    private BindingJournal.Step stepOf(String address) {
        return server.journal().entry(PciAddress.parse(address)).orElseThrow().step();
    }

    @Test
    @DisplayName("a crash between unbind and probe leaves the step in the journal; recovery finishes the bind")
    void crashAfterUnbindIsFinished() {
        server.kernel.crashAfter(AUDIO, "unbind");
        assertThatThrownBy(() -> server.run(server.engine(), want(AUDIO, "vfio-pci"))).isInstanceOf(SimulatedCrash.class);
        assertThat(server.driverOf(AUDIO)).isNull();
        assertThat(stepOf(AUDIO).phase()).isEqualTo("unbind");
        assertThat(server.journal().originalDriver(PciAddress.parse(AUDIO))).contains("snd_hda_intel");

        List<DeviceOutcome> recovered = server.engine().recover();

        assertThat(recovered).singleElement().satisfies(o -> {
            assertThat(o.state()).isEqualTo(BindState.Bound);
            assertThat(o.message()).startsWith("a bind step was interrupted at unbind").contains("finished it: now on"
                    + " vfio-pci (override vfio-pci) (was no driver (override vfio-pci))");
        });
        assertThat(server.driverOf(AUDIO)).isEqualTo("vfio-pci");
        assertThat(stepOf(AUDIO)).isNull();
        assertThat(server.journal().originalDriver(PciAddress.parse(AUDIO))).contains("snd_hda_intel");
    }

    @Test
    @DisplayName("a crash between unbind and probe, and the probe then binding nothing: recovery rolls back to the host driver")
    void crashAfterUnbindIsRolledBack() {
        server.kernel.crashAfter(AUDIO, "unbind");
        assertThatThrownBy(() -> server.run(server.engine(), want(AUDIO, "vfio-pci"))).isInstanceOf(SimulatedCrash.class);
        server.kernel.failNext(AUDIO, "probe", SysfsWriteException.Errno.EIO);

        DeviceOutcome outcome = server.engine().recover().get(0);

        assertThat(outcome.state()).isEqualTo(BindState.Failed);
        assertThat(outcome.message()).contains("finishing it failed").endsWith("rolled back to snd_hda_intel");
        server.assertRestored(AUDIO, "snd_hda_intel");
    }

    @Test
    @DisplayName("a crash right after the override write: recovery carries the step through")
    void crashAfterOverride() {
        server.kernel.crashAfter(AUDIO, "override");
        assertThatThrownBy(() -> server.run(server.engine(), want(AUDIO, "vfio-pci"))).isInstanceOf(SimulatedCrash.class);
        assertThat(server.driverOf(AUDIO)).isEqualTo("snd_hda_intel");

        DeviceOutcome outcome = server.engine().recover().get(0);

        assertThat(outcome.state()).isEqualTo(BindState.Bound);
        assertThat(server.driverOf(AUDIO)).isEqualTo("vfio-pci");
    }

    @Test
    @DisplayName("a crash after the probe took effect: recovery sees the step completed and only closes it")
    void crashAfterProbe() {
        server.kernel.crashAfter(ACCEL, "probe");
        assertThatThrownBy(() -> server.run(server.engine(), want(ACCEL, "vfio-pci"))).isInstanceOf(SimulatedCrash.class);
        int writes = server.kernel.writes().size();

        DeviceOutcome outcome = server.engine().recover().get(0);

        assertThat(outcome.message()).contains("it had completed");
        assertThat(server.kernel.writes()).hasSize(writes);
        assertThat(stepOf(ACCEL)).isNull();
    }

    @Test
    @DisplayName("a crash while giving a device back: recovery finishes restoring the journaled driver")
    void crashDuringRelease() {
        server.run(server.engine(), want(AUDIO, "vfio-pci"));
        server.kernel.crashAfter(AUDIO, "unbind");
        assertThatThrownBy(() -> server.run(server.engine(), want(AUDIO, "host"))).isInstanceOf(SimulatedCrash.class);
        assertThat(server.driverOf(AUDIO)).isNull();

        DeviceOutcome outcome = server.engine().recover().get(0);

        assertThat(outcome.state()).isEqualTo(BindState.Bound);
        assertThat(server.driverOf(AUDIO)).isEqualTo("snd_hda_intel");
        assertThat(server.journal().entries()).isEmpty();
    }

    @Test
    @DisplayName("the next pass recovers an interrupted step before planning anything new")
    void applyRecoversFirst() {
        server.kernel.crashAfter(AUDIO, "unbind");
        assertThatThrownBy(() -> server.run(server.engine(), want(AUDIO, "vfio-pci"))).isInstanceOf(SimulatedCrash.class);
        BindingEngine restarted = server.engine();

        BindPlan plan = restarted.plan(server.assess(), List.of(want(ACCEL, "vfio-pci")));
        assertThat(plan.notes()).singleElement().asString().startsWith("the journal has an unfinished bind step for"
                + " 0000:41:00.1 (at unbind");
        List<DeviceOutcome> outcomes = restarted.apply(plan);

        assertThat(outcomes).extracting(DeviceOutcome::address).containsExactly(AUDIO, ACCEL);
        assertThat(outcomes).extracting(DeviceOutcome::state).containsOnly(BindState.Bound);
    }

    @Test
    @DisplayName("an unbind that hangs because a VM still holds the device is reported, not waited on; it completes later")
    void hangingUnbindIsBounded() {
        server.kernel.hangUnbind(GRACE);
        BoundedSysfsWriter bounded = new BoundedSysfsWriter(server.kernel, Duration.ofMillis(300));

        List<DeviceOutcome> outcomes = server.run(server.engine(DeviceHolders.none(), bounded),
                want(GRACE, "auto"), want(ACCEL, "vfio-pci"));

        DeviceOutcome grace = outcomes.stream().filter(o -> o.address().equals(GRACE)).findFirst().orElseThrow();
        assertThat(grace.state()).isEqualTo(BindState.Failed);
        assertThat(grace.message()).contains("did not return within 300 ms: a VM probably still holds 0000:43:00.0")
                .endsWith("the journal keeps the step, and the next pass finishes or rolls it back");
        assertThat(outcomes.stream().filter(o -> o.address().equals(ACCEL)).findFirst().orElseThrow().state())
                .isEqualTo(BindState.Bound);
        assertThat(bounded.isBlocked(PciAddress.parse(GRACE))).isTrue();
        assertThat(stepOf(GRACE).phase()).isEqualTo("unbind");

        server.kernel.releaseUnbind(GRACE);
        await().atMost(Duration.ofSeconds(10)).until(() -> !bounded.isBlocked(PciAddress.parse(GRACE)));
        List<DeviceOutcome> recovered = server.engine(DeviceHolders.none(), bounded).recover();

        assertThat(recovered).singleElement().extracting(DeviceOutcome::state).isEqualTo(BindState.Bound);
        assertThat(server.driverOf(GRACE)).isEqualTo("nvgrace-gpu-vfio-pci");
    }

    @Test
    @DisplayName("while a write for a device is still blocked, further writes for it are refused at once")
    void blockedDeviceRefusesFurtherWrites() throws Exception {
        server.kernel.hangUnbind(GRACE);
        BoundedSysfsWriter bounded = new BoundedSysfsWriter(server.kernel, Duration.ofMillis(200));
        server.run(server.engine(DeviceHolders.none(), bounded), want(GRACE, "auto"));
        int writes = server.kernel.writes().size();

        assertThatThrownBy(() -> bounded.write(PciAddress.parse(GRACE),
                server.root().pciDevice(PciAddress.parse(GRACE)).resolve("driver_override"), "vfio-pci"))
                .isInstanceOf(SysfsWriteException.class)
                .hasMessageContaining("is still blocked in the kernel");
        assertThat(server.kernel.writes()).hasSize(writes);
        server.kernel.releaseUnbind(GRACE);
    }
}
