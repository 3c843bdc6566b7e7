package com.example.vfio.dra;

import static com.example.vfio.dra.DraHosts.GPU_A;
import static com.example.vfio.dra.DraHosts.GPU_A_SIBLING;
import static com.example.vfio.dra.DraHosts.GPU_B;
import static com.example.vfio.dra.DraHosts.GPU_GRACE;
import static com.example.vfio.dra.DraHosts.GPU_HOST_DRIVER;
import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.plugin.GroupAllocations;
import com.example.vfio.plugin.MutableClock;
import com.example.vfio.viability.HostAssessment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DraDevicesTest {
    @TempDir
    Path tmp;

    @Test
    void each_device_is_named_as_a_dns_label_and_says_its_bus_id_root_complex_numa_node_and_our_facts() {
        HostAssessment a = DraHosts.assess(DraHosts.gpuServer(tmp));
        List<DraDevice> devices = DraHosts.devices(a, DraHosts.gpus(a));

        assertThat(devices).extracting(DraDevice::name).containsExactly("pci-0000-41-00-0", "pci-0000-41-00-1",
                "pci-0000-c1-00-0", "pci-0000-c2-00-0", "pci-0000-c3-00-0");
        assertThat(devices.get(0).attributes()).containsExactly(
                Map.entry("resource.kubernetes.io/pciBusID", GPU_A),
                Map.entry("resource.kubernetes.io/pcieRoot", "pci0000:40"),
                Map.entry("resource.kubernetes.io/numaNode", 0L),
                Map.entry("vfio.example.com/resource", "gpu"),
                Map.entry("vfio.example.com/iommuGroup", 14L),
                Map.entry("vfio.example.com/vendor", "10de"),
                Map.entry("vfio.example.com/device", "2330"),
                Map.entry("vfio.example.com/class", "030200"),
                Map.entry("vfio.example.com/driver", "vfio-pci"),
                Map.entry("vfio.example.com/viable", true));
        assertThat(devices.get(4).attributes()).containsEntry("vfio.example.com/driver", "nvgrace_gpu_vfio_pci")
                .containsEntry("resource.kubernetes.io/pcieRoot", "pci0000:c0")
                .containsEntry("resource.kubernetes.io/numaNode", 1L);
    }

    @Test
    void a_device_a_vm_cannot_take_stays_published_tainted_no_schedule_with_the_reason() {
        HostAssessment a = DraHosts.assess(DraHosts.gpuServer(tmp));
        DraDevice onNvidia = DraHosts.devices(a, DraHosts.gpus(a)).get(3);

        assertThat(onNvidia.unit().addresses()).containsExactly(GPU_HOST_DRIVER);
        assertThat(onNvidia.taint()).isNotNull();
        assertThat(onNvidia.taint().value()).isEqualTo("NotViable");
        assertThat(onNvidia.taint().message()).contains("bound to nvidia, not a VFIO driver");
        assertThat(onNvidia.attributes()).containsEntry("vfio.example.com/viable", false);
    }

    @Test
    void a_device_without_numa_affinity_publishes_no_numa_node_and_a_vanished_one_is_left_out() {
        FakeHost host = DraHosts.gpuServer(tmp);
        host.device(GPU_B).numa(-1);
        host.remove(GPU_GRACE).write();
        HostAssessment a = DraHosts.assess(host);

        List<DraDevice> devices = DraHosts.devices(a, DraHosts.gpus(a));

        assertThat(devices).extracting(DraDevice::name).doesNotContain("pci-0000-c3-00-0");
        assertThat(devices).filteredOn(d -> d.name().equals("pci-0000-c1-00-0")).singleElement()
                .satisfies(d -> assertThat(d.attributes()).doesNotContainKey("resource.kubernetes.io/numaNode"));
    }

    @Test
    void a_group_unit_is_one_device_named_after_its_group() {
        HostAssessment a = DraHosts.assess(DraHosts.gpuServer(tmp));
        List<DraDevice> devices = DraHosts.devices(a,
                DraHosts.resource(a, "gpu-pair", AllocationUnit.Group, GPU_A, GPU_A_SIBLING, GPU_B));

        assertThat(devices).extracting(DraDevice::name).containsExactly("iommu-group-14", "iommu-group-40");
        assertThat(devices.get(0).unit().addresses()).containsExactly(GPU_A, GPU_A_SIBLING);
        assertThat(devices.get(0).attributes()).containsEntry("resource.kubernetes.io/pciBusID", GPU_A)
                .containsEntry("vfio.example.com/iommuGroup", 14L);
    }

    @Test
    void a_group_a_device_plugin_pod_holds_taints_our_devices_in_it_and_a_claims_hold_does_not() throws Exception {
        HostAssessment a = DraHosts.assess(DraHosts.gpuServer(tmp));
        GroupAllocations holds = new GroupAllocations(new MutableClock(), Duration.ofSeconds(30));
        holds.acquire("vfio.example.com/gpu-legacy", List.of(new GroupAllocations.Claim(GPU_A, "14", List.of(GPU_A))));
        holds.acquireForClaim(new GroupAllocations.DraClaim("uid-1", "default/vm"), List.of(new GroupAllocations.ClaimedUnit(
                "vfio.example.com/gpu", new GroupAllocations.Claim(GPU_B, "40", List.of(GPU_B)))));

        List<DraDevice> devices = DraDevices.of(a, DraHosts.resource(a, "gpu", AllocationUnit.Device, GPU_A_SIBLING,
                GPU_B), holds.holds());

        assertThat(devices.get(0).taint().value()).isEqualTo("HeldByDevicePlugin");
        assertThat(devices.get(0).taint().message())
                .isEqualTo("IOMMU group 14 is allocated with 0000:41:00.0 to a pod's vfio.example.com/gpu-legacy (device plugin)");
        assertThat(devices.get(1).taint()).as("the claim's device consumes its group's counter: no taint").isNull();
    }
}
