package com.example.vfio.plugin;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Health of published devices, computed from fixture hosts laid out the way the kernel does. */
class DeviceHealthTest {

    @TempDir
    Path tmp;

    /** GPU 41:00.0 whose audio sibling is on snd_hda_intel, GPU+audio 42:00.x both on vfio-pci, 43:00.0 on nouveau. */
    private FakeHost host() {
        FakeHost h = FakeHost.at(tmp).kernel("6.12.0").iommufd(true);
        h.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        h.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(0).group("14").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio0");
        h.device("0000:41:00.1").ids(0x10de, 0x22a3).cls(0x040300).numa(0).group("14")
                .driver("snd_hda_intel", "snd_hda_intel");
        h.devVfio("14");
        h.device("0000:42:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(1).group("15").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio1");
        h.device("0000:42:00.1").ids(0x10de, 0x22a3).cls(0x040300).numa(1).group("15").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio2");
        h.devVfio("15").cdev("vfio1").cdev("vfio2");
        h.device("0000:43:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(-1).group("16").driver("nouveau", "nouveau");
        return h;
    }

    private static HostAssessment assess(FakeHost h) {
        return new ViabilityAnalyzer().assess(new SysfsScanner(h.root()).scan());
    }

    private static List<PciAddress> addresses(String... a) {
        return java.util.Arrays.stream(a).map(PciAddress::parse).toList();
    }

    @Test
    void gpu_on_vfio_pci_whose_audio_function_is_on_snd_hda_intel_is_unhealthy_with_the_group_reason() {
        PublishedResource r = DeviceHealth.hostView(assess(host().write()), "gpu", AllocationUnit.Device,
                addresses("0000:41:00.0"));
        PublishedDevice gpu = r.device("0000:41:00.0").orElseThrow();
        assertThat(gpu.healthy()).isFalse();
        assertThat(gpu.reason()).contains("group 14 is not viable").contains("0000:41:00.1").contains("snd_hda_intel");
    }

    @Test
    void gpu_whose_whole_group_is_on_vfio_pci_is_healthy_with_its_numa_node_and_present_cdev() {
        PublishedResource r = DeviceHealth.hostView(assess(host().write()), "gpu", AllocationUnit.Device,
                addresses("0000:42:00.0"));
        assertThat(r.devices()).containsExactly(
                PublishedDevice.device("0000:42:00.0", true, "", 1, "15", List.of("vfio1")));
        assertThat(r.hostNodes()).isEqualTo(new PublishedResource.HostVfioNodes(true, true));
    }

    @Test
    void gpu_on_its_host_driver_is_unhealthy_and_says_which_driver() {
        PublishedDevice d = DeviceHealth.hostView(assess(host().write()), "gpu", AllocationUnit.Device,
                addresses("0000:43:00.0")).devices().get(0);
        assertThat(d.healthy()).isFalse();
        assertThat(d.reason()).contains("bound to nouveau");
        assertThat(d.numaNode()).isEqualTo(-1);
    }

    @Test
    void a_selected_device_that_disappeared_is_listed_unhealthy_not_dropped() {
        FakeHost h = host().write();
        h.remove("0000:42:00.0").write();
        PublishedDevice d = DeviceHealth.hostView(assess(h), "gpu", AllocationUnit.Device, addresses("0000:42:00.0"))
                .devices().get(0);
        assertThat(d.id()).isEqualTo("0000:42:00.0");
        assertThat(d.healthy()).isFalse();
        assertThat(d.reason()).contains("not on the host");
    }

    @Test
    void without_dev_vfio_vfio_nothing_is_healthy() {
        PublishedDevice d = DeviceHealth.hostView(assess(host().noContainerNode().write()), "gpu",
                AllocationUnit.Device, addresses("0000:42:00.0")).devices().get(0);
        assertThat(d.healthy()).isFalse();
        assertThat(d.reason()).contains("/dev/vfio/vfio does not exist");
    }

    @Test
    void group_node_missing_makes_the_device_unhealthy() {
        FakeHost h = host();
        h.noDevVfio("15");
        PublishedDevice d = DeviceHealth.hostView(assess(h.write()), "gpu", AllocationUnit.Device,
                addresses("0000:42:00.0")).devices().get(0);
        assertThat(d.healthy()).isFalse();
        assertThat(d.reason()).contains("/dev/vfio/15 does not exist");
    }

    @Test
    void group_units_publish_one_unit_per_iommu_group_standing_for_its_selected_devices() {
        PublishedResource r = DeviceHealth.hostView(assess(host().write()), "gpu", AllocationUnit.Group,
                addresses("0000:42:00.1", "0000:42:00.0", "0000:41:00.0"));
        assertThat(r.devices()).extracting(PublishedDevice::id).containsExactly("iommu-group-14", "iommu-group-15");
        PublishedDevice g15 = r.device("iommu-group-15").orElseThrow();
        assertThat(g15.healthy()).isTrue();
        assertThat(g15.addresses()).containsExactly("0000:42:00.0", "0000:42:00.1");
        assertThat(g15.cdevs()).containsExactly("vfio1", "vfio2");
        assertThat(g15.numaNode()).isEqualTo(1);
        PublishedDevice g14 = r.device("iommu-group-14").orElseThrow();
        assertThat(g14.healthy()).isFalse();
        assertThat(g14.reason()).startsWith("0000:41:00.0: ");
    }
}
