package com.example.vfio.pci;

import java.util.Set;

/**
 * The VFIO device nodes present under {@code /dev}.
 *
 * @param container     {@code /dev/vfio/vfio}
 * @param groups        {@code /dev/vfio/<N>}: exists once ONE member of group N is vfio-bound, so it says nothing about viability
 * @param noIommuGroups {@code /dev/vfio/noiommu-<N>}: unsafe no-IOMMU mode, never offered to VMs
 * @param iommufd       {@code /dev/iommu}
 * @param cdevs         {@code /dev/vfio/devices/vfioN}
 */
public record DeviceNodes(boolean container, Set<String> groups, Set<String> noIommuGroups, boolean iommufd,
        Set<String> cdevs) {
    public DeviceNodes {
        groups = Set.copyOf(groups);
        noIommuGroups = Set.copyOf(noIommuGroups);
        cdevs = Set.copyOf(cdevs);
    }
}
