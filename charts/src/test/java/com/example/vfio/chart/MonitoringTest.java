package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MonitoringTest {

    private static final String MONITORING = "monitoring.coreos.com/v1";

    @SuppressWarnings("unchecked")
    private static <T> T field(GenericKubernetesResource resource, String... path) {
        Object value = resource.getAdditionalProperties();
        for (String key : path) {
            assertThat(value).as("%s has %s", resource.getKind(), String.join(".", path)).isInstanceOf(Map.class);
            value = ((Map<String, Object>) value).get(key);
        }
        return (T) value;
    }

    private static Map<String, String> podLabels(RenderedChart chart) {
        return chart.one(DaemonSet.class).getSpec().getTemplate().getMetadata().getLabels();
    }

    @Test
    void noMonitorsOrMetricsServiceByDefault() {
        RenderedChart chart = ChartUnderTest.render().objects();

        assertThat(chart.generic(MONITORING, "PodMonitor")).isEmpty();
        assertThat(chart.generic(MONITORING, "ServiceMonitor")).isEmpty();
        assertThat(chart.all(Service.class)).isEmpty();
    }

    @Test
    void podMonitorScrapesTheNodeAgentsMetricsPortAndCarriesTheLabelsPrometheusSelects() {
        RenderedChart chart = ChartUnderTest.render().set("metrics.podMonitor.enabled", true)
                .set("metrics.podMonitor.labels.release", "kube-prometheus-stack").objects();

        assertThat(chart.generic(MONITORING, "PodMonitor")).singleElement().satisfies(monitor -> {
            assertThat(monitor.getMetadata().getNamespace()).isEqualTo(ChartUnderTest.NAMESPACE);
            assertThat(monitor.getMetadata().getLabels()).containsEntry("release", "kube-prometheus-stack");
            Map<String, String> selector = field(monitor, "spec", "selector", "matchLabels");
            assertThat(podLabels(chart)).containsAllEntriesOf(selector);
            assertThat(selector).containsEntry("app.kubernetes.io/component", "node");
            List<Map<String, Object>> endpoints = field(monitor, "spec", "podMetricsEndpoints");
            assertThat(endpoints).singleElement().satisfies(endpoint -> {
                assertThat(endpoint).containsEntry("port", "metrics").containsEntry("path", "/metrics");
                assertThat(endpoint).containsEntry("interval", "30s");
            });
        });
        // A PodMonitor needs no Service in front of the pods.
        assertThat(chart.all(Service.class)).isEmpty();
    }

    @Test
    void serviceMonitorComesWithAHeadlessServiceInFrontOfTheNodeAgents() {
        RenderedChart chart = ChartUnderTest.render().set("metrics.serviceMonitor.enabled", true)
                .set("metrics.serviceMonitor.interval", "1m").set("node.metricsPort", 19400).objects();

        Service service = chart.one(Service.class);
        assertThat(service.getSpec().getClusterIP()).isEqualTo("None");
        assertThat(podLabels(chart)).containsAllEntriesOf(service.getSpec().getSelector());
        assertThat(service.getSpec().getPorts()).singleElement().satisfies(port -> {
            assertThat(port.getName()).isEqualTo("metrics");
            assertThat(port.getPort()).isEqualTo(19400);
            assertThat(port.getTargetPort().getStrVal()).isEqualTo("metrics");
        });

        assertThat(chart.generic(MONITORING, "ServiceMonitor")).singleElement().satisfies(monitor -> {
            Map<String, String> selector = field(monitor, "spec", "selector", "matchLabels");
            assertThat(service.getMetadata().getLabels()).containsAllEntriesOf(selector);
            List<Map<String, Object>> endpoints = field(monitor, "spec", "endpoints");
            assertThat(endpoints).singleElement().satisfies(endpoint ->
                    assertThat(endpoint).containsEntry("port", "metrics").containsEntry("interval", "1m"));
        });
    }
}
