package com.example.vfio.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.PublishWith;
import com.example.vfio.pci.PciAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

class DesiredResourceTest {

    @Test
    void devices_are_grouped_by_resource_and_companions_and_host_entries_are_not_published() {
        List<DesiredDevice> desired = List.of(
                new DesiredDevice("0000:42:00.0", "vfio-pci", "gpu", "gpus", AllocationUnit.Device, true, false, null),
                new DesiredDevice("0000:42:00.1", "vfio-pci", null, "gpus", null, true, false, "0000:42:00.0"),
                new DesiredDevice("0000:41:00.0", "auto", "gpu", "gpus", AllocationUnit.Device, true, false, null),
                new DesiredDevice("0000:81:00.2", "mlx5_vfio_pci", "nic", "nics", AllocationUnit.Group, true, false,
                        null),
                new DesiredDevice("0000:44:00.0", "host", null, "old", null, true, false, null));

        assertThat(DesiredResource.from(desired)).containsExactly(
                new DesiredResource("gpu", AllocationUnit.Device,
                        List.of(PciAddress.parse("0000:41:00.0"), PciAddress.parse("0000:42:00.0"))),
                new DesiredResource("nic", AllocationUnit.Group, List.of(PciAddress.parse("0000:81:00.2"))));
    }

    @Test
    void a_resource_whose_entries_say_dra_goes_to_the_dra_driver_and_the_others_to_the_device_plugin() {
        DesiredDevice gpu = new DesiredDevice("0000:42:00.0", "vfio-pci", "gpu", "gpus", null, null, null, null);
        gpu.setPublishWith(PublishWith.DRA);
        List<DesiredDevice> desired = List.of(gpu,
                new DesiredDevice("0000:81:00.2", "vfio-pci", "nic", "nics", null, null, null, null));

        assertThat(DesiredResource.from(desired)).extracting(DesiredResource::name, DesiredResource::api)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("gpu", PublishWith.DRA),
                        org.assertj.core.groups.Tuple.tuple("nic", PublishWith.DevicePlugin));
    }

    @Test
    void an_entry_without_allocation_unit_is_published_per_device() {
        List<DesiredDevice> desired = List.of(
                new DesiredDevice("0000:42:00.0", "vfio-pci", "gpu", "gpus", null, null, null, null));
        assertThat(DesiredResource.from(desired).get(0).unit()).isEqualTo(AllocationUnit.Device);
    }

    @Test
    void a_device_that_vanished_from_the_host_stays_in_its_resource_but_one_no_longer_selected_goes() {
        PciAddress a = PciAddress.parse("0000:41:00.0");
        PciAddress b = PciAddress.parse("0000:42:00.0");
        PciAddress c = PciAddress.parse("0000:43:00.0");
        List<DesiredResource> before = List.of(new DesiredResource("gpu", AllocationUnit.Device, List.of(a, b, c)));
        List<DesiredResource> now = List.of(new DesiredResource("gpu", AllocationUnit.Device, List.of(a)));

        // b is gone from the host, c is still there but no policy selects it any more
        assertThat(DesiredResource.keepVanished(now, before, java.util.Set.of(a, c)))
                .containsExactly(new DesiredResource("gpu", AllocationUnit.Device, List.of(a, b)));
        // every device of a resource vanished: the resource stays, all of it Unhealthy
        assertThat(DesiredResource.keepVanished(List.of(), before, java.util.Set.of()))
                .containsExactly(new DesiredResource("gpu", AllocationUnit.Device, List.of(a, b, c)));
    }
}
