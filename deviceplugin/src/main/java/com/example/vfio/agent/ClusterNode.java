package com.example.vfio.agent;

import com.example.vfio.binding.BindingEngine;
import com.example.vfio.pci.HostRoot;
import com.example.vfio.plugin.NodePlugin;
import com.example.vfio.plugin.PluginMetrics;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;

/**
 * The cluster-mode daemon assembled: the node's VfioNodeState spec feeds the same rescan loop and kubelet
 * side as standalone mode, the agent binds to it, and the status goes back through the status subresource.
 * The kubelet side starts first and does not depend on the API server.
 */
public final class ClusterNode implements AutoCloseable {
    /** The field manager the API server records for the agent's writes (named after the client's user agent). */
    public static final String FIELD_MANAGER = "vfio-node-agent";

    private final ClusterDesiredStateSource source;
    private final NodeDaemon daemon;
    private final NodeAgent agent;
    private final NodeStatusPublisher publisher;
    private final NodeEvents events;

    /**
     * @param minStatusBackoff the first wait after a failed status write; it doubles up to {@code maxStatusBackoff}
     * @param failedBindRetry  how long after a bind step the kernel failed it is tried again
     */
    public record Settings(ChangeDetection changes, Duration minStatusBackoff, Duration maxStatusBackoff,
            Duration failedBindRetry) {
        /** Polling the host every {@code rescanInterval}, without uevents. */
        public static Settings defaults(Duration rescanInterval) {
            return defaults(ChangeDetection.polling(rescanInterval, "not asked to"));
        }

        public static Settings defaults(ChangeDetection changes) {
            return new Settings(changes, Duration.ofMillis(500), Duration.ofSeconds(30), Duration.ofMinutes(1));
        }
    }

    private ClusterNode(ClusterDesiredStateSource source, NodeDaemon daemon, NodeAgent agent,
            NodeStatusPublisher publisher, NodeEvents events) {
        this.source = source;
        this.daemon = daemon;
        this.agent = agent;
        this.publisher = publisher;
        this.events = events;
    }

    /**
     * Scans and publishes to the kubelet once, then starts watching the node's VfioNodeState; returns
     * without waiting for the API server.
     *
     * @param engine null: binding is off, devices are only checked and published
     */
    public static ClusterNode start(KubernetesClient client, String nodeName, HostRoot root, BindingEngine engine,
            NodePlugin plugin, PluginMetrics metrics, Settings settings, Clock clock) throws IOException {
        return start(client, nodeName, root, engine, plugin, (a, r) -> { }, metrics, settings, clock);
    }

    /** @param dra where the resources the node publishes through DRA go */
    public static ClusterNode start(KubernetesClient client, String nodeName, HostRoot root, BindingEngine engine,
            NodePlugin plugin, NodeDaemon.DraSide dra, PluginMetrics metrics, Settings settings, Clock clock)
            throws IOException {
        ClusterDesiredStateSource source = new ClusterDesiredStateSource(client, nodeName);
        NodeDaemon daemon = new NodeDaemon(root, source, plugin, metrics, settings.changes()).withDra(dra);
        NodeStatusPublisher publisher = new NodeStatusPublisher(client, nodeName, settings.minStatusBackoff(),
                settings.maxStatusBackoff());
        NodeEvents events = new NodeEvents(client, nodeName, clock);
        NodeAgent agent = new NodeAgent(root, engine, daemon::rescanNow, plugin.allocations()::holds, publisher,
                events, clock, settings.failedBindRetry());
        daemon.onRescan(agent::rescanned);
        ClusterNode node = new ClusterNode(source, daemon, agent, publisher, events);
        try {
            daemon.start();
            source.start(agent::specChanged);
        } catch (IOException | RuntimeException e) {
            node.close();
            throw e;
        }
        return node;
    }

    /**
     * A client for the API server fabric8 finds ($KUBECONFIG, ~/.kube/config or the pod's service account) with the
     * agent's user agent, which the API server takes as the field manager of the status writes (managedFields show
     * vfio-node-agent, not fabric8-kubernetes-client) and records in its audit log.
     */
    public static KubernetesClient connect() {
        Config config = Config.autoConfigure(null);
        String version = ClusterNode.class.getPackage().getImplementationVersion();
        config.setUserAgent(FIELD_MANAGER + "/" + (version == null ? "dev" : version));
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    public NodeDaemon daemon() {
        return daemon;
    }

    public NodeStatusPublisher publisher() {
        return publisher;
    }

    /** Stops watching, binding and writing status, then the rescan loop; the plugin is the caller's. */
    @Override
    public void close() {
        for (AutoCloseable part : List.<AutoCloseable>of(source, agent, publisher, events, daemon)) {
            try {
                part.close();
            } catch (Exception e) {
                org.slf4j.LoggerFactory.getLogger(ClusterNode.class).warn("closing {}: {}",
                        part.getClass().getSimpleName(), e.toString());
            }
        }
    }
}
