package com.example.vfio.plugin;

import java.util.List;
import java.util.Map;

/**
 * Lays the allocation holds over what the host allows: a unit whose IOMMU group is held by another
 * unit's allocation is Unhealthy (the kubelet must not hand it to another container). Pure.
 */
public final class GroupLockOverlay {

    private GroupLockOverlay() {
    }

    public static PublishedResource apply(PublishedResource host, Map<String, GroupAllocations.Hold> holds) {
        if (holds.isEmpty()) {
            return host;
        }
        List<PublishedDevice> devices = host.devices().stream().map(d -> {
            GroupAllocations.Hold h = GroupAllocations.blocking(holds, host.resourceName(), d.id(), d.iommuGroup());
            if (h == null || !d.healthy()) {
                return d;
            }
            return d.withHealth(false, "held with " + h.holders() + " (IOMMU group " + h.group()
                    + " is allocated to another container)");
        }).toList();
        return host.withDevices(devices);
    }
}
