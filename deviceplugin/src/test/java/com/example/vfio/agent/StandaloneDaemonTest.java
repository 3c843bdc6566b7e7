package com.example.vfio.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.plugin.NodePlugin;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.kubelet.StandInKubelet;
import com.example.vfio.plugin.kubelet.StandInPodResources;
import com.example.vfio.planning.PolicyDocuments;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerAllocateResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.DeviceSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The standalone daemon end to end: a fixture host, a policies file, the stand-in kubelet. */
class StandaloneDaemonTest {

    static final String GPU = "vfio.example.com/gpu";
    static final String POLICY = """
            apiVersion: vfio.example.com/v1alpha1
            kind: VfioBindingPolicy
            metadata:
              name: gpus
            spec:
              nodeSelector:
                matchLabels: {gpu: "true"}
              selector:
                vendors: ["10de"]
                classes: ["0302"]
              resourceName: gpu
              companions: Bind
              allocationUnit: %s
            """;

    @TempDir
    Path tmp;
    FakeHost host;
    StandInPodResources podResources;
    StandInKubelet kubelet;
    NodePlugin plugin;
    NodeDaemon daemon;
    PluginMetrics metrics = new PluginMetrics();

    @BeforeEach
    void host() {
        host = FakeHost.at(tmp.resolve("host")).kernel("6.12.0").iommufd(true);
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        host.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(0).group("14")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).cls(0x040300).numa(0).group("14")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio1");
        host.devVfio("14").cdev("vfio0").cdev("vfio1");
        host.device("0000:42:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(1).group("15")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio2");
        host.devVfio("15").cdev("vfio2");
        host.write();
    }

    void start(String unit, Map<String, String> labels, Duration rescan) throws Exception {
        podResources = new StandInPodResources(tmp.resolve("pod-resources/kubelet.sock")).start();
        kubelet = new StandInKubelet(tmp.resolve("device-plugins"), podResources).start();
        plugin = new NodePlugin(NodePlugin.Config.defaults(kubelet.dir(), podResources.socket())
                .withTimings(Duration.ofMillis(200), Duration.ofHours(1), Duration.ofSeconds(30)),
                metrics, Clock.systemUTC());
        PoliciesFileSource source = new PoliciesFileSource("test", PolicyDocuments.parse(POLICY.formatted(unit)),
                "node-a", labels);
        daemon = new NodeDaemon(host.root(), source, plugin, metrics, rescan).start();
    }

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.close();
        }
        if (plugin != null) {
            plugin.close();
        }
        if (kubelet != null) {
            kubelet.close();
        }
        if (podResources != null) {
            podResources.close();
        }
    }

    static ConditionFactory eventually() {
        return await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10)).pollDelay(Duration.ZERO);
    }

    @Test
    void selected_gpus_are_published_and_the_audio_companion_is_not() throws Exception {
        start("Device", Map.of("gpu", "true"), Duration.ofHours(1));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);
        assertThat(kubelet.devices(GPU)).containsExactly(
                Map.entry("0000:41:00.0", "Healthy"), Map.entry("0000:42:00.0", "Healthy"));
        assertThat(kubelet.device(GPU, "0000:42:00.0").orElseThrow().getTopology().getNodes(0).getID()).isEqualTo(1);
    }

    @Test
    void a_node_whose_labels_do_not_match_the_node_selector_publishes_nothing() throws Exception {
        start("Device", Map.of("gpu", "false"), Duration.ofHours(1));
        assertThat(plugin.manager().servers()).isEmpty();
        assertThat(daemon.lastPublished()).isEmpty();
    }

    @Test
    void allocate_hands_out_host_paths_without_the_root_prefix() throws Exception {
        start("Device", Map.of("gpu", "true"), Duration.ofHours(1));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);

        ContainerAllocateResponse r = kubelet.allocate(GPU, List.of("0000:41:00.0")).getContainerResponses(0);

        assertThat(r.getDevicesList()).extracting(DeviceSpec::getHostPath).containsExactly(
                "/dev/vfio/vfio", "/dev/vfio/14", "/dev/iommu", "/dev/vfio/devices/vfio0");
        assertThat(r.getEnvsMap()).containsEntry("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU", "0000:41:00.0");
    }

    @Test
    void a_device_that_leaves_its_vfio_driver_becomes_unhealthy_and_a_new_matching_device_appears()
            throws Exception {
        start("Device", Map.of("gpu", "true"), Duration.ofHours(1));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);

        host.device("0000:42:00.0").driver("nouveau", "nouveau").noVfioDev();
        host.device("0000:43:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(1).group("16")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio3");
        host.devVfio("16").write();
        daemon.rescanNow();

        eventually().until(() -> kubelet.devices(GPU).size() == 3);
        assertThat(kubelet.devices(GPU)).containsExactly(Map.entry("0000:41:00.0", "Healthy"),
                Map.entry("0000:42:00.0", "Unhealthy"), Map.entry("0000:43:00.0", "Healthy"));
    }

    @Test
    void a_device_that_disappears_stays_listed_as_unhealthy() throws Exception {
        start("Device", Map.of("gpu", "true"), Duration.ofHours(1));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);

        host.remove("0000:42:00.0").write();
        daemon.rescanNow();

        eventually().until(() -> "Unhealthy".equals(kubelet.devices(GPU).get("0000:42:00.0")));
    }

    @Test
    void removing_a_group_node_under_dev_vfio_triggers_a_rescan_without_waiting_for_the_interval()
            throws Exception {
        start("Device", Map.of("gpu", "true"), Duration.ofHours(1));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);
        int updates = kubelet.updates(GPU).size();

        Files.delete(host.path().resolve("dev/vfio/15"));

        eventually().until(() -> "Unhealthy".equals(kubelet.devices(GPU).get("0000:42:00.0")));
        assertThat(kubelet.updates(GPU)).hasSize(updates + 1);
    }

    @Test
    void the_periodic_rescan_notices_a_sysfs_change() throws Exception {
        start("Device", Map.of("gpu", "true"), Duration.ofMillis(100));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);

        host.device("0000:41:00.1").driver("snd_hda_intel", "snd_hda_intel").noVfioDev();
        host.write();

        // FakeHost.write() rebuilds the whole tree, so a rescan may catch it half written: wait for the end state
        eventually().until(() -> kubelet.devices(GPU).equals(
                Map.of("0000:41:00.0", "Unhealthy", "0000:42:00.0", "Healthy")));
    }

    @Test
    void group_units_are_published_per_iommu_group() throws Exception {
        start("Group", Map.of("gpu", "true"), Duration.ofHours(1));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);
        assertThat(kubelet.devices(GPU)).containsOnlyKeys("iommu-group-14", "iommu-group-15");

        ContainerAllocateResponse r = kubelet.allocate(GPU, List.of("iommu-group-15")).getContainerResponses(0);
        assertThat(r.getEnvsMap()).containsEntry("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU", "0000:42:00.0");
        assertThat(plugin.allocations().heldDevices()).extracting(Object::toString).containsExactly("0000:42:00.0");
    }

    @Test
    void an_unreadable_root_makes_every_device_unhealthy_until_the_scan_works_again() throws Exception {
        start("Device", Map.of("gpu", "true"), Duration.ofHours(1));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);

        Path sys = host.path().resolve("sys");
        Path moved = host.path().resolve("sys-away");
        Files.move(sys, moved);
        daemon.rescanNow();
        eventually().until(() -> kubelet.withHealth(GPU, "Unhealthy").size() == 2);
        assertThat(metrics.count("rescan")).isEqualTo(1);

        Files.move(moved, sys);
        daemon.rescanNow();
        eventually().until(() -> kubelet.withHealth(GPU, "Healthy").size() == 2);
    }
}
