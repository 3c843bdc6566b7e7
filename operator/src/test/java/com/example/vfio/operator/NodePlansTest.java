package com.example.vfio.operator;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.InventoryDevice;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.planning.NodePlan;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;

import static com.example.vfio.operator.Policies.policy;
import static org.assertj.core.api.Assertions.assertThat;

/** The roll-ups' node plans: computed again exactly when the node's labels, its report or the policies changed. */
class NodePlansTest {
    private static final Map<String, String> H100 = Map.of("gpu", "h100");
    private final NodePlans plans = new NodePlans();

    private static VfioBindingPolicy gpus(String resource) {
        return policy("gpus").onNodes("gpu", "h100").select(DeviceSelector.of().withVendors("10de")).resource(resource).build();
    }

    private static VfioBindingPolicy nics() {
        return policy("nics").select(DeviceSelector.of().withVendors("15b3")).resource("nic").build();
    }

    /** A node state as the informer holds it: the agent's inventory, at {@code resourceVersion}. */
    private static NodeObservation node(Map<String, String> labels, String resourceVersion, InventoryDevice... devices) {
        VfioNodeState state = new VfioNodeState();
        state.setMetadata(new ObjectMetaBuilder().withName("gpu-1").withResourceVersion(resourceVersion).build());
        state.setStatus(new VfioNodeStateStatus());
        state.getStatus().setDevices(List.of(devices));
        return new NodeObservation("gpu-1", labels, state);
    }

    private static InventoryDevice gpu() {
        return new InventoryDevice("0000:41:00.0", "10de", "2342", "030200", "nouveau", "14");
    }

    private static InventoryDevice nic() {
        return new InventoryDevice("0000:81:00.2", "15b3", "101e", "020000", "mlx5_core", "40");
    }

    private static List<String> addresses(NodePlan plan) {
        return plan.devices().stream().map(DesiredDevice::getAddress).toList();
    }

    @Test
    void an_unchanged_node_under_unchanged_policies_is_not_planned_again() {
        NodePlan first = plans.under(List.of(gpus("gpu"), nics())).apply(node(H100, "7", gpu(), nic()));

        NodePlan again = plans.under(List.of(nics(), gpus("gpu"))).apply(node(H100, "7", gpu(), nic()));

        assertThat(again).as("same inputs, policies in another order").isSameAs(first);
        assertThat(addresses(first)).containsExactly("0000:41:00.0", "0000:81:00.2");
    }

    @Test
    void a_new_report_of_the_node_is_planned_again() {
        plans.under(List.of(gpus("gpu"), nics())).apply(node(H100, "7", gpu()));

        NodePlan plan = plans.under(List.of(gpus("gpu"), nics())).apply(node(H100, "8", gpu(), nic()));

        assertThat(addresses(plan)).containsExactly("0000:41:00.0", "0000:81:00.2");
    }

    @Test
    void a_policy_change_is_planned_again() {
        plans.under(List.of(gpus("gpu"), nics())).apply(node(H100, "7", gpu()));

        NodePlan plan = plans.under(List.of(gpus("h100"), nics())).apply(node(H100, "7", gpu()));

        assertThat(plan.devices()).extracting(DesiredDevice::getResourceName).containsExactly("h100");
    }

    @Test
    void a_relabelled_node_is_planned_again() {
        plans.under(List.of(gpus("gpu"))).apply(node(H100, "7", gpu()));

        NodePlan plan = plans.under(List.of(gpus("gpu"))).apply(node(Map.of("gpu", "a100"), "7", gpu()));

        assertThat(plan.devices()).isEmpty();
    }

    @Test
    void a_deleted_node_is_forgotten_and_a_node_state_without_resource_version_never_kept() {
        NodePlan first = plans.under(List.of(gpus("gpu"))).apply(node(H100, "7", gpu()));
        plans.retain(Set.of("gpu-2"));

        assertThat(plans.under(List.of(gpus("gpu"))).apply(node(H100, "7", gpu()))).isNotSameAs(first).isEqualTo(first);
        NodePlan unversioned = plans.under(List.of(gpus("gpu"))).apply(node(H100, null, gpu()));
        assertThat(plans.under(List.of(gpus("gpu"))).apply(node(H100, null, gpu(), nic()))).isNotSameAs(unversioned);
    }
}
