package com.example.vfio.e2e;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.PublishWith;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.dra.DraDevice;
import com.example.vfio.dra.DraHosts;
import com.example.vfio.dra.PoolLayout;
import com.example.vfio.dra.ResourceSlices;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.plugin.PublishedDevice;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.resource.v1.Device;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceAttribute;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.FieldValidateable;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The DRA driver's ResourceSlices on the real kube-apiserver: the node daemon (the built jar, cluster mode) against a
 * GPU server laid out like sysfs, its VfioNodeState spec saying {@code publishWith: DRA} as the operator writes it.
 */
@ExtendWith(RealCluster.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DraResourceSlicesTest {
    static final String NODE = "dra-slices-node";
    static final Duration RESCAN = Duration.ofSeconds(1);

    KubernetesClient client;
    Path dir;
    FakeHost host;
    ProductProcess daemon;

    @BeforeAll
    void start(ControlPlane cluster) throws Exception {
        client = cluster.admin();
        Crds.install(client);
        dir = RealCluster.workDir("dra-slices");
        host = DraHosts.gpuServer(dir.resolve("host"));
        client.resource(new NodeBuilder().withNewMetadata().withName(NODE).endMetadata().build()).create();
        writeSpec(gpuEntries(DraHosts.GPU_A, DraHosts.GPU_A_SIBLING, DraHosts.GPU_B, DraHosts.GPU_HOST_DRIVER,
                DraHosts.GPU_GRACE));
        daemon = ProductProcess.start("daemon", dir, ProductProcess.NODE_JVM_OPTIONS, ProductProcess.jar("vfio.node.jar"),
                List.of("serve", "--root", host.path().toString(), "--node-name", NODE, "--no-binding", "--metrics-port", "0",
                        "--rescan-interval", RESCAN.toMillis() + "ms",
                        "--plugin-dir", dir.resolve("device-plugins").toString(),
                        "--pod-resources-socket", dir.resolve("pod-resources/kubelet.sock").toString(),
                        "--kubelet-plugins-dir", dir.resolve("plugins").toString(),
                        "--kubelet-registry-dir", dir.resolve("plugins_registry").toString(),
                        "--dra-cdi-dir", dir.resolve("cdi").toString()),
                Map.of("KUBECONFIG", cluster.writeKubeconfig(dir.resolve("kubeconfig")).toString()));
    }

    @AfterAll
    void stop() {
        if (daemon != null) {
            daemon.close();
        }
    }

    static List<DesiredDevice> gpuEntries(String... addresses) {
        return DraSpecs.dra("gpu", addresses);
    }

    void writeSpec(List<DesiredDevice> devices) {
        DraSpecs.write(client, NODE, devices);
    }

    List<ResourceSlice> slices() {
        return client.resources(ResourceSlice.class).withField("spec.nodeName", NODE).list().getItems().stream()
                .sorted(java.util.Comparator.comparing(s -> s.getMetadata().getName())).toList();
    }

    List<Device> devices() {
        return slices().stream().filter(s -> s.getSpec().getDevices() != null)
                .flatMap(s -> s.getSpec().getDevices().stream()).toList();
    }

    Device device(String name) {
        return devices().stream().filter(d -> d.getName().equals(name)).findFirst().orElse(null);
    }

    /** What the slices say, each device as "name [taint]". */
    String published() {
        return devices().stream().map(d -> d.getName() + (d.getTaints() == null || d.getTaints().isEmpty() ? ""
                : " " + d.getTaints().get(0).getKey() + "=" + d.getTaints().get(0).getValue() + ":"
                        + d.getTaints().get(0).getEffect())).collect(Collectors.joining(", "));
    }

    void awaitSlices(java.util.function.Predicate<List<ResourceSlice>> condition, String what) {
        try {
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> condition.test(slices()));
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError(what + "; slices say: " + published() + "; daemon log:\n" + daemon.tail(25), e);
        }
    }

    static String string(Device d, String attribute) {
        DeviceAttribute a = d.getAttributes().get(attribute);
        return a == null ? null : a.getString();
    }

    @Test
    @Order(1)
    @DisplayName("DRA: kube-apiserver accepts the node's ResourceSlices: one pool per node, devices named pci-0000-41-00-0 with pciBusID, pcieRoot, numaNode and our attributes, one counter of capacity 1 per IOMMU group that each device consumes")
    void the_slices_of_a_gpu_server_are_accepted() {
        awaitSlices(s -> s.size() == 2, "a counter slice and the gpu slice");
        List<ResourceSlice> slices = slices();
        assertThat(slices).extracting(s -> s.getMetadata().getName())
                .containsExactly(NODE + "-vfio-counters-0", NODE + "-vfio-dev-gpu-0");
        assertThat(slices).allSatisfy(s -> {
            assertThat(s.getSpec().getDriver()).isEqualTo("vfio.example.com");
            assertThat(s.getSpec().getNodeName()).isEqualTo(NODE);
            assertThat(s.getSpec().getPool().getName()).isEqualTo(NODE);
            assertThat(s.getSpec().getPool().getResourceSliceCount()).isEqualTo(2L);
            assertThat(s.getMetadata().getOwnerReferences()).singleElement()
                    .satisfies(o -> assertThat(o.getKind() + "/" + o.getName()).isEqualTo("Node/" + NODE));
        });
        assertThat(slices.get(0).getSpec().getSharedCounters()).singleElement().satisfies(set -> {
            assertThat(set.getName()).isEqualTo("iommu-groups-0");
            assertThat(set.getCounters()).containsOnlyKeys("group-14", "group-40", "group-41", "group-42");
            assertThat(set.getCounters().values()).allSatisfy(c -> assertThat(c.getValue().toString()).isEqualTo("1"));
        });

        Device a = device("pci-0000-41-00-0");
        assertThat(string(a, "resource.kubernetes.io/pciBusID")).isEqualTo("0000:41:00.0");
        assertThat(string(a, "resource.kubernetes.io/pcieRoot")).isEqualTo("pci0000:40");
        assertThat(a.getAttributes().get("resource.kubernetes.io/numaNode").getInt()).isEqualTo(0L);
        assertThat(string(a, "vfio.example.com/resource")).isEqualTo("gpu");
        assertThat(a.getAttributes().get("vfio.example.com/iommuGroup").getInt()).isEqualTo(14L);
        assertThat(string(a, "vfio.example.com/vendor")).isEqualTo("10de");
        assertThat(string(a, "vfio.example.com/device")).isEqualTo("2330");
        assertThat(string(a, "vfio.example.com/class")).isEqualTo("030200");
        assertThat(string(a, "vfio.example.com/driver")).isEqualTo("vfio-pci");
        assertThat(a.getAttributes().get("vfio.example.com/viable").getBool()).isTrue();
        assertThat(a.getConsumesCounters()).singleElement().satisfies(c -> {
            assertThat(c.getCounterSet()).isEqualTo("iommu-groups-0");
            assertThat(c.getCounters()).containsOnlyKeys("group-14");
        });
        assertThat(device("pci-0000-41-00-1").getConsumesCounters().get(0).getCounters()).containsOnlyKeys("group-14");
        assertThat(string(device("pci-0000-c3-00-0"), "vfio.example.com/driver")).isEqualTo("nvgrace_gpu_vfio_pci");
        assertThat(published()).contains("pci-0000-c2-00-0 vfio.example.com/unusable=NotViable:NoSchedule");
        CheckReport.note("ResourceSlices of " + NODE + ": " + published());
    }

    @Test
    @Order(2)
    @DisplayName("DRA: nothing is rewritten while nothing changes: the ResourceSlices keep their resourceVersion over several rescans")
    void an_unchanged_host_writes_nothing() throws Exception {
        awaitSlices(s -> s.size() == 2, "the slices");
        Map<String, String> before = versions();
        Thread.sleep(RESCAN.multipliedBy(4).toMillis());
        assertThat(versions()).isEqualTo(before);
    }

    Map<String, String> versions() {
        Map<String, String> v = new TreeMap<>();
        slices().forEach(s -> v.put(s.getMetadata().getName(), s.getMetadata().getResourceVersion()));
        return v;
    }

    @Test
    @Order(3)
    @DisplayName("DRA: a device that leaves its VFIO driver is tainted NoSchedule (never NoExecute) in its ResourceSlice within one rescan, and the taint goes when it is back")
    void a_device_that_stops_being_viable_is_tainted() {
        host.device(DraHosts.GPU_B).driver("nvidia", "nvidia").noVfioDev();
        host.noDevVfio("40");
        long t0 = System.nanoTime();
        host.write();
        awaitSlices(s -> published().contains("pci-0000-c1-00-0 vfio.example.com/unusable=NotViable:NoSchedule"),
                "0000:c1:00.0 tainted");
        long tainted = (System.nanoTime() - t0) / 1_000_000;
        assertThat(devices()).allSatisfy(d -> {
            if (d.getTaints() != null) {
                assertThat(d.getTaints()).allSatisfy(t -> assertThat(t.getEffect()).isEqualTo("NoSchedule"));
            }
        });
        assertThat(device("pci-0000-c1-00-0").getAttributes().get("vfio.example.com/viable").getBool()).isFalse();
        // the device plugin promises Unhealthy at the next rescan (at once when /dev/vfio changes)
        assertThat(tainted).as("ms from the host change to the taint on the API server")
                .isLessThan(RESCAN.toMillis() + 3000);

        host.device(DraHosts.GPU_B).driver("vfio-pci", "vfio_pci").vfioDev("vfio2");
        host.devVfio("40");
        host.write();
        awaitSlices(s -> !published().contains("pci-0000-c1-00-0 vfio"), "0000:c1:00.0 untainted");
        CheckReport.note("taint on the API server " + tainted + " ms after the device left vfio-pci (rescan interval "
                + RESCAN.toMillis() + " ms)");
    }

    @Test
    @Order(4)
    @DisplayName("DRA: a policy change bumps the pool's generation on every ResourceSlice; the slices of a resource that is gone are deleted")
    void a_policy_change_moves_the_whole_pool_to_a_new_generation() {
        long before = slices().get(0).getSpec().getPool().getGeneration();
        List<DesiredDevice> spec = new ArrayList<>(gpuEntries(DraHosts.GPU_A, DraHosts.GPU_B, DraHosts.GPU_GRACE));
        DesiredDevice nic = new DesiredDevice(DraHosts.GPU_A_SIBLING, "vfio-pci", "gpu-audio", "audio", null, null, null, null);
        nic.setPublishWith(PublishWith.DRA);
        spec.add(nic);
        writeSpec(spec);
        awaitSlices(s -> s.size() == 3 && device("pci-0000-c2-00-0") == null, "the new resource's slice");
        List<ResourceSlice> slices = slices();
        assertThat(slices).extracting(s -> s.getMetadata().getName()).containsExactly(NODE + "-vfio-counters-0",
                NODE + "-vfio-dev-gpu-0", NODE + "-vfio-dev-gpu-audio-0");
        assertThat(slices).extracting(s -> s.getSpec().getPool().getGeneration()).containsOnly(slices.get(0).getSpec()
                .getPool().getGeneration());
        assertThat(slices.get(0).getSpec().getPool().getGeneration()).isGreaterThan(before);
        assertThat(slices).allSatisfy(s -> assertThat(s.getSpec().getPool().getResourceSliceCount()).isEqualTo(3L));
        assertThat(slices.get(0).getSpec().getSharedCounters().get(0).getCounters()).as("41 has no published device now")
                .containsOnlyKeys("group-14", "group-40", "group-42");

        writeSpec(gpuEntries(DraHosts.GPU_A, DraHosts.GPU_B, DraHosts.GPU_GRACE));
        awaitSlices(s -> s.size() == 2, "the slice of gpu-audio deleted");
        assertThat(slices()).extracting(s -> s.getMetadata().getName()).doesNotContain(NODE + "-vfio-dev-gpu-audio-0");
    }

    @Test
    @Order(5)
    @DisplayName("DRA: ResourceSlices deleted behind the driver's back (the kubelet deletes a node's slices when it starts) are written again at a higher generation")
    void slices_the_kubelet_wipes_come_back() {
        long before = slices().get(0).getSpec().getPool().getGeneration();
        client.resources(ResourceSlice.class).withField("spec.nodeName", NODE).withField("spec.driver", "vfio.example.com")
                .delete();
        awaitSlices(s -> s.size() == 2 && s.get(0).getSpec().getPool().getGeneration() > before, "the slices again");
    }

    @Test
    @Order(6)
    @DisplayName("DRA: kube-apiserver accepts a large node's ResourceSlices, split at the API's limits (64 devices consuming counters, 8 counter sets of 32 counters per slice)")
    void a_large_nodes_slices_are_within_the_limits() {
        String node = "dra-large-node";
        List<DraDevice> devices = new ArrayList<>();
        // 2,000 VFs in 1,000 groups of two, and 300 GPUs alone in their groups: 1,300 groups
        IntStream.range(0, 2300).forEach(i -> {
            String address = String.format("0000:%02x:%02x.%d", 1 + i / 256, (i / 8) % 32, i % 8);
            String group = Integer.toString(i < 2000 ? i / 2 : i - 1000);
            PublishedDevice unit = PublishedDevice.device(address, i % 7 != 0, i % 7 != 0 ? "" : "not viable", i % 2,
                    group, List.of());
            devices.add(new DraDevice(com.example.vfio.dra.DraNames.deviceName(unit), i < 2000 ? "vf" : "gpu", unit,
                    Map.of("resource.kubernetes.io/pciBusID", address, "vfio.example.com/iommuGroup", Long.parseLong(group)),
                    i % 7 != 0 ? null : new DraDevice.Taint("NotViable", "not viable")));
        });
        PoolLayout.Pool pool = PoolLayout.layout(devices);
        List<ResourceSlice> slices = ResourceSlices.of(node, null, 1, pool);
        for (ResourceSlice s : slices) {
            client.resource(s).fieldValidation(FieldValidateable.Validation.STRICT).create();
        }
        assertThat(client.resources(ResourceSlice.class).withField("spec.nodeName", node).list().getItems())
                .hasSize(slices.size());
        CheckReport.note("2,300 devices in 1,300 IOMMU groups: " + slices.size() + " ResourceSlices ("
                + slices.stream().filter(s -> !s.getSpec().getSharedCounters().isEmpty()).count() + " of counters) accepted");
        client.resources(ResourceSlice.class).withField("spec.nodeName", node).delete();
    }
}
