package com.example.vfio.operator;

import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

class LeaderElectionTest {
    private MockCluster cluster;

    @AfterEach
    void stop() {
        cluster.close();
    }

    @Test
    void a_standby_replica_does_nothing_while_another_holds_the_lease_and_takes_over_when_it_expires() {
        cluster = new MockCluster();
        cluster.addNode("gpu-1", Map.of());
        ZonedDateTime now = ZonedDateTime.now();
        cluster.client.resource(new LeaseBuilder().withNewMetadata().withName("vfio-operator").withNamespace("vfio-system").endMetadata()
                .withNewSpec().withHolderIdentity("vfio-operator-old").withLeaseDurationSeconds(6)
                .withAcquireTime(now).withRenewTime(now).withLeaseTransitions(0).endSpec().build()).create();

        cluster.startOperator(OperatorSettings.fromEnvironment(Map.of("OPERATOR_SSA", "false", "HEALTH_PORT", "-1",
                "LEADER_ELECTION_NAMESPACE", "vfio-system", "POD_NAME", "vfio-operator-new")));

        await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(5)).until(() -> cluster.nodeState("gpu-1").isEmpty());
        await().atMost(Duration.ofSeconds(30)).until(() -> cluster.nodeState("gpu-1").isPresent());
        assertThat(cluster.client.leases().inNamespace("vfio-system").withName("vfio-operator").get().getSpec().getHolderIdentity())
                .isEqualTo("vfio-operator-new");
    }

    @Test
    void a_replica_that_loses_its_lease_stops_reconciling_and_joins_the_election_again_without_exiting() {
        cluster = new MockCluster();
        cluster.addNode("gpu-1", Map.of());
        cluster.startOperator(OperatorSettings.fromEnvironment(Map.of("OPERATOR_SSA", "false", "HEALTH_PORT", "-1",
                "LEADER_ELECTION_NAMESPACE", "vfio-system", "POD_NAME", "vfio-operator-new")));
        await().atMost(Duration.ofSeconds(30)).until(() -> cluster.nodeState("gpu-1").isPresent());

        // another replica holds the lease past this one's renew deadline (10 s), as when this one was cut off
        long until = System.nanoTime() + Duration.ofSeconds(14).toNanos();
        while (System.nanoTime() < until) {
            ZonedDateTime now = ZonedDateTime.now();
            cluster.client.leases().inNamespace("vfio-system").withName("vfio-operator").edit(l -> {
                l.getSpec().setHolderIdentity("vfio-operator-other");
                l.getSpec().setLeaseDurationSeconds(6);
                l.getSpec().setRenewTime(now);
                return l;
            });
            await().pollDelay(Duration.ofSeconds(1)).until(() -> true);
        }
        assertThat(cluster.operator().term()).as("the lost term ended").isEqualTo(2);
        cluster.addNode("gpu-2", Map.of());
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(4)).until(() -> cluster.nodeState("gpu-2").isEmpty());

        // the other's lease expires: the new term takes it and works
        await().atMost(Duration.ofSeconds(30)).until(() -> cluster.nodeState("gpu-2").isPresent());
        assertThat(cluster.client.leases().inNamespace("vfio-system").withName("vfio-operator").get().getSpec().getHolderIdentity())
                .isEqualTo("vfio-operator-new");
        assertThat(cluster.operator().readinessProblem()).isNull();
    }
}
