package com.example.vfio.viability;

import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import java.util.Collections;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/** A snapshot with the verdict on every device and group: what the CLI, plugin and node status show. */
public record HostAssessment(HostSnapshot snapshot, SortedMap<PciAddress, DeviceVerdict> devices,
        Map<String, GroupVerdict> groups) {
    public HostAssessment {
        devices = Collections.unmodifiableSortedMap(new TreeMap<>(devices));
        groups = Map.copyOf(groups);
    }

    /** The verdict on a device of the snapshot, null for an address the snapshot does not have. */
    public DeviceVerdict verdict(PciAddress address) {
        return devices.get(address);
    }

    /** The verdict on the device's group, null when it has none. */
    public GroupVerdict groupOf(PciAddress address) {
        PciDevice device = snapshot.devices().get(address);
        return device == null || device.iommuGroup() == null ? null : groups.get(device.iommuGroup());
    }
}
