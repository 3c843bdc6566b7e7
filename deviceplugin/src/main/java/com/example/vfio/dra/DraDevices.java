package com.example.vfio.dra;

import com.example.vfio.pci.Names;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.plugin.GroupAllocations;
import com.example.vfio.plugin.PublishedDevice;
import com.example.vfio.plugin.PublishedResource;
import com.example.vfio.viability.HostAssessment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the DRA driver publishes for one resource, from the same host view the device plugin serves (the units of
 * {@link com.example.vfio.plugin.DeviceHealth}, with their health) and the same group holds. Pure.
 *
 * <ul>
 * <li>A unit that is not Healthy stays in the slice, tainted {@code NoSchedule}: the scheduler then neither picks it
 * nor forgets that a claim may still hold it (an allocated device that left the slice would no longer consume its
 * group's counter, and the allocator would hand a sibling to another claim while the VM runs).</li>
 * <li>A unit whose group a device plugin pod holds is tainted the same way: the scheduler knows nothing of device
 * plugin allocations. Groups held by DRA claims need no taint: the claims' devices consume the group's counter.</li>
 * <li>A unit none of whose devices is on the host any more is left out.</li>
 * </ul>
 */
public final class DraDevices {
    /** Attribute strings are limited to 64 characters by the API. */
    private static final int MAX_STRING = 64;

    private DraDevices() {
    }

    /**
     * @param holds every group hold of the node ({@link GroupAllocations#holds()})
     */
    public static List<DraDevice> of(HostAssessment assessment, PublishedResource resource,
                                     Map<String, GroupAllocations.Hold> holds) {
        List<DraDevice> out = new ArrayList<>();
        for (PublishedDevice unit : resource.devices()) {
            List<PciDevice> present = new ArrayList<>();
            for (String a : unit.addresses()) {
                assessment.snapshot().device(PciAddress.parse(a)).ifPresent(present::add);
            }
            if (present.isEmpty() || unit.iommuGroup() == null || !Names.isGroupId(unit.iommuGroup())) {
                continue; // gone, or no IOMMU group: nothing a VM could ever be given, and no counter to consume
            }
            out.add(new DraDevice(DraNames.deviceName(unit), resource.name(), unit,
                    attributes(resource.name(), unit, present.get(0)), taint(unit, holds)));
        }
        return out;
    }

    private static Map<String, Object> attributes(String resource, PublishedDevice unit, PciDevice first) {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put(DraNames.ATTR_PCI_BUS_ID, unit.addresses().get(0));
        if (first.pcieRoot() != null) {
            a.put(DraNames.ATTR_PCIE_ROOT, first.pcieRoot());
        }
        if (unit.numaNode() >= 0) {
            a.put(DraNames.ATTR_NUMA_NODE, (long) unit.numaNode()); // never for -1: it would match every NUMA-less device
        }
        a.put(DraNames.ATTR_RESOURCE, resource);
        a.put(DraNames.ATTR_IOMMU_GROUP, Long.parseLong(unit.iommuGroup()));
        putIfKnown(a, DraNames.ATTR_VENDOR, first.vendorHex());
        putIfKnown(a, DraNames.ATTR_DEVICE, first.deviceHex());
        putIfKnown(a, DraNames.ATTR_CLASS, first.classHex());
        putIfKnown(a, DraNames.ATTR_DRIVER, first.driver());
        a.put(DraNames.ATTR_VIABLE, unit.healthy());
        return a;
    }

    private static void putIfKnown(Map<String, Object> a, String name, String value) {
        if (value != null && value.length() <= MAX_STRING) {
            a.put(name, value);
        }
    }

    private static DraDevice.Taint taint(PublishedDevice unit, Map<String, GroupAllocations.Hold> holds) {
        if (!unit.healthy()) {
            return new DraDevice.Taint("NotViable", unit.reason());
        }
        GroupAllocations.Hold h = holds.get(unit.iommuGroup());
        if (h != null && h.claim() == null) {
            return new DraDevice.Taint("HeldByDevicePlugin", "IOMMU group " + h.group() + " is allocated with "
                    + h.holders() + " to a pod's " + h.resource() + " (device plugin)");
        }
        return null;
    }
}
