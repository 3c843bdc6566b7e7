package com.example.vfio.plugin;

import java.util.List;

/** Hand-made host views of a resource, for the kubelet-side tests. */
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
     * Two GPUs sharing IOMMU group 14 on NUMA node 0, one GPU alone in group 40 on node 1, and one on node 1
     * still bound to its host driver.
     */
    static PublishedResource gpus(PublishedResource.HostVfioNodes nodes) {
        return new PublishedResource("gpu", List.of(
                healthy("0000:41:00.0", "14", 0, "vfio0"),
                healthy("0000:41:00.1", "14", 0, "vfio1"),
                healthy("0000:c1:00.0", "40", 1, "vfio2"),
                unhealthy("0000:c2:00.0", "41", 1, "driver nvidia is not a VFIO driver")), nodes);
    }
}
