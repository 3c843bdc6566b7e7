package com.example.vfio.pci;

import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Everything the daemon knows about the host at one moment: the single source of truth that
 * viability, plugin health, node status and binding decisions are computed from.
 *
 * @param root          the host root the scan read, for messages
 * @param devices       every PCI function by address, in address order
 * @param groups        IOMMU groups by id
 * @param moduleDrivers for loaded VFIO modules, the PCI driver name each registers (module {@code vfio_pci} → {@code vfio-pci})
 * @param notes         what the scan skipped or could not read, in words for the admin
 */
public record HostSnapshot(
        String root,
        String kernelRelease,
        boolean iommuEnabled,
        SortedMap<PciAddress, PciDevice> devices,
        Map<String, IommuGroup> groups,
        DeviceNodes deviceNodes,
        ModuleAliases aliases,
        Map<String, String> moduleDrivers,
        List<String> notes) {

    public HostSnapshot {
        devices = Collections.unmodifiableSortedMap(new TreeMap<>(devices));
        groups = Map.copyOf(groups);
        moduleDrivers = Map.copyOf(moduleDrivers);
        notes = List.copyOf(notes);
    }

    public Collection<PciDevice> allDevices() {
        return devices.values();
    }

    public Optional<PciDevice> device(PciAddress address) {
        return Optional.ofNullable(devices.get(address));
    }

    public Optional<IommuGroup> group(String id) {
        return Optional.ofNullable(id == null ? null : groups.get(id));
    }
}
