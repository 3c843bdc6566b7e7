package com.example.vfio.bench;

import com.example.vfio.api.Companions;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicyStatus;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateSpec;
import com.example.vfio.operator.FakeNodeAgent;
import com.example.vfio.operator.MockCluster;
import com.example.vfio.operator.OperatorSettings;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static com.example.vfio.operator.Policies.policy;

/**
 * A policy change fanned out to N node states: the operator ({@code VfioOperator}, wired as {@code OperatorMain}
 * wires it, except plain patches instead of server-side apply, which the mock answers with 415) in this JVM against
 * the fabric8 mock API server in CRUD mode with the CRDs (operator test-jar's {@code MockCluster}), N Nodes and one
 * {@code FakeNodeAgent} per node (GPU + its audio function, a NIC VF, an NVMe drive and an on-board NIC).
 * <ol>
 * <li>setup: Nodes created, operator started, until all N VfioNodeStates exist; the agents report their inventory</li>
 * <li>initial convergence: three policies (as the operator's ScaleTest) applied, until every spec holds its 4
 * devices; then the agents bind and the policies roll up Ready N/N</li>
 * <li>fan-out: policy {@code nic-vfs} gets a new resourceName, until every spec carries it (a watch on the node
 * states, not polling); then the agents act on it and the policy's status rolls up Ready N/N at the new
 * generation</li>
 * </ol>
 * Errors are counted, not assumed away: WARN/ERROR records of any logger (the operator's, JOSDK's: a failed
 * reconcile is one, fabric8's; java.util.logging too), 5xx answers of the API server, spec writes beyond one
 * per node, and node states whose spec is not the expected one at the end. Prints {@code key=value} lines for
 * bench/run; exits 1 (after printing) with the reasons on stderr when anything went wrong.
 *
 * <pre>FanOutProbe [nodes (1000)] [timeout-seconds per wait (300)]</pre>
 * Run from the repository root (the CRDs are read from {@code crds/}; {@code -Dcrds.dir=DIR} elsewhere).
 */
public final class FanOutProbe {
    static final String GPU = "0000:41:00.0";
    static final String GPU_AUDIO = "0000:41:00.1";
    static final String NIC_VF = "0000:81:00.2";
    static final String NVME = "0000:c2:00.0";
    static final String CHANGED_POLICY = "nic-vfs";
    static final String NEW_RESOURCE = "nic-vf";
    private static final int AGENT_THREADS = 4;

    private final Map<String, String> results = new LinkedHashMap<>();
    private final List<String> failures = new ArrayList<>();
    private final LogTally logs;
    private final int nodes;
    private final long timeoutMs;
    private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    private final com.sun.management.OperatingSystemMXBean os =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private MockCluster cluster;
    private volatile VfioNodeStateSpec expected;
    private final List<FakeNodeAgent> agents = new ArrayList<>();
    private final Map<String, VfioNodeState> seen = new ConcurrentHashMap<>();
    private volatile Phase phase;
    private final AtomicLong lastStateEvent = new AtomicLong(System.nanoTime());

    FanOutProbe(int nodes, long timeoutMs, LogTally logs) {
        this.nodes = nodes;
        this.timeoutMs = timeoutMs;
        this.logs = logs;
    }

    public static void main(String[] args) throws Exception {
        int nodes = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        long timeoutMs = (args.length > 1 ? Long.parseLong(args[1]) : 300) * 1000;
        if (System.getProperty("crds.dir") == null && Files.isDirectory(Path.of("crds"))) {
            System.setProperty("crds.dir", "crds");
        }
        LogTally logs = LogTally.install();
        FanOutProbe probe = new FanOutProbe(nodes, timeoutMs, logs);
        int status = 0;
        try {
            probe.run();
        } catch (Exception | AssertionError e) {
            probe.failures.add("probe stopped: " + e);
            e.printStackTrace(logs.original);
        } finally {
            try {
                probe.verify();
                probe.close();
            } catch (RuntimeException e) {
                probe.failures.add("shutdown: " + e);
            }
            probe.results.forEach((k, v) -> System.out.println(k + "=" + v));
            if (!probe.failures.isEmpty()) {
                probe.failures.forEach(f -> logs.original.println("FanOutProbe: FAILED: " + f));
                status = 1;
            }
        }
        System.out.flush();
        System.exit(status); // the mock server's and the operator's threads are not daemons
    }

    void run() throws Exception {
        results.put("nodes", Integer.toString(nodes));
        long t = System.nanoTime();
        cluster = new MockCluster();
        for (int i = 0; i < nodes; i++) {
            String name = String.format("node-%04d", i);
            cluster.addNode(name, Map.of("gpu", "h100", "rack", "r" + (i % 20)));
            agents.add(new FakeNodeAgent(cluster.client, name)
                    .device("0000:05:00.0", "8086", "1533", "020000", "igb", "7")
                    .device(GPU, "10de", "2342", "030200", "nouveau", "14")
                    .device(GPU_AUDIO, "10de", "22bc", "040300", "snd_hda_intel", "14")
                    .device(NIC_VF, "15b3", "101e", "020000", "mlx5_core", "40")
                    .device(NVME, "144d", "a80a", "010802", "nvme", "52"));
        }
        results.put("nodes_created_ms", ms(System.nanoTime() - t));

        SharedIndexInformer<VfioNodeState> informer = cluster.client.resources(VfioNodeState.class).inform(new Watcher());
        t = System.nanoTime();
        cluster.startOperator(OperatorSettings.defaults().withServerSideApply(false).withHealthPort(-1));
        await("all " + nodes + " VfioNodeStates created", () -> seen.size() == nodes);
        results.put("operator_start_to_node_states_ms", ms(System.nanoTime() - t));
        results.put("agents_inventory_sync_ms", ms(syncAgents()));

        // initial convergence: the three policies of the operator's ScaleTest
        Phase initial = watch(FanOutProbe::initialPlan);
        t = System.nanoTime();
        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(DeviceSelector.of().withVendors("10de").withClasses("03"))
                .resource("gpu").companions(Companions.Bind).build());
        cluster.apply(policy(CHANGED_POLICY).select(DeviceSelector.of().withVendors("15b3").withDevices("101e"))
                .driver("mlx5_vfio_pci").resource("nic").build());
        cluster.apply(policy("nvme").select(DeviceSelector.of().withClasses("0108")).driver("vfio-pci").resource("nvme").priority(5).build());
        results.put("initial_convergence_ms", ms(initial.await("initial plan on every node") - t));
        VfioNodeStateSpec before = seen.get(agents.isEmpty() ? "" : "node-0000").getSpec();
        long distinct = seen.values().stream().map(VfioNodeState::getSpec).distinct().count();
        if (distinct != 1) {
            failures.add("after initial convergence the " + nodes + " identical nodes have " + distinct + " different specs");
        }
        syncAgents();
        for (String p : List.of("gpus", CHANGED_POLICY, "nvme")) {
            awaitRollup(p, generation(p));
        }
        results.put("initial_rollup_ready_ms", ms(System.nanoTime() - t));
        settle();

        // the change: nic-vfs publishes its VFs under another resource name
        expected = Serialization.clone(before);
        expected.getDevices().stream().filter(d -> d.getAddress().equals(NIC_VF)).forEach(d -> d.setResourceName(NEW_RESOURCE));
        Phase fanOut = watch(s -> expected.equals(s.getSpec()));
        Map<String, Long> requestsBefore = cluster.responses();
        long errorsBefore = logs.count();
        long cpuBefore = os.getProcessCpuTime();
        Map<Long, Long> threadCpuBefore = threadCpu();
        t = System.nanoTime();
        VfioBindingPolicy changed = cluster.client.resources(VfioBindingPolicy.class).withName(CHANGED_POLICY).edit(p -> {
            p.getSpec().setResourceName(NEW_RESOURCE);
            return p;
        });
        long fanOutAt = fanOut.await("policy change on every node");
        long cpuAfter = os.getProcessCpuTime();
        Map<Long, Long> threadCpuAfter = threadCpu();
        results.put("fan_out_ms", ms(fanOutAt - t));
        results.put("fan_out_process_cpu_ms", ms(cpuAfter - cpuBefore));
        results.put("fan_out_mock_server_cpu_ms", ms(delta(threadCpuBefore, threadCpuAfter, n -> n.startsWith("vert.x-"))));
        results.put("fan_out_spec_writes", Integer.toString(fanOut.specChanges.get()));
        results.put("fan_out_requests", requests(requestsBefore, cluster.responses()));
        results.put("heap_used_after_fan_out_mib", mib(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed()));
        if (fanOut.specChanges.get() > nodes) {
            failures.add("the change was written " + fanOut.specChanges.get() + " times to " + nodes + " node specs (expected one write per node)");
        }
        long agentsStart = System.nanoTime();
        syncAgents();
        long agentsEnd = System.nanoTime();
        awaitRollup(CHANGED_POLICY, changed.getMetadata().getGeneration());
        long rolledUp = System.nanoTime();
        results.put("agents_resync_ms", ms(agentsEnd - agentsStart));
        results.put("rollup_ready_after_agents_ms", ms(rolledUp - agentsEnd));
        results.put("change_to_rollup_ready_ms", ms(rolledUp - t));
        results.put("fan_out_log_warnings_errors", Long.toString(logs.count() - errorsBefore));
        settle();
        informer.close();
        drainRecordedRequests();
        System.gc();
        results.put("heap_used_end_after_gc_mib", mib(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed()));
        results.put("heap_max_mib", mib(Runtime.getRuntime().maxMemory()));
    }

    /** The mock server keeps every request it answered; dropped before the heap is measured at the end. */
    private void drainRecordedRequests() throws InterruptedException {
        int n = cluster.server.getRequestCount();
        for (int i = 0; i < n && cluster.server.takeRequest(1, TimeUnit.MILLISECONDS) != null; i++) {
            // dropped
        }
    }

    /**
     * Every node's spec and every policy's roll-up at the end, from the API server (not the watch's cache), and the
     * errors of the whole run; also after a failed or timed-out phase (then the specs are not checked).
     */
    private void verify() {
        if (cluster == null) {
            return;
        }
        List<VfioNodeState> states = cluster.client.resources(VfioNodeState.class).list().getItems();
        VfioNodeStateSpec want = expected;
        List<String> wrong = want == null ? List.of()
                : states.stream().filter(s -> !want.equals(s.getSpec())).map(s -> s.getMetadata().getName()).toList();
        results.put("node_states", Integer.toString(states.size()));
        results.put("node_states_wrong_spec", Integer.toString(wrong.size()));
        if (states.size() != nodes) {
            failures.add(states.size() + " VfioNodeStates for " + nodes + " Nodes");
        }
        if (!wrong.isEmpty()) {
            failures.add(wrong.size() + " node state(s) without the change, e.g. " + wrong.subList(0, Math.min(5, wrong.size()))
                    + ": " + cluster.nodeState(wrong.get(0)).map(VfioNodeState::getSpec).orElse(null));
        }
        for (String p : List.of("gpus", CHANGED_POLICY, "nvme")) {
            VfioBindingPolicyStatus s = cluster.policy(p).map(VfioBindingPolicy::getStatus).orElse(null);
            String nodesReady = s == null ? "none" : s.getNodes() + " nodes, " + s.getDevices() + " devices";
            results.put("policy_" + p.replace('-', '_'), nodesReady.replace(' ', '_').replace(",", ""));
            if (s == null || !(nodes + "/" + nodes).equals(s.getNodes()) || !(nodes + "/" + nodes).equals(s.getDevices())) {
                failures.add("policy " + p + " rolled up " + nodesReady + ", expected " + nodes + "/" + nodes);
            }
        }
        Map<String, Long> responses = cluster.responses();
        long conflicts = responses.entrySet().stream().filter(e -> e.getKey().endsWith(" 409")).mapToLong(Map.Entry::getValue).sum();
        long serverErrors = responses.entrySet().stream().filter(e -> e.getKey().matches(".* 5\\d\\d$")).mapToLong(Map.Entry::getValue).sum();
        results.put("http_requests", Long.toString(responses.values().stream().mapToLong(Long::longValue).sum()));
        results.put("http_409", Long.toString(conflicts));
        results.put("http_5xx", Long.toString(serverErrors));
        responses.forEach((k, v) -> {
            if (k.endsWith(" 409") || k.matches(".* 5\\d\\d$")) {
                logs.original.println("FanOutProbe: " + k + ": " + v);
            }
        });
        if (serverErrors > 0) {
            failures.add(serverErrors + " answer(s) 5xx from the API server");
        }
        results.put("log_warnings_errors", Long.toString(logs.count()));
        if (logs.count() > 0) {
            failures.add(logs.count() + " WARN/ERROR log record(s), first: " + logs.first());
        }
        // what went wrong, counted once each: log records (a failed reconcile is one), 5xx answers, wrong or
        // missing node states, and a phase that failed or timed out
        long errors = logs.count() + serverErrors + wrong.size() + Math.abs(states.size() - nodes)
                + failures.stream().filter(f -> f.startsWith("probe stopped")).count();
        results.put("errors", Long.toString(errors));
    }

    /** The plan the three initial policies give every node: GPU + audio companion, the NIC VF, the NVMe drive. */
    static boolean initialPlan(VfioNodeState state) {
        List<DesiredDevice> d = state.getSpec() == null || state.getSpec().getDevices() == null ? List.of() : state.getSpec().getDevices();
        return d.size() == 4
                && is(d.get(0), GPU, "gpus", "gpu", null)
                && is(d.get(1), GPU_AUDIO, "gpus", null, GPU)
                && is(d.get(2), NIC_VF, CHANGED_POLICY, "nic", null) && "mlx5_vfio_pci".equals(d.get(2).getDriver())
                && is(d.get(3), NVME, "nvme", "nvme", null) && "vfio-pci".equals(d.get(3).getDriver());
    }

    private static boolean is(DesiredDevice d, String address, String policy, String resource, String companionOf) {
        return address.equals(d.getAddress()) && policy.equals(d.getPolicy()) && Objects.equals(resource, d.getResourceName())
                && Objects.equals(companionOf, d.getCompanionOf());
    }

    private long syncAgents() throws Exception {
        long t = System.nanoTime();
        AtomicInteger n = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(AGENT_THREADS, r -> new Thread(r, "fake-agent-" + n.incrementAndGet()));
        try {
            List<Future<?>> done = new ArrayList<>();
            for (FakeNodeAgent agent : agents) {
                done.add(pool.submit(agent::sync));
            }
            for (Future<?> f : done) {
                f.get(timeoutMs, TimeUnit.MILLISECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        return System.nanoTime() - t;
    }

    private long generation(String policy) {
        return cluster.policy(policy).orElseThrow().getMetadata().getGeneration();
    }

    private void awaitRollup(String name, long generation) throws InterruptedException {
        String all = nodes + "/" + nodes;
        await("policy " + name + " Ready " + all + " at generation " + generation, () -> cluster.policy(name).map(VfioBindingPolicy::getStatus)
                .filter(s -> Objects.equals(s.getObservedGeneration(), generation) && all.equals(s.getNodes()) && all.equals(s.getDevices()))
                .map(s -> s.condition(VfioBindingPolicyStatus.READY)).map(Condition::getStatus).filter("True"::equals).isPresent());
    }

    /** Until the node states have been quiet for 2 s (at most the timeout): the next phase starts from rest. */
    private void settle() throws InterruptedException {
        await("node states quiet for 2 s", () -> System.nanoTime() - lastStateEvent.get() > 2_000_000_000L);
    }

    private void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("timed out after " + timeoutMs / 1000 + " s waiting for " + what);
            }
            Thread.sleep(100);
        }
    }

    private Phase watch(Predicate<VfioNodeState> goal) {
        Phase p = new Phase(goal);
        phase = p;
        seen.values().forEach(s -> p.offer(s, null));
        return p;
    }

    /** The node states as the probe's own informer sees them, each event offered to the current phase. */
    private final class Watcher implements ResourceEventHandler<VfioNodeState> {
        @Override
        public void onAdd(VfioNodeState s) {
            seen.put(s.getMetadata().getName(), s);
            event(s, null);
        }

        @Override
        public void onUpdate(VfioNodeState old, VfioNodeState s) {
            seen.put(s.getMetadata().getName(), s);
            event(s, old);
        }

        @Override
        public void onDelete(VfioNodeState s, boolean unknown) {
            seen.remove(s.getMetadata().getName());
            Phase p = phase;
            if (p != null) {
                p.reached.remove(s.getMetadata().getName());
            }
        }

        private void event(VfioNodeState s, VfioNodeState old) {
            lastStateEvent.set(System.nanoTime());
            Phase p = phase;
            if (p != null) {
                p.offer(s, old);
            }
        }
    }

    /** Which node states have reached a goal, and when the last of them did. */
    private final class Phase {
        final Predicate<VfioNodeState> goal;
        final Set<String> reached = ConcurrentHashMap.newKeySet();
        final AtomicInteger specChanges = new AtomicInteger();
        final AtomicLong allReachedAt = new AtomicLong();

        Phase(Predicate<VfioNodeState> goal) {
            this.goal = goal;
        }

        void offer(VfioNodeState s, VfioNodeState old) {
            if (old != null && !Objects.equals(old.getSpec(), s.getSpec())) {
                specChanges.incrementAndGet();
            }
            if (goal.test(s)) {
                reached.add(s.getMetadata().getName());
            } else {
                reached.remove(s.getMetadata().getName());
            }
            if (reached.size() == nodes) {
                allReachedAt.compareAndSet(0, System.nanoTime());
            }
        }

        long await(String what) throws InterruptedException {
            FanOutProbe.this.await(what + " (" + nodes + " node states)", () -> allReachedAt.get() != 0);
            return allReachedAt.get();
        }
    }

    /** CPU time per live thread, by thread id (JOSDK renames its pool threads while they reconcile). */
    private Map<Long, Long> threadCpu() {
        Map<Long, Long> cpu = new LinkedHashMap<>();
        for (long id : threads.getAllThreadIds()) {
            long ns = threads.getThreadCpuTime(id);
            if (ns >= 0) {
                cpu.put(id, ns);
            }
        }
        return cpu;
    }

    /** CPU used between the two snapshots by the threads whose name (now) passes {@code threadName}. */
    private long delta(Map<Long, Long> before, Map<Long, Long> after, Predicate<String> threadName) {
        long sum = 0;
        for (var e : after.entrySet()) {
            var info = threads.getThreadInfo(e.getKey());
            if (info != null && threadName.test(info.getThreadName())) {
                sum += e.getValue() - before.getOrDefault(e.getKey(), 0L);
            }
        }
        return sum;
    }

    /** Requests answered between two tallies, e.g. "PATCH_vfionodestates_200:1000,...". */
    private static String requests(Map<String, Long> before, Map<String, Long> after) {
        List<String> parts = new ArrayList<>();
        after.forEach((k, v) -> {
            long n = v - before.getOrDefault(k, 0L);
            if (n > 0) {
                parts.add(k.replace(' ', '_') + ":" + n);
            }
        });
        return String.join(",", parts);
    }

    private void close() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static String ms(long nanos) {
        return String.format("%.1f", nanos / 1e6);
    }

    private static String mib(long bytes) {
        return String.format("%.1f", bytes / 1048576.0);
    }

    /**
     * Counts WARN and ERROR records: slf4j-simple's lines on stderr (it looks System.err up for every record, so a
     * tee installed before the first logger sees them all) and java.util.logging records (the mock server, Vert.x).
     */
    static final class LogTally extends OutputStream {
        private static final Pattern RECORD = Pattern.compile("^\\[[^\\]]*\\] (WARN|ERROR) (\\S+) - (.*)$");
        final PrintStream original;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();
        private final AtomicLong count = new AtomicLong();
        private volatile String first;

        private LogTally(PrintStream original) {
            this.original = original;
        }

        static LogTally install() {
            // system properties win over the simplelogger.properties the jar holds (the node daemon's)
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
            System.setProperty("org.slf4j.simpleLogger.showDateTime", "false");
            System.setProperty("org.slf4j.simpleLogger.showThreadName", "true");
            System.setProperty("org.slf4j.simpleLogger.showLogName", "true");
            System.setProperty("org.slf4j.simpleLogger.showShortLogName", "false");
            System.setProperty("org.slf4j.simpleLogger.levelInBrackets", "false");
            System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
            // fabric8 warns once per informer that v1alpha1 is not a stable version (the operator's tests mute it too)
            System.setProperty("org.slf4j.simpleLogger.log.io.fabric8.kubernetes.client.dsl.internal.VersionUsageUtils", "error");
            LogTally tally = new LogTally(System.err);
            System.setErr(new PrintStream(tally, true, StandardCharsets.UTF_8));
            java.util.logging.Logger.getLogger("").addHandler(new Handler() {
                @Override
                public void publish(LogRecord r) {
                    if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                        tally.record(r.getLevel() + " " + r.getLoggerName() + " - " + r.getMessage());
                    }
                }

                @Override
                public void flush() {
                }

                @Override
                public void close() {
                }
            });
            return tally;
        }

        long count() {
            return count.get();
        }

        String first() {
            return first;
        }

        private void record(String what) {
            if (count.incrementAndGet() == 1) {
                first = what;
            }
        }

        @Override
        public synchronized void write(int b) {
            original.write(b);
            if (b == '\n') {
                Matcher m = RECORD.matcher(line.toString(StandardCharsets.UTF_8));
                if (m.matches()) {
                    record(m.group(1) + " " + m.group(2) + " - " + m.group(3));
                }
                line.reset();
            } else {
                line.write(b);
            }
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            for (int i = off; i < off + len; i++) {
                write(b[i]);
            }
        }

        @Override
        public void flush() {
            original.flush();
        }
    }
}
