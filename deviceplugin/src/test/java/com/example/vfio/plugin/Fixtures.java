package com.example.vfio.plugin;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.nio.file.Path;
import java.util.List;

/** Fixture hosts and host views of a resource, for the kubelet-side tests. */
final class Fixtures {
    static final String GPU = "vfio.example.com/gpu";
    static final PublishedResource.HostVfioNodes LEGACY = new PublishedResource.HostVfioNodes(true, false);
    static final PublishedResource.HostVfioNodes IOMMUFD = new PublishedResource.HostVfioNodes(true, true);

    private Fixtures() {
    }

    static PublishedDevice healthy(String address, String group, int numa, String... cdevs) {
        return PublishedDevice.device(address, true, "", numa, group, List.of(cdevs));
    }

    static PublishedDevice unhealthy(String address, String group, int numa, String reason) {
        return PublishedDevice.device(address, false, reason, numa, group, List.of());
    }

    /**
     * Two GPUs sharing IOMMU group 14 on NUMA node 0 (both on vfio-pci), one GPU alone in group 40 on node 1,
     * and one on node 1 still bound to the host driver nvidia.
     */
    static FakeHost gpuHost(Path dir, boolean iommufd) {
        FakeHost h = FakeHost.at(dir).kernel("6.12.0").iommufd(iommufd);
        h.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        h.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(0).group("14")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        h.device("0000:41:00.1").ids(0x10de, 0x2330).cls(0x030200).numa(0).group("14")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio1");
        h.devVfio("14");
        h.device("0000:c1:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(1).group("40")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio2");
        h.devVfio("40");
        h.device("0000:c2:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(1).group("41").driver("nvidia", "nvidia");
        if (iommufd) {
            h.cdev("vfio0").cdev("vfio1").cdev("vfio2");
        }
        return h.write();
    }

    /** The resource {@code gpu} selecting the four GPUs of {@link #gpuHost}, as the host is now. */
    static PublishedResource gpus(FakeHost host) {
        return DeviceHealth.hostView(new ViabilityAnalyzer().assess(new SysfsScanner(host.root()).scan()), "gpu",
                AllocationUnit.Device, List.of("0000:41:00.0", "0000:41:00.1", "0000:c1:00.0", "0000:c2:00.0")
                        .stream().map(PciAddress::parse).toList());
    }
}
