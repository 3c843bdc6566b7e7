package com.example.vfio.plugin;

import static com.example.vfio.plugin.Fixtures.GPU;
import static com.example.vfio.plugin.Fixtures.LEGACY;
import static com.example.vfio.plugin.Fixtures.gpus;
import static com.example.vfio.plugin.PluginFixture.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A kubelet that restarts over and over must not make the plugin leak threads or file descriptors. */
class KubeletRestartLeakTest {

    static final int RESTARTS = 100;

    @TempDir
    Path tmp;

    @Test
    void one_hundred_kubelet_restarts_in_a_row_re_register_every_time_without_leaking_threads_or_fds()
            throws Exception {
        PublishedResource nic = new PublishedResource("nic", List.of(Fixtures.healthy("0000:03:00.0", "7", 0)), LEGACY);
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.kubelet.start();
            f.publish(gpus(LEGACY), nic);
            eventually().until(() -> f.kubelet.connected(GPU) && f.kubelet.connected("vfio.example.com/nic"));
            // warm up: the first restarts load classes and fill pools
            for (int i = 0; i < 5; i++) {
                restartAndAwait(f, i + 2);
            }
            int threadsBefore = ManagementFactory.getThreadMXBean().getThreadCount();
            long fdsBefore = openFds();

            for (int i = 0; i < RESTARTS; i++) {
                restartAndAwait(f, i + 7);
            }

            eventually().until(() -> f.kubelet.devices(GPU).size() == 4);
            assertThat(f.kubelet.registrations(GPU)).isEqualTo(RESTARTS + 6);
            assertThat(ManagementFactory.getThreadMXBean().getThreadCount()).isLessThanOrEqualTo(threadsBefore + 2);
            assertThat(openFds()).isLessThanOrEqualTo(fdsBefore + 8);
        }
    }

    private static void restartAndAwait(PluginFixture f, long registrations) {
        f.kubelet.restart();
        eventually().until(() -> f.kubelet.registrations(GPU) == registrations
                && f.kubelet.registrations("vfio.example.com/nic") == registrations
                && f.kubelet.connected(GPU) && f.kubelet.connected("vfio.example.com/nic"));
    }

    private static long openFds() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }
}
