package com.example.vfio.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.plugin.prometheus.Scrape;
import com.example.vfio.plugin.prometheus.Scrape.Format;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** The names and texts other programs parse: env variables, CDI names, Prometheus metrics, /healthz. */
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
    void metrics_keep_their_names_and_are_served_in_text_and_openmetrics_as_the_scraper_asks() throws Exception {
        PluginMetrics m = new PluginMetrics();
        m.devices("vfio.example.com/gpu", 3, 1);
        m.allocation("vfio.example.com/gpu");
        m.allocateTook("vfio.example.com/gpu", 700_000);
        m.registration("vfio.example.com/gpu");
        m.error("allocate_refused");
        m.rescan(2_500_000);
        m.heldGroups(2);
        m.podResourcesUp(false);

        try (StatusHttpServer http = new StatusHttpServer(new InetSocketAddress("127.0.0.1", 0), m, () -> null)) {
            for (Format format : Format.values()) {
                Scrape scrape = Scrape.of(http.port(), format);
                boolean om = format == Format.OPENMETRICS;
                // OpenMetrics names a counter's family without _total; its samples keep it
                String errors = om ? "vfio_errors" : "vfio_errors_total";
                assertThat(scrape.family(errors).type()).isEqualTo("counter");
                assertThat(scrape.family(errors).value("vfio_errors_total", "kind", "allocate_refused")).isEqualTo(1);
                assertThat(scrape.family(errors).value("vfio_errors_total", "kind", "rescan")).as("known kinds from 0")
                        .isEqualTo(0);
                assertThat(scrape.family(om ? "vfio_allocations" : "vfio_allocations_total")
                        .value("vfio_allocations_total", "resource", "vfio.example.com/gpu")).isEqualTo(1);
                assertThat(scrape.family(om ? "vfio_registrations" : "vfio_registrations_total")
                        .value("vfio_registrations_total", "resource", "vfio.example.com/gpu")).isEqualTo(1);
                assertThat(scrape.family(om ? "vfio_rescans" : "vfio_rescans_total").value("vfio_rescans_total"))
                        .isEqualTo(1);
                Scrape.Family devices = scrape.family("vfio_devices");
                assertThat(devices.type()).isEqualTo("gauge");
                assertThat(devices.value("vfio_devices", "resource", "vfio.example.com/gpu", "health", "healthy"))
                        .isEqualTo(3);
                assertThat(devices.value("vfio_devices", "resource", "vfio.example.com/gpu", "health", "unhealthy"))
                        .isEqualTo(1);
                assertThat(scrape.family("vfio_held_iommu_groups").value("vfio_held_iommu_groups")).isEqualTo(2);
                assertThat(scrape.family("vfio_podresources_up").value("vfio_podresources_up")).isEqualTo(0);

                Scrape.Family rescan = scrape.family("vfio_rescan_duration_seconds");
                assertThat(rescan.type()).isEqualTo("histogram");
                assertThat(rescan.unit()).isEqualTo(om ? "seconds" : null);
                assertThat(rescan.value("vfio_rescan_duration_seconds_sum")).isEqualTo(0.0025);
                assertThat(rescan.value("vfio_rescan_duration_seconds_count")).isEqualTo(1);
                assertThat(rescan.value("vfio_rescan_duration_seconds_bucket", "le", "0.001")).isEqualTo(0);
                assertThat(rescan.value("vfio_rescan_duration_seconds_bucket", "le", "0.0025")).isEqualTo(1);
                assertThat(rescan.bucketBounds()).hasSize(PluginMetrics.RESCAN_SECONDS.length + 1).endsWith("+Inf");
                Scrape.Family allocate = scrape.family("vfio_allocate_duration_seconds");
                assertThat(allocate.type()).isEqualTo("histogram");
                assertThat(allocate.value("vfio_allocate_duration_seconds_bucket", "resource", "vfio.example.com/gpu",
                        "le", "5.0E-4")).isEqualTo(0);
                assertThat(allocate.value("vfio_allocate_duration_seconds_bucket", "resource", "vfio.example.com/gpu",
                        "le", "0.001")).isEqualTo(1);

                for (Scrape.Family f : scrape.families()) {
                    assertThat(f.name()).startsWith("vfio_");
                    assertThat(f.help()).as(f.name()).isNotBlank();
                    if (f.type().equals("counter")) {
                        assertThat(f.samples()).allSatisfy(x -> assertThat(x.name()).endsWith("_total"));
                    }
                }
            }
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
