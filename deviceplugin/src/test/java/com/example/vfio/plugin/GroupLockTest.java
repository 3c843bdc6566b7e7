package com.example.vfio.plugin;

import static com.example.vfio.plugin.Fixtures.GPU;
import static com.example.vfio.plugin.PluginFixture.eventually;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.plugin.prometheus.Scrape;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** IOMMU groups are never split between containers: the sibling lock, its release, and racing Allocates. */
class GroupLockTest {

    static final String GPU0 = "0000:41:00.0";
    static final String GPU1 = "0000:41:00.1";

    @TempDir
    Path tmp;

    private PluginFixture registered() throws Exception {
        PluginFixture f = new PluginFixture(tmp);
        f.kubelet.start();
        f.publish(f.gpus(false));
        eventually().until(() -> f.kubelet.devices(GPU).size() == 4);
        return f;
    }

    @Test
    void once_a_device_is_allocated_its_group_sibling_is_listed_unhealthy_and_refused() throws Exception {
        try (PluginFixture f = registered()) {
            f.kubelet.allocateToPod("vm-a", GPU, List.of(GPU0));

            eventually().until(() -> "Unhealthy".equals(f.kubelet.devices(GPU).get(GPU1)));
            assertThat(f.kubelet.devices(GPU)).containsEntry(GPU0, "Healthy").containsEntry("0000:c1:00.0", "Healthy");
            assertThat(f.plugin.manager().server("gpu").visible().device(GPU1).orElseThrow().reason())
                    .startsWith("held with 0000:41:00.0");
            assertThat(f.plugin.allocations().heldAddresses()).containsExactly(GPU0);
            assertThatThrownBy(() -> f.kubelet.allocateToPod("vm-b", GPU, List.of(GPU1)))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
                        assertThat(e.getStatus().getDescription()).contains(GPU1).contains("held with " + GPU0);
                    });
        }
    }

    @Test
    void the_lock_is_released_when_pod_resources_shows_no_pod_holds_the_group() throws Exception {
        try (PluginFixture f = registered()) {
            f.kubelet.allocateToPod("vm-a", GPU, List.of(GPU0));
            eventually().until(() -> "Unhealthy".equals(f.kubelet.devices(GPU).get(GPU1)));
            f.clock.advance(PluginFixture.GRACE.plus(Duration.ofSeconds(1)));

            f.plugin.recheckHolds(); // the pod still runs
            assertThat(f.plugin.allocations().holds()).containsKey("14");

            f.podResources.remove("vm-a");
            f.plugin.recheckHolds();

            assertThat(f.plugin.allocations().holds()).isEmpty();
            eventually().until(() -> "Healthy".equals(f.kubelet.devices(GPU).get(GPU1)));
            f.kubelet.allocateToPod("vm-b", GPU, List.of(GPU1));
        }
    }

    @Test
    void a_refused_allocate_asks_pod_resources_at_once_and_succeeds_when_the_holder_is_gone() throws Exception {
        try (PluginFixture f = registered()) {
            f.kubelet.allocateToPod("vm-a", GPU, List.of(GPU0));
            f.podResources.remove("vm-a");
            f.clock.advance(PluginFixture.GRACE.plus(Duration.ofSeconds(1)));

            f.kubelet.allocateToPod("vm-b", GPU, List.of(GPU1));

            assertThat(f.plugin.allocations().holds().get("14").units()).containsExactly(GPU1);
        }
    }

    @Test
    void a_fresh_allocation_is_not_released_before_the_kubelet_could_record_it() throws Exception {
        try (PluginFixture f = registered()) {
            f.kubelet.allocate(GPU, List.of(GPU0)); // not (yet) visible in PodResources
            f.plugin.recheckHolds();
            assertThat(f.plugin.allocations().holds()).containsKey("14");
        }
    }

    @Test
    void while_pod_resources_is_unreachable_the_lock_is_kept_and_the_metrics_say_so() throws Exception {
        try (PluginFixture f = registered()) {
            f.kubelet.allocateToPod("vm-a", GPU, List.of(GPU0));
            f.podResources.remove("vm-a");
            f.podResources.stop();
            f.clock.advance(PluginFixture.GRACE.plus(Duration.ofSeconds(1)));

            f.plugin.recheckHolds();

            assertThat(f.plugin.allocations().holds()).containsKey("14");
            assertThat(f.plugin.allocations().podResourcesReachable()).isFalse();
            assertThat(Scrape.of(f.metrics.registry()).family("vfio_podresources_up").value("vfio_podresources_up"))
                    .isEqualTo(0);
            assertThat(f.metrics.count("podresources")).isPositive();
            // the kubelet learns of the lock through the ListAndWatch stream, not at once
            eventually().untilAsserted(() -> assertThat(f.kubelet.devices(GPU)).containsEntry(GPU1, "Unhealthy"));

            f.podResources.start();
            f.plugin.recheckHolds();
            assertThat(f.plugin.allocations().holds()).isEmpty();
            assertThat(Scrape.of(f.metrics.registry()).family("vfio_podresources_up").value("vfio_podresources_up"))
                    .isEqualTo(1);
        }
    }

    @Test
    void concurrent_allocates_racing_for_group_siblings_have_exactly_one_winner() throws Exception {
        try (PluginFixture f = registered()) {
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                for (int round = 0; round < 20; round++) {
                    CountDownLatch go = new CountDownLatch(1);
                    List<Future<Boolean>> results = new ArrayList<>();
                    for (String id : List.of(GPU0, GPU1)) {
                        String pod = "vm-" + round + "-" + id;
                        results.add(pool.submit(() -> {
                            go.await();
                            try {
                                f.kubelet.allocateToPod(pod, GPU, List.of(id));
                                return true;
                            } catch (StatusRuntimeException e) {
                                return false;
                            }
                        }));
                    }
                    go.countDown();
                    int winners = 0;
                    for (Future<Boolean> r : results) {
                        winners += r.get() ? 1 : 0;
                    }
                    assertThat(winners).as("winners of round %d", round).isEqualTo(1);
                    assertThat(f.plugin.allocations().holds().get("14").units()).hasSize(1);

                    // both pods end; the lock goes once PodResources shows it
                    f.podResources.remove("vm-" + round + "-" + GPU0);
                    f.podResources.remove("vm-" + round + "-" + GPU1);
                    f.clock.advance(PluginFixture.GRACE.plus(Duration.ofSeconds(1)));
                    f.plugin.recheckHolds();
                    assertThat(f.plugin.allocations().holds()).isEmpty();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void with_pod_resources_down_from_the_start_the_kubelet_is_still_served_and_siblings_stay_locked()
            throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.podResources.stop();
            f.kubelet.start();
            f.publish(f.gpus(false));
            eventually().until(() -> f.kubelet.devices(GPU).size() == 4);

            f.kubelet.allocate(GPU, List.of(GPU0));
            f.clock.advance(PluginFixture.GRACE.plus(Duration.ofSeconds(1)));

            assertThatThrownBy(() -> f.kubelet.allocate(GPU, List.of(GPU1)))
                    .hasMessageContaining("held with " + GPU0);
            assertThat(f.plugin.allocations().podResourcesReachable()).isFalse();
            assertThat(f.kubelet.allocate(GPU, List.of("0000:c1:00.0")).getContainerResponsesCount()).isEqualTo(1);
        }
    }

    @Test
    void after_a_daemon_restart_the_groups_of_running_pods_are_locked_again() throws Exception {
        try (PluginFixture f = new PluginFixture(tmp)) {
            f.podResources.assign("vm-from-before", GPU, List.of(GPU0)); // allocated by the previous daemon
            f.kubelet.start();
            f.publish(f.gpus(false));

            eventually().until(() -> "Unhealthy".equals(f.kubelet.devices(GPU).get(GPU1)));
            assertThat(f.plugin.allocations().heldAddresses()).containsExactly(GPU0);
            assertThatThrownBy(() -> f.kubelet.allocate(GPU, List.of(GPU1))).hasMessageContaining("held with " + GPU0);

            f.podResources.remove("vm-from-before");
            f.clock.advance(PluginFixture.GRACE.plus(Duration.ofSeconds(1)));
            f.plugin.recheckHolds();
            eventually().until(() -> "Healthy".equals(f.kubelet.devices(GPU).get(GPU1)));
        }
    }
}
