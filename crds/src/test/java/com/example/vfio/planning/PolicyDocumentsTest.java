package com.example.vfio.planning;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.Companions;
import com.example.vfio.api.VfioBindingPolicy;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PolicyDocumentsTest {
    private static final String TWO_POLICIES = """
            apiVersion: vfio.example.com/v1alpha1
            kind: VfioBindingPolicy
            metadata:
              name: gpus
            spec:
              nodeSelector:
                matchLabels: {gpu: h100}
              selector:
                vendors: ["10de"]
                classes: ["0302"]
              resourceName: gpu
              companions: Bind
              allocationUnit: Group
              priority: 10
            ---
            apiVersion: vfio.example.com/v1alpha1
            kind: VfioBindingPolicy
            metadata:
              name: nic-vfs
            spec:
              selector:
                vendors: ["15b3"]
                devices: ["101e"]
              driver: mlx5_vfio_pci
              resourceName: nic
            ---
            """;

    @Test
    void reads_every_document_the_way_kubectl_apply_would_take_them() {
        List<VfioBindingPolicy> policies = PolicyDocuments.parse(TWO_POLICIES);

        assertThat(policies).extracting(p -> p.getMetadata().getName()).containsExactly("gpus", "nic-vfs");
        VfioBindingPolicy gpus = policies.get(0);
        assertThat(gpus.getSpec().getNodeSelector().getMatchLabels()).containsEntry("gpu", "h100");
        assertThat(gpus.getSpec().effectiveCompanions()).isEqualTo(Companions.Bind);
        assertThat(gpus.getSpec().effectiveAllocationUnit()).isEqualTo(AllocationUnit.Group);
        assertThat(gpus.getSpec().effectivePriority()).isEqualTo(10);
        assertThat(gpus.getSpec().effectiveDriver()).as("schema default").isEqualTo("auto");
        assertThat(policies.get(1).getSpec().effectiveDriver()).isEqualTo("mlx5_vfio_pci");
        assertThat(policies.get(1).getSpec().effectiveManaged()).isTrue();
    }

    @Test
    void invalid_vendor_id_is_refused_naming_document_policy_and_field() {
        String yaml = TWO_POLICIES.replace("devices: [\"101e\"]", "devices: [\"101e\", \"10x\"]");

        assertThatThrownBy(() -> PolicyDocuments.parse(yaml))
                .isInstanceOf(PolicyDocuments.InvalidPolicyException.class)
                .hasMessage("document 2 (nic-vfs): spec.selector.devices[1]: '10x' is not 4 hex digits");
    }

    @Test
    void missing_resource_name_is_refused_unless_driver_is_host() {
        String yaml = TWO_POLICIES.replace("  resourceName: nic\n", "");
        assertThatThrownBy(() -> PolicyDocuments.parse(yaml))
                .hasMessage("document 2 (nic-vfs): spec.resourceName: required unless driver is host");

        String host = TWO_POLICIES.replace("  driver: mlx5_vfio_pci\n  resourceName: nic\n", "  driver: host\n");
        assertThat(PolicyDocuments.parse(host)).hasSize(2);
    }

    @Test
    void unknown_field_is_refused_like_kubectl_strict_validation() {
        String yaml = TWO_POLICIES.replace("priority: 10", "priorty: 10");

        assertThatThrownBy(() -> PolicyDocuments.parse(yaml))
                .hasMessageStartingWith("document 1: spec.priorty: Unrecognized field \"priorty\"");
    }

    @Test
    void wrong_enum_value_names_the_field() {
        String yaml = TWO_POLICIES.replace("companions: Bind", "companions: bind");

        assertThatThrownBy(() -> PolicyDocuments.parse(yaml)).hasMessageStartingWith("document 1: spec.companions: ");
    }

    @Test
    void hostile_driver_name_is_refused() {
        String yaml = TWO_POLICIES.replace("driver: mlx5_vfio_pci", "driver: ../../unbind");

        assertThatThrownBy(() -> PolicyDocuments.parse(yaml))
                .hasMessage("document 2 (nic-vfs): spec.driver: '../../unbind' is not auto, host or a driver/module name ([A-Za-z0-9_-]{1,64})");
    }

    @Test
    void priority_outside_the_bounds_is_refused() {
        assertThatThrownBy(() -> PolicyDocuments.parse(TWO_POLICIES.replace("priority: 10", "priority: 5000")))
                .hasMessage("document 1 (gpus): spec.priority: 5000 is outside -1000..1000");
    }

    @Test
    void other_kinds_and_duplicate_names_are_refused() {
        assertThatThrownBy(() -> PolicyDocuments.parse(TWO_POLICIES.replaceFirst("kind: VfioBindingPolicy", "kind: VfioNodeState")))
                .hasMessage("document 1: kind must be VfioBindingPolicy, got VfioNodeState");
        assertThatThrownBy(() -> PolicyDocuments.parse(TWO_POLICIES.replace("name: nic-vfs", "name: gpus")))
                .hasMessage("document 2: metadata.name: gpus is given twice");
    }

    @Test
    void broken_yaml_is_reported_as_such() {
        assertThatThrownBy(() -> PolicyDocuments.parse("apiVersion: [unclosed"))
                .isInstanceOf(PolicyDocuments.InvalidPolicyException.class)
                .hasMessageStartingWith("not valid YAML: ");
    }
}
