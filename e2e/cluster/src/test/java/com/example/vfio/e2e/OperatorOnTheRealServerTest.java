package com.example.vfio.e2e;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicyStatus;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.operator.FakeNodeAgent;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.ManagedFieldsEntry;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
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

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.groups.Tuple.tuple;
import static org.awaitility.Awaitility.await;

/**
 * The operator jar as its own process, as the chart runs it (its ServiceAccount, RBAC, JVM options and environment,
 * leader election on), on the real API server. The node agents are played by {@link FakeNodeAgent}s writing status
 * with the node agent's own RBAC (impersonated), so that three nodes cost no JVM each; the node agent suite runs the
 * real one. The checks run in order on one operator process; the last one starts a second and kills the first.
 */
@ExtendWith(RealCluster.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OperatorOnTheRealServerTest {
    private static final String NAMESPACE = "op-e2e";
    private static final Duration WAIT = Duration.ofSeconds(60);
    /** Every node and policy of this class carries it, so that no other suite's objects are touched. */
    private static final String MINE = "e2e.vfio.example.com/suite";
    /** The extra a pod-bound token of a node's pod carries; fabric8 puts the key into a header name as it is, so escaped. */
    private static final List<String> NODES = List.of("op-gpu-1", "op-gpu-2", "op-cpu-1");

    private ControlPlane plane;
    private KubernetesClient admin;
    private ChartRelease chart;
    private Kubectl kubectl;
    private Path dir;
    private ProductProcess operatorA;
    private ProductProcess operatorB;
    private final Map<String, FakeNodeAgent> agents = new LinkedHashMap<>();

    @BeforeAll
    void startTheOperator(ControlPlane plane) throws Exception {
        this.plane = plane;
        admin = plane.admin();
        Crds.install(admin);
        dir = RealCluster.workDir("operator");
        kubectl = new Kubectl(plane, dir);
        chart = ChartRelease.render("op", NAMESPACE, Map.of()).installRbac(admin);
        createNode("op-gpu-1", Map.of("gpu", "h100")); // before the operator starts, the others after
        operatorA = Components.operator(chart, PodIdentity.create(plane, chart, ChartRelease.OPERATOR, "op-operator-a", null, dir), dir);
        for (String node : NODES) {
            FakeNodeAgent agent = new FakeNodeAgent(asAgentOf(node), node);
            agent.device("0000:05:00.0", "8086", "1533", "020000", "igb", "7")
                    .device("0000:41:00.0", "10de", "2342", "030200", "nouveau", "14")
                    .device("0000:41:00.1", "10de", "22bc", "040300", "snd_hda_intel", "14")
                    .device("0000:81:00.2", "15b3", "101e", "020000", "mlx5_core", "40");
            agents.put(node, agent);
        }
    }

    @AfterAll
    void stopAndCleanUp() {
        for (ProductProcess p : new ProductProcess[] {operatorA, operatorB}) {
            if (p != null) {
                p.close();
            }
        }
        if (admin == null) {
            return;
        }
        for (VfioBindingPolicy p : admin.resources(VfioBindingPolicy.class).withLabel(MINE, "operator").list().getItems()) {
            admin.resources(VfioBindingPolicy.class).withName(p.getMetadata().getName())
                    .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"metadata\":{\"finalizers\":null}}");
            admin.resource(p).delete();
        }
        for (Node n : admin.nodes().withLabel(MINE, "operator").list().getItems()) {
            admin.resource(n).delete();
            admin.resources(VfioNodeState.class).withName(n.getMetadata().getName()).delete();
        }
        if (chart != null) {
            chart.uninstall(admin);
        }
    }

    @Test
    @Order(1)
    @DisplayName("Operator: every Node created through the API gets one VfioNodeState named after it and owned by it; a deleted Node's goes with it")
    void every_node_gets_its_node_state() {
        createNode("op-gpu-2", Map.of("gpu", "h100"));
        createNode("op-cpu-1", Map.of());
        createNode("op-gone", Map.of());
        for (String name : List.of("op-gpu-1", "op-gpu-2", "op-cpu-1", "op-gone")) {
            VfioNodeState state = awaitNodeState(name);
            Node node = admin.nodes().withName(name).get();
            assertThat(state.getMetadata().getOwnerReferences()).singleElement().satisfies(o -> {
                assertThat(o.getKind()).isEqualTo("Node");
                assertThat(o.getName()).isEqualTo(name);
                assertThat(o.getUid()).isEqualTo(node.getMetadata().getUid());
                assertThat(o.getController()).isTrue();
            });
            assertThat(state.getSpec().getDevices()).isEmpty();
        }
        admin.nodes().withName("op-gone").delete();
        await().atMost(WAIT).until(() -> admin.resources(VfioNodeState.class).withName("op-gone").get() == null);
        CheckReport.note("the operator runs as " + "system:serviceaccount:" + NAMESPACE + ":" + chart.serviceAccount(ChartRelease.OPERATOR)
                + " with the chart's RBAC and JVM options " + chart.jvmOptions(ChartRelease.OPERATOR));
    }

    @Test
    @Order(2)
    @DisplayName("Operator: plans each node's spec from the policies and the inventory its agent reports, and rolls the agents' reports up into the policy's status")
    void plans_the_spec_from_policies_and_inventory() {
        agents.values().forEach(FakeNodeAgent::sync);
        kubectl.apply(policy("op-gpus", """
                  nodeSelector: {matchLabels: {gpu: h100}}
                  selector: {vendors: ["10de"], classes: ["0302"]}
                  resourceName: gpu
                """));

        awaitSpec("op-gpu-1", d -> has(d, "0000:41:00.0", "auto", "gpu"));
        awaitSpec("op-gpu-2", d -> has(d, "0000:41:00.0", "auto", "gpu"));
        assertThat(spec("op-gpu-1")).extracting(DesiredDevice::getAddress, DesiredDevice::getDriver, DesiredDevice::getResourceName, DesiredDevice::getPolicy)
                .containsExactly(tuple("0000:41:00.0", "auto", "gpu", "op-gpus"));
        assertThat(spec("op-cpu-1")).isEmpty();
        VfioBindingPolicyStatus progressing = awaitStatus("op-gpus", condition("Progressing", "True", "Binding"));
        assertThat(progressing.getNodes()).isEqualTo("0/2");

        agents.values().forEach(FakeNodeAgent::sync);
        VfioBindingPolicyStatus ready = awaitStatus("op-gpus", condition("Ready", "True", "AllNodesReady"));
        assertThat(ready.getNodes()).isEqualTo("2/2");
        assertThat(ready.getDevices()).isEqualTo("2/2");
        VfioBindingPolicy policy = admin.resources(VfioBindingPolicy.class).withName("op-gpus").get();
        assertThat(ready.getObservedGeneration()).isEqualTo(policy.getMetadata().getGeneration());
        assertThat(policy.getMetadata().getFinalizers()).containsExactly(VfioBindingPolicy.FINALIZER);
        await().atMost(WAIT).until(() -> events("op-gpus").stream().anyMatch(e -> "Ready".equals(e.getReason())));
    }

    @Test
    @Order(3)
    @DisplayName("Operator: a higher priority takes the device; equal priorities that disagree are a Conflict: the device stays out of the spec and both policies say so, with Warning events")
    void priorities_and_the_equal_priority_conflict() {
        kubectl.apply(policy("op-nics", """
                  nodeSelector: {matchLabels: {gpu: h100}}
                  selector: {vendors: ["15b3"]}
                  driver: vfio-pci
                  resourceName: nic
                """) + "---\n" + policy("op-nics-fast", """
                  nodeSelector: {matchLabels: {gpu: h100}}
                  selector: {addresses: ["0000:81:00.2"]}
                  driver: mlx5_vfio_pci
                  resourceName: nic-fast
                  priority: 100
                """));
        awaitSpec("op-gpu-1", d -> has(d, "0000:81:00.2", "mlx5_vfio_pci", "nic-fast"));
        awaitSpec("op-gpu-2", d -> has(d, "0000:81:00.2", "mlx5_vfio_pci", "nic-fast"));
        agents.values().forEach(FakeNodeAgent::sync);
        awaitStatus("op-nics-fast", condition("Ready", "True", "AllNodesReady"));
        VfioBindingPolicyStatus loser = awaitStatus("op-nics", condition("Ready", "False", "NoMatchingDevices"));
        assertThat(loser.condition("Conflict").getStatus()).isEqualTo("False");

        kubectl.apply(policy("op-audio", """
                  nodeSelector: {matchLabels: {gpu: h100}}
                  selector: {classes: ["0403"]}
                  driver: vfio-pci
                  resourceName: audio
                """) + "---\n" + policy("op-sound", """
                  nodeSelector: {matchLabels: {gpu: h100}}
                  selector: {addresses: ["0000:41:00.1"]}
                  driver: vfio-pci
                  resourceName: sound
                """));
        VfioBindingPolicyStatus audio = awaitStatus("op-audio", condition("Conflict", "True", "EqualPriorityConflict"));
        VfioBindingPolicyStatus sound = awaitStatus("op-sound", condition("Conflict", "True", "EqualPriorityConflict"));
        assertThat(audio.condition("Conflict").getMessage()).contains("0000:41:00.1 on op-gpu-1").contains("0000:41:00.1 on op-gpu-2");
        assertThat(sound.condition("Conflict").getMessage()).contains("op-audio wants vfio-pci as audio").contains("op-sound wants vfio-pci as sound");
        assertThat(spec("op-gpu-1")).noneMatch(d -> d.getAddress().equals("0000:41:00.1"));
        assertThat(spec("op-gpu-2")).noneMatch(d -> d.getAddress().equals("0000:41:00.1"));
        for (String p : List.of("op-audio", "op-sound")) {
            await().atMost(WAIT).until(() -> events(p).stream().anyMatch(e -> "Warning".equals(e.getType()) && "Conflict".equals(e.getReason())
                    && e.getMessage().contains("0000:41:00.1")));
        }

        admin.resources(VfioBindingPolicy.class).withName("op-sound").delete();
        await().atMost(WAIT).until(() -> admin.resources(VfioBindingPolicy.class).withName("op-sound").get() == null);
        awaitSpec("op-gpu-1", d -> has(d, "0000:41:00.1", "vfio-pci", "audio"));
        awaitStatus("op-audio", condition("Conflict", "False", "NoConflict"));
    }

    @Test
    @Order(4)
    @DisplayName("Operator: a Node relabelled out of a policy's nodeSelector leaves it (spec and counts), and comes back when relabelled in")
    void node_label_changes() {
        agents.values().forEach(FakeNodeAgent::sync);
        awaitStatus("op-gpus", s -> "2/2".equals(s.getNodes()));

        relabel("op-gpu-2", Map.of("gpu", "retired"));
        awaitSpec("op-gpu-2", List::isEmpty);
        awaitStatus("op-gpus", s -> "1/1".equals(s.getNodes()));

        relabel("op-gpu-2", Map.of("gpu", "h100"));
        awaitSpec("op-gpu-2", d -> has(d, "0000:41:00.0", "auto", "gpu"));
        agents.get("op-gpu-2").sync();
        awaitStatus("op-gpus", s -> "2/2".equals(s.getNodes()) && condition("Ready", "True", "AllNodesReady").test(s));
    }

    @Test
    @Order(5)
    @DisplayName("Operator: a deleted policy is held by its finalizer until every node's agent reports the devices back on their host drivers, then goes (DevicesReleased)")
    void deletion_waits_for_host_drivers() {
        agents.values().forEach(FakeNodeAgent::sync);
        admin.resources(VfioBindingPolicy.class).withName("op-gpus").delete();

        awaitSpec("op-gpu-1", d -> has(d, "0000:41:00.0", "host", null));
        awaitSpec("op-gpu-2", d -> has(d, "0000:41:00.0", "host", null));
        agents.get("op-gpu-1").sync();
        // op-gpu-2 has not given its GPU back: the finalizer keeps the policy
        await().during(Duration.ofSeconds(5)).atMost(WAIT).until(() -> admin.resources(VfioBindingPolicy.class).withName("op-gpus").get() != null);
        VfioBindingPolicy held = admin.resources(VfioBindingPolicy.class).withName("op-gpus").get();
        assertThat(held.getMetadata().getDeletionTimestamp()).isNotNull();
        assertThat(held.getMetadata().getFinalizers()).containsExactly(VfioBindingPolicy.FINALIZER);
        await().atMost(WAIT).until(() -> {
            VfioBindingPolicy p = admin.resources(VfioBindingPolicy.class).withName("op-gpus").get();
            return p.getStatus() != null && condition("Ready", "False", "Deleting").test(p.getStatus())
                    && p.getStatus().condition("Ready").getMessage().contains("op-gpu-2");
        });

        agents.get("op-gpu-2").sync();
        await().atMost(WAIT).until(() -> admin.resources(VfioBindingPolicy.class).withName("op-gpus").get() == null);
        awaitSpec("op-gpu-1", d -> d.stream().noneMatch(x -> x.getAddress().equals("0000:41:00.0")));
        awaitSpec("op-gpu-2", d -> d.stream().noneMatch(x -> x.getAddress().equals("0000:41:00.0")));
        assertThat(admin.resources(VfioNodeState.class).withName("op-gpu-2").get().getStatus().device("0000:41:00.0").orElseThrow().getDriver())
                .isEqualTo("nouveau");
        await().atMost(WAIT).until(() -> events("op-gpus").stream().anyMatch(e -> "DevicesReleased".equals(e.getReason())));
    }

    @Test
    @Order(6)
    @DisplayName("Operator: server-side apply is its write path: managedFields show it owning the node states' spec and the policies' status and finalizer, the agents owning status; a hand edit of a spec is taken back")
    void server_side_apply_and_field_managers() {
        assertThat(operatorA.log()).contains("server-side apply true");
        agents.get("op-gpu-1").sync();
        VfioNodeState state = admin.resources(VfioNodeState.class).withName("op-gpu-1").get();
        List<ManagedFieldsEntry> fields = state.getMetadata().getManagedFields();
        ManagedFieldsEntry operatorEntry = managedBy(fields, "vfio-operator", "Apply", null);
        assertThat(topFields(operatorEntry)).as("the operator's apply on the node state").contains("f:spec").doesNotContain("f:status");
        List<ManagedFieldsEntry> statusWriters = fields.stream().filter(f -> "status".equals(f.getSubresource())).toList();
        assertThat(statusWriters).as("status writers").isNotEmpty()
                .allSatisfy(f -> assertThat(topFields(f)).containsExactly("f:status"));
        assertThat(fields).filteredOn(f -> topFields(f).contains("f:spec")).as("who owns spec fields (its create, its applies)")
                .extracting(ManagedFieldsEntry::getManager).containsOnly("vfio-operator");

        VfioBindingPolicy policy = admin.resources(VfioBindingPolicy.class).withName("op-audio").get();
        List<ManagedFieldsEntry> policyFields = policy.getMetadata().getManagedFields();
        assertThat(topFields(managedBy(policyFields, "vfio-operator", "Apply", "status"))).containsExactly("f:status");
        assertThat(managedBy(policyFields, "vfio-operator", "Apply", null).getFieldsV1().getAdditionalProperties().toString())
                .contains("f:finalizers").doesNotContain("f:spec");
        assertThat(topFields(managedBy(policyFields, "kubectl", "Apply", null))).contains("f:spec");

        // an admin's hand edit of the spec (kubectl edit): the operator owns spec and takes it back
        long generation = state.getMetadata().getGeneration();
        String before = Serialization.asJson(state.getStatus());
        List<DesiredDevice> planned = spec("op-gpu-1");
        kubectl.run(null, "patch", "vfionodestate", "op-gpu-1", "--type", "json",
                "-p", "[{\"op\":\"replace\",\"path\":\"/spec/devices/0/driver\",\"value\":\"host\"}]");
        await().atMost(WAIT).untilAsserted(() -> {
            assertThat(admin.resources(VfioNodeState.class).withName("op-gpu-1").get().getMetadata().getGeneration()).isGreaterThan(generation);
            assertThat(spec("op-gpu-1")).isEqualTo(planned);
        });
        // and an entry added by hand goes too: no device is bound that no policy asked for
        long generation2 = admin.resources(VfioNodeState.class).withName("op-gpu-1").get().getMetadata().getGeneration();
        kubectl.run(null, "patch", "vfionodestate", "op-gpu-1", "--type", "json", "-p",
                "[{\"op\":\"add\",\"path\":\"/spec/devices/-\",\"value\":{\"address\":\"0000:05:00.0\",\"driver\":\"vfio-pci\",\"resourceName\":\"nic\",\"policy\":\"by-hand\"}}]");
        await().atMost(WAIT).untilAsserted(() -> {
            assertThat(admin.resources(VfioNodeState.class).withName("op-gpu-1").get().getMetadata().getGeneration()).isGreaterThan(generation2 + 1);
            assertThat(spec("op-gpu-1")).isEqualTo(planned);
        });
        VfioNodeState after = admin.resources(VfioNodeState.class).withName("op-gpu-1").get();
        assertThat(Serialization.asJson(after.getStatus())).as("the spec writes left the status alone").isEqualTo(before);
        CheckReport.note("managedFields of vfionodestate op-gpu-1: " + fields.stream()
                .map(f -> f.getManager() + " " + f.getOperation() + (f.getSubresource() == null ? "" : " /" + f.getSubresource()) + " " + topFields(f))
                .collect(Collectors.joining("; ")));
    }

    @Test
    @Order(7)
    @DisplayName("Operator: two replicas, one leads (the Lease); after kill -9 of the leader the other takes over as soon as the lease expires (15 s lease, 2 s retry), writes nothing twice and loses nothing")
    void leader_election_and_takeover() {
        Lease lease = awaitLease(l -> "op-operator-a".equals(l.getSpec().getHolderIdentity()));
        int leaseSeconds = lease.getSpec().getLeaseDurationSeconds();
        operatorB = Components.operator(chart, PodIdentity.create(plane, chart, ChartRelease.OPERATOR, "op-operator-b", null, dir), dir);
        operatorB.awaitLog("starting: server-side apply true", WAIT);
        // while A renews, B waits: the lease stays A's and B reconciles nothing
        await().during(Duration.ofSeconds(leaseSeconds / 2)).atMost(WAIT)
                .until(() -> "op-operator-a".equals(lease().getSpec().getHolderIdentity()));
        assertThat(operatorB.log()).doesNotContain("created VfioNodeState").doesNotContain("writing");

        agents.values().forEach(FakeNodeAgent::sync);
        await().pollDelay(Duration.ofSeconds(3)).atMost(WAIT).until(() -> true);
        Map<String, String> versions = versions();
        Map<String, Long> eventCounts = eventCounts();

        operatorA.kill();
        Instant killed = Instant.now();
        Lease last = lease(); // A's last renewal
        createNode("op-gpu-3", Map.of("gpu", "h100")); // while nobody leads

        Lease taken = awaitLease(l -> "op-operator-b".equals(l.getSpec().getHolderIdentity()));
        Instant tookOver = Instant.now();
        ZonedDateTime lastRenew = last.getSpec().getRenewTime();
        Duration sinceRenewal = Duration.between(lastRenew.toInstant(), taken.getSpec().getAcquireTime().toInstant());
        Duration sinceKill = Duration.between(killed, tookOver);
        assertThat(taken.getSpec().getLeaseTransitions()).isEqualTo(last.getSpec().getLeaseTransitions() + 1);
        // B may take the lease only once it has not been renewed for leaseDuration (never two leaders), and it looks every
        // retry period (2 s, up to 2.4 s with fabric8's jitter): one retry period late at most, plus 2 s for a loaded machine
        assertThat(sinceRenewal).as("from A's last renewal to B's acquisition")
                .isGreaterThanOrEqualTo(Duration.ofSeconds(leaseSeconds))
                .isLessThanOrEqualTo(Duration.ofMillis(leaseSeconds * 1000L + 2400 + 2000));

        VfioNodeState fresh = awaitNodeState("op-gpu-3");
        assertThat(fresh.getMetadata().getOwnerReferences()).extracting(OwnerReference::getName).containsExactly("op-gpu-3");
        // B looked at everything A had written and found nothing to write again
        await().pollDelay(Duration.ofSeconds(5)).atMost(WAIT).until(() -> true);
        Map<String, String> now = versions();
        now.keySet().retainAll(versions.keySet());
        assertThat(now).as("resourceVersions of the node states and policies A wrote").isEqualTo(versions);
        Map<String, Long> countsNow = eventCounts();
        countsNow.keySet().removeIf(k -> k.startsWith("op-gpu-3 "));
        assertThat(countsNow).as("events per object and reason").isEqualTo(eventCounts);

        // and B does the work: the new node's inventory gets its plan
        agents.put("op-gpu-3", new FakeNodeAgent(asAgentOf("op-gpu-3"), "op-gpu-3")
                .device("0000:81:00.2", "15b3", "101e", "020000", "mlx5_core", "40"));
        agents.get("op-gpu-3").sync();
        awaitSpec("op-gpu-3", d -> has(d, "0000:81:00.2", "mlx5_vfio_pci", "nic-fast"));
        agents.get("op-gpu-3").sync();
        awaitStatus("op-nics-fast", s -> "3/3".equals(s.getNodes()));
        assertThat(admin.resources(VfioNodeState.class).list().getItems()).extracting(s -> s.getMetadata().getName())
                .filteredOn(n -> n.startsWith("op-")).doesNotHaveDuplicates().containsExactlyInAnyOrder("op-gpu-1", "op-gpu-2", "op-cpu-1", "op-gpu-3");
        assertThat(operatorB.alive()).isTrue();
        CheckReport.note("lease " + leaseSeconds + " s: B took over " + sinceRenewal.toMillis() + " ms after A's last renewal, "
                + sinceKill.toMillis() + " ms after the kill (measured by polling the Lease)");
    }

    // --- helpers

    /**
     * A client with the node agent's RBAC for a fake agent: impersonating the chart's node ServiceAccount with the node
     * its token would carry, under a user agent of its own, which names its field manager.
     */
    private KubernetesClient asAgentOf(String node) {
        io.fabric8.kubernetes.client.Config config = plane.impersonation(
                Identities.user(NAMESPACE, chart.serviceAccount(ChartRelease.NODE)), Identities.groups(NAMESPACE), Identities.onNode(node));
        config.setUserAgent("fake-node-agent/e2e");
        return new io.fabric8.kubernetes.client.KubernetesClientBuilder().withConfig(config).build();
    }

    private void createNode(String name, Map<String, String> labels) {
        Map<String, String> all = new HashMap<>(labels);
        all.put(MINE, "operator");
        admin.resource(new NodeBuilder().withNewMetadata().withName(name).withLabels(all).endMetadata().build()).create();
    }

    private void relabel(String node, Map<String, String> labels) {
        Map<String, String> all = new HashMap<>(labels);
        all.put(MINE, "operator");
        admin.nodes().withName(node).edit(n -> {
            n.getMetadata().setLabels(all);
            return n;
        });
    }

    /** A policy as an admin writes it; {@code spec} is the YAML under {@code spec:}, indented by two. */
    private static String policy(String name, String spec) {
        return """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata:
                  name: %s
                  labels: {%s: operator}
                spec:
                %s""".formatted(name, MINE, spec);
    }

    private VfioNodeState awaitNodeState(String name) {
        await().atMost(WAIT).until(() -> admin.resources(VfioNodeState.class).withName(name).get() != null);
        return admin.resources(VfioNodeState.class).withName(name).get();
    }

    private List<DesiredDevice> spec(String node) {
        VfioNodeState s = admin.resources(VfioNodeState.class).withName(node).get();
        return s == null || s.getSpec() == null ? List.of() : s.getSpec().getDevices();
    }

    private void awaitSpec(String node, Predicate<List<DesiredDevice>> condition) {
        try {
            await().atMost(WAIT).until(() -> condition.test(spec(node)));
        } catch (ConditionTimeoutException e) {
            throw new AssertionError("the spec of " + node + " is still " + spec(node), e);
        }
    }

    private VfioBindingPolicyStatus awaitStatus(String policy, Predicate<VfioBindingPolicyStatus> condition) {
        try {
            await().atMost(WAIT).until(() -> Optional.ofNullable(admin.resources(VfioBindingPolicy.class).withName(policy).get())
                    .map(VfioBindingPolicy::getStatus).filter(condition).isPresent());
        } catch (ConditionTimeoutException e) {
            VfioBindingPolicy p = admin.resources(VfioBindingPolicy.class).withName(policy).get();
            throw new AssertionError("the status of " + policy + " is still " + (p == null ? "(gone)" : Serialization.asJson(p.getStatus())), e);
        }
        return admin.resources(VfioBindingPolicy.class).withName(policy).get().getStatus();
    }

    private static Predicate<VfioBindingPolicyStatus> condition(String type, String status, String reason) {
        return s -> Optional.ofNullable(s.condition(type)).filter(c -> c.getStatus().equals(status) && c.getReason().equals(reason)).isPresent();
    }

    private static boolean has(List<DesiredDevice> devices, String address, String driver, String resource) {
        return devices.stream().anyMatch(d -> d.getAddress().equals(address) && d.getDriver().equals(driver)
                && Objects.equals(d.getResourceName(), resource));
    }

    private List<Event> events(String name) {
        return admin.v1().events().inAnyNamespace().withField("involvedObject.name", name).list().getItems();
    }

    private Map<String, Long> eventCounts() {
        return admin.v1().events().inAnyNamespace().list().getItems().stream()
                .filter(e -> e.getInvolvedObject().getName().startsWith("op-"))
                .collect(Collectors.groupingBy(e -> e.getInvolvedObject().getName() + " " + e.getReason(), java.util.TreeMap::new, Collectors.counting()));
    }

    /** resourceVersion of each of this class's node states and policies. */
    private Map<String, String> versions() {
        Map<String, String> v = new java.util.TreeMap<>();
        admin.resources(VfioNodeState.class).list().getItems().stream().filter(s -> s.getMetadata().getName().startsWith("op-"))
                .forEach(s -> v.put("vns/" + s.getMetadata().getName(), s.getMetadata().getResourceVersion()));
        admin.resources(VfioBindingPolicy.class).withLabel(MINE, "operator").list().getItems()
                .forEach(p -> v.put("vbp/" + p.getMetadata().getName(), p.getMetadata().getResourceVersion()));
        return v;
    }

    private Lease lease() {
        return admin.leases().inNamespace(NAMESPACE).withName("vfio-operator").get();
    }

    private Lease awaitLease(Predicate<Lease> condition) {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(100)).until(() -> {
            Lease l = lease();
            return l != null && l.getSpec() != null && condition.test(l);
        });
        return lease();
    }

    private static ManagedFieldsEntry managedBy(List<ManagedFieldsEntry> fields, String manager, String operation, String subresource) {
        return fields.stream().filter(f -> manager.equals(f.getManager()) && operation.equals(f.getOperation())
                        && Objects.equals(subresource, f.getSubresource())).findFirst()
                .orElseThrow(() -> new AssertionError("no managedFields entry of " + manager + " " + operation
                        + (subresource == null ? "" : " /" + subresource) + " among " + fields.stream()
                        .map(f -> f.getManager() + " " + f.getOperation() + " " + f.getSubresource()).toList()));
    }

    /** The top-level fields a managedFields entry owns, e.g. [f:metadata, f:spec]. */
    private static List<String> topFields(ManagedFieldsEntry entry) {
        return entry.getFieldsV1().getAdditionalProperties().keySet().stream().sorted().toList();
    }
}
