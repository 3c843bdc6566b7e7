package com.example.vfio.e2e;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.InventoryDevice;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateStatus;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
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
import com.example.vfio.proto.deviceplugin.v1beta1.AllocateResponse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Predicate;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The control plane fails under a running operator and node agent: a private etcd and kube-apiserver (not the suite's
 * shared ones), the operator and the agent as their own processes with their chart identities, a stand-in kubelet on
 * the agent's device plugin sockets. kube-apiserver is killed and started again on the same etcd; then etcd is
 * stopped and started again under a running apiserver. Each outage outlasts the operator's lease renewal deadline.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FaultsOnTheRealServerTest {
    private static final String NAMESPACE = "ft-e2e";
    private static final String NODE = "ft-node";
    private static final String GPU = "vfio.example.com/gpu";
    private static final Duration WAIT = Duration.ofSeconds(120);
    /** Longer than the lease's renew deadline (10 s): the operator cannot renew its lease meanwhile. */
    private static final Duration OUTAGE = Duration.ofSeconds(20);

    private ControlPlane plane;
    private KubernetesClient admin;
    private Kubectl kubectl;
    private Path dir;
    private SampleNode node;
    private ProductProcess operator;
    private ProductProcess agent;

    @BeforeAll
    void start() throws IOException {
        dir = RealCluster.workDir("faults");
        plane = ControlPlane.start(Files.createDirectories(dir.resolve("control-plane")), List.of());
        admin = plane.admin();
        Crds.install(admin);
        kubectl = new Kubectl(plane, dir);
        ChartRelease chart = ChartRelease.render("ft", NAMESPACE, Map.of()).installRbac(admin);
        admin.resource(new NodeBuilder().withNewMetadata().withName(NODE).addToLabels("gpu", "yes").endMetadata().build()).create();
        node = SampleNode.start(NODE, dir);
        operator = Components.operator(chart, PodIdentity.create(plane, chart, ChartRelease.OPERATOR, "ft-operator-0", null, dir), dir);
        agent = Components.nodeAgent(chart, PodIdentity.create(plane, chart, ChartRelease.NODE, "ft-node-agent-0", NODE, dir),
                node.nodeHost(), dir,
                List.of("--rescan-interval", "2s"));
        applyPolicy("0000:42:00.0", "0000:43:00.0");
        awaitConverged(List.of("0000:42:00.0", "0000:43:00.0"), s -> s.getSyncStatus() == SyncStatus.Succeeded);
        await().atMost(WAIT).until(() -> node.kubelet().devices(GPU).equals(Map.of("0000:42:00.0", "Healthy", "0000:43:00.0", "Healthy")));
    }

    @AfterAll
    void stop() {
        Components.closeAll(agent, operator, node, plane);
    }

    @Test
    @Order(1)
    @DisplayName("Faults: kube-apiserver killed mid-run and started again on the same etcd: the agent serves the kubelet meanwhile, and agent and operator reconnect and converge without a restart, nothing lost or written twice")
    void api_server_outage() throws IOException {
        Before before = before();
        plane.killApiServer();
        Instant down = Instant.now();

        // the kubelet side does not need the API server: an allocation, and a health change the host makes
        AllocateResponse allocated = node.kubelet().allocateToPod("vm-1", GPU, List.of("0000:43:00.0"));
        assertThat(allocated.getContainerResponses(0).getDevicesList()).extracting(d -> d.getHostPath()).contains("/dev/vfio/16");
        Files.delete(node.host().path().resolve("dev/vfio/15"));
        await().atMost(WAIT).until(() -> "Unhealthy".equals(node.kubelet().devices(GPU).get("0000:42:00.0")));
        assertThat(node.kubelet().connected(GPU)).isTrue();
        sleepUntil(down.plus(OUTAGE));
        plane.startApiServer();
        Duration outage = Duration.between(down, Instant.now());

        // a policy change after the restart, and what the host did meanwhile, both arrive
        applyPolicy("0000:41:00.0", "0000:42:00.0", "0000:43:00.0");
        VfioNodeStateStatus status = awaitConverged(List.of("0000:41:00.0", "0000:42:00.0", "0000:43:00.0"), s ->
                device(s, "0000:42:00.0").toLine().contains("health=Unhealthy")
                        && GPU.equals(device(s, "0000:43:00.0").getAllocatedTo()));
        after(before, status);
        CheckReport.note("kube-apiserver down " + outage.toSeconds() + " s (kill -9, then started on the same etcd and port);"
                + " agent pid " + agent.pid() + " and operator pid " + operator.pid() + " kept running");
    }

    @Test
    @Order(2)
    @DisplayName("Faults: etcd stopped under a running kube-apiserver and started again: the agent serves the kubelet meanwhile, and agent and operator reconnect and converge without a restart, nothing lost or written twice")
    void etcd_outage() throws IOException {
        Before before = before();
        plane.stopEtcd();
        Instant down = Instant.now();

        node.podResources().remove("vm-1"); // the VM is gone: the group hold goes, whatever the API server is doing
        Files.writeString(node.host().path().resolve("dev/vfio/15"), "");
        await().atMost(WAIT).until(() -> "Healthy".equals(node.kubelet().devices(GPU).get("0000:42:00.0")));
        AllocateResponse allocated = node.kubelet().allocateToPod("vm-2", GPU, List.of("0000:42:00.0"));
        assertThat(allocated.getContainerResponses(0).getDevicesList()).extracting(d -> d.getHostPath()).contains("/dev/vfio/15");
        sleepUntil(down.plus(OUTAGE));
        plane.startEtcd();
        Duration outage = Duration.between(down, Instant.now());

        await().atMost(WAIT).until(() -> {
            try {
                return admin.resources(VfioNodeState.class).withName(NODE).get() != null;
            } catch (RuntimeException notYet) {
                return false;
            }
        });
        applyPolicy("0000:42:00.0", "0000:43:00.0");
        VfioNodeStateStatus status = awaitConverged(List.of("0000:42:00.0", "0000:43:00.0"), s ->
                device(s, "0000:42:00.0").toLine().contains("health=Healthy") && GPU.equals(device(s, "0000:42:00.0").getAllocatedTo())
                        && device(s, "0000:43:00.0").getAllocatedTo() == null);
        after(before, status);
        CheckReport.note("etcd down " + outage.toSeconds() + " s under a running kube-apiserver; agent pid " + agent.pid()
                + " and operator pid " + operator.pid() + " kept running");
    }

    // --- helpers

    /** What must survive an outage: the processes, the one node state, its generation. */
    private record Before(long agentPid, long operatorPid, long generation, String uid) {
    }

    private Before before() {
        VfioNodeState state = admin.resources(VfioNodeState.class).withName(NODE).get();
        return new Before(agent.pid(), operator.pid(), state.getMetadata().getGeneration(), state.getMetadata().getUid());
    }

    /** After the outage and one policy change: the same processes, the same object, one spec write, no duplicates. */
    private void after(Before before, VfioNodeStateStatus status) throws IOException {
        assertThat(agent.alive()).as("the agent kept running: " + agent.tail()).isTrue();
        assertThat(operator.alive()).as("the operator kept running: " + operator.tail()).isTrue();
        assertThat(agent.pid()).isEqualTo(before.agentPid());
        assertThat(operator.pid()).isEqualTo(before.operatorPid());
        VfioNodeState state = admin.resources(VfioNodeState.class).withName(NODE).get();
        assertThat(state.getMetadata().getUid()).as("the same node state").isEqualTo(before.uid());
        assertThat(state.getMetadata().getGeneration()).as("one spec write for the one policy change").isEqualTo(before.generation() + 1);
        assertThat(admin.resources(VfioNodeState.class).list().getItems()).hasSize(1);
        assertThat(state.getSpec().getDevices()).extracting(DesiredDevice::getAddress).doesNotHaveDuplicates();
        assertThat(status.getDevices()).extracting(InventoryDevice::getAddress).doesNotHaveDuplicates().hasSize(node.functions());
        assertThat(status.getDeviceCount()).isEqualTo(node.functions());
    }

    private void applyPolicy(String... addresses) {
        kubectl.apply("""
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata: {name: ft-gpus}
                spec:
                  nodeSelector: {matchLabels: {gpu: "yes"}}
                  selector: {addresses: [%s]}
                  resourceName: gpu
                """.formatted(String.join(", ", Stream.of(addresses).map(a -> "\"" + a + "\"").toList())));
    }

    /** Waits until the spec lists {@code addresses} and the agent has acted on that generation, with {@code also}. */
    private VfioNodeStateStatus awaitConverged(List<String> addresses, Predicate<VfioNodeStateStatus> also) {
        try {
            await().atMost(WAIT).pollInterval(Duration.ofMillis(500)).ignoreExceptions().until(() -> {
                VfioNodeState s = admin.resources(VfioNodeState.class).withName(NODE).get();
                return s != null && s.getSpec().getDevices().stream().map(DesiredDevice::getAddress).toList().equals(addresses)
                        && s.getStatus() != null && Objects.equals(s.getStatus().getObservedGeneration(), s.getMetadata().getGeneration())
                        && also.test(s.getStatus());
            });
        } catch (ConditionTimeoutException e) {
            VfioNodeState s = admin.resources(VfioNodeState.class).withName(NODE).get();
            throw new AssertionError("not converged: spec " + (s == null ? null : s.getSpec().getDevices()) + " generation "
                    + (s == null ? null : s.getMetadata().getGeneration()) + ", status " + (s == null ? null : Serialization.asJson(s.getStatus()))
                    + "; operator: " + operator.tail() + "; agent: " + agent.tail(), e);
        }
        return admin.resources(VfioNodeState.class).withName(NODE).get().getStatus();
    }

    private static InventoryDevice device(VfioNodeStateStatus status, String address) {
        return status.device(address).orElseThrow();
    }


    private static void sleepUntil(Instant when) {
        long ms = Duration.between(Instant.now(), when).toMillis();
        if (ms > 0) {
            await().pollDelay(Duration.ofMillis(ms)).atMost(Duration.ofMillis(ms + 5000)).until(() -> true);
        }
    }
}
