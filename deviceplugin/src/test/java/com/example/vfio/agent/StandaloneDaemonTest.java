package com.example.vfio.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.plugin.NodePlugin;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.kubelet.StandInKubelet;
import com.example.vfio.plugin.kubelet.StandInPodResources;
import com.example.vfio.uevent.KernelWords;
import com.example.vfio.uevent.QueueUeventSource;
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
        start(unit, labels, ChangeDetection.polling(rescan, "a fixture host"));
    }

    void start(String unit, Map<String, String> labels, ChangeDetection changes) throws Exception {
        podResources = new StandInPodResources(tmp.resolve("pod-resources/kubelet.sock")).start();
        kubelet = new StandInKubelet(tmp.resolve("device-plugins"), podResources).start();
        plugin = new NodePlugin(NodePlugin.Config.defaults(kubelet.dir(), podResources.socket())
                .withTimings(Duration.ofMillis(200), Duration.ofHours(1), Duration.ofSeconds(30)),
                metrics, Clock.systemUTC());
        PoliciesFileSource source = new PoliciesFileSource("test", PolicyDocuments.parse(POLICY.formatted(unit)),
                "node-a", labels);
        daemon = new NodeDaemon(host.root(), source, plugin, metrics, changes).start();
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
    void dev_vfio_removed_and_created_again_like_a_vfio_module_reload_is_noticed_without_the_periodic_rescan()
            throws Exception {
        start("Device", Map.of("gpu", "true"), Duration.ofHours(1));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);
        Path vfio = host.path().resolve("dev/vfio");

        try (var files = Files.walk(vfio)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        eventually().until(() -> kubelet.withHealth(GPU, "Unhealthy").size() == 2);

        host.write(); // the module is back: /dev/vfio and its nodes appear again
        eventually().until(() -> kubelet.withHealth(GPU, "Healthy").size() == 2);
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

    // ---- kernel uevents (fed through a queue: the fixture host is a directory, not the kernel) ----

    final QueueUeventSource uevents = new QueueUeventSource();

    ChangeDetection listening(Duration full, Duration polling) {
        return new ChangeDetection(uevents, null, full, polling);
    }

    @Test
    void a_bind_uevent_makes_its_groups_devices_unhealthy_without_a_rescan_of_the_host() throws Exception {
        start("Device", Map.of("gpu", "true"), listening(Duration.ofHours(1), Duration.ofHours(1)));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);
        assertThat(metrics.ueventsListening()).as("vfio_uevents_listening").isTrue();

        // only sysfs shows it (the group node stays: 41:00.0 keeps the group on vfio-pci); no /dev/vfio watch runs
        host.device("0000:41:00.1").driver("snd_hda_intel", "snd_hda_intel").noVfioDev();
        host.write();
        uevents.send(KernelWords.pci("unbind", "0000:41:00.1", null, 0x10de, 0x22a3, 0x040300))
                .send(KernelWords.vfioCdev("remove", "0000:41:00.1", "vfio1"))
                .send(KernelWords.pci("bind", "0000:41:00.1", "snd_hda_intel", 0x10de, 0x22a3, 0x040300));

        eventually().until(() -> kubelet.devices(GPU).equals(
                Map.of("0000:41:00.0", "Unhealthy", "0000:42:00.0", "Healthy")));
        assertThat(daemon.lastPublished().get(0).devices().get(0).reason()).contains("snd_hda_intel");
    }

    @Test
    void events_of_other_devices_cause_no_update() throws Exception {
        start("Device", Map.of("gpu", "true"), listening(Duration.ofHours(1), Duration.ofHours(1)));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);
        int updates = kubelet.updates(GPU).size();
        long rescans = rescans();

        uevents.send(KernelWords.net("add", "0000:41:00.0", "eth9"))
                .send(KernelWords.pci("bind", "0000:81:00.0", "mlx5_core", 0x15b3, 0x1021, 0x020000));

        eventually().until(() -> rescans() == rescans + 1); // the bind is read (81:00.0 is not on this host)
        assertThat(kubelet.updates(GPU)).hasSize(updates);
    }

    long rescans() {
        return metrics.rescans();
    }

    @Test
    void lost_uevents_make_the_whole_host_read_again() throws Exception {
        start("Device", Map.of("gpu", "true"), listening(Duration.ofHours(1), Duration.ofHours(1)));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);

        host.device("0000:42:00.0").driver("nouveau", "nouveau").noVfioDev();
        host.write();
        uevents.lose();

        eventually().until(() -> "Unhealthy".equals(kubelet.devices(GPU).get("0000:42:00.0")));
    }

    @Test
    void a_uevent_socket_that_fails_leaves_the_daemon_polling_and_saying_so() throws Exception {
        start("Device", Map.of("gpu", "true"), listening(Duration.ofHours(1), Duration.ofMillis(100)));
        eventually().until(() -> kubelet.devices(GPU).size() == 2);

        uevents.fail("receiving uevents failed: errno 9");
        eventually().until(() -> !metrics.ueventsListening());
        host.device("0000:42:00.0").driver("nouveau", "nouveau").noVfioDev();
        host.write();

        eventually().until(() -> "Unhealthy".equals(kubelet.devices(GPU).get("0000:42:00.0")));
        assertThat(uevents.closed()).isTrue();
    }

    @Test
    void a_daemon_that_cannot_listen_says_so_in_its_metric() throws Exception {
        start("Device", Map.of("gpu", "true"), Duration.ofHours(1));
        assertThat(metrics.ueventsListening()).as("vfio_uevents_listening").isFalse();
    }
}
