package com.example.vfio.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateStatus;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.List;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class NodeStatusPublisherTest {
    static final String NODE = "node-a";
    static final String STATUS_PATH = "/apis/vfio.example.com/v1alpha1/vfionodestates/" + NODE + "/status";

    MockApiServer api;
    KubernetesClient client;
    NodeStatusPublisher publisher;

    @BeforeEach
    void start() {
        api = new MockApiServer().start();
        client = api.newClient();
        VfioNodeState state = new VfioNodeState();
        state.setMetadata(new ObjectMetaBuilder().withName(NODE).build());
        api.admin().resource(state).create();
        publisher = new NodeStatusPublisher(client, NODE, Duration.ofMillis(50), Duration.ofMillis(200));
    }

    @AfterEach
    void stop() {
        publisher.close();
        client.close();
        api.close();
    }

    static ConditionFactory eventually() {
        return await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20)).pollDelay(Duration.ZERO);
    }

    @Test
    void a_status_that_differs_only_in_its_times_is_not_written_again() throws Exception {
        publisher.offer(status(SyncStatus.Succeeded, "2026-11-24T06:00:00Z"));
        eventually().until(() -> publisher.writes() == 1);
        api.takeRequests();

        publisher.offer(status(SyncStatus.Succeeded, "2026-11-24T06:05:00Z"));
        publisher.offer(status(SyncStatus.Failed, "2026-11-24T06:06:00Z"));
        eventually().until(() -> publisher.writes() == 2);

        assertThat(api.takeRequests()).filteredOn(r -> r.startsWith("PUT ")).containsExactly("PUT " + STATUS_PATH);
        VfioNodeState stored = api.admin().resources(VfioNodeState.class).withName(NODE).get();
        assertThat(stored.getStatus().getSyncStatus()).isEqualTo(SyncStatus.Failed);
        assertThat(stored.getStatus().getLastSyncTime()).isEqualTo("2026-11-24T06:06:00Z");
    }

    @Test
    void a_conflict_reads_the_object_again_and_writes_at_once() throws Exception {
        api.takeRequests();
        api.conflictOnNextStatusWrite(NODE);

        publisher.offer(status(SyncStatus.InProgress, "2026-11-24T06:00:00Z"));

        eventually().until(() -> publisher.writes() == 1);
        assertThat(api.takeRequests()).containsExactly("GET /apis/vfio.example.com/v1alpha1/vfionodestates/" + NODE,
                "PUT " + STATUS_PATH, "GET /apis/vfio.example.com/v1alpha1/vfionodestates/" + NODE,
                "PUT " + STATUS_PATH);
        assertThat(api.admin().resources(VfioNodeState.class).withName(NODE).get().getStatus().getSyncStatus())
                .isEqualTo(SyncStatus.InProgress);
    }

    private static VfioNodeStateStatus status(SyncStatus sync, String time) {
        VfioNodeStateStatus s = new VfioNodeStateStatus();
        s.setSyncStatus(sync);
        s.setLastSyncTime(time);
        s.setDeviceCount(3);
        s.setConditions(List.of(new Condition(time, "3 of 3 desired devices are in effect", 1L, "DevicesReady",
                sync == SyncStatus.Failed ? "False" : "True", "Ready")));
        return s;
    }
}
