package com.example.vfio.operator;

import com.example.vfio.api.VfioNodeState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class NodeStateLifecycleTest {
    private MockCluster cluster;

    @BeforeEach
    void start() {
        cluster = new MockCluster();
    }

    @AfterEach
    void stop() {
        cluster.close();
    }

    @Test
    void every_node_gets_a_node_state_owned_by_it_and_loses_it_with_the_node() {
        cluster.addNode("gpu-1", Map.of("gpu", "h100"));
        cluster.startOperator();
        cluster.addNode("gpu-2", Map.of());

        await().atMost(Duration.ofSeconds(20)).until(() -> cluster.nodeState("gpu-1").isPresent() && cluster.nodeState("gpu-2").isPresent());
        VfioNodeState state = cluster.nodeState("gpu-2").orElseThrow();
        assertThat(state.getMetadata().getOwnerReferences()).singleElement().satisfies(o -> {
            assertThat(o.getKind()).isEqualTo("Node");
            assertThat(o.getName()).isEqualTo("gpu-2");
            assertThat(o.getUid()).isEqualTo(cluster.client.nodes().withName("gpu-2").get().getMetadata().getUid());
        });
        assertThat(state.getSpec().getDevices()).isEmpty();

        cluster.deleteNode("gpu-2");
        await().atMost(Duration.ofSeconds(20)).until(() -> cluster.nodeState("gpu-2").isEmpty());
        assertThat(cluster.nodeState("gpu-1")).isPresent();
    }

    @Test
    void a_node_state_deleted_by_hand_comes_back_while_its_node_exists() {
        cluster.addNode("gpu-1", Map.of());
        cluster.startOperator();
        await().atMost(Duration.ofSeconds(20)).until(() -> cluster.nodeState("gpu-1").isPresent());

        cluster.client.resources(VfioNodeState.class).withName("gpu-1").delete();

        await().atMost(Duration.ofSeconds(20)).pollDelay(Duration.ofMillis(200)).until(() -> cluster.nodeState("gpu-1").isPresent());
    }
}
