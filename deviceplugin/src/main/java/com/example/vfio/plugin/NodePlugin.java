package com.example.vfio.plugin;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The kubelet-facing half of the daemon, assembled: one server per resource, registration that follows
 * the kubelet, the group-hold owner and its PodResources reconciliation. Feed it the published resources
 * of every rescan; it depends on nothing but the kubelet's sockets, so it keeps serving when the API
 * server or PodResources is down.
 */
public final class NodePlugin implements AutoCloseable {

    /**
     * @param pluginDir          the kubelet's device plugin directory (holds kubelet.sock)
     * @param podResourcesSocket the kubelet's PodResources socket
     * @param kubeletCheck       safety-net period of the kubelet check (inotify wakes it earlier)
     * @param podResourcesPoll   period of the PodResources List while groups are held
     * @param holdGrace          a hold younger than this is never released (the kubelet records an
     *                           allocation only after Allocate returned)
     * @param cdiDir             where CDI spec files go; null: none are written
     * @param holdsWait          how long the first registration waits for PodResources to tell which devices
     *                           running pods hold, once the kubelet is up
     */
    public record Config(Path pluginDir, Path podResourcesSocket, Duration kubeletCheck, Duration podResourcesPoll,
                         Duration holdGrace, Path cdiDir, Duration holdsWait) {
        public Config {
            Objects.requireNonNull(pluginDir, "pluginDir");
            Objects.requireNonNull(podResourcesSocket, "podResourcesSocket");
        }

        public static Config defaults(Path pluginDir, Path podResourcesSocket) {
            return new Config(pluginDir, podResourcesSocket, Duration.ofSeconds(2), Duration.ofSeconds(5),
                    Duration.ofSeconds(30), null, Duration.ofSeconds(30));
        }

        public Config withTimings(Duration check, Duration poll, Duration grace) {
            return new Config(pluginDir, podResourcesSocket, check, poll, grace, cdiDir, holdsWait);
        }

        public Config withCdiDir(Path dir) {
            return new Config(pluginDir, podResourcesSocket, kubeletCheck, podResourcesPoll, holdGrace, dir, holdsWait);
        }

        public Config withHoldsWait(Duration wait) {
            return new Config(pluginDir, podResourcesSocket, kubeletCheck, podResourcesPoll, holdGrace, cdiDir, wait);
        }
    }

    private final UnixSockets sockets;
    private final GroupAllocations allocations;
    private final PodResourcesWatcher podResources;
    private final DevicePluginManager manager;
    private final KubeletWatcher kubelet;
    private final AtomicBoolean published = new AtomicBoolean();

    public NodePlugin(Config config, PluginMetrics metrics, Clock clock) throws IOException {
        this.sockets = new UnixSockets("vfio-plugin");
        this.allocations = new GroupAllocations(clock, config.holdGrace());
        // the servers ask PodResources on demand; PodResources maps running pods' units back through the servers
        this.manager = new DevicePluginManager(config.pluginDir(), sockets, allocations,
                this::recheckHolds, metrics,
                config.cdiDir() == null ? null : new CdiSpecs(config.cdiDir()));
        this.podResources = new PodResourcesWatcher(config.podResourcesSocket(), sockets, allocations, metrics, clock,
                config.podResourcesPoll(), manager::claimFor);
        this.kubelet = new KubeletWatcher(manager, metrics, config.kubeletCheck(), podResources::holdsKnown,
                config.holdsWait());
    }

    /** The resources of one rescan (the complete list). */
    public void publish(List<PublishedResource> resources) {
        manager.publish(resources);
        if (published.compareAndSet(false, true)) {
            podResources.pollSoon(); // take up the holds of pods that already run (daemon restart)
        }
    }

    public GroupAllocations allocations() {
        return allocations;
    }

    /** The daemon's one gRPC transport (event loop and call executor), for the DRA driver's sockets too. */
    public UnixSockets sockets() {
        return sockets;
    }

    public DevicePluginManager manager() {
        return manager;
    }

    /** Polls PodResources now (tests and the on-demand path). */
    public void recheckHolds() {
        podResources.recheckNow();
    }

    @Override
    public void close() {
        kubelet.close();
        manager.close();
        podResources.close();
        sockets.close();
    }
}
