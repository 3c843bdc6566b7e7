package com.example.vfio.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.vfio.plugin.kubelet.StandInKubelet;
import com.example.vfio.plugin.kubelet.StandInPodResources;
import com.example.vfio.plugin.prometheus.Scrape;
import com.example.vfio.plugin.prometheus.Scrape.Format;
import com.example.vfio.proto.deviceplugin.v1beta1.DeviceSpec;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code vfio-node serve --policies examples/policies/gpu.yaml} against the shipped sample host. */
@Timeout(60) // a serve that starts when it should refuse would block forever
class ServeCommandTest {

    static final Path SAMPLE_HOST = Path.of("..", "examples", "sample-host");
    static final Path GPU_POLICY = Path.of("..", "examples", "policies", "gpu.yaml");
    static final String GPU = "vfio.example.com/gpu";

    @TempDir
    Path tmp;

    private ServeCommand parse(String... args) {
        ServeCommand serve = new ServeCommand();
        new CommandLine(serve).parseArgs(args);
        return serve;
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void serve_with_the_example_gpu_policy_registers_the_sample_hosts_gpus_and_exposes_metrics() throws Exception {
        int port = freePort();
        Path pluginDir = tmp.resolve("device-plugins");
        ServeCommand serve = parse("--root", SAMPLE_HOST.toString(), "--policies", GPU_POLICY.toString(),
                "--plugin-dir", pluginDir.toString(), "--pod-resources-socket", tmp.resolve("pr.sock").toString(),
                "--node-name", "gpu-node-1", "--metrics-port", String.valueOf(port), "--cdi-dir",
                tmp.resolve("cdi").toString());
        // a kubelet serves both: the daemon registers once PodResources said which devices running pods hold
        try (StandInPodResources podResources = new StandInPodResources(tmp.resolve("pr.sock")).start();
             StandInKubelet kubelet = new StandInKubelet(pluginDir, podResources).start();
             ServeCommand.Running running = serve.start()) {
            assertThat(running.http.port()).isEqualTo(port);
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10))
                    .until(() -> kubelet.devices(GPU).size() == 4);
            // 41:00.0's audio sibling is on snd_hda_intel, 44:00.0 is on nouveau: no binding engine yet
            assertThat(kubelet.devices(GPU)).containsExactly(
                    Map.entry("0000:41:00.0", "Unhealthy"), Map.entry("0000:42:00.0", "Healthy"),
                    Map.entry("0000:43:00.0", "Healthy"), Map.entry("0000:44:00.0", "Unhealthy"));

            var alloc = kubelet.allocate(GPU, List.of("0000:43:00.0")).getContainerResponses(0);
            assertThat(alloc.getDevicesList()).extracting(DeviceSpec::getHostPath)
                    .containsExactly("/dev/vfio/vfio", "/dev/vfio/16");
            assertThat(tmp.resolve("cdi/vfio.example.com-gpu.json")).exists();

            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> health = http.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + port + "/healthz")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode()).isEqualTo(200);
            for (Format format : Format.values()) {
                Scrape scrape = Scrape.of(port, format);
                // OpenMetrics names a counter's family without _total and an info's without _info; samples keep them
                String total = format == Format.OPENMETRICS ? "" : "_total";
                String info = format == Format.OPENMETRICS ? "" : "_info";
                assertThat(scrape.family("vfio_devices")
                        .value("vfio_devices", "resource", GPU, "health", "healthy")).isEqualTo(2);
                assertThat(scrape.family("vfio_devices")
                        .value("vfio_devices", "resource", GPU, "health", "unhealthy")).isEqualTo(2);
                assertThat(scrape.family("vfio_allocations" + total)
                        .value("vfio_allocations_total", "resource", GPU)).isEqualTo(1);
                assertThat(scrape.family("vfio_registrations" + total)
                        .value("vfio_registrations_total", "resource", GPU)).isEqualTo(1);
                assertThat(scrape.family("vfio_held_iommu_groups").value("vfio_held_iommu_groups")).isEqualTo(1);
                assertThat(scrape.family("vfio_uevents_listening").value("vfio_uevents_listening"))
                        .as("the sample host is a directory: the kernel announces no change of it").isEqualTo(0);
                double rescans = scrape.family("vfio_rescans" + total).value("vfio_rescans_total");
                assertThat(rescans).isPositive();
                Scrape.Family rescan = scrape.family("vfio_rescan_duration_seconds");
                assertThat(rescan.value("vfio_rescan_duration_seconds_count")).isEqualTo(rescans);
                assertThat(rescan.value("vfio_rescan_duration_seconds_bucket", "le", "+Inf")).isEqualTo(rescans);
                assertThat(rescan.value("vfio_rescan_duration_seconds_sum")).isPositive();
                Scrape.Family allocate = scrape.family("vfio_allocate_duration_seconds");
                assertThat(allocate.value("vfio_allocate_duration_seconds_count", "resource", GPU)).isEqualTo(1);
                assertThat(allocate.value("vfio_allocate_duration_seconds_bucket", "resource", GPU, "le", "5.0"))
                        .isEqualTo(1);
                // the JVM's and the process's own metrics
                assertThat(scrape.family("jvm_memory_used_bytes").value("jvm_memory_used_bytes", "area", "heap"))
                        .isPositive();
                assertThat(scrape.family("jvm_gc_collection_seconds").type()).isEqualTo("summary");
                assertThat(scrape.family("jvm_threads_current").value("jvm_threads_current")).isPositive();
                assertThat(scrape.family("process_resident_memory_bytes").value("process_resident_memory_bytes"))
                        .isPositive();
                assertThat(scrape.names()).contains("process_cpu_seconds" + total, "jvm_threads_state",
                        "jvm_classes_currently_loaded", "jvm_runtime" + info, "process_open_fds");
            }
        }
        assertThat(pluginDir.resolve("vfio-gpu.sock")).as("our socket is removed on shutdown").doesNotExist();
    }

    private int run(StringWriter err, String... args) {
        CommandLine cli = Main.commandLine();
        cli.setErr(new PrintWriter(err));
        return cli.execute(args);
    }

    @Test
    void help_gives_both_defaults_of_the_rescan_interval() {
        StringWriter out = new StringWriter();
        CommandLine cli = Main.commandLine();
        cli.setOut(new PrintWriter(out));
        assertThat(cli.execute("serve", "--help")).isZero();
        assertThat(out.toString().replaceAll("\\s+", " ")).contains("--rescan-interval=DURATION")
                .contains("default: 60s while the daemon hears the kernel's uevents")
                .contains("5s when it cannot hear them");
    }

    @Test
    void a_broken_policies_file_is_refused_naming_the_file_and_the_field() throws Exception {
        Path bad = tmp.resolve("bad.yaml");
        Files.writeString(bad, Files.readString(GPU_POLICY).replace("companions: Bind", "companions: bind"));
        StringWriter err = new StringWriter();

        int status = run(err, "serve", "--root", SAMPLE_HOST.toString(), "--policies", bad.toString(),
                "--plugin-dir", tmp.resolve("dp").toString(), "--metrics-port", "0");

        assertThat(status).isEqualTo(2);
        assertThat(err.toString()).contains(bad.toString()).contains("spec.companions");
        assertThat(tmp.resolve("dp")).doesNotExist();
    }

    @Test
    void a_missing_policies_file_and_bad_labels_are_one_clear_line_each() {
        StringWriter err = new StringWriter();
        assertThat(run(err, "serve", "--policies", tmp.resolve("none.yaml").toString(), "--metrics-port", "0"))
                .isEqualTo(2);
        assertThat(err.toString()).contains("none.yaml does not exist");

        StringWriter err2 = new StringWriter();
        assertThat(run(err2, "serve", "--policies", GPU_POLICY.toString(), "--node-labels", "gpu", "--metrics-port",
                "0")).isEqualTo(2);
        assertThat(err2.toString()).contains("KEY=VALUE");

        StringWriter err3 = new StringWriter();
        assertThat(run(err3, "serve", "--policies", GPU_POLICY.toString(), "--node-labels", "gpu=a b", "--metrics-port",
                "0")).isEqualTo(2);
        assertThat(err3.toString()).contains("--node-labels: 'gpu=a b' is not a valid label");
    }

    @Test
    void a_root_that_is_not_a_host_is_one_line_and_status_2_and_leaves_no_socket() {
        StringWriter err = new StringWriter();
        Path pluginDir = tmp.resolve("dp");
        assertThat(run(err, "serve", "--root", tmp.resolve("nothing").toString(), "--policies", GPU_POLICY.toString(),
                "--plugin-dir", pluginDir.toString(), "--metrics-port", "0")).isEqualTo(2);
        assertThat(err.toString()).startsWith("vfio-node: ").contains("(check --root)").hasLineCount(1);
        assertThat(pluginDir.resolve("vfio-gpu.sock")).doesNotExist();
    }

    @Test
    void without_policies_serve_is_cluster_mode_and_refuses_a_binding_journal_it_cannot_read() throws Exception {
        Path journal = Files.writeString(tmp.resolve("journal.json"), "not json");
        StringWriter err = new StringWriter();
        assertThat(run(err, "serve", "--root", SAMPLE_HOST.toString(), "--journal-dir", tmp.toString(),
                "--plugin-dir", tmp.resolve("dp").toString(), "--metrics-port", "0")).isEqualTo(2);
        assertThat(err.toString()).contains(journal.toString()).contains("is not a journal");
        assertThat(tmp.resolve("dp")).doesNotExist();
    }

    @Test
    void node_labels_and_durations_are_parsed_strictly() {
        ServeCommand serve = parse("--node-labels", "gpu=h100,topology.kubernetes.io/zone=eu-1", "--node-label",
                "rack=r7");
        assertThat(ServeCommand.checkLabels(serve.nodeLabels)).containsOnly(Map.entry("gpu", "h100"),
                Map.entry("topology.kubernetes.io/zone", "eu-1"), Map.entry("rack", "r7"));
        assertThat(parse().nodeLabels).isEmpty();
        assertThat(new ServeCommand.DurationConverter().convert("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(new ServeCommand.DurationConverter().convert("5s")).isEqualTo(Duration.ofSeconds(5));
        assertThat(new ServeCommand.DurationConverter().convert("PT1M")).isEqualTo(Duration.ofMinutes(1));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new ServeCommand.DurationConverter().convert("soon"))
                .hasMessageContaining("not a duration");
    }
}
