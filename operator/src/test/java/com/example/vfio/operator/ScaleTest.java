package com.example.vfio.operator;

import com.example.vfio.api.Companions;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicyStatus;
import com.example.vfio.api.VfioNodeState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static com.example.vfio.operator.Policies.policy;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** A fleet: every node state is planned and every policy rolled up without timeouts. */
class ScaleTest {
    private static final int NODES = 500;
    private static final Duration WAIT = Duration.ofMinutes(3);

    private MockCluster cluster;

    @AfterEach
    void stop() {
        cluster.close();
    }

    @Test
    void five_hundred_gpu_nodes_and_three_policies_converge_and_roll_up() {
        cluster = new MockCluster();
        List<FakeNodeAgent> agents = new ArrayList<>();
        for (int i = 0; i < NODES; i++) {
            String name = String.format("gpu-%03d", i);
            cluster.addNode(name, Map.of("gpu", "h100", "rack", "r" + (i % 20)));
            agents.add(new FakeNodeAgent(cluster.client, name)
                    .device("0000:05:00.0", "8086", "1533", "020000", "igb", "7")
                    .device("0000:41:00.0", "10de", "2342", "030200", "nouveau", "14")
                    .device("0000:41:00.1", "10de", "22bc", "040300", "snd_hda_intel", "14")
                    .device("0000:81:00.2", "15b3", "101e", "020000", "mlx5_core", "40")
                    .device("0000:c2:00.0", "144d", "a80a", "010802", "nvme", "52"));
        }
        cluster.startOperator();
        await().atMost(WAIT).until(() -> cluster.client.resources(VfioNodeState.class).list().getItems().size() == NODES);
        agents.forEach(FakeNodeAgent::sync);

        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(DeviceSelector.of().withVendors("10de").withClasses("03"))
                .resource("gpu").companions(Companions.Bind).build());
        cluster.apply(policy("nic-vfs").select(DeviceSelector.of().withVendors("15b3").withDevices("101e"))
                .driver("mlx5_vfio_pci").resource("nic").build());
        cluster.apply(policy("nvme").select(DeviceSelector.of().withClasses("0108")).driver("vfio-pci").resource("nvme").priority(5).build());

        await().atMost(WAIT).pollInterval(Duration.ofSeconds(1)).until(() -> cluster.client.resources(VfioNodeState.class).list().getItems()
                .stream().allMatch(s -> s.getSpec().getDevices().size() == 4));
        VfioNodeState sample = cluster.nodeState("gpu-042").orElseThrow();
        assertThat(sample.getSpec().getDevices()).extracting(DesiredDevice::getAddress)
                .containsExactly("0000:41:00.0", "0000:41:00.1", "0000:81:00.2", "0000:c2:00.0");

        agents.forEach(FakeNodeAgent::sync);

        for (String name : List.of("gpus", "nic-vfs", "nvme")) {
            await().atMost(WAIT).pollInterval(Duration.ofSeconds(1)).until(() -> cluster.policy(name).map(VfioBindingPolicy::getStatus)
                    .filter(s -> s.condition("Ready") != null && "True".equals(s.condition("Ready").getStatus())).isPresent());
            VfioBindingPolicyStatus status = cluster.policy(name).orElseThrow().getStatus();
            assertThat(status.getNodes()).isEqualTo("500/500");
            assertThat(status.getDevices()).isEqualTo("500/500");
        }
    }
}
