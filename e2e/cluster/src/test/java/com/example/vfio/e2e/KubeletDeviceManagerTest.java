package com.example.vfio.e2e;

import static com.example.vfio.e2e.GpuNode.GPU;
import static com.example.vfio.e2e.GpuNode.GPUS_3D;
import static com.example.vfio.e2e.GpuNode.GROUP_OF;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.vfio.e2e.DeviceManagerHarness.Admission;
import com.example.vfio.e2e.DeviceManagerHarness.Capacity;
import com.example.vfio.e2e.DeviceManagerHarness.Container;
import com.example.vfio.e2e.DeviceManagerHarness.Pod;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.BeforeEach;

/**
 * The node daemon ({@code vfio-node serve}, the real jar, its own process) against the kubelet's own device
 * manager, topology manager and PodResources server from Kubernetes v1.37.2 ({@link DeviceManagerHarness}), on a
 * {@link GpuNode}. The kubelet binary itself never runs on this machine (it rewrites kernel sysctls).
 */
class KubeletDeviceManagerTest {
    static final Duration RESCAN = KubeletNode.RESCAN;
    static final Duration REGISTERED = KubeletNode.REGISTERED;
    /** The daemon's hold grace (30 s: a hold younger than that is never released) and its 5 s PodResources poll. */
    static final Duration RELEASED = Duration.ofSeconds(75);

    private KubeletNode test;
    private Path work;
    private Path state;

    @BeforeEach
    void node(TestInfo info) throws IOException {
        test = new KubeletNode("kubelet-" + info.getTestMethod().orElseThrow().getName());
        work = test.work;
        state = test.state;
    }

    @AfterEach
    void stopAll() throws Exception {
        test.close();
    }

    private DeviceManagerHarness kubelet(String... flags) {
        return test.kubelet(flags);
    }

    private NodeDaemonProcess daemon(GpuNode node, Path policies) {
        return test.daemon(node, policies);
    }

    private static Capacity awaitCapacity(DeviceManagerHarness kubelet, String resource, Predicate<Capacity> until) {
        return KubeletNode.awaitCapacity(kubelet, until);
    }

    private static Capacity awaitAllocatable(DeviceManagerHarness kubelet, String resource, long n) {
        return KubeletNode.awaitAllocatable(kubelet, resource, n);
    }

    private record HeldPair(NodeDaemonProcess daemon, DeviceManagerHarness kubelet) {
    }

    /**
     * Groups 14 and 15 published as Device units (two functions each), and pod vm-a holding 0000:41:00.0: the
     * kubelet counts its sibling 0000:41:00.1 Unhealthy.
     */
    private HeldPair vmAHolding4100() {
        GpuNode node = GpuNode.at(work, false);
        NodeDaemonProcess daemon = daemon(node, node.policies(List.of("0000:41:00.0", "0000:41:00.1", "0000:42:00.0",
                "0000:42:00.1")));
        DeviceManagerHarness kubelet = kubelet();
        awaitAllocatable(kubelet, GPU, 4);
        Admission a = kubelet.admit(Pod.of("vm-a", GPU, 1));
        assertThat(a.admitted()).as("%s", a).isTrue();
        assertThat(a.devices("main", GPU)).containsExactly("0000:41:00.0");
        awaitAllocatable(kubelet, GPU, 3); // 41:00.1 held with 41:00.0
        return new HeldPair(daemon, kubelet);
    }

    /** Every device ID that two pods hold, and every IOMMU group split between pods: both must be empty. */
    static void assertNothingHandedOutTwice(Map<String, Map<String, List<String>>> pods) {
        Map<String, String> deviceOwner = new HashMap<>();
        Map<String, String> groupOwner = new HashMap<>();
        List<String> twice = new ArrayList<>();
        pods.forEach((pod, byResource) -> byResource.getOrDefault(GPU, List.of()).forEach(id -> {
            String other = deviceOwner.put(id, pod);
            if (other != null) {
                twice.add(id + " in " + other + " and " + pod);
            }
            String group = GROUP_OF.get(id);
            String groupHolder = groupOwner.putIfAbsent(group, pod);
            if (groupHolder != null && !groupHolder.equals(pod)) {
                twice.add("IOMMU group " + group + " split between " + groupHolder + " and " + pod);
            }
        }));
        assertThat(twice).as("devices or IOMMU groups in two pods, per PodResources List: %s", pods).isEmpty();
    }

    /** The GetPreferredAllocation calls the daemon logged: size, offered IDs, required IDs, our answer. */
    private static List<Matcher> preferredCalls(NodeDaemonProcess daemon) {
        Pattern p = Pattern.compile("GetPreferredAllocation (\\S+): size (\\d+), available \\[(.*)], must include \\[(.*)] -> \\[(.*)]");
        List<Matcher> calls = new ArrayList<>();
        for (String line : daemon.logLines()) {
            Matcher m = p.matcher(line);
            if (m.find()) {
                calls.add(m);
            }
        }
        return calls;
    }

    private static List<String> ids(String csv) {
        return csv.isBlank() ? List.of() : List.of(csv.split(", "));
    }

    @Test
    @DisplayName("kubelet v1.37.2 device manager: a kubelet that starts after the plugin gets its registration; "
            + "GetCapacity counts vfio.example.com/gpu 6/6 healthy, each GPU with its NUMA node")
    void registration_when_the_kubelet_starts_after_the_plugin() {
        GpuNode node = GpuNode.at(work, false);
        NodeDaemonProcess daemon = daemon(node, node.policies(GPUS_3D));
        daemon.awaitLogged("waiting for the kubelet", REGISTERED);

        DeviceManagerHarness kubelet = kubelet();

        Capacity c = awaitCapacity(kubelet, GPU, x -> x.allocatable(GPU) == 6);
        assertThat(c.capacity(GPU)).isEqualTo(6);
        assertThat(c.healthy(GPU)).isEqualTo(Map.of(
                "0000:41:00.0", List.of(0), "0000:41:00.1", List.of(0), "0000:43:00.0", List.of(0),
                "0000:c1:00.0", List.of(1), "0000:c2:00.0", List.of(1), "0000:c3:00.0", List.of(1)));
        assertThat(daemon.logged("registered vfio.example.com/gpu with the kubelet")).hasSize(1);
    }

    @Test
    @DisplayName("kubelet v1.37.2 device manager: after a kubelet restart (every socket deleted) the plugin serves "
            + "and registers again; the checkpoint brings back the running pod's device (PodResources) and the healthy "
            + "count, and a new pod gets neither that device nor its group sibling")
    void registration_again_after_a_kubelet_restart() {
        HeldPair held = vmAHolding4100();
        NodeDaemonProcess daemon = held.daemon();
        DeviceManagerHarness kubelet = held.kubelet();

        JsonNode ready = kubelet.restart();

        assertThat(ready.path("checkpoint").asText()).isEqualTo("present");
        JsonNode readmitted = ready.path("readmitted").get(0);
        assertThat(readmitted.path("admitted").asBoolean()).as("%s", readmitted).isTrue();
        assertThat(readmitted.path("devices").path("main").path(GPU).get(0).asText()).isEqualTo("0000:41:00.0");
        Capacity after = awaitCapacity(kubelet, GPU, c -> c.capacity(GPU) == 4 && c.allocatable(GPU) == 3);
        assertThat(after.healthy(GPU)).containsOnlyKeys("0000:41:00.0", "0000:42:00.0", "0000:42:00.1");
        assertThat(daemon.logged("registered vfio.example.com/gpu with the kubelet")).hasSize(2);
        assertThat(state.resolve("device-plugins/vfio-gpu.sock")).as("served again after the kubelet deleted it").exists();
        assertThat(kubelet.podResources()).containsEntry("vm-a", Map.of(GPU, List.of("0000:41:00.0")));

        Admission b = kubelet.admit(Pod.of("vm-b", GPU, 1));
        assertThat(b.admitted()).as("%s", b).isTrue();
        assertThat(b.devices("main", GPU)).singleElement().isIn("0000:42:00.0", "0000:42:00.1");
        assertNothingHandedOutTwice(kubelet.podResources());
    }

    @Test
    @DisplayName("kubelet v1.37.2 device manager: health is viability in the kubelet's own accounting: a group turning "
            + "non-viable, a driver leaving VFIO and a vanished device each turn Unhealthy within the rescan interval "
            + "(allocatable 6 -> 5 -> 4 -> 3, capacity stays 6)")
    void health_is_viability_in_the_kubelets_accounting() {
        GpuNode node = GpuNode.at(work, false);
        daemon(node, node.policies(GPUS_3D));
        DeviceManagerHarness kubelet = kubelet();
        awaitAllocatable(kubelet, GPU, 6);
        List<String> took = new ArrayList<>();

        took.add("group 16 non-viable " + change(kubelet, 5, "0000:43:00.0",
                () -> node.rebind("0000:43:00.1", "snd_hda_intel")));
        took.add("driver left VFIO " + change(kubelet, 4, "0000:c2:00.0", () -> node.rebind("0000:c2:00.0", "nvidia")));
        took.add("device vanished " + change(kubelet, 3, "0000:c3:00.0", () -> node.unplug("0000:c3:00.0")));

        Capacity c = kubelet.capacity();
        assertThat(c.capacity(GPU)).isEqualTo(6);
        assertThat(c.healthy(GPU)).containsOnlyKeys("0000:41:00.0", "0000:41:00.1", "0000:c1:00.0");
        CheckReport.note("kubelet saw each change after: " + String.join(", ", took) + " (rescan interval " + RESCAN.toMillis() + " ms)");
    }

    /** Changes the host, waits until the kubelet's allocatable count is {@code allocatable} without {@code gone}. */
    private static String change(DeviceManagerHarness kubelet, long allocatable, String gone, Runnable hostChange) {
        long t0 = System.nanoTime();
        hostChange.run();
        Duration promised = RESCAN.plusSeconds(3); // one rescan interval, plus the scan and the stream on a loaded machine
        await().atMost(promised).pollInterval(Duration.ofMillis(20)).until(() -> {
            Capacity c = kubelet.capacity();
            return c.allocatable(GPU) == allocatable && !c.healthy(GPU).containsKey(gone);
        });
        return (System.nanoTime() - t0) / 1_000_000 + " ms";
    }

    @Test
    @DisplayName("kubelet v1.37.2 device manager: two pods on one IOMMU group: once the first holds 0000:41:00.0 the "
            + "kubelet counts its sibling Unhealthy and refuses the second pod itself (our Allocate is not even asked); "
            + "after the first pod is deleted PodResources no longer lists it, the group is released and a third pod gets "
            + "the whole group, the sibling included")
    void two_pods_sharing_an_iommu_group() {
        GpuNode node = GpuNode.at(work, false);
        NodeDaemonProcess daemon = daemon(node, node.policies(List.of("0000:41:00.0", "0000:41:00.1")));
        DeviceManagerHarness kubelet = kubelet();
        awaitAllocatable(kubelet, GPU, 2);

        Admission a = kubelet.admit(Pod.of("vm-a", GPU, 1));
        assertThat(a.admitted()).as("%s", a).isTrue();
        assertThat(a.devices("main", GPU)).containsExactly("0000:41:00.0");
        Capacity locked = awaitAllocatable(kubelet, GPU, 1);
        assertThat(locked.healthy(GPU)).containsOnlyKeys("0000:41:00.0");
        assertThat(daemon.logged("0000:41:00.1 became Unhealthy: held with 0000:41:00.0")).hasSize(1);

        Admission b = kubelet.admit(Pod.of("vm-b", GPU, 1));
        assertThat(b.admitted()).isFalse();
        assertThat(b.reason()).isEqualTo("UnexpectedAdmissionError");
        assertThat(b.statusMessage()).isEqualTo("Pod was rejected: Allocate failed due to requested number of devices "
                + "unavailable for vfio.example.com/gpu. Requested: 1, Available: 0, which is unexpected");
        assertThat(daemon.logged("DevicePluginServer - allocated ")).hasSize(1);
        assertThat(daemon.logged("refused Allocate")).isEmpty();
        assertThat(kubelet.podResources()).containsOnlyKeys("vm-a");

        kubelet.delete("vm-a");
        assertThat(kubelet.podResources()).isEmpty();
        await().atMost(RELEASED).pollInterval(Duration.ofMillis(200))
                .until(() -> kubelet.capacity().allocatable(GPU) == 2);
        assertThat(daemon.logged("released IOMMU group 14 (0000:41:00.0 of vfio.example.com/gpu): no pod holds it any more"))
                .hasSize(1);

        Admission c = kubelet.admit(Pod.of("vm-c", GPU, 2));
        assertThat(c.admitted()).as("%s", c).isTrue();
        assertThat(c.devices("main", GPU)).containsExactly("0000:41:00.0", "0000:41:00.1");
        assertNothingHandedOutTwice(kubelet.podResources());
    }

    @Test
    @DisplayName("kubelet v1.37.2 topology manager (single-numa-node): GetPreferredAllocation is offered only the hinted "
            + "NUMA node's GPUs; we answer a whole IOMMU group there and the kubelet allocates exactly that, first on "
            + "NUMA 0, then, NUMA 0 being short, on NUMA 1")
    void preferred_allocation_as_the_topology_manager_calls_it() {
        GpuNode node = GpuNode.at(work, false);
        NodeDaemonProcess daemon = daemon(node, node.policies(GPUS_3D));
        DeviceManagerHarness kubelet = kubelet("--topology-manager-policy", "single-numa-node");
        awaitAllocatable(kubelet, GPU, 6);

        Admission first = kubelet.admit(Pod.of("vm-numa0", GPU, 2));
        assertThat(first.admitted()).as("%s", first).isTrue();
        assertThat(first.numaAffinity("main")).containsExactly(0);
        assertThat(first.devices("main", GPU)).containsExactly("0000:41:00.0", "0000:41:00.1");
        awaitAllocatable(kubelet, GPU, 6); // both units of group 14 are the pod's own: nothing else to lock

        Admission second = kubelet.admit(Pod.of("vm-numa1", GPU, 2));
        assertThat(second.admitted()).as("%s", second).isTrue();
        assertThat(second.numaAffinity("main")).containsExactly(1);
        assertThat(second.devices("main", GPU)).containsExactly("0000:c1:00.0", "0000:c2:00.0");

        List<Matcher> calls = preferredCalls(daemon);
        assertThat(calls).hasSize(2);
        assertThat(ids(calls.get(0).group(3))).containsExactly("0000:41:00.0", "0000:41:00.1", "0000:43:00.0");
        assertThat(calls.get(0).group(2)).isEqualTo("2");
        assertThat(ids(calls.get(0).group(5))).containsExactly("0000:41:00.0", "0000:41:00.1");
        assertThat(ids(calls.get(1).group(3))).containsExactly("0000:c1:00.0", "0000:c2:00.0", "0000:c3:00.0");
        assertThat(ids(calls.get(1).group(5))).containsExactly("0000:c1:00.0", "0000:c2:00.0");
        assertNothingHandedOutTwice(kubelet.podResources());
    }

    @Test
    @DisplayName("kubelet v1.37.2 device manager: must-include: the app container must keep its init container's GPU; "
            + "GetPreferredAllocation is asked with it required and we complete it with a whole group on its NUMA node")
    void preferred_allocation_with_must_include() {
        GpuNode node = GpuNode.at(work, false);
        NodeDaemonProcess daemon = daemon(node, node.policies(GPUS_3D));
        DeviceManagerHarness kubelet = kubelet();
        awaitAllocatable(kubelet, GPU, 6);

        Admission a = kubelet.admit(new Pod("vm-init", List.of(new Container("prepare", Map.of(GPU, 1), null)),
                List.of(new Container("main", Map.of(GPU, 3), null))));

        assertThat(a.admitted()).as("%s", a).isTrue();
        String initDevice = a.devices("prepare", GPU).get(0);
        assertThat(initDevice).isEqualTo("0000:43:00.0"); // a whole group, alone: no sibling left locked
        assertThat(a.devices("main", GPU)).containsExactly("0000:41:00.0", "0000:41:00.1", "0000:43:00.0");
        List<Matcher> calls = preferredCalls(daemon);
        assertThat(calls).hasSize(2);
        Matcher app = calls.get(1);
        assertThat(app.group(2)).isEqualTo("3");
        assertThat(ids(app.group(4))).containsExactly(initDevice);
        assertThat(ids(app.group(3))).containsExactlyElementsOf(GPUS_3D);
        assertThat(ids(app.group(5))).containsExactly("0000:43:00.0", "0000:41:00.0", "0000:41:00.1");
    }

    @Test
    @DisplayName("kubelet v1.37.2 device manager: what the container runtime receives (CRI devices, mounts, envs, CDI "
            + "names from GetDeviceRunContainerOptions) on an iommufd host: /dev/vfio/vfio, /dev/vfio/<group>, /dev/iommu "
            + "and each GPU's cdev rw, no mounts, PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU in address order whatever order the "
            + "kubelet asked in")
    void what_the_runtime_receives() {
        GpuNode node = GpuNode.at(work, true);
        daemon(node, node.policies(GPUS_3D));
        DeviceManagerHarness kubelet = kubelet();
        awaitAllocatable(kubelet, GPU, 6);

        Admission pair = kubelet.admit(Pod.of("vm-pair", GPU, 2));
        Admission three = kubelet.admit(Pod.of("vm-three", GPU, 3));
        Admission one = kubelet.admit(Pod.of("vm-one", GPU, 1));

        assertRuntime(pair, List.of("/dev/vfio/vfio", "/dev/vfio/14", "/dev/iommu", "/dev/vfio/devices/vfio0",
                "/dev/vfio/devices/vfio1"), "0000:41:00.0,0000:41:00.1");
        assertRuntime(three, List.of("/dev/vfio/vfio", "/dev/vfio/40", "/dev/vfio/41", "/dev/vfio/42", "/dev/iommu",
                "/dev/vfio/devices/vfio8", "/dev/vfio/devices/vfio9", "/dev/vfio/devices/vfio10"),
                "0000:c1:00.0,0000:c2:00.0,0000:c3:00.0");
        assertRuntime(one, List.of("/dev/vfio/vfio", "/dev/vfio/16", "/dev/iommu", "/dev/vfio/devices/vfio4"),
                "0000:43:00.0");
        assertNothingHandedOutTwice(kubelet.podResources());
    }

    private static void assertRuntime(Admission a, List<String> devices, String addresses) {
        assertThat(a.admitted()).as("%s", a).isTrue();
        JsonNode rt = a.runtime("main");
        List<String> hostPaths = new ArrayList<>();
        for (JsonNode d : rt.path("devices")) {
            assertThat(d.path("containerPath").asText()).isEqualTo(d.path("hostPath").asText());
            assertThat(d.path("permissions").asText()).isEqualTo("rw");
            hostPaths.add(d.path("hostPath").asText());
        }
        assertThat(hostPaths).containsExactlyElementsOf(devices);
        assertThat(rt.path("mounts")).isEmpty();
        assertThat(rt.path("annotations")).isEmpty();
        assertThat(rt.path("envs")).hasSize(1);
        assertThat(rt.path("envs").get(0).path("key").asText()).isEqualTo("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU");
        assertThat(rt.path("envs").get(0).path("value").asText()).isEqualTo(addresses);
        List<String> cdi = new ArrayList<>();
        rt.path("cdiDevices").forEach(n -> cdi.add(n.path("name").asText()));
        assertThat(cdi).containsExactlyElementsOf(List.of(addresses.split(",")).stream()
                .map(x -> "vfio.example.com/gpu=" + x.replace(':', '-').replace('.', '-')).toList());
    }

    @Test
    @DisplayName("kubelet v1.37.2 device manager: allocationUnit: Group: one unit per IOMMU group (iommu-group-15 on "
            + "NUMA 0, iommu-group-17 on NUMA 1); a pod's unit gives the runtime /dev/vfio/15 (GPU and audio function) "
            + "and the GPU's address, one per unit, in PCI_RESOURCE_*; PodResources lists the unit; a third pod finds "
            + "none left")
    void group_units() {
        GpuNode node = GpuNode.at(work, false);
        String resource = "vfio.example.com/gpu-with-audio";
        daemon(node, node.policies("gpu", List.of("0000:c1:00.0"), "gpu-with-audio",
                List.of("0000:42:00.0", "0000:42:00.1", "0000:44:00.0", "0000:44:00.1")));
        DeviceManagerHarness kubelet = kubelet();
        Capacity c = awaitCapacity(kubelet, resource, x -> x.allocatable(resource) == 2);
        assertThat(c.healthy(resource)).isEqualTo(Map.of("iommu-group-15", List.of(0), "iommu-group-17", List.of(1)));

        Admission a = kubelet.admit(Pod.of("vm-a", resource, 1));
        assertThat(a.admitted()).as("%s", a).isTrue();
        assertThat(a.devices("main", resource)).containsExactly("iommu-group-15");
        JsonNode rt = a.runtime("main");
        assertThat(rt.path("devices").findValuesAsText("hostPath")).containsExactly("/dev/vfio/vfio", "/dev/vfio/15");
        assertThat(rt.path("envs").get(0).path("key").asText()).isEqualTo("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU-WITH-AUDIO");
        assertThat(rt.path("envs").get(0).path("value").asText()).isEqualTo("0000:42:00.0");
        assertThat(rt.path("cdiDevices").findValuesAsText("name")).containsExactly("vfio.example.com/gpu-with-audio=iommu-group-15");
        assertThat(kubelet.podResources()).containsEntry("vm-a", Map.of(resource, List.of("iommu-group-15")));

        Admission b = kubelet.admit(Pod.of("vm-b", resource, 1));
        assertThat(b.devices("main", resource)).containsExactly("iommu-group-17");
        Admission third = kubelet.admit(Pod.of("vm-c", resource, 1));
        assertThat(third.admitted()).isFalse();
        assertThat(third.statusMessage()).contains("requested number of devices unavailable for " + resource);
    }

    @Test
    @DisplayName("kubelet v1.37.2 device manager: the plugin restarts while a pod holds 0000:41:00.0: the kubelet marks "
            + "the resource unhealthy, the plugin re-registers with the hold recovered from the real PodResources (the "
            + "sibling Unhealthy in its first list), and the next pods get the other group, nothing handed out twice")
    void plugin_restart_while_pods_hold_devices() {
        HeldPair held = vmAHolding4100();
        NodeDaemonProcess daemon = held.daemon();
        DeviceManagerHarness kubelet = held.kubelet();

        daemon.stop();
        Capacity down = awaitCapacity(kubelet, GPU, x -> x.allocatable(GPU) == 0);
        assertThat(down.capacity(GPU)).as("kept through the kubelet's 5 min grace").isEqualTo(4);
        daemon.startAgain();
        Capacity up = awaitCapacity(kubelet, GPU, x -> x.allocatable(GPU) > 0);

        assertThat(up.allocatable(GPU)).isEqualTo(3);
        assertThat(up.healthy(GPU)).containsOnlyKeys("0000:41:00.0", "0000:42:00.0", "0000:42:00.1");
        assertThat(daemon.logged("running pods hold 0000:41:00.0 (group 14): their IOMMU groups stay locked")).hasSize(1);
        Admission b = kubelet.admit(Pod.of("vm-b", GPU, 2));
        assertThat(b.devices("main", GPU)).containsExactly("0000:42:00.0", "0000:42:00.1");
        Admission c = kubelet.admit(Pod.of("vm-c", GPU, 1));
        assertThat(c.admitted()).as("%s", c).isFalse();
        assertNothingHandedOutTwice(kubelet.podResources());
    }

    @Test
    @DisplayName("kubelet v1.37.2 device manager: the plugin restarted while the kubelet was down: it registers with "
            + "the restarted kubelet only once PodResources told it which devices running pods hold, so a pod admitted "
            + "at once does not get the group sibling of the running VM's device")
    void plugin_restarted_while_the_kubelet_was_down() {
        HeldPair held = vmAHolding4100();
        NodeDaemonProcess daemon = held.daemon();
        DeviceManagerHarness kubelet = held.kubelet();

        daemon.stop();
        kubelet.kill();
        int unreachable = daemon.logged("PodResources API unreachable").size();
        daemon.startAgain();
        // the daemon is up and found PodResources gone (the kubelet's sockets are left over, nobody answers)
        await().atMost(REGISTERED).until(() -> daemon.logged("PodResources API unreachable").size() > unreachable);
        kubelet.restart();
        awaitCapacity(kubelet, GPU, x -> x.allocatable(GPU) > 0);
        Admission b = kubelet.admit(Pod.of("vm-b", GPU, 1));

        assertThat(b.healthyBefore(GPU)).containsExactly("0000:41:00.0", "0000:42:00.0", "0000:42:00.1");
        // registered once with the restarted kubelet, not again and again (it refuses a second Register)
        assertThat(daemon.logged("will retry: UNKNOWN: device plugin already connected")).isEmpty();
        assertThat(b.admitted()).as("%s", b).isTrue();
        assertThat(b.devices("main", GPU)).singleElement().isIn("0000:42:00.0", "0000:42:00.1");
        assertNothingHandedOutTwice(kubelet.podResources());
    }
}
