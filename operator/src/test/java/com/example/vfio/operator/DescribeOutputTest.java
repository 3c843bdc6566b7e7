package com.example.vfio.operator;

import com.example.vfio.api.Companions;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioNodeState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static com.example.vfio.operator.Policies.policy;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What an admin sees with {@code kubectl describe vbp} and {@code kubectl describe vns} when a policy is only partly
 * in effect: printed from the objects the operator and the node agent wrote.
 */
class DescribeOutputTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private MockCluster cluster;

    @AfterEach
    void stop() {
        cluster.close();
    }

    @Test
    void describe_shows_which_nodes_and_devices_are_not_in_effect_and_why() {
        cluster = new MockCluster();
        cluster.addNode("gpu-1", Map.of("gpu", "h100"));
        cluster.addNode("gpu-2", Map.of("gpu", "h100"));
        cluster.startOperator();
        FakeNodeAgent gpu1 = agent("gpu-1");
        FakeNodeAgent gpu2 = agent("gpu-2").refuse("0000:41:00.0", "boot VGA device (the console runs on it); set force: true to bind it anyway");
        await().atMost(WAIT).until(() -> cluster.nodeState("gpu-1").isPresent() && cluster.nodeState("gpu-2").isPresent());
        gpu1.sync();
        gpu2.sync();

        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(DeviceSelector.of().withVendors("10de").withClasses("0302"))
                .resource("gpu").companions(Companions.Bind).build());
        cluster.apply(policy("nic-vfio").select(DeviceSelector.of().withVendors("15b3")).driver("vfio-pci").resource("nic").build());
        cluster.apply(policy("nic-variant").select(DeviceSelector.of().withAddresses("0000:81:00.2")).driver("mlx5_vfio_pci").resource("nic").build());
        await().atMost(WAIT).until(() -> cluster.nodeState("gpu-2").orElseThrow().getSpec().getDevices().size() == 2);
        gpu1.sync();
        gpu2.sync();
        await().atMost(WAIT).until(() -> cluster.policy("gpus").map(p -> p.getStatus()).filter(s -> "1/2".equals(s.getNodes())
                && s.condition("Degraded") != null && "True".equals(s.condition("Degraded").getStatus())).isPresent());
        await().atMost(WAIT).until(() -> cluster.eventsAbout("nic-variant").stream().anyMatch(e -> e.getReason().equals("Conflict")));

        VfioBindingPolicy gpus = cluster.policy("gpus").orElseThrow();
        String policyText = Describe.of(gpus, cluster.eventsAbout("gpus"));
        String conflictText = Describe.of(cluster.policy("nic-variant").orElseThrow(), cluster.eventsAbout("nic-variant"));
        VfioNodeState node = cluster.nodeState("gpu-2").orElseThrow();
        String nodeText = Describe.of(node, cluster.eventsAbout("gpu-2"));
        System.out.println("$ kubectl describe vbp gpus\n" + policyText);
        System.out.println("$ kubectl describe vbp nic-variant\n" + conflictText);
        System.out.println("$ kubectl describe vns gpu-2\n" + nodeText);

        assertThat(policyText)
                .contains("Kind:        VfioBindingPolicy")
                .contains("Nodes:  1/2")
                .contains("Devices:  1/2")
                .contains("Message:  1/2 nodes ready; not in effect on gpu-2")
                .contains("Node:  gpu-2")
                .contains("Message:  0000:41:00.0: Refused binding vfio-pci: boot VGA device (the console runs on it); set force: true to bind it anyway")
                .containsPattern("Warning +NodesFailing +vfio-operator +1 node\\(s\\) failing: gpu-2: 0000:41:00.0: Refused");
        assertThat(conflictText)
                .contains("Reason:  EqualPriorityConflict")
                .contains("0000:81:00.2 on gpu-1: nic-variant wants mlx5_vfio_pci as nic, nic-vfio wants vfio-pci as nic")
                .containsPattern("Warning +Conflict +vfio-operator +devices left as they are: 0000:81:00.2 on gpu-1");
        assertThat(nodeText)
                .contains("Address:  0000:41:00.0", "Driver:  auto", "Resource Name:  gpu", "Policy:  gpus")
                .contains("Companion Of:  0000:41:00.0")
                .contains("Sync Status:  Failed")
                .contains("Last Sync Error:  0000:41:00.0: boot VGA device")
                .contains("State:  Refused")
                .contains("Reasons:\n      on host driver nouveau");
    }

    private FakeNodeAgent agent(String node) {
        return new FakeNodeAgent(cluster.client, node)
                .device("0000:41:00.0", "10de", "2342", "030200", "nouveau", "14")
                .device("0000:41:00.1", "10de", "22bc", "040300", "snd_hda_intel", "14")
                .device("0000:81:00.2", "15b3", "101e", "020000", "mlx5_core", "40");
    }
}
