package com.example.vfio.api;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class ApiSerializationTest {

    @Test
    void node_state_round_trips_with_compact_inventory_entries() {
        VfioNodeState state = new VfioNodeState();
        state.setMetadata(new ObjectMetaBuilder().withName("gpu-1").build());
        state.getSpec().setDevices(List.of(new DesiredDevice("0000:41:00.0", "auto", "gpu", "gpus", AllocationUnit.Device, true, false, null)));
        VfioNodeStateStatus status = new VfioNodeStateStatus();
        InventoryDevice gpu = new InventoryDevice("0000:41:00.0", "10de", "2342", "030200", "vfio-pci", "14");
        gpu.setVfio(true);
        gpu.setViable(true);
        gpu.setHostDriver("nouveau");
        status.setDevices(List.of(gpu));
        status.setSyncStatus(SyncStatus.Succeeded);
        state.setStatus(status);

        String json = Serialization.asJson(state);

        assertThat(json).contains("\"apiVersion\":\"vfio.example.com/v1alpha1\"", "\"kind\":\"VfioNodeState\"",
                "\"class\":\"030200\"", "\"syncStatus\":\"Succeeded\"");
        assertThat(json).doesNotContain("\"reasons\"", "\"bindResults\"", "\"conditions\"", "classCode", "effective", "\"companion\"");
        VfioNodeState back = Serialization.unmarshal(json, VfioNodeState.class);
        assertThat(back.getSpec()).isEqualTo(state.getSpec());
        assertThat(back.getStatus().device("0000:41:00.0")).get().extracting(InventoryDevice::getHostDriver).isEqualTo("nouveau");
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
