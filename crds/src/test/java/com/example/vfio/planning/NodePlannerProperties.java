package com.example.vfio.planning;

import com.example.vfio.api.Companions;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicySpec;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/** Invariants of the planner over random nodes and policies. */
class NodePlannerProperties {

    @Property(tries = 300)
    void every_address_is_planned_at_most_once_sorted_and_never_while_in_conflict(
            @ForAll("inventories") List<DeviceFacts> inventory, @ForAll("policySets") List<VfioBindingPolicy> policies) {
        NodePlan plan = NodePlanner.plan("n", Map.of(), inventory, policies);

        List<String> addresses = plan.devices().stream().map(DesiredDevice::getAddress).toList();
        assertThat(addresses).doesNotHaveDuplicates().isSorted();
        Set<String> conflicted = new HashSet<>(plan.conflicts().stream().map(PlanConflict::address).toList());
        assertThat(addresses).noneMatch(conflicted::contains);
        Set<String> known = new HashSet<>(inventory.stream().map(DeviceFacts::address).toList());
        assertThat(addresses).allMatch(known::contains);
    }

    @Property(tries = 300)
    void a_planned_device_goes_to_a_top_priority_live_policy_that_selects_it(
            @ForAll("inventories") List<DeviceFacts> inventory, @ForAll("policySets") List<VfioBindingPolicy> policies) {
        NodePlan plan = NodePlanner.plan("n", Map.of(), inventory, policies);

        for (DesiredDevice d : plan.devices()) {
            DeviceFacts facts = inventory.stream().filter(f -> f.address().equals(d.getAddress())).findFirst().orElseThrow();
            List<VfioBindingPolicy> liveSelecting = policies.stream()
                    .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
                    .filter(p -> plan.problems().stream().noneMatch(x -> x.policy().equals(p.getMetadata().getName())))
                    .filter(p -> DeviceSelectors.matches(p.getSpec().getSelector(), facts)).toList();
            VfioBindingPolicy owner = policies.stream().filter(p -> p.getMetadata().getName().equals(d.getPolicy())).findFirst().orElseThrow();
            if (d.getCompanionOf() != null) {
                assertThat(liveSelecting).as("a companion is never a device a live policy selects").isEmpty();
                DesiredDevice selected = plan.device(d.getCompanionOf()).orElseThrow();
                DeviceFacts selectedFacts = inventory.stream().filter(f -> f.address().equals(selected.getAddress())).findFirst().orElseThrow();
                assertThat(selectedFacts.iommuGroup()).isEqualTo(facts.iommuGroup());
                assertThat(d.getDriver()).isEqualTo("vfio-pci");
                assertThat(d.getResourceName()).isNull();
                assertThat(facts.isBridge()).isFalse();
            } else if (owner.getMetadata().getDeletionTimestamp() != null) {
                assertThat(d.getDriver()).isEqualTo("host");
                assertThat(liveSelecting).isEmpty();
            } else {
                int top = liveSelecting.stream().mapToInt(p -> p.getSpec().effectivePriority()).max().orElseThrow();
                assertThat(owner.getSpec().effectivePriority()).isEqualTo(top);
                assertThat(DeviceSelectors.matches(owner.getSpec().getSelector(), facts)).isTrue();
                assertThat(d.getDriver()).isEqualTo(owner.getSpec().effectiveDriver());
            }
        }
    }

    @Property(tries = 200)
    void the_plan_does_not_depend_on_input_order(@ForAll("inventories") List<DeviceFacts> inventory,
                                                 @ForAll("policySets") List<VfioBindingPolicy> policies, @ForAll long seed) {
        NodePlan reference = NodePlanner.plan("n", Map.of(), inventory, policies);
        List<DeviceFacts> shuffledInventory = new ArrayList<>(inventory);
        List<VfioBindingPolicy> shuffledPolicies = new ArrayList<>(policies);
        Collections.shuffle(shuffledInventory, new Random(seed));
        Collections.shuffle(shuffledPolicies, new Random(seed + 1));

        assertThat(NodePlanner.plan("n", Map.of(), shuffledInventory, shuffledPolicies)).isEqualTo(reference);
    }

    @Provide
    Arbitrary<List<DeviceFacts>> inventories() {
        Arbitrary<DeviceFacts> device = Combinators.combine(
                Arbitraries.of("10de", "15b3", "8086"),
                Arbitraries.of("030200", "040300", "020000", "060400"),
                Arbitraries.of("nouveau", "mlx5_core", "pcieport", "vfio-pci"),
                Arbitraries.of("1", "2", "3")).as((vendor, cls, driver, group) -> new DeviceFacts("0000:00:00.0", vendor, "0001", cls, driver, group));
        return device.list().ofMinSize(1).ofMaxSize(8).map(list -> IntStream.range(0, list.size()).mapToObj(i -> {
            DeviceFacts d = list.get(i);
            return new DeviceFacts(String.format("0000:%02x:00.0", i + 1), d.vendor(), d.device(), d.classCode(), d.driver(), d.iommuGroup());
        }).toList());
    }

    @Provide
    Arbitrary<List<VfioBindingPolicy>> policySets() {
        Arbitrary<DeviceSelector> selector = Arbitraries.oneOf(
                Arbitraries.of("10de", "15b3", "8086").map(v -> DeviceSelector.of().withVendors(v)),
                Arbitraries.of("03", "0403", "02", "06").map(c -> DeviceSelector.of().withClasses(c)),
                Arbitraries.of("nouveau", "mlx5_core").map(d -> DeviceSelector.of().withDrivers(d)),
                Arbitraries.integers().between(1, 8).map(i -> DeviceSelector.of().withAddresses(String.format("0000:%02x:00.0", i))));
        Arbitrary<VfioBindingPolicySpec> spec = Combinators.combine(selector,
                Arbitraries.of("auto", "vfio-pci", "host"),
                Arbitraries.of("gpu", "nic"),
                Arbitraries.of(0, 5),
                Arbitraries.of(Companions.Bind, Companions.Ignore),
                Arbitraries.of(true, false)).as((sel, driver, resource, priority, companions, managed) -> {
                    VfioBindingPolicySpec s = new VfioBindingPolicySpec();
                    s.setSelector(sel);
                    s.setDriver(driver);
                    s.setResourceName(driver.equals("host") ? null : resource);
                    s.setPriority(priority);
                    s.setCompanions(driver.equals("host") ? Companions.Ignore : companions);
                    s.setManaged(driver.equals("host") || managed);
                    return s;
                });
        return Combinators.combine(spec, Arbitraries.of(false, false, false, true)).as((s, deleting) -> {
            VfioBindingPolicy p = new VfioBindingPolicy();
            p.setSpec(s);
            p.setMetadata(new ObjectMetaBuilder().withDeletionTimestamp(deleting ? "2026-01-01T00:00:00Z" : null).build());
            return p;
        }).list().ofMaxSize(4).map(list -> {
            for (int i = 0; i < list.size(); i++) {
                list.get(i).getMetadata().setName("p" + i);
            }
            return list;
        });
    }
}
