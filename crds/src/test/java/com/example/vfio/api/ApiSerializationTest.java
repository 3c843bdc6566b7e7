package com.example.vfio.api;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class ApiSerializationTest {

    @Test
    void node_state_round_trips_with_one_line_per_device_and_defaults_left_out_of_the_spec() {
        VfioNodeState state = new VfioNodeState();
        state.setMetadata(new ObjectMetaBuilder().withName("gpu-1").build());
        state.getSpec().setDevices(List.of(new DesiredDevice("0000:41:00.0", "auto", "gpu", "gpus", AllocationUnit.Device, true, false, null)));
        VfioNodeStateStatus status = new VfioNodeStateStatus();
        InventoryDevice gpu = new InventoryDevice("0000:41:00.0", "10de", "2342", "030200", "vfio-pci", "14");
        gpu.setVfio(true);
        gpu.setViable(true);
        gpu.setHostDriver("nouveau");
        status.setDevices(List.of(gpu));
        status.setProblems(List.of(new DeviceProblem("0000:41:00.0", List.of("no /dev/vfio/14"))));
        status.setSyncStatus(SyncStatus.Succeeded);
        state.setStatus(status);

        String json = Serialization.asJson(state);

        assertThat(json).contains("\"apiVersion\":\"vfio.example.com/v1alpha1\"", "\"kind\":\"VfioNodeState\"",
                "\"devices\":[\"0000:41:00.0 10de:2342 030200 vfio-pci vfio viable group=14 host=nouveau\"]",
                "\"problems\":[{\"address\":\"0000:41:00.0\",\"reasons\":[\"no /dev/vfio/14\"]}]",
                "\"syncStatus\":\"Succeeded\"");
        assertThat(json).doesNotContain("\"bindResults\"", "\"conditions\"", "classCode", "effective", "\"companion\"",
                "allocationUnit", "managed", "force");
        VfioNodeState back = Serialization.unmarshal(json, VfioNodeState.class);
        assertThat(back.getSpec()).isEqualTo(state.getSpec());
        assertThat(back.getStatus().device("0000:41:00.0")).contains(gpu);
        assertThat(back.getStatus().reasonsOf("0000:41:00.0")).containsExactly("no /dev/vfio/14");
        assertThat(back.getStatus().reasonsOf("0000:42:00.0")).isEmpty();
        DesiredDevice desired = back.getSpec().getDevices().get(0);
        assertThat(desired.effectiveManaged()).isTrue();
        assertThat(desired.effectiveForce()).isFalse();
        assertThat(desired.effectiveAllocationUnit()).isEqualTo(AllocationUnit.Device);
    }

    @Test
    void policy_carries_group_version_and_short_name() {
        VfioBindingPolicy policy = new VfioBindingPolicy();
        assertThat(policy.getApiVersion()).isEqualTo("vfio.example.com/v1alpha1");
        assertThat(policy.getKind()).isEqualTo("VfioBindingPolicy");
        assertThat(policy.getPlural()).isEqualTo("vfiobindingpolicies");
        assertThat(new VfioNodeState().getPlural()).isEqualTo("vfionodestates");
        assertThat(policy).isNotInstanceOf(io.fabric8.kubernetes.api.model.Namespaced.class);
    }
}
