package com.example.vfio.cli;

import com.example.vfio.agent.ChangeDetection;
import com.example.vfio.agent.ClusterNode;
import com.example.vfio.agent.DesiredStateSource;
import com.example.vfio.agent.NodeDaemon;
import com.example.vfio.agent.PoliciesFileSource;
import com.example.vfio.binding.BindingEngine;
import com.example.vfio.binding.BindingJournal;
import com.example.vfio.binding.BoundedSysfsWriter;
import com.example.vfio.binding.CommandModuleLoader;
import com.example.vfio.binding.FileSysfsWriter;
import com.example.vfio.dra.AllocatedClaim;
import com.example.vfio.dra.DraDriver;
import com.example.vfio.dra.KubeletRegistration;
import com.example.vfio.pci.HostRoot;
import com.example.vfio.plugin.GroupAllocations;
import com.example.vfio.plugin.NodePlugin;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.StatusHttpServer;
import com.example.vfio.uevent.KernelUevents;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Runs the node daemon: publishes VFIO-ready devices to the kubelet as vfio.example.com/<resource>.")
final class ServeCommand implements Callable<Integer> {

    private static final Logger LOG = LoggerFactory.getLogger(ServeCommand.class);

    @Option(names = "--root", defaultValue = "/", paramLabel = "DIR",
            description = "Host root to read sysfs and /dev under (default: ${DEFAULT-VALUE}). "
                    + "Paths handed to the kubelet never carry it.")
    Path root;

    @Option(names = "--plugin-dir", defaultValue = "/var/lib/kubelet/device-plugins", paramLabel = "DIR",
            description = "The kubelet's device plugin directory, holding kubelet.sock (default: ${DEFAULT-VALUE}).")
    Path pluginDir;

    @Option(names = "--pod-resources-socket", defaultValue = "/var/lib/kubelet/pod-resources/kubelet.sock",
            paramLabel = "PATH", description = "The kubelet's PodResources socket (default: ${DEFAULT-VALUE}).")
    Path podResourcesSocket;

    @Option(names = "--node-name", paramLabel = "NAME",
            description = "This node's name (default: $NODE_NAME, else the host name).")
    String nodeName;

    @Option(names = "--policies", paramLabel = "FILE",
            description = "Standalone mode: VfioBindingPolicy YAML documents to apply to this node, no API server. "
                    + "Without it, cluster mode: binds to the spec of the VfioNodeState named after the node and "
                    + "writes its status (API server from $KUBECONFIG, ~/.kube/config or the pod's service account).")
    Path policies;

    @Option(names = {"--node-labels", "--node-label"}, paramLabel = "K=V", split = ",",
            description = "This node's labels, matched against the policies' nodeSelector in standalone mode "
                    + "(k=v,k2=v2 or repeated).")
    Map<String, String> nodeLabels = new LinkedHashMap<>();

    @Option(names = "--metrics-port", defaultValue = "9400", paramLabel = "PORT",
            description = "Port of /healthz and /metrics; 0 turns them off (default: ${DEFAULT-VALUE}).")
    int metricsPort;

    @Option(names = "--rescan-interval", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "How often the whole host is rescanned (default: 60s while the daemon hears the kernel's"
                    + " uevents, which name each changed device at once; 5s when it cannot hear them: --root not the"
                    + " running host's, no netlink socket, a user namespace of its own; then /dev/vfio changes"
                    + " trigger a rescan too). The log and vfio_uevents_listening say which.")
    Duration rescanInterval;

    @Option(names = "--journal-dir", paramLabel = "DIR",
            description = "Cluster mode: where the binding journal (journal.json: each device's driver before it was"
                    + " rebound) and its lock live (default: /var/lib/vfio-passthrough).")
    Path journalDir;

    @Option(names = {"--modprobe-command", "--modprobe"}, defaultValue = CommandModuleLoader.DEFAULT_COMMAND,
            paramLabel = "CMD",
            description = "Cluster mode: the command that loads a driver module (default: ${DEFAULT-VALUE}).")
    String modprobe;

    @Option(names = "--no-binding",
            description = "Cluster mode: never rebind; only check and publish the devices already on their drivers"
                    + " (every policy behaves as managed: false).")
    boolean noBinding;

    @Option(names = "--cdi-dir", paramLabel = "DIR",
            description = "Write the device plugin's CDI spec files here (e.g. /var/run/cdi); none are written without it.")
    Path cdiDir;

    @Option(names = "--dra-cdi-dir", defaultValue = "/var/run/cdi", paramLabel = "DIR",
            description = "DRA: where the driver writes the CDI specs of the claims it prepares, read by the container"
                    + " runtime (default: ${DEFAULT-VALUE}).")
    Path draCdiDir;

    @Option(names = "--no-dra",
            description = "Never publish through DRA: resources whose policy says publishWith: DRA are not published"
                    + " on this node (no sockets in the kubelet's plugin directories, no ResourceSlices).")
    boolean noDra;

    @Option(names = "--kubelet-plugins-dir", defaultValue = "/var/lib/kubelet/plugins", paramLabel = "DIR",
            description = "DRA: the kubelet's plugin directory; the driver's socket is vfio.example.com/dra.sock in it"
                    + " (default: ${DEFAULT-VALUE}). The same path must hold on the host and in the container.")
    Path kubeletPluginsDir;

    @Option(names = "--kubelet-registry-dir", defaultValue = "/var/lib/kubelet/plugins_registry", paramLabel = "DIR",
            description = "DRA: the kubelet's plugin registry, watched by the kubelet (default: ${DEFAULT-VALUE}).")
    Path kubeletRegistryDir;

    @Spec
    CommandSpec spec;

    private final KernelUevents.Opener uevents;

    ServeCommand() {
        this(KernelUevents::open);
    }

    /** @param uevents where the daemon's uevents come from: the kernel's socket, or the benchmark's queue */
    ServeCommand(KernelUevents.Opener uevents) {
        this.uevents = uevents;
    }

    @Override
    public Integer call() throws Exception {
        // grpc-java logs through java.util.logging; a kubelet restart makes it report closed streams with a
        // stack trace. One line per event, like our own logs (must be set before JUL's formatter loads).
        System.setProperty("java.util.logging.SimpleFormatter.format", "%1$tFT%1$tT.%1$tLZ %4$s %3$s - %5$s%n");
        CountDownLatch stop = new CountDownLatch(1);
        Running running = start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("shutting down");
            running.close();
            stop.countDown();
        }, "vfio-shutdown"));
        stop.await();
        return 0;
    }

    /** Everything the daemon runs; closing it stops serving and removes our sockets. */
    static final class Running implements AutoCloseable {
        final NodePlugin plugin;
        final NodeDaemon daemon;
        final DraDriver dra;
        final StatusHttpServer http;
        /** Cluster mode's parts (informer, agent, status writer, client), closed first, in this order. */
        final List<AutoCloseable> cluster;
        private boolean closed;

        Running(NodePlugin plugin, NodeDaemon daemon, DraDriver dra, StatusHttpServer http, List<AutoCloseable> cluster) {
            this.plugin = plugin;
            this.daemon = daemon;
            this.dra = dra;
            this.http = http;
            this.cluster = List.copyOf(cluster);
        }

        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            for (AutoCloseable part : cluster) {
                try {
                    part.close();
                } catch (Exception e) {
                    LOG.warn("closing {}: {}", part.getClass().getSimpleName(), e.toString());
                }
            }
            if (http != null) {
                http.close();
            }
            daemon.close();
            if (dra != null) {
                dra.close();
            }
            plugin.close();
        }
    }

    Running start() throws IOException {
        if (rescanInterval != null && (rescanInterval.isNegative() || rescanInterval.isZero())) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--rescan-interval must be positive");
        }
        String node = nodeName != null ? nodeName : defaultNodeName();
        Map<String, String> labels;
        try {
            labels = checkLabels(nodeLabels);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        HostRoot host = new HostRoot(root);
        if (policies == null) {
            return startCluster(host, node);
        }
        if (journalDir != null || noBinding) {
            throw new CommandLine.ParameterException(spec.commandLine(), (noBinding ? "--no-binding" : "--journal-dir")
                    + " is for cluster mode (standalone --policies mode does not bind)");
        }
        DesiredStateSource source;
        try {
            source = PoliciesFileSource.read(policies, node, labels);
        } catch (PoliciesFileSource.BadPoliciesException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        PluginMetrics metrics = new PluginMetrics();
        NodePlugin plugin = new NodePlugin(pluginConfig(), metrics, Clock.systemUTC());
        // standalone: the API server only for DRA's slices and claims, from $KUBECONFIG (connects on first use)
        KubernetesClient client = new KubernetesClientBuilder().build();
        DraDriver dra = noDra ? null : draDriver(node, client, plugin, metrics, Clock.systemUTC());
        NodeDaemon daemon = new NodeDaemon(host, source, plugin, metrics, changeDetection(host)).withDra(draSide(dra));
        return run(node, plugin, daemon, dra, metrics, List.of(client), true);
    }

    /** Where the daemon hands the DRA resources: the driver, or (--no-dra) nowhere, said once per resource. */
    private static NodeDaemon.DraSide draSide(DraDriver dra) {
        if (dra != null) {
            return dra::publish;
        }
        java.util.Set<String> told = java.util.concurrent.ConcurrentHashMap.newKeySet();
        return (assessment, resources) -> resources.forEach(r -> {
            if (told.add(r.name())) {
                LOG.warn("{}: its policy says publishWith: DRA, but DRA is off on this node (--no-dra): not published",
                        r.resourceName());
            }
        });
    }

    private DraDriver draDriver(String node, KubernetesClient client, NodePlugin plugin, PluginMetrics metrics,
            Clock clock) throws IOException {
        KubeletRegistration.Paths paths = new KubeletRegistration.Paths(kubeletRegistryDir, kubeletPluginsDir);
        DraDriver.Config config = DraDriver.Config.defaults(node, paths, draCdiDir);
        try {
            return new DraDriver(config, client, AllocatedClaim.fromApi(client), plugin.sockets(), plugin.allocations(),
                    metrics, clock);
        } catch (IOException e) {
            plugin.close();
            client.close();
            throw new CommandLine.ParameterException(spec.commandLine(), "the DRA driver cannot start: " + e.getMessage());
        }
    }

    /** Opened before the first scan, so that no change between that scan and the listener is missed. */
    private ChangeDetection changeDetection(HostRoot host) {
        return ChangeDetection.of(uevents.open(host), rescanInterval);
    }

    private NodePlugin.Config pluginConfig() {
        return NodePlugin.Config.defaults(pluginDir, podResourcesSocket).withCdiDir(cdiDir);
    }

    /**
     * Cluster mode: the desired state is this node's VfioNodeState spec (API server from the kubeconfig or
     * the pod's service account, fabric8's defaults); devices are bound to it and the status written back.
     */
    private Running startCluster(HostRoot host, String node) throws IOException {
        if (!nodeLabels.isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--node-labels is for standalone mode: in cluster mode the operator matches the node's labels");
        }
        if (noBinding && journalDir != null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--journal-dir and --no-binding exclude"
                    + " each other: without binding there is no journal");
        }
        Clock clock = Clock.systemUTC();
        BindingJournal bindingJournal = null;
        CommandModuleLoader modules = null;
        if (!noBinding) {
            try {
                bindingJournal = BindingJournal.open((journalDir != null ? journalDir
                        : BindingJournal.DEFAULT_FILE.getParent()).resolve(BindingJournal.DEFAULT_FILE.getFileName()),
                        clock);
                modules = CommandModuleLoader.parse(modprobe, Duration.ofSeconds(30));
            } catch (RuntimeException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
        }
        PluginMetrics metrics = new PluginMetrics();
        NodePlugin plugin = new NodePlugin(pluginConfig(), metrics, clock);
        GroupAllocations allocations = plugin.allocations();
        BindingEngine engine = noBinding ? null : new BindingEngine(host,
                new BoundedSysfsWriter(new FileSysfsWriter(), BoundedSysfsWriter.DEFAULT_TIMEOUT), modules,
                bindingJournal, allocations::holderOf, clock);
        KubernetesClient client = ClusterNode.connect();
        LOG.info("cluster mode: node {}, API server {}", node, client.getMasterUrl());
        DraDriver dra = noDra ? null : draDriver(node, client, plugin, metrics, clock);
        ClusterNode cluster;
        try {
            cluster = ClusterNode.start(client, node, host, engine, plugin, draSide(dra), metrics,
                    ClusterNode.Settings.defaults(changeDetection(host)), clock);
        } catch (IOException | RuntimeException e) {
            if (dra != null) {
                dra.close();
            }
            plugin.close();
            client.close();
            throw e;
        }
        return run(node, plugin, cluster.daemon(), dra, metrics, List.of(cluster, client), false);
    }

    private Running run(String node, NodePlugin plugin, NodeDaemon daemon, DraDriver dra, PluginMetrics metrics,
            List<AutoCloseable> cluster, boolean startDaemon) throws IOException {
        StatusHttpServer http = null;
        try {
            if (startDaemon) {
                daemon.start();
            }
            LOG.info("node {}: {}", node, NodeDaemon.summary(daemon.lastPublished()));
            if (metricsPort != 0) {
                // after the first publication, off the way to the kubelet's registration (loading the JVM's
                // management beans costs more than the rest of the metrics); not at all without /metrics
                metrics.withJvmMetrics();
                http = new StatusHttpServer(new InetSocketAddress(metricsPort), metrics, daemon::liveness);
                LOG.info("/healthz and /metrics on port {}", http.port());
            }
        } catch (IOException | RuntimeException e) {
            new Running(plugin, daemon, dra, null, cluster).close();
            throw e;
        }
        return new Running(plugin, daemon, dra, http, cluster);
    }

    static String defaultNodeName() {
        String env = System.getenv("NODE_NAME");
        if (env != null && !env.isBlank()) {
            return env;
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }

    private static final Pattern LABEL_KEY =
            Pattern.compile("([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?");
    private static final Pattern LABEL_VALUE = Pattern.compile("([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?");

    /** Checks label keys and values the way the API server would; a nodeSelector could never match others. */
    static Map<String, String> checkLabels(Map<String, String> labels) {
        for (Map.Entry<String, String> e : labels.entrySet()) {
            if (!LABEL_KEY.matcher(e.getKey()).matches() || !LABEL_VALUE.matcher(e.getValue()).matches()
                    || e.getValue().length() > 63) {
                throw new IllegalArgumentException("--node-labels: '" + e.getKey() + "=" + e.getValue()
                        + "' is not a valid label");
            }
        }
        return Map.copyOf(labels);
    }

    /** {@code 500ms}, {@code 5s}, {@code 2m}, or ISO-8601 ({@code PT5S}). */
    static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
        private static final Pattern SIMPLE = Pattern.compile("(\\d+)(ms|s|m|h)");

        @Override
        public Duration convert(String value) {
            Matcher m = SIMPLE.matcher(value.trim().toLowerCase(Locale.ROOT));
            if (m.matches()) {
                long n = Long.parseLong(m.group(1));
                return switch (m.group(2)) {
                    case "ms" -> Duration.ofMillis(n);
                    case "s" -> Duration.ofSeconds(n);
                    case "m" -> Duration.ofMinutes(n);
                    default -> Duration.ofHours(n);
                };
            }
            try {
                return Duration.parse(value);
            } catch (RuntimeException e) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not a duration (e.g. 500ms, 5s, 1m)");
            }
        }
    }
}
