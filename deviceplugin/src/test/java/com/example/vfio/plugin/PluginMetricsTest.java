package com.example.vfio.plugin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.vfio.plugin.prometheus.Scrape;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The cost and the isolation of the daemon's metrics. */
class PluginMetricsTest {

    @Test
    void jvm_metrics_run_no_thread_of_their_own_even_after_a_gc() {
        PluginMetrics metrics = new PluginMetrics().withJvmMetrics();
        metrics.rescan(1_000_000);
        metrics.allocateTook("vfio.example.com/gpu", 1_000_000);

        System.gc();
        // the allocation counter is bumped from the GC's notification; with exemplars on, that started a thread
        await().atMost(Duration.ofSeconds(10)).until(() -> Scrape.of(metrics.registry())
                .family("jvm_memory_pool_allocated_bytes_total").samples().stream().anyMatch(s -> s.value() > 0));
        Scrape.of(metrics.registry());

        assertThat(Thread.getAllStackTraces().keySet()).extracting(Thread::getName)
                .noneMatch(name -> name.startsWith("prometheus-"));
    }

    @Test
    void two_daemons_in_one_jvm_never_share_a_series() {
        PluginMetrics one = new PluginMetrics();
        PluginMetrics two = new PluginMetrics();

        one.allocation("vfio.example.com/gpu");
        one.error("register");

        assertThat(Scrape.of(one.registry()).family("vfio_allocations_total")
                .value("vfio_allocations_total", "resource", "vfio.example.com/gpu")).isEqualTo(1);
        assertThat(Scrape.of(two.registry()).names()).as("a family without series is not written")
                .doesNotContain("vfio_allocations_total");
        assertThat(one.count("register")).isEqualTo(1);
        assertThat(two.count("register")).isZero();
    }
}
