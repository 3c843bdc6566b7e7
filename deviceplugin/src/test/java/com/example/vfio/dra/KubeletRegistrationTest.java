package com.example.vfio.dra;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.vfio.plugin.KubeletWatcher;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.UnixSockets;
import com.example.vfio.proto.dra.v1.DRAPluginGrpc;
import com.example.vfio.proto.dra.v1.NodePrepareResourcesRequest;
import com.example.vfio.proto.dra.v1.NodePrepareResourcesResponse;
import com.example.vfio.proto.pluginregistration.v1.InfoRequest;
import com.example.vfio.proto.pluginregistration.v1.PluginInfo;
import com.example.vfio.proto.pluginregistration.v1.RegistrationGrpc;
import com.example.vfio.proto.pluginregistration.v1.RegistrationStatus;
import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The plugin watcher's side of registration, played over the real sockets (the Go kubelet's part is in e2e/cluster). */
class KubeletRegistrationTest {
    @TempDir
    Path tmp;
    final UnixSockets sockets = new UnixSockets("test");
    final PluginMetrics metrics = new PluginMetrics();
    KubeletRegistration registration;
    HealthStreams health;

    KubeletRegistration start() throws Exception {
        health = new HealthStreams("node-a", Clock.systemUTC());
        DraService service = new DraService(ClaimPreparation.refusingAll("not here"), health);
        registration = new KubeletRegistration(new KubeletRegistration.Paths(tmp.resolve("plugins_registry"),
                tmp.resolve("plugins")), sockets, service.services(), metrics, Duration.ofMillis(100)).start();
        return registration;
    }

    @AfterEach
    void close() {
        if (registration != null) {
            registration.close();
            health.close();
        }
        sockets.close();
    }

    PluginInfo getInfo(Path socket) {
        ManagedChannel ch = sockets.dial(socket);
        try {
            // the kubelet allows 1 s; a cold test JVM dialing itself needs longer (e2e/cluster has the real kubelet code)
            return RegistrationGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .getInfo(InfoRequest.getDefaultInstance());
        } finally {
            UnixSockets.shutdown(ch);
        }
    }

    @Test
    void get_info_names_the_driver_its_endpoint_and_its_services_in_the_kubelets_order() throws Exception {
        KubeletRegistration r = start();

        PluginInfo info = getInfo(r.paths().registrationSocket());

        assertThat(r.paths().registrationSocket()).isEqualTo(tmp.resolve("plugins_registry/vfio.example.com-reg.sock"));
        assertThat(info.getType()).isEqualTo("DRAPlugin");
        assertThat(info.getName()).isEqualTo("vfio.example.com");
        assertThat(info.getEndpoint()).isEqualTo(tmp.resolve("plugins/vfio.example.com/dra.sock").toString());
        assertThat(info.getSupportedVersionsList()).containsExactly("v1.DRAPlugin", "v1beta1.DRAPlugin",
                "v1.DRAResourceHealth", "v1alpha1.DRAResourceHealth");

        // the endpoint answers the DRA service
        ManagedChannel ch = sockets.dial(Path.of(info.getEndpoint()));
        try {
            NodePrepareResourcesResponse resp = DRAPluginGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS)
                    .nodePrepareResources(NodePrepareResourcesRequest.newBuilder().addClaims(
                            com.example.vfio.proto.dra.v1.Claim.newBuilder().setNamespace("ns").setName("c").setUid("u1"))
                            .build());
            assertThat(resp.getClaimsMap()).containsOnlyKeys("u1");
            assertThat(resp.getClaimsMap().get("u1").getError()).isEqualTo("not here");
        } finally {
            UnixSockets.shutdown(ch);
        }

        // a kubelet one release back speaks v1beta1 on the same socket
        ManagedChannel beta = sockets.dial(Path.of(info.getEndpoint()));
        try {
            var resp = com.example.vfio.proto.dra.v1beta1.DRAPluginGrpc.newBlockingStub(beta)
                    .withDeadlineAfter(5, TimeUnit.SECONDS).nodePrepareResources(
                            com.example.vfio.proto.dra.v1beta1.NodePrepareResourcesRequest.newBuilder().addClaims(
                                    com.example.vfio.proto.dra.v1beta1.Claim.newBuilder().setNamespace("ns").setName("c")
                                            .setUid("u2")).build());
            assertThat(resp.getClaimsMap().get("u2").getError()).isEqualTo("not here");
        } finally {
            UnixSockets.shutdown(beta);
        }

        ManagedChannel reg = sockets.dial(r.paths().registrationSocket());
        try {
            RegistrationGrpc.newBlockingStub(reg).notifyRegistrationStatus(
                    RegistrationStatus.newBuilder().setPluginRegistered(true).build());
        } finally {
            UnixSockets.shutdown(reg);
        }
        assertThat(r.registrations()).isEqualTo(1);
    }

    @Test
    void both_health_streams_report_every_published_device_with_its_reason() throws Exception {
        KubeletRegistration r = start();
        com.example.vfio.plugin.PublishedDevice bad = com.example.vfio.plugin.PublishedDevice.device("0000:41:00.0", false,
                "bound to nvidia, not a VFIO driver", 0, "14", List.of());
        health.update(List.of(new DraDevice("pci-0000-41-00-0", "gpu", bad, java.util.Map.of(),
                new DraDevice.Taint("NotViable", bad.reason()))));

        ManagedChannel ch = sockets.dial(r.paths().draSocket());
        try {
            var v1 = com.example.vfio.proto.drahealth.v1.DRAResourceHealthGrpc.newBlockingStub(ch)
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .nodeWatchResources(com.example.vfio.proto.drahealth.v1.NodeWatchResourcesRequest.getDefaultInstance())
                    .next().getDevices(0);
            assertThat(v1.getDevice().getPoolName()).isEqualTo("node-a");
            assertThat(v1.getDevice().getDeviceName()).isEqualTo("pci-0000-41-00-0");
            assertThat(v1.getHealth()).isEqualTo(com.example.vfio.proto.drahealth.v1.HealthStatus.UNHEALTHY);
            assertThat(v1.getMessage()).isEqualTo("bound to nvidia, not a VFIO driver");
            assertThat(v1.getHealthCheckTimeoutSeconds()).isEqualTo(30);
            var alpha = com.example.vfio.proto.drahealth.v1alpha1.DRAResourceHealthGrpc.newBlockingStub(ch)
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .nodeWatchResources(com.example.vfio.proto.drahealth.v1alpha1.NodeWatchResourcesRequest.getDefaultInstance())
                    .next().getDevices(0);
            assertThat(alpha.getHealth()).isEqualTo(com.example.vfio.proto.drahealth.v1alpha1.HealthStatus.UNHEALTHY);
            assertThat(alpha.getMessage()).isEqualTo("bound to nvidia, not a VFIO driver");
        } finally {
            UnixSockets.shutdown(ch);
        }
    }

    @Test
    void a_socket_file_someone_removed_is_served_again() throws Exception {
        KubeletRegistration r = start();
        Object before = KubeletWatcher.fileKey(r.paths().registrationSocket());

        Files.delete(r.paths().registrationSocket());
        Files.delete(r.paths().draSocket());

        await().atMost(Duration.ofSeconds(10)).until(() -> KubeletWatcher.fileKey(r.paths().registrationSocket()) != null
                && KubeletWatcher.fileKey(r.paths().draSocket()) != null);
        assertThat(KubeletWatcher.fileKey(r.paths().registrationSocket())).isNotEqualTo(before);
        assertThat(getInfo(r.paths().registrationSocket()).getName()).isEqualTo("vfio.example.com");
    }

    @Test
    void a_stale_socket_a_dead_daemon_left_is_replaced_at_start_and_ours_go_when_we_stop() throws Exception {
        Path registry = Files.createDirectories(tmp.resolve("plugins_registry"));
        Files.writeString(registry.resolve("vfio.example.com-reg.sock"), "stale");

        KubeletRegistration r = start();

        assertThat(getInfo(r.paths().registrationSocket()).getType()).isEqualTo("DRAPlugin");
        r.close();
        registration = null;
        health.close();
        assertThat(r.paths().registrationSocket()).doesNotExist();
        assertThat(r.paths().draSocket()).doesNotExist();
        assertThat(List.of(registry.toFile().list())).isEmpty();
    }
}
