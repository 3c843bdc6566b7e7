package com.example.vfio.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.plugin.prometheus.Scrape;
import io.javaoperatorsdk.operator.api.monitoring.Metrics.ControllerExecution;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import java.util.Map;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;

/** What JOSDK's calls through {@link OperatorMetrics} count: started, then succeeded or failed, and the time. */
class OperatorMetricsTest {

    private static ControllerExecution<String> execution(String controller, Callable<String> work) {
        return new ControllerExecution<>() {
            @Override
            public String name() {
                return "reconcile";
            }

            @Override
            public String controllerName() {
                return controller;
            }

            @Override
            public String successTypeName(String result) {
                return "resource";
            }

            @Override
            public ResourceID resourceID() {
                return new ResourceID("gpu-1");
            }

            @Override
            public Map<String, Object> metadata() {
                return Map.of();
            }

            @Override
            public String execute() throws Exception {
                return work.call();
            }
        };
    }

    @Test
    void a_reconciliation_that_throws_is_counted_failed_and_timed_and_the_exception_goes_on_to_josdk() throws Exception {
        OperatorMetrics metrics = new OperatorMetrics();

        assertThat(metrics.timeControllerExecution(execution("planner", () -> "done"))).isEqualTo("done");
        IllegalStateException boom = new IllegalStateException("API server said 500");
        assertThatThrownBy(() -> metrics.timeControllerExecution(execution("planner", () -> {
            throw boom;
        }))).isSameAs(boom);

        Scrape scrape = Scrape.of(metrics.registry());
        assertThat(scrape.family("vfio_operator_reconciliations_started_total")
                .value("vfio_operator_reconciliations_started_total", "controller", "planner")).isEqualTo(2);
        assertThat(scrape.family("vfio_operator_reconciliations_succeeded_total")
                .value("vfio_operator_reconciliations_succeeded_total", "controller", "planner")).isEqualTo(1);
        assertThat(scrape.family("vfio_operator_reconciliations_failed_total")
                .value("vfio_operator_reconciliations_failed_total", "controller", "planner")).isEqualTo(1);
        Scrape.Family duration = scrape.family("vfio_operator_reconcile_duration_seconds");
        assertThat(duration.type()).isEqualTo("histogram");
        assertThat(duration.value("vfio_operator_reconcile_duration_seconds_count", "controller", "planner"))
                .isEqualTo(2);
    }

    @Test
    void two_operators_in_one_jvm_count_apart() throws Exception {
        OperatorMetrics one = new OperatorMetrics();
        OperatorMetrics two = new OperatorMetrics();

        one.timeControllerExecution(execution("planner", () -> "done"));

        assertThat(Scrape.of(one.registry()).families()).flatExtracting(Scrape.Family::samples)
                .anySatisfy(sample -> assertThat(sample.labels()).containsEntry("controller", "planner"));
        assertThat(Scrape.of(two.registry()).families()).flatExtracting(Scrape.Family::samples)
                .noneSatisfy(sample -> assertThat(sample.labels()).containsEntry("controller", "planner"));
    }
}
