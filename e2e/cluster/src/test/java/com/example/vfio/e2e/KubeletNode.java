package com.example.vfio.e2e;

import static org.awaitility.Awaitility.await;

import com.example.vfio.e2e.DeviceManagerHarness.Capacity;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.function.Predicate;

/**
 * One test's node: a work directory (host, logs), the kubelet's state directory (short: unix socket paths are
 * limited to 107 bytes), and the processes started on it, the kubelet code ({@link DeviceManagerHarness}) and
 * {@code vfio-node serve} ({@link NodeDaemonProcess}), all stopped by {@link #close()}.
 */
final class KubeletNode implements AutoCloseable {
    /** The daemon's --rescan-interval here. */
    static final Duration RESCAN = Duration.ofSeconds(1);
    /** Starting a JVM and registering on a loaded 2-core machine. */
    static final Duration REGISTERED = Duration.ofSeconds(90);

    final Path work;
    final Path state;
    private final List<AutoCloseable> started = new ArrayList<>();

    KubeletNode(String name) throws IOException {
        work = RealCluster.workDir(name);
        state = Files.createTempDirectory("vfio-kubelet-");
    }

    DeviceManagerHarness kubelet(String... flags) {
        DeviceManagerHarness h = DeviceManagerHarness.start(state, work.resolve("kubelet.log"), flags);
        started.add(h);
        return h;
    }

    NodeDaemonProcess daemon(GpuNode node, Path policies) {
        NodeDaemonProcess d = NodeDaemonProcess.start(node.root(), policies, state, RESCAN, work.resolve("vfio-node.log"));
        started.add(d);
        return d;
    }

    GpuNode host(boolean iommufd) {
        return GpuNode.at(work, iommufd);
    }

    static Capacity awaitCapacity(DeviceManagerHarness kubelet, Predicate<Capacity> until) {
        Capacity[] last = new Capacity[1];
        await().atMost(REGISTERED).pollInterval(Duration.ofMillis(100)).until(() -> {
            last[0] = kubelet.capacity();
            return until.test(last[0]);
        });
        return last[0];
    }

    static Capacity awaitAllocatable(DeviceManagerHarness kubelet, String resource, long n) {
        return awaitCapacity(kubelet, c -> c.allocatable(resource) == n);
    }

    @Override
    public void close() throws Exception {
        Collections.reverse(started);
        for (AutoCloseable c : started) {
            c.close();
        }
        started.clear();
        try (var paths = Files.walk(state)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
