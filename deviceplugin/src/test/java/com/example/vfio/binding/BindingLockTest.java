package com.example.vfio.binding;

import static com.example.vfio.binding.GpuServer.ACCEL;
import static com.example.vfio.binding.GpuServer.AUDIO;
import static com.example.vfio.binding.GpuServer.want;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.api.BindState;
import com.example.vfio.pci.PciAddress;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two vfio-node processes on one node (the daemon and an admin's apply) never bind at the same time. */
class BindingLockTest {
    @TempDir
    Path dir;

    GpuServer server;

    @BeforeEach
    void host() {
        server = new GpuServer(dir).write();
    }

    private BindingEngine engine(BindingJournal journal, Duration lockWait) {
        return new BindingEngine(server.root(), server.kernel, server.kernel, journal, DeviceHolders.none(),
                GpuServer.CLOCK, lockWait);
    }

    @Test
    @DisplayName("while another process holds the binding lock, apply waits, then gives up without touching anything")
    void lockedByAnotherProcess() throws Exception {
        Files.createDirectories(server.journalFile.getParent());
        Path lockFile = server.journalFile.resolveSibling("journal.json.lock");
        Path classes = Path.of(JournalLockHolder.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Process holder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                classes.toString(), JournalLockHolder.class.getName(), lockFile.toString()).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(),
                StandardCharsets.UTF_8))) {
            assertThat(out.readLine()).isEqualTo("locked");
            BindingEngine engine = engine(server.journal(), Duration.ofMillis(300));
            BindPlan plan = engine.plan(server.assess(), List.of(want(AUDIO, "vfio-pci")));

            assertThatThrownBy(() -> engine.apply(plan)).isInstanceOf(BindingException.class)
                    .hasMessage("another vfio-node process is binding on this node (it holds " + lockFile
                            + "); nothing was done: try again when it has finished");
            assertThat(server.kernel.writes()).isEmpty();

            holder.getOutputStream().close();
            assertThat(holder.waitFor()).isZero();
            assertThat(engine.apply(plan)).singleElement().extracting(DeviceOutcome::state).isEqualTo(BindState.Bound);
        } finally {
            holder.destroyForcibly();
        }
    }

    @Test
    @DisplayName("two engines with their own copy of the journal (daemon and apply) keep each other's records")
    void journalIsReloadedUnderTheLock() {
        BindingEngine daemon = engine(server.journal(), Duration.ofSeconds(5));
        BindingEngine admin = engine(server.journal(), Duration.ofSeconds(5));

        server.run(daemon, want(AUDIO, "vfio-pci"));
        server.run(admin, want(ACCEL, "vfio-pci"));
        server.run(daemon, want(GpuServer.GPU, "vfio-pci"));

        assertThat(server.journal().entries().keySet()).containsExactly(PciAddress.parse(GpuServer.GPU),
                PciAddress.parse(AUDIO), PciAddress.parse(ACCEL));
        assertThat(daemon.plan(server.assess(), List.of(want(ACCEL, "host"))).changes().get(0).why())
                .isEqualTo("no driver, as the journal recorded before binding");
    }
}
