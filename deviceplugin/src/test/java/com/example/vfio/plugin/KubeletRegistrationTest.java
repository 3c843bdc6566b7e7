package com.example.vfio.plugin;

import static com.example.vfio.plugin.Fixtures.GPU;
import static com.example.vfio.plugin.Fixtures.LEGACY;
import static com.example.vfio.plugin.PluginFixture.eventually;
import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.proto.deviceplugin.v1beta1.Device;
import com.example.vfio.proto.deviceplugin.v1beta1.ListAndWatchResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Registration with the kubelet over real unix sockets: late kubelet, restarts, stale sockets, updates. */
class KubeletRegistrationTest {

    @TempDir
    Path tmp;

    @Test
    void waits_for_a_late_kubelet_then_serves_and_registers() throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.publish(f.gpus(false));
            Thread.sleep(300); // a couple of kubelet checks with no kubelet.sock
            assertThat(f.kubelet.registrations()).isEmpty();

            f.kubelet.start();

            eventually().until(() -> f.kubelet.connected(GPU));
            var reg = f.kubelet.registrations().get(0);
            assertThat(reg.getVersion()).isEqualTo("v1beta1");
            assertThat(reg.getEndpoint()).isEqualTo("vfio-gpu.sock");
            assertThat(reg.getOptions().getGetPreferredAllocationAvailable()).isTrue();
            assertThat(f.kubelet.options(GPU).orElseThrow()).isEqualTo(reg.getOptions());
            eventually().until(() -> !f.kubelet.devices(GPU).isEmpty());
            assertThat(f.kubelet.devices(GPU)).containsExactly(
                    Map.entry("0000:41:00.0", "Healthy"), Map.entry("0000:41:00.1", "Healthy"),
                    Map.entry("0000:c1:00.0", "Healthy"), Map.entry("0000:c2:00.0", "Unhealthy"));
        }
    }

    @Test
    void topology_carries_the_numa_node_and_is_omitted_when_unknown() throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.kubelet.start();
            f.publish(new PublishedResource("nic", List.of(
                    Fixtures.healthy("0000:03:00.0", "7", 1), Fixtures.healthy("0000:04:00.0", "8", -1)), LEGACY));
            String nic = "vfio.example.com/nic";
            eventually().until(() -> f.kubelet.devices(nic).size() == 2);
            Device known = f.kubelet.device(nic, "0000:03:00.0").orElseThrow();
            Device unknown = f.kubelet.device(nic, "0000:04:00.0").orElseThrow();
            assertThat(known.getTopology().getNodesList()).singleElement()
                    .satisfies(n -> assertThat(n.getID()).isEqualTo(1));
            assertThat(unknown.hasTopology()).isFalse();
        }
    }

    @Test
    void kubelet_restart_deleting_every_socket_leads_to_serving_again_and_re_registering() throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.kubelet.start();
            f.publish(f.gpus(false));
            eventually().until(() -> f.kubelet.connected(GPU));

            f.kubelet.restart();

            eventually().until(() -> f.kubelet.registrations(GPU) == 2 && f.kubelet.connected(GPU));
            assertThat(f.pluginDir.resolve("vfio-gpu.sock")).exists();
            eventually().until(() -> f.kubelet.devices(GPU).size() == 4);
        }
    }

    @Test
    void kubelet_sock_recreated_while_our_socket_survives_still_re_registers() throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.kubelet.start();
            f.publish(f.gpus(false));
            eventually().until(() -> f.kubelet.connected(GPU));

            f.kubelet.stop();   // kubelet.sock removed, vfio-gpu.sock left in place
            f.kubelet.start();  // a new kubelet.sock

            eventually().until(() -> f.kubelet.registrations(GPU) == 2 && f.kubelet.connected(GPU));
        }
    }

    @Test
    void a_stale_socket_file_of_ours_is_replaced() throws Exception {
        Path dir = tmp.resolve("device-plugins");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("vfio-gpu.sock"), "left over from a crashed daemon");
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.kubelet.start();
            f.publish(f.gpus(false));
            eventually().until(() -> f.kubelet.connected(GPU));
            assertThat(Files.isRegularFile(dir.resolve("vfio-gpu.sock"))).isFalse();
        }
    }

    @Test
    void list_and_watch_sends_an_update_only_when_what_the_kubelet_sees_changes() throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.kubelet.start();
            f.publish(f.gpus(false));
            eventually().until(() -> f.kubelet.updates(GPU).size() == 1);

            f.publish(f.rescanGpus()); // a rescan that found nothing new
            f.host.device("0000:c2:00.0").driver("nouveau", "nouveau");
            f.publish(f.rescanGpus()); // another reason to be Unhealthy: nothing new for the kubelet
            f.host.device("0000:c1:00.0").driver("nvidia", "nvidia").noVfioDev();
            f.publish(f.rescanGpus());

            eventually().until(() -> f.kubelet.updates(GPU).size() == 2);
            Thread.sleep(100);
            List<ListAndWatchResponse> updates = f.kubelet.updates(GPU);
            assertThat(updates).hasSize(2);
            assertThat(f.kubelet.devices(GPU)).containsEntry("0000:c1:00.0", "Unhealthy");
        }
    }

    @Test
    void a_resource_no_policy_selects_any_more_stops_its_server_and_removes_its_socket() throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.kubelet.start();
            f.publish(f.gpus(false));
            eventually().until(() -> f.kubelet.connected(GPU));

            f.plugin.publish(List.of());

            eventually().until(() -> !f.kubelet.connected(GPU));
            assertThat(f.pluginDir.resolve("vfio-gpu.sock")).doesNotExist();
        }
    }

    @Test
    void a_left_over_kubelet_sock_nobody_answers_on_is_retried_until_the_kubelet_is_back() throws Exception {
        Path dir = tmp.resolve("device-plugins");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("kubelet.sock"), "");
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.publish(f.gpus(false));
            eventually().until(() -> f.metrics.count("register") >= 1);
            assertThat(f.kubelet.registrations()).isEmpty();

            f.kubelet.start();

            eventually().until(() -> f.kubelet.connected(GPU));
        }
    }

    @Test
    void the_first_registration_waits_until_pod_resources_says_which_groups_running_pods_hold() throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            // a daemon restarted while the kubelet was down: a VM still holds 0000:41:00.0
            f.podResources.stop();
            f.podResources.assign("vm-a", GPU, List.of("0000:41:00.0"));
            f.kubelet.start();
            f.publish(f.gpus(false));
            Thread.sleep(600); // several kubelet checks with kubelet.sock there and PodResources not answering
            assertThat(f.kubelet.registrations()).isEmpty();

            f.podResources.start();

            eventually().until(() -> f.kubelet.connected(GPU) && !f.kubelet.updates(GPU).isEmpty());
            // the first device list the kubelet sees already locks the running VM's group sibling
            assertThat(f.kubelet.updates(GPU).get(0).getDevicesList()).filteredOn(d -> d.getID().equals("0000:41:00.1"))
                    .singleElement().satisfies(d -> assertThat(d.getHealth()).isEqualTo("Unhealthy"));
        }
    }

    @Test
    void a_register_the_kubelet_refuses_as_already_connected_to_our_unchanged_socket_counts_as_registered()
            throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.kubelet.start();
            f.publish(f.gpus(false));
            eventually().until(() -> f.kubelet.connected(GPU));

            // kubelet.sock looks replaced (its ctime changed) while the kubelet stays connected to our socket
            java.nio.file.Files.setPosixFilePermissions(f.kubelet.socket(),
                    java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-x---"));

            eventually().until(() -> f.kubelet.rejections().stream().anyMatch(r -> r.contains("already connected")));
            Thread.sleep(600); // more checks: none registers again
            assertThat(f.kubelet.rejections()).hasSize(1);
            assertThat(f.metrics.count("register")).isZero();
            assertThat(f.kubelet.registrations(GPU)).isEqualTo(1);
            assertThat(f.kubelet.connected(GPU)).isTrue();
        }
    }
}
