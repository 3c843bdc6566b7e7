package com.example.vfio.operator;

import com.example.vfio.plugin.prometheus.Scrape;
import com.example.vfio.plugin.prometheus.Scrape.Format;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** OperatorMain as its own JVM: kubeconfig, environment, health and metrics endpoints, SIGTERM. */
class OperatorProcessTest {
    private MockCluster cluster;
    private Process process;

    @AfterEach
    void stop() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        if (cluster != null) {
            cluster.close();
        }
    }

    private Process launch(Path dir, Map<String, String> env) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), OperatorMain.class.getName());
        pb.environment().remove("KUBERNETES_SERVICE_HOST");
        pb.environment().remove("KUBERNETES_SERVICE_PORT");
        pb.environment().putAll(env);
        pb.redirectErrorStream(true);
        pb.redirectOutput(dir.resolve("operator.log").toFile());
        return pb.start();
    }

    @Test
    void runs_from_a_kubeconfig_serves_health_and_metrics_and_stops_cleanly_on_sigterm(@TempDir Path dir) throws Exception {
        cluster = new MockCluster();
        cluster.addNode("gpu-1", Map.of());
        Path kubeconfig = writeKubeconfig(dir, cluster.client.getMasterUrl().toString());
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        process = launch(dir, Map.of("KUBECONFIG", kubeconfig.toString(), "OPERATOR_SSA", "false", "HEALTH_PORT", String.valueOf(port)));

        awaitNodeState(dir);
        HttpClient http = HttpClient.newHttpClient();
        await().atMost(Duration.ofSeconds(30)).until(() -> get(http, port, "/readyz").statusCode() == 200);
        HttpResponse<String> healthz = get(http, port, "/healthz");
        assertThat(healthz.statusCode()).isEqualTo(200);
        assertThat(healthz.body()).isEqualTo("ok\n");
        // counted once the reconciliations have settled: one that ends between two families' collection is
        // timed but not yet counted as succeeded
        for (Format format : Format.values()) {
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                Scrape scrape = Scrape.of(port, format);
                String total = format == Format.OPENMETRICS ? "" : "_total";
                for (String controller : List.of(NodeStateCreator.NAME, NodeStateReconciler.NAME, PolicyReconciler.NAME)) {
                    Scrape.Family started = scrape.family("vfio_operator_reconciliations_started" + total);
                    Scrape.Family succeeded = scrape.family("vfio_operator_reconciliations_succeeded" + total);
                    Scrape.Family failed = scrape.family("vfio_operator_reconciliations_failed" + total);
                    Scrape.Family duration = scrape.family("vfio_operator_reconcile_duration_seconds");
                    double n = started.value("vfio_operator_reconciliations_started_total", "controller", controller);
                    // a reconciliation still running is started and not yet timed
                    assertThat(duration.value("vfio_operator_reconcile_duration_seconds_count", "controller", controller))
                            .isEqualTo(succeeded.value("vfio_operator_reconciliations_succeeded_total", "controller", controller)
                                    + failed.value("vfio_operator_reconciliations_failed_total", "controller", controller))
                            .isLessThanOrEqualTo(n);
                    assertThat(duration.bucketBounds("controller", controller))
                            .hasSize(OperatorMetrics.RECONCILE_SECONDS.length + 1);
                    if (!controller.equals(PolicyReconciler.NAME)) { // no policy exists: its series stay at 0
                        assertThat(n).as(controller).isPositive();
                    }
                }
                assertThat(scrape.family("vfio_operator_reconciliations_succeeded" + total)
                        .value("vfio_operator_reconciliations_succeeded_total", "controller", NodeStateCreator.NAME)).isPositive();
                assertThat(scrape.family("jvm_memory_used_bytes").value("jvm_memory_used_bytes", "area", "heap")).isPositive();
                assertThat(scrape.names()).contains("jvm_gc_collection_seconds", "jvm_threads_current", "process_resident_memory_bytes");
            });
        }

        process.destroy();
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("exits within 30s of SIGTERM").isTrue();
        String log = Files.readString(dir.resolve("operator.log"), StandardCharsets.UTF_8);
        assertThat(log).contains("starting: server-side apply false, leader election off").contains("shutting down");
        assertThat(process.exitValue()).isEqualTo(143);
    }

    @Test
    void leader_takes_the_lease_works_and_still_stops_cleanly_on_sigterm(@TempDir Path dir) throws Exception {
        cluster = new MockCluster();
        cluster.addNode("gpu-1", Map.of());
        Path kubeconfig = writeKubeconfig(dir, cluster.client.getMasterUrl().toString());
        process = launch(dir, Map.of("KUBECONFIG", kubeconfig.toString(), "OPERATOR_SSA", "false", "HEALTH_PORT", "-1",
                "LEADER_ELECTION_NAMESPACE", "vfio-system", "POD_NAME", "vfio-operator-7d9f"));

        awaitNodeState(dir);
        assertThat(cluster.client.leases().inNamespace("vfio-system").withName("vfio-operator").get().getSpec().getHolderIdentity())
                .isEqualTo("vfio-operator-7d9f");

        process.destroy();
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).as("exits within 30s of SIGTERM").isTrue();
        assertThat(Files.readString(dir.resolve("operator.log"))).contains("shutting down");
    }

    @Test
    void refuses_a_malformed_setting_with_a_message_naming_it(@TempDir Path dir) throws Exception {
        process = launch(dir, Map.of("OPERATOR_SSA", "maybe", "HEALTH_PORT", "-1"));

        assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).isEqualTo(2);
        assertThat(Files.readAllLines(dir.resolve("operator.log"))).isEqualTo(List.of("vfio-operator: OPERATOR_SSA=maybe is not true or false"));
    }

    @Test
    void exits_non_zero_when_the_api_server_cannot_be_reached(@TempDir Path dir) throws Exception {
        Path kubeconfig = dir.resolve("kubeconfig");
        Files.writeString(kubeconfig, """
                apiVersion: v1
                kind: Config
                clusters:
                - name: gone
                  cluster: {server: "https://127.0.0.1:1"}
                users:
                - name: admin
                  user: {token: "test"}
                contexts:
                - name: gone
                  context: {cluster: gone, user: admin}
                current-context: gone
                """);
        process = launch(dir, Map.of("KUBECONFIG", kubeconfig.toString(), "HEALTH_PORT", "-1", "KUBERNETES_REQUEST_RETRY_BACKOFFLIMIT", "1"));

        assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("exits instead of hanging").isTrue();
        assertThat(process.exitValue()).isEqualTo(1);
        assertThat(Files.readString(dir.resolve("operator.log"))).contains("cannot start: Error starting operator");
    }

    private void awaitNodeState(Path dir) throws IOException {
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> cluster.nodeState("gpu-1").isPresent());
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("no VfioNodeState for gpu-1; operator log:\n" + Files.readString(dir.resolve("operator.log")), e);
        }
    }

    private static Path writeKubeconfig(Path dir, String server) throws IOException {
        return Files.writeString(dir.resolve("kubeconfig"), """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster: {server: "%s"}
                users:
                - name: admin
                  user: {token: "test"}
                contexts:
                - name: mock
                  context: {cluster: mock, user: admin}
                current-context: mock
                """.formatted(server));
    }

    private static HttpResponse<String> get(HttpClient http, int port, String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
