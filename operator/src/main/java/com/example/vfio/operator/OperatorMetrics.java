package com.example.vfio.operator;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.javaoperatorsdk.operator.processing.Controller;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;

/**
 * The operator's metrics and the one owner of its Prometheus registry (one per operator, so that operators sharing
 * a JVM in the tests never share a series); {@link HealthServer} serves it on {@code /metrics}. JOSDK reports
 * through its {@link Metrics} interface: every reconcile and cleanup of each controller passes through
 * {@link #timeControllerExecution}, which counts it as started and then as succeeded or failed, and times it.
 * A new metric is one field made like the ones below.
 */
public final class OperatorMetrics implements Metrics {

    /** A reconcile is a few API calls: milliseconds, seconds when the API server is slow. */
    static final double[] RECONCILE_SECONDS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
        30};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Counter started = counter("vfio_operator_reconciliations_started_total",
            "Reconciliations (reconcile or cleanup) started, by controller.");
    private final Counter succeeded = counter("vfio_operator_reconciliations_succeeded_total",
            "Reconciliations that returned, by controller.");
    private final Counter failed = counter("vfio_operator_reconciliations_failed_total",
            "Reconciliations that threw (retried with backoff), by controller.");
    private final Histogram duration = Histogram.builder().name("vfio_operator_reconcile_duration_seconds")
            .help("Time of one reconciliation, by controller.").unit(Unit.SECONDS).labelNames("controller")
            .classicOnly().classicUpperBounds(RECONCILE_SECONDS).register(registry);

    /** Adds the JVM's and the process's own metrics; once, by the process's entry point. */
    public OperatorMetrics withJvmMetrics() {
        JvmMetrics.builder().register(registry);
        return this;
    }

    public PrometheusRegistry registry() {
        return registry;
    }

    private Counter counter(String name, String help) {
        return Counter.builder().name(name).help(help).labelNames("controller").register(registry);
    }

    /** Each controller's series exist from its start, at 0, so that rates and alerts see the first failure. */
    @Override
    public void controllerRegistered(Controller<? extends HasMetadata> controller) {
        String name = controller.getConfiguration().getName();
        started.initLabelValues(name);
        succeeded.initLabelValues(name);
        failed.initLabelValues(name);
        duration.initLabelValues(name);
    }

    @Override
    public <T> T timeControllerExecution(ControllerExecution<T> execution) throws Exception {
        String controller = execution.controllerName();
        started.labelValues(controller).inc();
        long t0 = System.nanoTime();
        boolean returned = false;
        try {
            T result = execution.execute();
            returned = true;
            return result;
        } finally {
            duration.labelValues(controller).observe(Unit.nanosToSeconds(System.nanoTime() - t0));
            (returned ? succeeded : failed).labelValues(controller).inc();
        }
    }
}
