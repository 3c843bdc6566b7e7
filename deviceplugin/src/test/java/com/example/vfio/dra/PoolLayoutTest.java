package com.example.vfio.dra;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.plugin.PublishedDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class PoolLayoutTest {

    static DraDevice device(String resource, int n, String group) {
        String address = String.format("0000:%02x:%02x.%d", n / 256, (n / 8) % 32, n % 8);
        PublishedDevice unit = PublishedDevice.device(address, true, "", 0, group, List.of());
        return new DraDevice(DraNames.deviceName(unit), resource, unit, Map.of(), null);
    }

    @Test
    void every_group_gets_one_counter_of_capacity_one_in_a_counter_slice_before_the_device_slices() {
        List<DraDevice> devices = List.of(device("gpu", 1, "14"), device("gpu", 2, "14"), device("nic", 3, "2"));

        PoolLayout.Pool pool = PoolLayout.layout(devices);

        assertThat(pool.slices()).extracting(PoolLayout.Slice::part).containsExactly("counters-0", "dev-gpu-0", "dev-nic-0");
        assertThat(pool.slices().get(0).counterSets()).singleElement().satisfies(s -> {
            assertThat(s.name()).isEqualTo("iommu-groups-0");
            assertThat(s.groups()).as("numeric order").containsExactly("2", "14");
        });
        assertThat(pool.counterSetOfGroup()).containsEntry("14", "iommu-groups-0").containsEntry("2", "iommu-groups-0");
    }

    @Test
    void slices_stay_within_the_api_limits_on_a_large_node() {
        List<DraDevice> devices = new ArrayList<>();
        // 600 groups of one device and 130 devices in groups of two: 665 groups, 730 devices
        IntStream.range(0, 600).forEach(i -> devices.add(device("vf", i, Integer.toString(1000 + i))));
        IntStream.range(0, 130).forEach(i -> devices.add(device("gpu", 600 + i, Integer.toString(i / 2))));

        PoolLayout.Pool pool = PoolLayout.layout(devices);

        int groups = 600 + 65;
        List<PoolLayout.Slice> counterSlices = pool.slices().stream().filter(s -> !s.counterSets().isEmpty()).toList();
        assertThat(counterSlices).allSatisfy(s -> {
            assertThat(s.counterSets()).hasSizeLessThanOrEqualTo(8);
            assertThat(s.counterSets()).allSatisfy(c -> assertThat(c.groups()).hasSizeLessThanOrEqualTo(32));
        });
        assertThat(counterSlices.stream().mapToInt(s -> s.counterSets().stream().mapToInt(c -> c.groups().size()).sum())
                .sum()).isEqualTo(groups);
        assertThat(counterSlices).hasSize((int) Math.ceil(Math.ceil(groups / 32.0) / 8.0));
        assertThat(pool.slices()).allSatisfy(s -> assertThat(s.devices()).hasSizeLessThanOrEqualTo(64));
        assertThat(pool.devices()).containsExactlyInAnyOrderElementsOf(devices);
        assertThat(pool.slices()).extracting(PoolLayout.Slice::part).doesNotHaveDuplicates()
                .contains("dev-gpu-0", "dev-gpu-2", "dev-vf-9");
    }

    @Test
    void the_same_devices_give_the_same_pool() {
        List<DraDevice> devices = List.of(device("gpu", 1, "14"), device("gpu", 2, "40"));
        assertThat(PoolLayout.layout(devices)).isEqualTo(PoolLayout.layout(List.copyOf(devices)));
        assertThat(PoolLayout.layout(List.of())).isEqualTo(PoolLayout.Pool.EMPTY);
    }
}
