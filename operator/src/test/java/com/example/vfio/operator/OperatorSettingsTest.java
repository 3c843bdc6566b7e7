package com.example.vfio.operator;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class OperatorSettingsTest {

    @Test
    void production_defaults_use_server_side_apply_without_leader_election() {
        OperatorSettings s = OperatorSettings.fromEnvironment(Map.of("HOSTNAME", "vfio-operator-5c7d"));

        assertThat(s.serverSideApply()).isTrue();
        assertThat(s.leaderElectionNamespace()).isNull();
        assertThat(s.identity()).isEqualTo("vfio-operator-5c7d");
        assertThat(s.healthPort()).isEqualTo(8080);
    }

    @Test
    void environment_switches_ssa_off_and_leader_election_on() {
        OperatorSettings s = OperatorSettings.fromEnvironment(Map.of("OPERATOR_SSA", "false", "LEADER_ELECTION_NAMESPACE", "vfio-system",
                "POD_NAME", "vfio-operator-0", "HOSTNAME", "ignored", "OPERATOR_THREADS", "8"));

        assertThat(s.serverSideApply()).isFalse();
        assertThat(s.leaderElectionNamespace()).isEqualTo("vfio-system");
        assertThat(s.identity()).isEqualTo("vfio-operator-0");
        assertThat(s.reconcileThreads()).isEqualTo(8);
    }

    @Test
    void malformed_values_name_the_variable() {
        assertThatThrownBy(() -> OperatorSettings.fromEnvironment(Map.of("HEALTH_PORT", "http")))
                .hasMessage("HEALTH_PORT=http is not a number");
    }

    @Test
    void readyz_answers_503_with_the_reason_until_ready_and_healthz_stays_200() throws Exception {
        AtomicReference<String> readiness = new AtomicReference<>("starting");
        try (HealthServer server = new HealthServer(0, () -> null, readiness::get, new PrometheusRegistry()).start()) {
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> notReady = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/readyz")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(notReady.statusCode()).isEqualTo(503);
            assertThat(notReady.body()).isEqualTo("starting\n");

            readiness.set(null);
            HttpResponse<String> ready = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/readyz")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(ready.statusCode()).isEqualTo(200);
        }
    }
}
