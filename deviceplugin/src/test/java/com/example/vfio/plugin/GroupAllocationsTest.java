package com.example.vfio.plugin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class GroupAllocationsTest {

    static final String GPU = "vfio.example.com/gpu";
    static final String NIC = "vfio.example.com/nic";
    final MutableClock clock = new MutableClock();
    final GroupAllocations allocations = new GroupAllocations(clock, Duration.ofSeconds(30));

    static GroupAllocations.Claim claim(String address, String group) {
        return new GroupAllocations.Claim(address, group, List.of(address));
    }

    @Test
    void a_refused_request_records_nothing_even_for_its_free_devices() throws Exception {
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));

        assertThatThrownBy(() -> allocations.acquire(GPU, List.of(claim("0000:c1:00.0", "40"),
                claim("0000:41:00.1", "14"))))
                .hasMessage("0000:41:00.1: IOMMU group 14 is held with 0000:41:00.0 by another container");

        assertThat(allocations.holds()).containsOnlyKeys("14");
    }

    @Test
    void the_same_device_may_be_allocated_again_when_the_kubelet_reuses_it() throws Exception {
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));
        clock.advance(Duration.ofMinutes(5));
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));

        // the hold was refreshed: a List from before the grace of the new allocation does not release it
        allocations.reconcile(List.of(), clock.instant());
        assertThat(allocations.holds()).containsOnlyKeys("14");
    }

    @Test
    void the_binding_engine_learns_which_allocation_holds_a_device() throws Exception {
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));
        com.example.vfio.binding.DeviceHolders holders = allocations::holderOf;
        assertThat(holders.holderOf(com.example.vfio.pci.PciAddress.parse("0000:41:00.0")))
                .contains("an allocation of vfio.example.com/gpu (IOMMU group 14)");
        assertThat(holders.holderOf(com.example.vfio.pci.PciAddress.parse("0000:41:00.1"))).isEmpty();
    }

    @Test
    void a_group_shared_by_two_resources_is_locked_across_them() throws Exception {
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));
        assertThatThrownBy(() -> allocations.acquire(NIC, List.of(claim("0000:41:00.2", "14"))))
                .hasMessageContaining("held with 0000:41:00.0");
    }

    static final GroupAllocations.DraClaim VM = new GroupAllocations.DraClaim("uid-1", "vms/vm");

    static List<GroupAllocations.ClaimedUnit> units(String address, String group) {
        return List.of(new GroupAllocations.ClaimedUnit(GPU, claim(address, group)));
    }

    @Test
    void a_dra_claim_and_a_device_plugin_pod_never_share_a_group() throws Exception {
        allocations.acquireForClaim(VM, units("0000:41:00.0", "14"));

        assertThatThrownBy(() -> allocations.acquire(NIC, List.of(claim("0000:41:00.1", "14"))))
                .hasMessage("0000:41:00.1: IOMMU group 14 is held with 0000:41:00.0 by DRA claim vms/vm");
        assertThatThrownBy(() -> allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14"))))
                .as("not even the claim's own device").hasMessageContaining("by DRA claim vms/vm");
        allocations.acquire(NIC, List.of(claim("0000:c1:00.0", "40")));
        assertThatThrownBy(() -> allocations.acquireForClaim(new GroupAllocations.DraClaim("uid-2", "vms/other"),
                units("0000:c1:00.1", "40")))
                .hasMessage("0000:c1:00.1: IOMMU group 40 is held with 0000:c1:00.0 by a pod's vfio.example.com/nic (device plugin)");
    }

    @Test
    void a_claim_prepared_again_keeps_its_hold_and_only_unprepare_releases_it() throws Exception {
        allocations.acquireForClaim(VM, units("0000:41:00.0", "14"));
        List<Integer> fired = new java.util.ArrayList<>();
        allocations.onChange(() -> fired.add(1));
        allocations.acquireForClaim(VM, units("0000:41:00.0", "14"));
        assertThat(fired).as("the same claim again changes nothing").isEmpty();

        clock.advance(Duration.ofMinutes(5));
        allocations.reconcile(List.of(), clock.instant());
        assertThat(allocations.holds()).as("PodResources does not list claims: it never releases them").containsOnlyKeys("14");
        assertThat(allocations.hasPodHolds()).isFalse();

        assertThat(allocations.releaseClaim("uid-1")).extracting(GroupAllocations.Hold::group).containsExactly("14");
        assertThat(allocations.holds()).isEmpty();
        assertThat(allocations.releaseClaim("uid-1")).isEmpty();
    }

    @Test
    void a_device_without_iommu_group_is_refused() {
        assertThatThrownBy(() -> allocations.acquire(GPU, List.of(claim("0000:41:00.0", null))))
                .hasMessage("0000:41:00.0: the device has no IOMMU group");
    }

    @Test
    void holds_are_released_only_when_no_pod_lists_them_and_the_grace_has_passed() throws Exception {
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));
        allocations.acquire(GPU, List.of(claim("0000:c1:00.0", "40")));
        clock.advance(Duration.ofSeconds(31));

        var released = allocations.reconcile(List.of(new GroupAllocations.InUse(GPU, "0000:c1:00.0")), clock.instant());

        assertThat(released).extracting(GroupAllocations.Hold::group).containsExactly("14");
        assertThat(allocations.holds()).containsOnlyKeys("40");
        assertThat(allocations.heldAddresses()).containsExactly("0000:c1:00.0");
    }

    @Test
    void the_same_device_id_listed_under_another_resource_does_not_keep_a_hold() throws Exception {
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));
        clock.advance(Duration.ofSeconds(31));
        allocations.reconcile(List.of(new GroupAllocations.InUse(NIC, "0000:41:00.0")), clock.instant());
        assertThat(allocations.holds()).isEmpty();
    }

    @Test
    void allocating_the_same_device_again_renews_its_hold_without_telling_listeners_and_another_group_tells_them()
            throws Exception {
        int[] calls = {0};
        allocations.onChange(() -> calls[0]++);
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));
        clock.advance(Duration.ofMinutes(1));
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));
        assertThat(calls[0]).as("a renewal changes nothing the kubelet sees").isEqualTo(1);
        assertThat(allocations.holds().get("14").since()).isEqualTo(clock.instant());

        allocations.acquire(GPU, List.of(claim("0000:42:00.0", "15")));
        assertThat(calls[0]).isEqualTo(2);
    }

    @Test
    void listeners_hear_about_acquisitions_and_releases() throws Exception {
        int[] calls = {0};
        allocations.onChange(() -> calls[0]++);
        allocations.acquire(GPU, List.of(claim("0000:41:00.0", "14")));
        clock.advance(Duration.ofSeconds(31));
        allocations.reconcile(List.of(), clock.instant());
        allocations.reconcile(List.of(), clock.instant());
        assertThat(calls[0]).isEqualTo(2);
    }

    @Test
    void recovered_pods_lock_their_groups_and_a_group_running_pods_already_split_keeps_the_first_holder()
            throws Exception {
        allocations.recover(List.of(
                new GroupAllocations.Recovered(GPU, claim("0000:41:00.0", "14")),
                new GroupAllocations.Recovered(GPU, claim("0000:41:00.1", "14")),
                new GroupAllocations.Recovered(NIC, claim("0000:41:00.2", "14")),
                new GroupAllocations.Recovered(NIC, claim("0000:81:00.2", "31"))));

        assertThat(allocations.holds().get("14").units()).containsExactlyInAnyOrder("0000:41:00.0", "0000:41:00.1");
        assertThat(allocations.holds().get("31").resource()).isEqualTo(NIC);
        assertThatThrownBy(() -> allocations.acquire(NIC, List.of(claim("0000:41:00.3", "14"))))
                .hasMessageContaining("held with 0000:41:00.0,0000:41:00.1");
    }

    /**
     * Whatever sequence of single-device Allocate calls arrives, a group is only ever held by the device
     * that took it first: siblings are always refused while it is held.
     */
    @Property(tries = 200)
    void no_sequence_of_allocations_splits_a_group(
            @ForAll @Size(min = 1, max = 30) List<@IntRange(min = 0, max = 7) Integer> requests) {
        GroupAllocations a = new GroupAllocations(new MutableClock(), Duration.ofSeconds(30));
        Map<String, String> firstHolder = new HashMap<>();
        for (int device : requests) {
            String address = "0000:0" + device + ":00.0";
            String group = String.valueOf(device / 3); // groups {0,1,2}, {3,4,5}, {6,7}
            boolean expected = !firstHolder.containsKey(group) || firstHolder.get(group).equals(address);
            boolean granted;
            try {
                a.acquire(GPU, List.of(claim(address, group)));
                granted = true;
            } catch (GroupAllocations.RefusedException e) {
                granted = false;
            }
            assertThat(granted).isEqualTo(expected);
            firstHolder.putIfAbsent(group, address);
        }
        a.holds().forEach((group, hold) -> assertThat(hold.units()).isEqualTo(Set.of(firstHolder.get(group))));
    }
}
