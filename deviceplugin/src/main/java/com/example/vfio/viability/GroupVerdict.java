package com.example.vfio.viability;

import com.example.vfio.pci.PciAddress;
import java.util.List;

/** Whether an IOMMU group can be handed to a VM, and if not, who blocks it and what to do. */
public record GroupVerdict(String id, boolean viable, List<PciAddress> devices, List<Blocker> blockers,
        boolean noIommu, List<String> reasons) {
    public GroupVerdict {
        devices = List.copyOf(devices);
        blockers = List.copyOf(blockers);
        reasons = List.copyOf(reasons);
    }
}
