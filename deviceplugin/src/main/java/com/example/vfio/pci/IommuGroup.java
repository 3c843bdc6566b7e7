package com.example.vfio.pci;

import java.util.List;

/** An IOMMU group and its members, from {@code /sys/kernel/iommu_groups/<id>/devices}. */
public record IommuGroup(String id, List<PciAddress> members) {
    public IommuGroup {
        members = List.copyOf(members);
    }
}
