package com.example.vfio.e2e;

import com.example.vfio.dra.DraHosts;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.planning.DraDeviceClasses;
import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceClass;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceRequestAllocationResult;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceClaim;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.FieldValidateable;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The real kube-scheduler's structured allocator against the driver's ResourceSlices: a Node with capacity in its
 * status, the node daemon (the jar, cluster mode) publishing a GPU server's devices, the DeviceClass the operator makes,
 * and the kubelet's DRA manager (harness) to prepare what the scheduler allocated.
 */
@ExtendWith(RealCluster.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DraSchedulerTest {
    static final String NODE = "dra-sched-node";
    static final String NS = "dra-sched";
    /** The devices a VM can take: 41:00.0 and 41:00.1 share group 14; 0000:c2:00.0 (group 41) is on nvidia. */
    static final Map<String, String> VIABLE = Map.of("pci-0000-41-00-0", "14", "pci-0000-41-00-1", "14",
            "pci-0000-c1-00-0", "40", "pci-0000-c3-00-0", "42");

    KubernetesClient client;
    Path dir;
    KubeletDra kubelet;
    ProductProcess daemon;
    SchedulerProcess scheduler;
    final List<String> created = new ArrayList<>();

    @BeforeAll
    void start(ControlPlane cluster) throws Exception {
        client = cluster.admin();
        Crds.install(client);
        dir = RealCluster.workDir("dra-scheduler");
        Path kubeconfig = cluster.writeKubeconfig(dir.resolve("kubeconfig"));
        FakeHost host = DraHosts.gpuServer(dir.resolve("host"));
        Node node = client.resource(Serialization.unmarshal("""
                apiVersion: v1
                kind: Node
                metadata:
                  name: %s
                  labels: {kubernetes.io/hostname: %s, vfio-e2e: dra-scheduler}
                """.formatted(NODE, NODE), Node.class)).create();
        node.setStatus(Serialization.unmarshal("""
                capacity: {cpu: "16", memory: 64Gi, pods: "110"}
                allocatable: {cpu: "16", memory: 64Gi, pods: "110"}
                conditions:
                - {type: Ready, status: "True", reason: KubeletReady, message: "harness", lastHeartbeatTime: "2026-01-01T00:00:00Z", lastTransitionTime: "2026-01-01T00:00:00Z"}
                """, io.fabric8.kubernetes.api.model.NodeStatus.class));
        client.resource(node).updateStatus();
        // the TaintNodesByCondition admission plugin taints a new Node not-ready; the node lifecycle controller (not
        // running here) would take the taint off once the node reports Ready
        client.nodes().withName(NODE).edit(n -> { n.getSpec().setTaints(List.of()); return n; });
        client.resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build()).create();
        DeviceClass gpuClass = DraDeviceClasses.of("gpu");
        client.resource(gpuClass).fieldValidation(FieldValidateable.Validation.STRICT).createOr(c -> c.update());

        DraSpecs.write(client, NODE, DraSpecs.dra("gpu", DraHosts.GPU_A, DraHosts.GPU_A_SIBLING, DraHosts.GPU_B,
                DraHosts.GPU_HOST_DRIVER, DraHosts.GPU_GRACE));
        kubelet = KubeletDra.start(dir, kubeconfig, NODE);
        daemon = kubelet.startDaemon(kubeconfig, dir, "daemon", host.path(), NODE);
        await().atMost(Duration.ofSeconds(90)).until(() -> client.resources(ResourceSlice.class)
                .withField("spec.nodeName", NODE).list().getItems().size() == 2);
        // as a kubelet would, the harness prepares only once the driver is registered (a kubelet retries the pod)
        JsonNode registered = kubelet.command("wait-registered vfio.example.com 90");
        assertThat(registered.path("ok").asBoolean()).as(registered.toString()).isTrue();
        scheduler = SchedulerProcess.start(cluster, dir);
    }

    @AfterAll
    void stop() {
        for (AutoCloseable c : new AutoCloseable[] {scheduler, daemon, kubelet}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception ignored) {
                // best effort
            }
        }
    }

    /** Pods and claims go after each test: no kubelet runs them, no controller releases their claims. */
    @AfterEach
    void cleanUp() {
        for (Pod p : client.pods().inNamespace(NS).list().getItems()) {
            client.pods().inNamespace(NS).withName(p.getMetadata().getName()).withGracePeriod(0).delete();
        }
        for (ResourceClaim c : client.resources(ResourceClaim.class).inNamespace(NS).list().getItems()) {
            client.resources(ResourceClaim.class).inNamespace(NS).withName(c.getMetadata().getName())
                    .edit(x -> { x.getMetadata().setFinalizers(List.of()); return x; });
            client.resources(ResourceClaim.class).inNamespace(NS).withName(c.getMetadata().getName()).delete();
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> client.pods().inNamespace(NS).list().getItems().isEmpty()
                && client.resources(ResourceClaim.class).inNamespace(NS).list().getItems().isEmpty());
    }

    void claim(String name, String selector) {
        client.resource(Serialization.unmarshal("""
                apiVersion: resource.k8s.io/v1
                kind: ResourceClaim
                metadata: {name: %s, namespace: %s}
                spec:
                  devices:
                    requests:
                    - name: gpu
                      exactly:
                        deviceClassName: gpu.vfio.example.com
                %s""".formatted(name, NS, selector == null ? "" : """
                                selectors:
                                - cel: {expression: '%s'}
                        """.formatted(selector)), ResourceClaim.class)).create();
    }

    void podWithClaim(String name) {
        client.resource(Serialization.unmarshal("""
                apiVersion: v1
                kind: Pod
                metadata: {name: %s, namespace: %s}
                spec:
                  nodeSelector: {vfio-e2e: dra-scheduler}
                  resourceClaims:
                  - {name: gpu, resourceClaimName: %s}
                  containers:
                  - name: compute
                    image: registry.example/virt-launcher:v1
                    resources:
                      claims:
                      - {name: gpu}
                """.formatted(name, NS, name), Pod.class)).create();
    }

    /** The device the scheduler allocated to a claim (it writes status.allocation), waiting for it. */
    String allocated(String claim) {
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(250)).until(() -> {
            ResourceClaim c = client.resources(ResourceClaim.class).inNamespace(NS).withName(claim).get();
            return c.getStatus() != null && c.getStatus().getAllocation() != null;
        });
        List<DeviceRequestAllocationResult> results = client.resources(ResourceClaim.class).inNamespace(NS)
                .withName(claim).get().getStatus().getAllocation().getDevices().getResults();
        assertThat(results).singleElement().satisfies(r -> {
            assertThat(r.getDriver()).isEqualTo("vfio.example.com");
            assertThat(r.getPool()).isEqualTo(NODE);
        });
        return results.get(0).getDevice();
    }

    boolean unschedulable(String pod) {
        Pod p = client.pods().inNamespace(NS).withName(pod).get();
        return p.getStatus() != null && p.getStatus().getConditions() != null && p.getStatus().getConditions().stream()
                .anyMatch(c -> c.getType().equals("PodScheduled") && c.getStatus().equals("False")
                        && "Unschedulable".equals(c.getReason()));
    }

    @Test
    @DisplayName("DRA: kube-apiserver accepts the DeviceClass gpu.vfio.example.com (CEL selector on our ResourceSlice attributes, extendedResourceName vfio.example.com/gpu), and the real kube-scheduler allocates a claim for one GPU a viable device, never the tainted one, and binds the pod")
    void one_gpu_gets_a_viable_device() {
        claim("one", null);
        podWithClaim("one");
        String device = allocated("one");
        assertThat(VIABLE).containsKey(device);
        await().atMost(Duration.ofSeconds(60)).until(() -> NODE.equals(client.pods().inNamespace(NS).withName("one").get()
                .getSpec().getNodeName()));
        CheckReport.note("kube-scheduler allocated " + device + " to claim one");
    }

    @Test
    @DisplayName("DRA: two claims never get two devices of one IOMMU group: of four one-GPU claims on a node with three viable groups, the scheduler allocates three in three groups and leaves the fourth pod unschedulable")
    void claims_never_share_an_iommu_group() {
        for (String n : List.of("g1", "g2", "g3", "g4")) {
            claim(n, null);
            podWithClaim(n);
        }
        await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500)).until(() -> {
            int allocated = 0;
            int stuck = 0;
            for (String n : List.of("g1", "g2", "g3", "g4")) {
                ResourceClaim c = client.resources(ResourceClaim.class).inNamespace(NS).withName(n).get();
                allocated += c.getStatus() != null && c.getStatus().getAllocation() != null ? 1 : 0;
                stuck += unschedulable(n) ? 1 : 0;
            }
            return allocated == 3 && stuck == 1;
        });
        List<String> groups = new ArrayList<>();
        List<String> devices = new ArrayList<>();
        for (String n : List.of("g1", "g2", "g3", "g4")) {
            ResourceClaim c = client.resources(ResourceClaim.class).inNamespace(NS).withName(n).get();
            if (c.getStatus() != null && c.getStatus().getAllocation() != null) {
                String d = c.getStatus().getAllocation().getDevices().getResults().get(0).getDevice();
                devices.add(d);
                groups.add(VIABLE.get(d));
            }
        }
        assertThat(groups).as("IOMMU groups of " + devices).doesNotContainNull().doesNotHaveDuplicates().hasSize(3);
        CheckReport.note("allocated " + devices + " (groups " + groups + "); the fourth pod is Unschedulable");
    }

    @Test
    @DisplayName("DRA: a claim with a CEL selector on our attributes gets what it asked for: NUMA node 1 and the variant driver nvgrace_gpu_vfio_pci give 0000:c3:00.0, NUMA node 0 gives a device of IOMMU group 14")
    void cel_selectors_on_our_attributes_choose_the_device() {
        claim("grace", "device.attributes[\"resource.kubernetes.io\"].numaNode == 1 && device.attributes[\"vfio.example.com\"].driver == \"nvgrace_gpu_vfio_pci\"");
        podWithClaim("grace");
        claim("numa0", "device.attributes[\"resource.kubernetes.io\"].numaNode == 0");
        podWithClaim("numa0");
        assertThat(allocated("grace")).isEqualTo("pci-0000-c3-00-0");
        assertThat(VIABLE.get(allocated("numa0"))).isEqualTo("14");
    }

    @Test
    @DisplayName("DRA: a pod asking vfio.example.com/gpu: 1 with no claim is allocated through the DeviceClass's extendedResourceName, and the kubelet prepares that claim with PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU naming the device")
    void the_extended_resource_is_served_by_dra() {
        client.resource(Serialization.unmarshal("""
                apiVersion: v1
                kind: Pod
                metadata: {name: legacy, namespace: %s}
                spec:
                  nodeSelector: {vfio-e2e: dra-scheduler}
                  containers:
                  - name: compute
                    image: registry.example/virt-launcher:v1
                    resources:
                      limits: {vfio.example.com/gpu: 1}
                """.formatted(NS), Pod.class)).create();
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(250)).until(() -> {
            Pod p = client.pods().inNamespace(NS).withName("legacy").get();
            return p.getSpec().getNodeName() != null && p.getStatus().getExtendedResourceClaimStatus() != null;
        });
        Pod pod = client.pods().inNamespace(NS).withName("legacy").get();
        String claim = pod.getStatus().getExtendedResourceClaimStatus().getResourceClaimName();
        String device = allocated(claim);
        assertThat(VIABLE).containsKey(device);
        assertThat(pod.getStatus().getExtendedResourceClaimStatus().getRequestMappings()).singleElement()
                .satisfies(m -> assertThat(m.getResourceName()).isEqualTo("vfio.example.com/gpu"));

        JsonNode a = kubelet.command("prepare " + NS + " legacy");
        assertThat(a.path("error").asText()).as("prepare; daemon:\n" + daemon.tail(15)).isEmpty();
        String address = "0000:" + device.substring("pci-0000-".length()).replaceFirst("-", ":").replaceFirst("-", ".");
        assertThat(a.path("containers").get(0).path("env").toString()).contains("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU=" + address);
        assertThat(kubelet.command("unprepare " + NS + " legacy").path("ok").asBoolean()).isTrue();
        CheckReport.note("extended resource claim " + claim + ": " + device + ", container env " + a.path("containers")
                .get(0).path("env"));
    }
}
