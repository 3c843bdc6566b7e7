package com.example.vfio.e2e;

import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.SyntheticHost;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntry;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.authentication.UserInfo;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The node agent ({@code vfio-node serve} in cluster mode) as its own process on a fake host root, with the identity
 * the chart gives it: the node ServiceAccount's RBAC and a token bound to a Pod on its node. The real operator runs
 * beside it (its own process, its chart identity) and plans the spec from what the agent reports, as in a cluster;
 * a stand-in kubelet takes the agent's device plugin registrations. What the agent asked the API server is read from
 * the apiserver's audit log.
 */
@ExtendWith(RealCluster.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NodeAgentOnTheRealServerTest {
    private static final String NAMESPACE = "ag-e2e";
    private static final String NODE = "ag-node";
    private static final String BIG = "ag-big";
    private static final String MINE = "e2e.vfio.example.com/suite";
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String GPU = "vfio.example.com/gpu";
    /** etcd's default --max-request-bytes: the largest object it stores. */
    private static final int ETCD_REQUEST_LIMIT = 1536 * 1024;

    private ControlPlane plane;
    private KubernetesClient admin;
    private ChartRelease chart;
    private Kubectl kubectl;
    private Path dir;
    private SampleNode node;
    private ProductProcess operator;
    private ProductProcess agent;
    private ProductProcess bigAgent;
    private PodIdentity agentIdentity;

    @BeforeAll
    void start(ControlPlane plane) throws IOException {
        this.plane = plane;
        admin = plane.admin();
        Crds.install(admin);
        dir = RealCluster.workDir("node-agent");
        kubectl = new Kubectl(plane, dir);
        chart = ChartRelease.render("ag", NAMESPACE, Map.of()).installRbac(admin);
        createNode(NODE, "agent");
        node = SampleNode.start(NODE, dir.resolve(NODE));

        operator = Components.operator(chart, PodIdentity.create(plane, chart, ChartRelease.OPERATOR, "ag-operator-6d4f9", null, dir), dir);
        agentIdentity = PodIdentity.create(plane, chart, ChartRelease.NODE, "ag-node-agent-x7k2p", NODE, dir);
        agent = Components.nodeAgent(chart, agentIdentity, node.nodeHost(), dir, List.of("--rescan-interval", "2s"));
        kubectl.apply(policy("ag-gpus", "agent", """
                  selector: {addresses: ["0000:41:00.0", "0000:42:00.0", "0000:43:00.0"]}
                  resourceName: gpu
                """) + "---\n" + policy("ag-console", "agent", """
                  selector: {addresses: ["0000:02:00.0"]}
                  driver: vfio-pci
                  resourceName: console
                """));
    }

    @AfterAll
    void stop() {
        Components.closeAll(agent, bigAgent, operator, node);
        if (admin == null) {
            return;
        }
        for (VfioBindingPolicy p : admin.resources(VfioBindingPolicy.class).withLabel(MINE).list().getItems()) {
            if (p.getMetadata().getLabels().get(MINE).startsWith("agent")) {
                admin.resources(VfioBindingPolicy.class).withName(p.getMetadata().getName())
                        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"metadata\":{\"finalizers\":null}}");
                admin.resource(p).delete();
            }
        }
        for (String node : List.of(NODE, BIG)) {
            admin.nodes().withName(node).delete();
            admin.resources(VfioNodeState.class).withName(node).delete();
        }
        if (chart != null) {
            chart.uninstall(admin);
        }
    }

    @Test
    @Order(1)
    @DisplayName("Node agent: runs with its chart identity (the node ServiceAccount, a token bound to its Pod on its node) and reports its host into its own VfioNodeState's status")
    void reports_its_host_with_its_production_identity() throws IOException {
        UserInfo who = agentIdentity.whoAmI();
        assertThat(who.getUsername()).isEqualTo(agentIdentity.username());
        assertThat(who.getGroups()).contains("system:serviceaccounts", "system:serviceaccounts:" + NAMESPACE);
        assertThat(who.getExtra()).containsEntry("authentication.kubernetes.io/node-name", List.of(NODE))
                .containsEntry("authentication.kubernetes.io/pod-name", List.of(agentIdentity.podName()));

        int functions = node.functions();
        VfioNodeStateStatus status = awaitState(NODE, n -> actedOnItsSpec(n) && n.getStatus().getSyncStatus() == SyncStatus.Failed // the console GPU is refused
                && Objects.equals(n.getStatus().getDeviceCount(), functions)
                && n.getStatus().device("0000:42:00.0").map(d -> "gpu".equals(d.getResource())).orElse(false)).getStatus();
        assertThat(status.device("0000:42:00.0").orElseThrow().toLine()).contains("vfio-pci vfio viable group=15").contains("resource=gpu health=Healthy");
        assertThat(status.device("0000:41:00.0").orElseThrow().toLine()).contains("health=Unhealthy");
        assertThat(status.reasonsOf("0000:41:00.0")).anySatisfy(r -> assertThat(r).contains("0000:41:00.1").contains("snd_hda_intel"));
        assertThat(status.getLastSyncError()).startsWith("0000:02:00.0: Refused binding vfio-pci: boot VGA device");
        await().atMost(WAIT).until(() -> node.kubelet().devices(GPU).equals(Map.of("0000:41:00.0", "Unhealthy", "0000:42:00.0", "Healthy", "0000:43:00.0", "Healthy")));
        CheckReport.note("the agent runs as " + who.getUsername() + " with extra " + new TreeMap<>(who.getExtra()) + "; "
                + functions + " functions of the sample host reported");
    }

    @Test
    @Order(2)
    @DisplayName("Node agent: a status write that meets a 409 Conflict re-reads the object, writes again and lands (the audit log shows the 409 and the write after it)")
    void a_conflicting_status_write_is_retried_after_a_fresh_read() throws Exception {
        Path group15 = node.host().path().resolve("dev/vfio/15");
        AtomicBoolean hammering = new AtomicBoolean(true);
        AtomicLong ticks = new AtomicLong();
        // another writer changes the object all the time (as the operator's spec writes do), so the resourceVersion the
        // agent read is often stale by the time its write arrives
        Thread other = new Thread(() -> {
            while (hammering.get()) {
                admin.resources(VfioNodeState.class).withName(NODE).patch(new PatchContext.Builder()
                                .withPatchType(PatchType.JSON_MERGE).withFieldManager("e2e-other-writer").build(),
                        "{\"metadata\":{\"annotations\":{\"e2e.vfio.example.com/tick\":\"" + ticks.incrementAndGet() + "\"}}}");
            }
        }, "other-writer");
        other.start();
        List<AuditLog.Request> conflicts = List.of();
        int toggles = 0;
        try {
            // each /dev/vfio change makes the agent rescan at once and write a new status (42:00.0's health)
            while (conflicts.isEmpty() && toggles < 30) {
                toggles++;
                boolean present = Files.exists(group15);
                if (present) {
                    Files.delete(group15);
                } else {
                    Files.writeString(group15, "");
                }
                String health = present ? "Unhealthy" : "Healthy";
                awaitStatus(NODE, s -> s.device("0000:42:00.0").map(d -> health.equals(String.valueOf(d.getHealth()))).orElse(false));
                conflicts = agentRequests().stream().filter(r -> r.code() == 409).toList();
            }
        } finally {
            hammering.set(false);
            other.join();
        }
        if (!Files.exists(group15)) {
            Files.writeString(group15, "");
        }
        awaitStatus(NODE, s -> s.device("0000:42:00.0").map(d -> "Healthy".equals(String.valueOf(d.getHealth()))).orElse(false));

        assertThat(conflicts).as("409s the agent met in " + toggles + " status changes while " + ticks.get() + " other writes went in")
                .isNotEmpty().allSatisfy(r -> assertThat(r.what()).isEqualTo("update vfionodestates/status"));
        List<AuditLog.Request> requests = agentRequests();
        for (AuditLog.Request conflict : conflicts) {
            List<AuditLog.Request> after = requests.subList(requests.indexOf(conflict) + 1, requests.size());
            assertThat(after).as("after the 409: a fresh read, then a write that lands").extracting(AuditLog.Request::what)
                    .containsSubsequence("get vfionodestates", "update vfionodestates/status");
            assertThat(after.stream().filter(r -> r.what().equals("update vfionodestates/status")).findFirst().orElseThrow().code())
                    .isIn(200, 409);
        }
        assertThat(requests).filteredOn(r -> r.what().equals("update vfionodestates/status")).last()
                .extracting(AuditLog.Request::code).isEqualTo(200);
        // five conflicts in a row make the agent wait (its backoff) before the next fresh read: a write still lands
        long backedOff = agent.log().lines().filter(l -> l.contains("cannot write the status") && l.contains("409")).count();
        CheckReport.note(conflicts.size() + " conflict(s) in " + toggles + " status change(s) against " + ticks.get()
                + " other writes, each followed by a fresh read; " + backedOff + " time(s) five in a row, then a retry after the backoff;"
                + " the last write landed");
    }

    @Test
    @Order(3)
    @DisplayName("Node agent: owns its node state's status (field manager vfio-node-agent, Update on /status), the operator its spec (vfio-operator); a spec change keeps the status and a status write keeps the spec (managedFields)")
    void field_managers_of_the_node_state() {
        VfioNodeState state = admin.resources(VfioNodeState.class).withName(NODE).get();
        List<ManagedFieldsEntry> fields = state.getMetadata().getManagedFields();
        assertThat(fields).filteredOn(f -> "vfio-node-agent".equals(f.getManager())).singleElement().satisfies(f -> {
            assertThat(f.getOperation()).isEqualTo("Update");
            assertThat(f.getSubresource()).isEqualTo("status");
            assertThat(f.getFieldsV1().getAdditionalProperties()).containsOnlyKeys("f:status");
        });
        assertThat(fields).filteredOn(f -> f.getFieldsV1().getAdditionalProperties().containsKey("f:spec"))
                .as("who owns spec fields").extracting(ManagedFieldsEntry::getManager).containsOnly("vfio-operator");
        assertThat(fields).filteredOn(f -> "vfio-operator".equals(f.getManager()) && "Apply".equals(f.getOperation())).singleElement()
                .satisfies(f -> assertThat(f.getFieldsV1().getAdditionalProperties()).containsOnlyKeys("f:spec"));

        long generation = state.getMetadata().getGeneration();
        String inventory = Serialization.asJson(state.getStatus().getDevices().stream().map(d -> d.getAddress()).toList());
        kubectl.apply(policy("ag-gpus", "agent", """
                  selector: {addresses: ["0000:42:00.0", "0000:43:00.0"]}
                  resourceName: gpu
                """));
        VfioNodeStateStatus status = awaitStatus(NODE, s -> Objects.equals(s.getObservedGeneration(), generation + 1));
        VfioNodeState after = admin.resources(VfioNodeState.class).withName(NODE).get();
        assertThat(after.getMetadata().getGeneration()).as("one spec write for one policy change, none for the status writes")
                .isEqualTo(generation + 1);
        assertThat(after.getSpec().getDevices()).extracting(d -> d.getAddress()).containsExactly("0000:02:00.0", "0000:42:00.0", "0000:43:00.0");
        assertThat(Serialization.asJson(status.getDevices().stream().map(d -> d.getAddress()).toList())).isEqualTo(inventory);
        await().atMost(WAIT).until(() -> node.kubelet().devices(GPU).keySet().equals(java.util.Set.of("0000:42:00.0", "0000:43:00.0")));
        CheckReport.note("managedFields of vfionodestate " + NODE + ": " + fields.stream()
                .map(f -> f.getManager() + " " + f.getOperation() + (f.getSubresource() == null ? "" : " /" + f.getSubresource())
                        + " " + new java.util.TreeSet<>(f.getFieldsV1().getAdditionalProperties().keySet()))
                .collect(Collectors.joining("; ")));
    }

    @Test
    @Order(4)
    @DisplayName("Node agent: the events it records (BindRefused on its node state) and the operator's (on the policies) appear in kubectl describe with their reasons")
    void events_in_kubectl_describe() {
        await().atMost(WAIT).until(() -> events(NODE).stream().anyMatch(e -> "BindRefused".equals(e.getReason())));
        await().atMost(WAIT).until(() -> events("ag-console").stream().anyMatch(e -> "NodesFailing".equals(e.getReason())));
        await().atMost(WAIT).until(() -> events("ag-gpus").stream().anyMatch(e -> "Ready".equals(e.getReason())));

        String node = kubectl.describe("vfionodestate", NODE);
        String events = node.substring(node.indexOf("\nEvents:"));
        assertThat(events).contains("Warning").contains("BindRefused").contains("vfio-node-agent")
                .contains("0000:02:00.0: boot VGA device");
        assertThat(events(NODE)).filteredOn(e -> "BindRefused".equals(e.getReason())).as("one event for one refusal, not one per pass")
                .hasSize(1);
        String console = kubectl.describe("vfiobindingpolicy", "ag-console");
        assertThat(console.substring(console.indexOf("\nEvents:"))).contains("Warning").contains("NodesFailing").contains("vfio-operator")
                .contains(NODE);
        String gpus = kubectl.describe("vfiobindingpolicy", "ag-gpus");
        assertThat(gpus.substring(gpus.indexOf("\nEvents:"))).contains("Normal").contains("Ready");
        CheckReport.note("kubectl describe vfionodestate " + NODE + ":" + events.lines().skip(1).map(String::strip)
                .filter(l -> !l.isEmpty()).collect(Collectors.joining(" | ", " ", "")));
    }

    @Test
    @Order(5)
    @DisplayName("Node agent: asks the API server only about its own VfioNodeState (get, list and watch by metadata.name), writes only its status through the status subresource, creates only Events, waits for the operator to re-create its deleted node state, and is never refused (audit log)")
    void makes_only_the_requests_it_should() {
        VfioNodeState before = admin.resources(VfioNodeState.class).withName(NODE).get();
        admin.resource(before).delete();
        // the operator creates it again (a new uid); the agent writes its status into the new object
        await().atMost(WAIT).until(() -> {
            VfioNodeState s = admin.resources(VfioNodeState.class).withName(NODE).get();
            return s != null && !s.getMetadata().getUid().equals(before.getMetadata().getUid()) && s.getStatus() != null
                    && s.getStatus().getObservedGeneration() != null && s.getStatus().getObservedGeneration() >= s.getMetadata().getGeneration()
                    && s.getSpec().getDevices().size() == 3;
        });

        List<AuditLog.Request> requests = agentRequests();
        assertThat(requests).as("the agent's requests").isNotEmpty();
        assertThat(requests).filteredOn(r -> r.code() == 401 || r.code() == 403).as("refused requests").isEmpty();
        for (AuditLog.Request r : requests) {
            switch (r.resource() == null ? "" : r.resource()) {
                case "vfionodestates" -> {
                    assertThat(r.verb()).as(r.toString()).isIn("get", "list", "watch", "update", "patch");
                    if (r.verb().equals("list") || r.verb().equals("watch")) {
                        assertThat(r.query()).as(r.toString()).contains("fieldSelector=metadata.name=" + NODE);
                    } else {
                        assertThat(r.name()).as(r.toString()).isEqualTo(NODE);
                    }
                    if (r.verb().equals("update") || r.verb().equals("patch")) {
                        assertThat(r.subresource()).as(r.toString()).isEqualTo("status");
                    }
                }
                case "events" -> assertThat(r.verb()).as(r.toString()).isEqualTo("create");
                default -> throw new AssertionError("a request the agent has no business making: " + r);
            }
        }
        Map<String, Long> tally = requests.stream().collect(Collectors.groupingBy(r -> r.what() + (r.code() == 409 ? " (409)" : ""),
                TreeMap::new, Collectors.counting()));
        assertThat(tally).containsKeys("get vfionodestates", "watch vfionodestates", "update vfionodestates/status", "create events");
        CheckReport.note("the agent's requests: " + tally);
    }

    @Test
    @Order(6)
    @DisplayName("Node agent: at 4,096 PCI functions, all its VFs wanted by a policy, the node's VfioNodeState (spec, status, managedFields) as etcd stores it stays under etcd's 1.5 MiB request limit")
    void a_4096_function_node_fits_in_etcd() throws IOException {
        createNode(BIG, "agent-big");
        FakeHost big = SyntheticHost.write(dir.resolve(BIG + "/host"), 4096);
        PodIdentity identity = PodIdentity.create(plane, chart, ChartRelease.NODE, "ag-node-agent-b1g9z", BIG, dir);
        // binding off (the chart's node.binding.enabled=false): devices are only checked and published
        bigAgent = Components.nodeAgent(chart, identity, new Components.NodeHost(BIG, big.path(),
                Files.createDirectories(dir.resolve(BIG + "/device-plugins")), dir.resolve(BIG + "/pod-resources.sock"),
                dir.resolve(BIG + "/journal")), dir, List.of("--no-binding"));
        kubectl.apply(policy("ag-vfs", "agent-big", """
                  selector: {vendors: ["15b3"], devices: ["101e"]}
                  resourceName: vf
                """));
        int vfs = 4096 - SyntheticHost.physicalFunctions(4096);
        VfioNodeStateStatus status = awaitState(BIG, n -> actedOnItsSpec(n) && Objects.equals(n.getStatus().getDeviceCount(), 4096)
                && n.getSpec().getDevices().size() == vfs).getStatus();
        assertThat(status.getDevices().stream().filter(d -> "vf".equals(d.getResource())).count())
                .as("VFs published, in the first status that claims the spec's generation").isEqualTo(vfs);

        VfioNodeState stored = admin.resources(VfioNodeState.class).withName(BIG).get();
        byte[] inEtcd = plane.etcdValue("/registry/vfio.example.com/vfionodestates/" + BIG);
        int statusBytes = Serialization.asJson(stored.getStatus()).getBytes(StandardCharsets.UTF_8).length;
        int specBytes = Serialization.asJson(stored.getSpec()).getBytes(StandardCharsets.UTF_8).length;
        int managedBytes = Serialization.asJson(stored.getMetadata().getManagedFields()).getBytes(StandardCharsets.UTF_8).length;
        assertThat(inEtcd.length).as("bytes etcd stores for the node state").isPositive().isLessThan(ETCD_REQUEST_LIMIT);
        assertThat(bigAgent.log()).doesNotContain("OutOfMemoryError");
        CheckReport.note(String.format("4,096 functions, %d VFs in the spec: etcd stores %,d bytes (%.0f%% of its 1.5 MiB limit):"
                        + " status %,d, spec %,d, managedFields %,d bytes of JSON", vfs, inEtcd.length, 100.0 * inEtcd.length / ETCD_REQUEST_LIMIT,
                statusBytes, specBytes, managedBytes));
    }

    // --- helpers

    private List<AuditLog.Request> agentRequests() {
        // the token is the agent's; requests the test made with it (whoAmI) are not the agent's
        return AuditLog.of(plane, agentIdentity.username()).stream().filter(r -> r.userAgent().startsWith("vfio-node-agent/")).toList();
    }

    private void createNode(String name, String suite) {
        admin.resource(new NodeBuilder().withNewMetadata().withName(name).addToLabels(MINE, suite).endMetadata().build()).create();
    }

    private static String policy(String name, String suite, String spec) {
        return """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata:
                  name: %s
                  labels: {%s: %s}
                spec:
                  nodeSelector: {matchLabels: {%s: %s}}
                %s""".formatted(name, MINE, suite, MINE, suite, spec);
    }

    private VfioNodeStateStatus awaitStatus(String node, Predicate<VfioNodeStateStatus> condition) {
        return awaitState(node, s -> condition.test(s.getStatus())).getStatus();
    }

    /** The agent's status says it acted on the generation of the spec in the same object. */
    private static boolean actedOnItsSpec(VfioNodeState s) {
        return s.getStatus().getObservedGeneration() != null && s.getStatus().getObservedGeneration() >= s.getMetadata().getGeneration();
    }

    /** Waits until the node state, read in one piece, has a status and meets {@code condition}. */
    private VfioNodeState awaitState(String node, Predicate<VfioNodeState> condition) {
        try {
            await().atMost(WAIT).pollInterval(Duration.ofMillis(250)).until(() -> {
                VfioNodeState s = admin.resources(VfioNodeState.class).withName(node).get();
                return s != null && s.getStatus() != null && condition.test(s);
            });
        } catch (ConditionTimeoutException e) {
            VfioNodeState s = admin.resources(VfioNodeState.class).withName(node).get();
            String status = s == null ? "(no node state)" : Serialization.asJson(s.getStatus());
            throw new AssertionError("the status of " + node + " is still " + (status.length() > 3000 ? status.substring(0, 3000) + "..." : status)
                    + "; agent log: " + (node.equals(BIG) ? bigAgent : agent).tail(), e);
        }
        return admin.resources(VfioNodeState.class).withName(node).get();
    }

    private List<Event> events(String name) {
        return admin.v1().events().inAnyNamespace().withField("involvedObject.name", name).list().getItems();
    }

}
