package com.example.vfio.plugin;

import static com.example.vfio.plugin.Fixtures.healthy;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class PreferredAllocationTest {

    /** node 0: group 1 = {a0,a1}, group 2 = {b0}; node 1: group 3 = {c0}, group 4 = {d0}, group 5 = {e0,e1} */
    static final List<PublishedDevice> KNOWN = List.of(
            healthy("0000:01:00.0", "1", 0), healthy("0000:01:00.1", "1", 0),
            healthy("0000:02:00.0", "2", 0),
            healthy("0000:81:00.0", "3", 1), healthy("0000:82:00.0", "4", 1),
            healthy("0000:83:00.0", "5", 1), healthy("0000:83:00.1", "5", 1));
    static final List<String> ALL = KNOWN.stream().map(PublishedDevice::id).toList();

    @Test
    void must_include_devices_always_come_first_even_beyond_the_size() {
        assertThat(PreferredAllocation.choose(KNOWN, ALL, List.of("0000:82:00.0", "0000:02:00.0"), 1))
                .containsExactly("0000:82:00.0", "0000:02:00.0");
    }

    @Test
    void the_group_of_a_must_include_device_is_completed_before_anything_else() {
        assertThat(PreferredAllocation.choose(KNOWN, ALL, List.of("0000:83:00.1"), 2))
                .containsExactly("0000:83:00.1", "0000:83:00.0");
    }

    @Test
    void whole_groups_are_preferred_over_splitting_one() {
        // two units on node 0: group 1 whole, not a0 + b0
        assertThat(PreferredAllocation.choose(KNOWN, ALL, List.of(), 2))
                .containsExactly("0000:01:00.0", "0000:01:00.1");
    }

    @Test
    void a_single_unit_comes_from_a_group_of_one_so_no_group_is_split() {
        assertThat(PreferredAllocation.choose(KNOWN, ALL, List.of(), 1)).containsExactly("0000:02:00.0");
    }

    @Test
    void the_numa_node_of_the_must_include_device_is_kept() {
        assertThat(PreferredAllocation.choose(KNOWN, ALL, List.of("0000:81:00.0"), 2))
                .containsExactly("0000:81:00.0", "0000:82:00.0");
    }

    @Test
    void without_must_include_the_node_that_fits_best_is_chosen() {
        // three units: node 0 has exactly 3 (best fit), node 1 has 4
        assertThat(PreferredAllocation.choose(KNOWN, ALL, List.of(), 3))
                .containsExactlyInAnyOrder("0000:01:00.0", "0000:01:00.1", "0000:02:00.0");
    }

    @Test
    void only_offered_devices_are_chosen() {
        List<String> offered = List.of("0000:01:00.1", "0000:81:00.0");
        assertThat(PreferredAllocation.choose(KNOWN, offered, List.of(), 2)).containsExactlyInAnyOrderElementsOf(offered);
    }

    @Test
    void a_group_is_split_only_when_whole_groups_cannot_fill_the_request() {
        List<String> offered = List.of("0000:83:00.0", "0000:83:00.1");
        assertThat(PreferredAllocation.choose(KNOWN, offered, List.of(), 1)).containsExactly("0000:83:00.0");
    }
}
