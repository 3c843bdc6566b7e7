package com.example.vfio.operator;

import com.example.vfio.api.DeviceProblem;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.InventoryDevice;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.planning.DeviceFacts;
import com.example.vfio.planning.NodePlanner;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static com.example.vfio.operator.Policies.policy;
import static org.assertj.core.api.Assertions.assertThat;

/** Status roll-up from node reports, without an API server. */
class PolicyRollupTest {
    private static final Map<String, String> LABELS = Map.of("gpu", "h100");

    private static VfioBindingPolicy gpus() {
        VfioBindingPolicy p = policy("gpus").select(DeviceSelector.of().withVendors("10de").withClasses("0302")).resource("gpu").build();
        p.getMetadata().setGeneration(3L);
        return p;
    }

    /**
     * A node whose agent reported {@code gpu}, with {@code reasons} for it in {@code problems} (and acted on the spec
     * the planner gives, when {@code applied}).
     */
    private static NodeObservation node(String name, VfioBindingPolicy policy, InventoryDevice gpu, boolean applied, long observed,
                                        String... reasons) {
        VfioNodeState state = new VfioNodeState();
        state.setMetadata(new ObjectMetaBuilder().withName(name).withGeneration(2L).build());
        VfioNodeStateStatus status = new VfioNodeStateStatus();
        status.setDevices(List.of(gpu));
        if (reasons.length > 0) {
            status.setProblems(List.of(new DeviceProblem(gpu.getAddress(), List.of(reasons))));
        }
        status.setObservedGeneration(observed);
        status.setSyncStatus(SyncStatus.Succeeded);
        state.setStatus(status);
        if (applied) {
            state.setSpec(NodePlanner.plan(name, LABELS, List.of(DeviceFacts.from(gpu)), List.of(policy)).toSpec());
        }
        return new NodeObservation(name, LABELS, state);
    }

    private static InventoryDevice gpu(String driver, boolean vfio, boolean viable, String resource) {
        InventoryDevice d = new InventoryDevice("0000:41:00.0", "10de", "2342", "030200", driver, "14");
        d.setVfio(vfio);
        d.setViable(viable);
        d.setResource(resource);
        if (vfio) {
            d.setHostDriver("nouveau");
        }
        return d;
    }

    @Test
    void a_gpu_on_vfio_whose_group_is_not_viable_fails_with_the_nodes_reasons() {
        VfioBindingPolicy p = gpus();
        PolicyRollup r = PolicyRollup.compute(p, List.of(p), List.of(
                node("gpu-1", p, gpu("vfio-pci", true, true, "gpu"), true, 2),
                node("gpu-2", p, gpu("vfio-pci", true, false, null), true, 2,
                        "group 14 also holds 0000:41:00.1 on snd_hda_intel")));

        assertThat(r.matchedNodes()).isEqualTo(2);
        assertThat(r.readyNodes()).isEqualTo(1);
        assertThat(r.failing()).singleElement().satisfies(f -> {
            assertThat(f.getNode()).isEqualTo("gpu-2");
            assertThat(f.getMessage()).isEqualTo("0000:41:00.0: on vfio-pci but not viable (group 14 also holds 0000:41:00.1 on snd_hda_intel)");
        });
        assertThat(r.toStatus(p).condition("Degraded").getStatus()).isEqualTo("True");
        assertThat(r.toStatus(p).getObservedGeneration()).isEqualTo(3L);
    }

    @Test
    void a_node_that_has_not_acted_on_the_new_spec_is_progressing_not_failing() {
        VfioBindingPolicy p = gpus();
        PolicyRollup notWritten = PolicyRollup.compute(p, List.of(p), List.of(node("gpu-1", p, gpu("nouveau", false, false, null), false, 0)));
        PolicyRollup notObserved = PolicyRollup.compute(p, List.of(p), List.of(node("gpu-1", p, gpu("nouveau", false, false, null), true, 1)));

        for (PolicyRollup r : List.of(notWritten, notObserved)) {
            assertThat(r.failing()).isEmpty();
            assertThat(r.pendingNodes()).containsExactly("gpu-1");
            assertThat(r.toStatus(p).condition("Progressing").getStatus()).isEqualTo("True");
            assertThat(r.toStatus(p).condition("Ready").getReason()).isEqualTo("InProgress");
        }
    }

    @Test
    void a_node_without_an_inventory_report_is_not_counted() {
        VfioBindingPolicy p = gpus();
        VfioNodeState empty = new VfioNodeState();
        empty.setMetadata(new ObjectMetaBuilder().withName("gpu-9").build());

        PolicyRollup r = PolicyRollup.compute(p, List.of(p), List.of(new NodeObservation("gpu-9", LABELS, empty),
                new NodeObservation("gpu-10", LABELS, null)));

        assertThat(r.matchedNodes()).isZero();
        assertThat(r.toStatus(p).condition("Ready").getReason()).isEqualTo("NoMatchingDevices");
    }

    @Test
    void unmanaged_policy_fails_on_a_device_left_on_its_host_driver() {
        VfioBindingPolicy p = gpus();
        p.getSpec().setManaged(false);
        PolicyRollup r = PolicyRollup.compute(p, List.of(p), List.of(node("gpu-1", p, gpu("nouveau", false, false, null), true, 2)));

        assertThat(r.failing()).singleElement().extracting(f -> f.getMessage())
                .isEqualTo("0000:41:00.0: on nouveau, not a VFIO driver, and the policy is managed: false");
    }

    @Test
    void unmanaged_host_policy_fails_on_a_device_left_on_vfio_and_is_ready_once_it_is_back() {
        VfioBindingPolicy p = gpus();
        p.getSpec().setDriver("host");
        p.getSpec().setManaged(false);
        PolicyRollup stillOnVfio = PolicyRollup.compute(p, List.of(p), List.of(node("gpu-1", p, gpu("vfio-pci", true, true, null), true, 2)));
        PolicyRollup back = PolicyRollup.compute(p, List.of(p), List.of(node("gpu-1", p, gpu("nouveau", false, false, null), true, 2)));

        assertThat(stillOnVfio.failing()).singleElement().extracting(f -> f.getMessage())
                .isEqualTo("0000:41:00.0: on vfio-pci, a VFIO driver, and the policy is managed: false (give it back by hand,"
                        + " or set managed: true)");
        assertThat(back.failing()).isEmpty();
        assertThat(back.readyNodes()).isEqualTo(1);
    }

    @Test
    void a_deleting_policy_is_released_only_when_its_gpu_left_vfio() {
        VfioBindingPolicy p = gpus();
        p.getMetadata().setDeletionTimestamp("2026-01-01T00:00:00Z");

        PolicyRollup stillBound = PolicyRollup.compute(p, List.of(p), List.of(node("gpu-1", p, gpu("vfio-pci", true, true, "gpu"), true, 2)));
        PolicyRollup returned = PolicyRollup.compute(p, List.of(p), List.of(node("gpu-1", p, gpu("nouveau", false, false, null), true, 2)));

        assertThat(stillBound.released()).isFalse();
        assertThat(stillBound.releasing()).containsExactly("gpu-1");
        assertThat(stillBound.toStatus(p).condition("Ready").getMessage()).isEqualTo("returning devices to their host drivers on gpu-1");
        assertThat(returned.released()).isTrue();
    }
}
