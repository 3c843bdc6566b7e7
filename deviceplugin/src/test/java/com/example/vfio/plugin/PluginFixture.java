package com.example.vfio.plugin;

import static org.awaitility.Awaitility.await;

import com.example.vfio.pci.FakeHost;
import com.example.vfio.plugin.kubelet.StandInKubelet;
import com.example.vfio.plugin.kubelet.StandInPodResources;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.awaitility.core.ConditionFactory;

/** A node plugin wired to a stand-in kubelet and PodResources API in a temp directory. */
final class PluginFixture implements AutoCloseable {

    static final Duration GRACE = Duration.ofSeconds(30);
    /** How long the first registration waits for PodResources here (the daemon's default is 30 s). */
    static final Duration HOLDS_WAIT = Duration.ofSeconds(2);

    final Path pluginDir;
    final StandInPodResources podResources;
    final StandInKubelet kubelet;
    final MutableClock clock = new MutableClock();
    final PluginMetrics metrics = new PluginMetrics();
    final NodePlugin plugin;
    final Path tmp;
    FakeHost host;

    PluginFixture(Path tmp) throws IOException {
        this(tmp, null);
    }

    PluginFixture(Path tmp, Path cdiDir) throws IOException {
        this.tmp = tmp;
        pluginDir = tmp.resolve("device-plugins");
        podResources = new StandInPodResources(tmp.resolve("pod-resources/kubelet.sock")).start();
        kubelet = new StandInKubelet(pluginDir, podResources);
        // the periodic poll is kept out of the way: tests poll on demand through recheckHolds()
        plugin = new NodePlugin(NodePlugin.Config.defaults(pluginDir, podResources.socket())
                .withTimings(Duration.ofMillis(200), Duration.ofHours(1), GRACE).withCdiDir(cdiDir)
                        .withHoldsWait(HOLDS_WAIT),
                metrics, clock);
    }

    static ConditionFactory eventually() {
        return await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5)).pollDelay(Duration.ZERO);
    }

    /** The GPUs of {@link Fixtures#gpuHost}, laid out afresh under this fixture's directory. */
    PublishedResource gpus(boolean iommufd) {
        host = Fixtures.gpuHost(tmp.resolve("host"), iommufd);
        return Fixtures.gpus(host);
    }

    /** The GPUs as {@link #host} is now (after a test changed it). */
    PublishedResource rescanGpus() {
        return Fixtures.gpus(host.write());
    }

    void publish(PublishedResource... resources) {
        plugin.publish(List.of(resources));
    }

    @Override
    public void close() {
        plugin.close();
        kubelet.close();
        podResources.close();
    }
}
