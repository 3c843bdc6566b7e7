package com.example.vfio.e2e;

import com.example.vfio.api.VfioNodeState;
import com.example.vfio.dra.DraHosts;
import com.example.vfio.pci.FakeHost;
import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceClaim;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The kubelet's own DRA code (its DRA manager and plugin watcher, pkg/kubelet/cm/dra, in a Go harness in a private
 * mount namespace) against the node daemon (the built jar, cluster mode, the kubelet's default paths): registration
 * over the real sockets, NodePrepareResources and NodeUnprepareResources, the CDI edits a container gets (resolved
 * against the spec files the daemon wrote), the device metadata file read by KubeVirt's rules, restarts of both.
 */
@ExtendWith(RealCluster.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DraKubeletTest {
    static final String NODE = "dra-kubelet-node";
    static final String NS = "dra-kubelet";

    KubernetesClient client;
    Path dir;
    Path kubeconfig;
    FakeHost host;
    KubeletDra kubelet;
    ProductProcess daemon;
    JsonNode firstPrepare;

    @BeforeAll
    void start(ControlPlane cluster) throws Exception {
        client = cluster.admin();
        Crds.install(client);
        dir = RealCluster.workDir("dra-kubelet");
        kubeconfig = cluster.writeKubeconfig(dir.resolve("kubeconfig"));
        host = DraHosts.gpuServer(dir.resolve("host"));
        client.resource(new NodeBuilder().withNewMetadata().withName(NODE).endMetadata().build()).create();
        client.resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build()).create();
        DraSpecs.write(client, NODE, DraSpecs.dra("gpu", DraHosts.GPU_A, DraHosts.GPU_A_SIBLING, DraHosts.GPU_B,
                DraHosts.GPU_HOST_DRIVER));
        kubelet = KubeletDra.start(dir, kubeconfig, NODE);
        daemon = startDaemon();
    }

    int daemonStarts;

    ProductProcess startDaemon() {
        daemonStarts++;
        return kubelet.startDaemon(kubeconfig, dir, "daemon-" + daemonStarts, host.path(), NODE);
    }

    @AfterAll
    void stop() {
        if (daemon != null) {
            daemon.close();
        }
        if (kubelet != null) {
            kubelet.close();
        }
    }

    JsonNode ok(String command) {
        JsonNode a = kubelet.command(command);
        assertThat(a.path("error").asText()).as(command + "; daemon log:\n" + daemon.tail(20)).isEmpty();
        assertThat(a.path("ok").asBoolean()).as(command).isTrue();
        return a;
    }

    /** A claim allocated as the scheduler would, reserved for a pod on the node that uses it. */
    void claimAndPod(String name, String... devices) {
        StringBuilder requests = new StringBuilder();
        StringBuilder results = new StringBuilder();
        for (int i = 0; i < devices.length; i++) {
            requests.append("    - name: gpu").append(i).append("\n      exactly: {deviceClassName: gpu.vfio.example.com}\n");
            results.append("      - {request: gpu").append(i).append(", driver: vfio.example.com, pool: ").append(NODE)
                    .append(", device: ").append(devices[i]).append("}\n");
        }
        ResourceClaim claim = client.resource(Serialization.unmarshal("""
                apiVersion: resource.k8s.io/v1
                kind: ResourceClaim
                metadata: {name: %s, namespace: %s}
                spec:
                  devices:
                    requests:
                %s""".formatted(name, NS, requests), ResourceClaim.class)).create();
        StringBuilder containerClaims = new StringBuilder();
        Pod pod = client.resource(Serialization.unmarshal("""
                apiVersion: v1
                kind: Pod
                metadata: {name: %s, namespace: %s}
                spec:
                  nodeName: %s
                  resourceClaims:
                  - {name: gpus, resourceClaimName: %s}
                  containers:
                  - name: compute
                    image: registry.example/virt-launcher:v1
                    resources:
                      claims:
                      - {name: gpus}
                """.formatted(name, NS, NODE, name), Pod.class)).create();
        ResourceClaim allocated = Serialization.unmarshal("""
                apiVersion: resource.k8s.io/v1
                kind: ResourceClaim
                metadata: {name: %s, namespace: %s, resourceVersion: "%s"}
                spec: {devices: {requests: []}}
                status:
                  allocation:
                    devices:
                      results:
                %s  reservedFor:
                  - {resource: pods, name: %s, uid: %s}
                """.formatted(name, NS, claim.getMetadata().getResourceVersion(), results, name, pod.getMetadata().getUid()),
                ResourceClaim.class);
        allocated.setSpec(claim.getSpec());
        client.resource(allocated).updateStatus();
    }

    static Map<String, Path> mounts(KubeletDra kubelet, JsonNode container) {
        Map<String, Path> m = new LinkedHashMap<>();
        container.path("mounts").forEach(x -> m.put(x.path("containerPath").asText(), kubelet.outside(x.path("hostPath").asText())));
        return m;
    }

    @Test
    @Order(1)
    @DisplayName("DRA: the kubelet's plugin watcher finds vfio.example.com-reg.sock in plugins_registry, registers the driver and connects to its DRA service")
    void the_kubelet_registers_the_driver() {
        ok("wait-registered vfio.example.com 90");
        assertThat(dir.resolve("plugins_registry/vfio.example.com-reg.sock")).exists();
        assertThat(dir.resolve("plugins/vfio.example.com/dra.sock")).exists();
        await().atMost(Duration.ofSeconds(30)).until(() -> daemon.log().contains("the kubelet registered DRA driver vfio.example.com"));
    }

    @Test
    @Order(2)
    @DisplayName("DRA: NodePrepareResources through the kubelet's DRA manager: the container's CDI edits give /dev/vfio/vfio and /dev/vfio/<IOMMU group> (rwm), PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU and the read-only metadata mount")
    void prepare_gives_the_container_its_vfio_nodes() {
        ok("wait-registered vfio.example.com 90");
        await().atMost(Duration.ofSeconds(60)).until(() -> !client.resources(ResourceSlice.class)
                .withField("spec.nodeName", NODE).list().getItems().isEmpty());
        claimAndPod("vm-one", "pci-0000-41-00-0");

        JsonNode a = ok("prepare " + NS + " vm-one");
        firstPrepare = a;
        JsonNode c = a.path("containers").get(0);
        assertThat(c.path("cdiDevices")).hasSize(2);
        assertThat(c.path("cdiDevices").get(0).asText()).startsWith("vfio.example.com/claim=").endsWith("-pci-0000-41-00-0");
        assertThat(c.path("cdiDevices").get(1).asText()).startsWith("vfio.example.com/claim=").endsWith("-gpu0");
        List<String> nodes = new ArrayList<>();
        c.path("deviceNodes").forEach(n -> nodes.add(n.path("path").asText() + " " + n.path("permissions").asText()));
        assertThat(nodes).containsExactlyInAnyOrder("/dev/vfio/vfio rwm", "/dev/vfio/14 rwm");
        assertThat(c.path("env").get(0).asText()).isEqualTo("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU=0000:41:00.0");
        JsonNode m = c.path("mounts").get(0);
        assertThat(m.path("containerPath").asText()).isEqualTo(
                "/var/run/kubernetes.io/dra-device-attributes/resourceclaims/vm-one/gpu0/vfio.example.com-metadata.json");
        assertThat(m.path("options").toString()).isEqualTo("[\"ro\",\"bind\"]");
        assertThat(kubelet.outside(m.path("hostPath").asText())).exists();
        CheckReport.note("container edits: " + String.join(", ", nodes) + "; " + c.path("env").get(0).asText() + "; "
                + c.path("cdiDevices"));
    }

    @Test
    @Order(3)
    @DisplayName("DRA: the node's VfioNodeState says the device is published through DRA and names the claim prepared with it; its IOMMU group sibling says whom it is held with")
    void the_node_status_names_the_claim() {
        await().atMost(Duration.ofSeconds(60)).until(() -> line(DraHosts.GPU_A).contains("held=claim:" + NS + "/vm-one"));
        assertThat(line(DraHosts.GPU_A)).contains("resource=gpu dra health=Healthy held=claim:" + NS + "/vm-one");
        assertThat(line(DraHosts.GPU_A_SIBLING)).contains("resource=gpu dra health=Healthy held=with:0000:41:00.0");
        CheckReport.note("status line: " + line(DraHosts.GPU_A));
    }

    String line(String address) {
        VfioNodeState state = client.resources(VfioNodeState.class).withName(NODE).get();
        if (state.getStatus() == null) {
            return "";
        }
        return state.getStatus().device(address).map(d -> d.toLine()).orElse("");
    }

    @Test
    @Order(4)
    @DisplayName("DRA: the metadata file the container sees passes KubeVirt's reading rules: one file per request, the v1alpha1 object of the stream, one device, pciBusID 0000:41:00.0 with its domain, no mdevUUID")
    void the_metadata_file_is_what_kubevirt_reads() throws Exception {
        JsonNode c = firstPrepare.path("containers").get(0);
        String address = KubeVirtMetadataRules.pciAddress(mounts(kubelet, c), "vm-one", "gpu0");
        assertThat(address).isEqualTo("0000:41:00.0");
        List<String> stream = Files.readAllLines(kubelet.outside(c.path("mounts").get(0).path("hostPath").asText()));
        assertThat(stream).hasSize(2);
        assertThat(stream.get(0)).contains("\"apiVersion\":\"metadata.resource.k8s.io/v1beta1\"");
        assertThat(stream.get(1)).contains("\"apiVersion\":\"metadata.resource.k8s.io/v1alpha1\"");
    }

    @Test
    @Order(5)
    @DisplayName("DRA: NodePrepareResources refuses a claim for the other device of a prepared device's IOMMU group, naming the device and the claim that holds the group")
    void a_sibling_is_refused() {
        claimAndPod("vm-two", "pci-0000-41-00-1");
        JsonNode a = kubelet.command("prepare " + NS + " vm-two");
        assertThat(a.path("ok").asBoolean()).isFalse();
        assertThat(a.path("error").asText()).contains("0000:41:00.1: IOMMU group 14 is held with 0000:41:00.0 by claim "
                + NS + "/vm-one");
        CheckReport.note("the kubelet's error: " + a.path("error").asText());
    }

    @Test
    @Order(6)
    @DisplayName("DRA: NodeUnprepareResources removes the claim's CDI spec and metadata and gives the IOMMU group back: the sibling's claim prepares then")
    void unprepare_gives_the_group_back() throws Exception {
        String hostPath = firstPrepare.path("containers").get(0).path("mounts").get(0).path("hostPath").asText();
        ok("unprepare " + NS + " vm-one");
        assertThat(kubelet.outside(hostPath)).doesNotExist();
        try (var files = Files.list(dir.resolve("cdi"))) {
            assertThat(files.map(p -> p.getFileName().toString()).toList()).noneMatch(n -> n.startsWith("vfio.example.com-claim-"));
        }
        JsonNode a = ok("prepare " + NS + " vm-two");
        assertThat(a.path("containers").get(0).path("env").get(0).asText())
                .isEqualTo("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU=0000:41:00.1");
    }

    @Test
    @Order(7)
    @DisplayName("DRA: a node daemon killed and started again keeps its prepared claim (its checkpoint): the group stays held, the kubelet's prepare gets the same answer and its unprepare works")
    void a_daemon_restart_keeps_prepared_claims() {
        JsonNode before = kubelet.command("prepare " + NS + " vm-two");
        daemon.kill();
        assertThat(dir.resolve("plugins_registry/vfio.example.com-reg.sock")).as("a killed daemon leaves its socket").exists();
        daemon = startDaemon();
        long t0 = System.nanoTime();
        await().atMost(Duration.ofSeconds(150)).until(() -> daemon.log().contains("the kubelet registered DRA driver"));
        CheckReport.note("the restarted daemon was registered again " + (System.nanoTime() - t0) / 1_000_000
                + " ms after it started (it replaced the stale socket)");
        ok("wait-registered vfio.example.com 60");
        claimAndPod("vm-three", "pci-0000-41-00-0");
        JsonNode refused = kubelet.command("prepare " + NS + " vm-three");
        assertThat(refused.path("error").asText()).contains("IOMMU group 14 is held with 0000:41:00.1 by claim " + NS + "/vm-two");
        assertThat(ok("prepare " + NS + " vm-two").path("containers")).isEqualTo(before.path("containers"));
        ok("unprepare " + NS + " vm-two");
        ok("prepare " + NS + " vm-three");
    }

    @Test
    @Order(8)
    @DisplayName("DRA: after a kubelet restart (a new plugin watcher and DRA manager on the same state) the driver is registered again, and the ResourceSlices the kubelet wipes at its start are back")
    void a_kubelet_restart_registers_the_driver_again() {
        List<String> before = sliceUids();
        int registered = registrations();
        ok("restart");
        ok("wait-registered vfio.example.com 120");
        await().atMost(Duration.ofSeconds(60)).until(() -> registrations() > registered);
        // the new DRA manager deleted the node's slices at its start; the driver wrote them anew
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            List<String> now = sliceUids();
            return now.size() == 2 && now.stream().noneMatch(before::contains);
        });
        assertThat(ok("prepare " + NS + " vm-three").path("containers").get(0).path("env").get(0).asText())
                .isEqualTo("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU=0000:41:00.0");
    }

    List<String> sliceUids() {
        return client.resources(ResourceSlice.class).withField("spec.nodeName", NODE).list().getItems().stream()
                .map(s -> s.getMetadata().getUid()).toList();
    }

    int registrations() {
        return (int) daemon.log().lines().filter(l -> l.contains("the kubelet registered DRA driver")).count();
    }

    @Test
    @Order(9)
    @DisplayName("DRA: the DRA health stream reaches the pod's allocatedResourcesStatus: Healthy, then Unhealthy with the reason once the device leaves vfio-pci")
    void health_reaches_the_pod_status() {
        await().atMost(Duration.ofSeconds(60)).until(() -> ok("health " + NS + " vm-three").path("health").toString()
                .contains("\"health\":\"Healthy\""));
        host.device(DraHosts.GPU_A).driver("nvidia", "nvidia").noVfioDev();
        host.write();
        await().atMost(Duration.ofSeconds(60)).until(() -> ok("health " + NS + " vm-three").path("health").toString()
                .contains("\"health\":\"Unhealthy\""));
        JsonNode h = ok("health " + NS + " vm-three").path("health").get(0);
        assertThat(h.path("resource").asText()).as("the pod's claim").isEqualTo("claim:gpus");
        assertThat(h.path("device").asText()).as("the device's first CDI ID").endsWith("-pci-0000-41-00-0");
        assertThat(h.path("message").asText()).contains("bound to nvidia, not a VFIO driver");
        CheckReport.note("allocatedResourcesStatus: " + h);
        host.device(DraHosts.GPU_A).driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.write();
        ok("unprepare " + NS + " vm-three");
    }
}
