package com.example.vfio.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** The names and texts other programs parse: env variables, CDI names, Prometheus text, /healthz. */
class WireFormatsTest {

    @Test
    void the_pci_resource_variable_is_named_the_way_kubevirt_derives_it() {
        assertThat(ContainerAllocation.envName("vfio.example.com/gpu")).isEqualTo("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU");
        assertThat(ContainerAllocation.envName("vfio.example.com/a100-80g"))
                .isEqualTo("PCI_RESOURCE_VFIO_EXAMPLE_COM_A100-80G");
    }

    @Test
    void cdi_names_are_kind_equals_a_name_without_colons_or_dots() {
        assertThat(ContainerAllocation.cdiName("vfio.example.com/gpu", "0000:41:00.0"))
                .isEqualTo("vfio.example.com/gpu=0000-41-00-0");
        assertThat(ContainerAllocation.cdiName("vfio.example.com/gpu", "iommu-group-14"))
                .isEqualTo("vfio.example.com/gpu=iommu-group-14");
    }

    @Test
    void dra_service_names_on_the_wire_are_the_kubelets() {
        assertThat(com.example.vfio.proto.pluginregistration.v1.RegistrationGrpc.SERVICE_NAME)
                .isEqualTo("pluginregistration.Registration");
        assertThat(com.example.vfio.proto.dra.v1.DRAPluginGrpc.SERVICE_NAME)
                .isEqualTo("k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin");
        assertThat(com.example.vfio.proto.dra.v1beta1.DRAPluginGrpc.SERVICE_NAME)
                .isEqualTo("k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin");
        assertThat(com.example.vfio.proto.drahealth.v1.DRAResourceHealthGrpc.SERVICE_NAME)
                .isEqualTo("v1.DRAResourceHealth");
        assertThat(com.example.vfio.proto.drahealth.v1alpha1.DRAResourceHealthGrpc.SERVICE_NAME)
                .isEqualTo("v1alpha1.DRAResourceHealth");
    }

    @Test
    void resource_names_that_would_make_a_bad_socket_or_variable_name_are_refused() {
        for (String bad : new String[] {"", "../x", "gpu/a", "-gpu", "gpu ", "GPU", "gpu_a", "gpu.a", "a".repeat(64)}) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> PublishedResource.requireValidName(bad))
                    .as(bad).hasMessageContaining("invalid resource name");
        }
        assertThat(PublishedResource.requireValidName("a".repeat(63))).hasSize(63);
        assertThat(DevicePluginServer.socketFileName("gpu")).isEqualTo("vfio-gpu.sock");
    }

    @Test
    void metrics_are_valid_prometheus_text_with_help_and_type_for_every_family() {
        PluginMetrics m = new PluginMetrics();
        m.devices("vfio.example.com/gpu", 3, 1);
        m.allocation("vfio.example.com/gpu");
        m.registration("vfio.example.com/gpu");
        m.error("allocate_refused");
        m.rescan(2_500_000);
        m.podResourcesUp(false);

        String text = m.render();

        assertThat(text).contains("vfio_devices{resource=\"vfio.example.com/gpu\",health=\"healthy\"} 3\n")
                .contains("vfio_devices{resource=\"vfio.example.com/gpu\",health=\"unhealthy\"} 1\n")
                .contains("vfio_allocations_total{resource=\"vfio.example.com/gpu\"} 1\n")
                .contains("vfio_rescan_duration_seconds_sum 0.0025\n")
                .contains("vfio_rescan_duration_seconds_count 1\n")
                .contains("vfio_podresources_up 0\n")
                .contains("vfio_errors_total{kind=\"allocate_refused\"} 1\n");
        for (String line : text.split("\n")) {
            assertThat(line).matches("# (HELP|TYPE) vfio_[a-z_]+ .+|vfio_[a-z_]+(\\{[a-z]+=\"[^\"]*\"(,[a-z]+=\"[^\"]*\")*})? [0-9.E-]+");
        }
    }

    @Test
    void healthz_answers_503_with_the_reason_when_the_daemon_is_stuck() throws Exception {
        String[] problem = {null};
        try (StatusHttpServer http = new StatusHttpServer(new InetSocketAddress("127.0.0.1", 0), new PluginMetrics(),
                () -> problem[0])) {
            assertThat(get(http, "/healthz")).isEqualTo("200 ok\n");
            problem[0] = "no host rescan for more than 25s";
            assertThat(get(http, "/healthz")).isEqualTo("503 no host rescan for more than 25s\n");
        }
    }

    private static String get(StatusHttpServer http, String path) throws IOException, InterruptedException {
        HttpResponse<String> r = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.port() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
        return r.statusCode() + " " + r.body();
    }
}
