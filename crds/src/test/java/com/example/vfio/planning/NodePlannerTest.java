package com.example.vfio.planning;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.Companions;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.PublishWith;
import com.example.vfio.api.VfioBindingPolicy;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static com.example.vfio.planning.TestPolicies.policy;
import static org.assertj.core.api.Assertions.assertThat;

class NodePlannerTest {
    private static final Map<String, String> LABELS = Map.of("gpu", "h100");
    // A GPU server: two H100s with their audio functions, a bridge in the first group, a ConnectX-7 VF and a boot NIC.
    private static final List<DeviceFacts> INVENTORY = List.of(
            new DeviceFacts("0000:41:00.0", "10de", "2342", "030200", "nouveau", "14"),
            new DeviceFacts("0000:41:00.1", "10de", "22bc", "040300", "snd_hda_intel", "14"),
            new DeviceFacts("0000:40:01.1", "1022", "14ab", "060400", "pcieport", "14"),
            new DeviceFacts("0000:c1:00.0", "10de", "2342", "030200", "nouveau", "30"),
            new DeviceFacts("0000:c1:00.1", "10de", "22bc", "040300", "snd_hda_intel", "30"),
            new DeviceFacts("0000:81:00.2", "15b3", "101e", "020000", "mlx5_core", "40"),
            new DeviceFacts("0000:05:00.0", "8086", "1533", "020000", "igb", "7"));

    private static final DeviceSelector NVIDIA_GPUS = DeviceSelector.of().withVendors("10de").withClasses("0302");

    private static NodePlan plan(VfioBindingPolicy... policies) {
        return NodePlanner.plan("gpu-1", LABELS, INVENTORY, List.of(policies));
    }

    @Test
    void auto_policy_selects_both_gpus_and_leaves_the_driver_choice_to_the_node() {
        NodePlan plan = plan(policy("gpus").select(NVIDIA_GPUS).resource("gpu").build());

        assertThat(plan.devices()).containsExactly(
                new DesiredDevice("0000:41:00.0", "auto", "gpu", "gpus", AllocationUnit.Device, true, false, null),
                new DesiredDevice("0000:c1:00.0", "auto", "gpu", "gpus", AllocationUnit.Device, true, false, null));
        assertThat(plan.conflicts()).isEmpty();
        assertThat(plan.problems()).isEmpty();
        assertThat(plan.policies().get("gpus").matched()).containsExactly("0000:41:00.0", "0000:c1:00.0");
        assertThat(plan.policies().get("gpus").assigned()).containsExactly("0000:41:00.0", "0000:c1:00.0");
    }

    @Test
    void policy_for_other_nodes_takes_nothing_here() {
        NodePlan plan = plan(policy("a100s").nodeLabel("gpu", "a100").select(NVIDIA_GPUS).resource("gpu").build());

        assertThat(plan.devices()).isEmpty();
        assertThat(plan.policies().get("a100s").nodeMatched()).isFalse();
        assertThat(plan.policies().get("a100s").matched()).isEmpty();
    }

    @Test
    void selectors_by_address_and_by_host_driver() {
        NodePlan plan = plan(
                policy("one-gpu").select(DeviceSelector.of().withAddresses("0000:c1:00.0")).resource("gpu").build(),
                policy("mlx-vfs").select(DeviceSelector.of().withDrivers("mlx5_core")).driver("mlx5_vfio_pci").resource("nic").build());

        assertThat(plan.devices()).extracting(DesiredDevice::getAddress, DesiredDevice::getDriver, DesiredDevice::getResourceName)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("0000:81:00.2", "mlx5_vfio_pci", "nic"),
                        org.assertj.core.groups.Tuple.tuple("0000:c1:00.0", "auto", "gpu"));
    }

    @Test
    void higher_priority_wins_and_the_loser_learns_who_took_the_device() {
        NodePlan plan = plan(
                policy("all-gpus").select(NVIDIA_GPUS).resource("gpu").build(),
                policy("training").select(DeviceSelector.of().withAddresses("0000:41:00.0")).resource("train-gpu").priority(10).build());

        assertThat(plan.device("0000:41:00.0")).get().extracting(DesiredDevice::getResourceName, DesiredDevice::getPolicy)
                .containsExactly("train-gpu", "training");
        assertThat(plan.device("0000:c1:00.0")).get().extracting(DesiredDevice::getPolicy).isEqualTo("all-gpus");
        assertThat(plan.policies().get("all-gpus").overriddenBy()).containsExactly(Map.entry("0000:41:00.0", "training"));
        assertThat(plan.conflicts()).isEmpty();
    }

    @Test
    void equal_priority_policies_wanting_different_drivers_leave_the_device_alone_and_both_see_the_conflict() {
        NodePlan plan = plan(
                policy("vfio").select(NVIDIA_GPUS).driver("vfio-pci").resource("gpu").build(),
                policy("grace").select(DeviceSelector.of().withAddresses("0000:41:00.0")).driver("nvgrace_gpu_vfio_pci").resource("gpu").build());

        assertThat(plan.device("0000:41:00.0")).isEmpty();
        assertThat(plan.device("0000:c1:00.0")).isPresent();
        assertThat(plan.conflicts()).singleElement().satisfies(c -> {
            assertThat(c.address()).isEqualTo("0000:41:00.0");
            assertThat(c.policies()).containsExactly("grace", "vfio");
            assertThat(c.describe()).isEqualTo("0000:41:00.0: grace wants nvgrace_gpu_vfio_pci as gpu, vfio wants vfio-pci as gpu");
        });
        assertThat(plan.policies().get("vfio").conflicted()).containsExactly("0000:41:00.0");
        assertThat(plan.policies().get("grace").conflicted()).containsExactly("0000:41:00.0");
    }

    @Test
    void equal_priority_policies_wanting_different_resources_conflict() {
        NodePlan plan = plan(
                policy("a").select(NVIDIA_GPUS).resource("gpu").build(),
                policy("b").select(NVIDIA_GPUS).resource("vgpu").build());

        assertThat(plan.devices()).isEmpty();
        assertThat(plan.conflicts()).extracting(PlanConflict::address).containsExactly("0000:41:00.0", "0000:c1:00.0");
    }

    @Test
    void equal_priority_policies_that_agree_share_the_device_without_conflict() {
        NodePlan plan = plan(
                policy("b-gpus").select(NVIDIA_GPUS).resource("gpu").build(),
                policy("a-first-gpu").select(DeviceSelector.of().withAddresses("0000:41:00.0")).resource("gpu").build());

        assertThat(plan.conflicts()).isEmpty();
        assertThat(plan.device("0000:41:00.0")).get().extracting(DesiredDevice::getPolicy).isEqualTo("a-first-gpu");
        assertThat(plan.policies().get("b-gpus").assigned()).containsExactly("0000:41:00.0", "0000:c1:00.0");
    }

    @Test
    void companions_bind_pulls_the_audio_function_to_vfio_pci_without_a_resource_but_never_the_bridge() {
        NodePlan plan = plan(policy("gpus").select(NVIDIA_GPUS).resource("gpu").companions(Companions.Bind).build());

        assertThat(plan.device("0000:41:00.1")).get()
                .isEqualTo(new DesiredDevice("0000:41:00.1", "vfio-pci", null, "gpus", null, true, false, "0000:41:00.0"));
        assertThat(plan.device("0000:c1:00.1")).get().extracting(DesiredDevice::getCompanionOf).isEqualTo("0000:c1:00.0");
        assertThat(plan.device("0000:40:01.1")).as("PCI bridge stays on pcieport").isEmpty();
        assertThat(plan.policies().get("gpus").companions()).containsExactly("0000:41:00.1", "0000:c1:00.1");
    }

    @Test
    void the_same_policy_with_driver_host_gives_the_companions_back_with_their_device() {
        VfioBindingPolicy bound = policy("gpus").select(NVIDIA_GPUS).resource("gpu").companions(Companions.Bind).build();
        VfioBindingPolicy givenBack = policy("gpus").select(NVIDIA_GPUS).resource("gpu").companions(Companions.Bind)
                .driver("host").build();
        NodePlan plan = plan(givenBack);

        assertThat(plan.problems()).isEmpty();
        assertThat(plan.devices()).extracting(DesiredDevice::getAddress)
                .isEqualTo(plan(bound).devices().stream().map(DesiredDevice::getAddress).toList());
        assertThat(plan.device("0000:41:00.0")).get()
                .isEqualTo(new DesiredDevice("0000:41:00.0", "host", null, "gpus", null, true, false, null));
        assertThat(plan.device("0000:41:00.1")).get()
                .isEqualTo(new DesiredDevice("0000:41:00.1", "host", null, "gpus", null, true, false, "0000:41:00.0"));
        assertThat(plan.device("0000:40:01.1")).as("PCI bridge stays on pcieport").isEmpty();
        assertThat(plan.policies().get("gpus").companions()).containsExactly("0000:41:00.1", "0000:c1:00.1");
    }

    @Test
    void an_unmanaged_host_policy_only_checks_and_claims_its_devices_from_lower_priorities() {
        NodePlan plan = plan(
                policy("hands-off").select(NVIDIA_GPUS).driver("host").managed(false).companions(Companions.Bind).priority(10).build(),
                policy("gpus").select(NVIDIA_GPUS).resource("gpu").build());

        assertThat(plan.problems()).isEmpty();
        assertThat(plan.devices()).containsExactly(
                new DesiredDevice("0000:41:00.0", "host", null, "hands-off", null, false, false, null),
                new DesiredDevice("0000:c1:00.0", "host", null, "hands-off", null, false, false, null));
        assertThat(plan.policies().get("gpus").overriddenBy()).containsOnlyKeys("0000:41:00.0", "0000:c1:00.0");
    }

    @Test
    void companions_ignore_leaves_siblings_alone() {
        NodePlan plan = plan(policy("gpus").select(NVIDIA_GPUS).resource("gpu").build());

        assertThat(plan.devices()).extracting(DesiredDevice::getAddress).containsExactly("0000:41:00.0", "0000:c1:00.0");
    }

    @Test
    void a_sibling_another_policy_selects_is_not_taken_as_companion() {
        NodePlan plan = plan(
                policy("gpus").select(NVIDIA_GPUS).resource("gpu").companions(Companions.Bind).build(),
                policy("audio").select(DeviceSelector.of().withClasses("0403")).resource("hda").build());

        assertThat(plan.device("0000:41:00.1")).get().extracting(DesiredDevice::getResourceName, DesiredDevice::getCompanionOf)
                .containsExactly("hda", null);
    }

    @Test
    void unmanaged_policy_only_publishes_and_pulls_in_no_companions() {
        NodePlan plan = plan(policy("gpus").select(NVIDIA_GPUS).resource("gpu").managed(false).companions(Companions.Bind).build());

        assertThat(plan.devices()).extracting(DesiredDevice::getAddress).containsExactly("0000:41:00.0", "0000:c1:00.0");
        assertThat(plan.devices()).allSatisfy(d -> assertThat(d.effectiveManaged()).isFalse());
    }

    @Test
    void a_deleted_policy_gives_its_devices_back_to_the_host_driver_unless_another_policy_takes_them() {
        NodePlan plan = plan(
                policy("gpus").select(NVIDIA_GPUS).resource("gpu").deleting().build(),
                policy("second-gpu").select(DeviceSelector.of().withAddresses("0000:c1:00.0")).resource("gpu").priority(-5).build());

        assertThat(plan.device("0000:41:00.0")).get()
                .isEqualTo(new DesiredDevice("0000:41:00.0", "host", null, "gpus", null, true, false, null));
        assertThat(plan.device("0000:c1:00.0")).get().extracting(DesiredDevice::getPolicy).isEqualTo("second-gpu");
    }

    @Test
    void resource_used_with_another_allocation_unit_by_an_older_policy_is_refused_with_a_reason() {
        NodePlan plan = plan(
                policy("newer").select(DeviceSelector.of().withAddresses("0000:81:00.2")).resource("gpu")
                        .unit(AllocationUnit.Group).created("2026-02-01T00:00:00Z").build(),
                policy("older").select(NVIDIA_GPUS).resource("gpu").created("2026-01-01T00:00:00Z").build());

        assertThat(plan.problems()).singleElement().satisfies(p -> {
            assertThat(p.policy()).isEqualTo("newer");
            assertThat(p.reason()).isEqualTo("ResourceUnitMismatch");
            assertThat(p.message()).contains("resource gpu is allocated per Device by the older policy older");
        });
        assertThat(plan.device("0000:81:00.2")).isEmpty();
        assertThat(plan.devices()).hasSize(2);
    }

    @Test
    void dra_resource_entries_say_so_and_device_plugin_ones_stay_as_before() {
        NodePlan plan = plan(
                policy("gpus").select(NVIDIA_GPUS).resource("gpu").publishWith(PublishWith.DRA).companions(Companions.Bind).build(),
                policy("nics").select(DeviceSelector.of().withVendors("15b3")).resource("nic").build());

        assertThat(plan.devices()).filteredOn(d -> "gpu".equals(d.getResourceName())).isNotEmpty()
                .allSatisfy(d -> assertThat(d.getPublishWith()).isEqualTo(PublishWith.DRA));
        assertThat(plan.devices()).filteredOn(d -> "nic".equals(d.getResourceName())).isNotEmpty()
                .allSatisfy(d -> assertThat(d.getPublishWith()).as("DevicePlugin is the default, left out").isNull());
        assertThat(plan.devices()).filteredOn(DesiredDevice::isCompanion).isNotEmpty()
                .allSatisfy(d -> assertThat(d.getPublishWith()).as("companions are not published").isNull());
        assertThat(plan.toSpec().getDevices()).isEqualTo(plan.devices());
    }

    @Test
    void resource_published_through_another_api_by_an_older_policy_is_refused_with_a_reason() {
        NodePlan plan = plan(
                policy("newer").select(DeviceSelector.of().withAddresses("0000:81:00.2")).resource("gpu")
                        .publishWith(PublishWith.DRA).created("2026-02-01T00:00:00Z").build(),
                policy("older").select(NVIDIA_GPUS).resource("gpu").created("2026-01-01T00:00:00Z").build());

        assertThat(plan.problems()).singleElement().satisfies(p -> {
            assertThat(p.policy()).isEqualTo("newer");
            assertThat(p.reason()).isEqualTo(PolicyProblem.RESOURCE_PUBLISH_MISMATCH);
            assertThat(p.message()).contains("resource gpu is published through DevicePlugin by the older policy older")
                    .contains("asks for DRA");
        });
        assertThat(plan.device("0000:81:00.2")).isEmpty();
        assertThat(plan.devices()).allSatisfy(d -> assertThat(d.effectivePublishWith()).isEqualTo(PublishWith.DevicePlugin));
    }

    @Test
    void invalid_policy_is_refused_with_the_field_named_and_takes_nothing() {
        NodePlan plan = plan(policy("typo").select(DeviceSelector.of().withVendors("nvidia")).resource("gpu").build());

        assertThat(plan.devices()).isEmpty();
        assertThat(plan.problems()).singleElement().satisfies(p -> {
            assertThat(p.reason()).isEqualTo("InvalidSpec");
            assertThat(p.message()).isEqualTo("spec.selector.vendors[0]: 'nvidia' is not 4 hex digits");
        });
    }

    @Test
    void plan_does_not_depend_on_the_order_of_policies() {
        List<VfioBindingPolicy> policies = new ArrayList<>(List.of(
                policy("gpus").select(NVIDIA_GPUS).resource("gpu").companions(Companions.Bind).build(),
                policy("grace").select(DeviceSelector.of().withAddresses("0000:41:00.0")).driver("nvgrace_gpu_vfio_pci").resource("gpu").build(),
                policy("nics").select(DeviceSelector.of().withVendors("15b3")).resource("nic").priority(3).build(),
                policy("old").select(DeviceSelector.of().withVendors("8086")).resource("igb").deleting().build()));
        NodePlan reference = NodePlanner.plan("n", LABELS, INVENTORY, policies);
        Random random = new Random(42);
        for (int i = 0; i < 20; i++) {
            Collections.shuffle(policies, random);
            List<DeviceFacts> inventory = new ArrayList<>(INVENTORY);
            Collections.shuffle(inventory, random);
            assertThat(NodePlanner.plan("n", LABELS, inventory, policies)).isEqualTo(reference);
        }
    }
}
