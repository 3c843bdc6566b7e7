package com.example.vfio.viability;

import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.IommuGroup;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Applies the kernel's group ownership rule (5.19+) to a snapshot. A group is owned entirely by the
 * kernel or entirely by user space: it is viable when every member is driverless, on a VFIO driver,
 * or on {@code pci-stub} / {@code pcieport} (drivers that set {@code driver_managed_dma}). Any other
 * driver, {@code pci-pf-stub} included, blocks the whole group.
 */
public final class ViabilityAnalyzer {
    /** Host drivers that declare driver_managed_dma and so may stay in a group user space owns. */
    static final Set<String> DMA_SAFE_HOST_DRIVERS = Set.of("pci-stub", "pcieport");

    public HostAssessment assess(HostSnapshot snapshot) {
        VfioDriverTest vfio = VfioDriverTest.of(snapshot);
        DriverChooser chooser = DriverChooser.of(snapshot);

        Map<String, GroupVerdict> groups = new HashMap<>();
        for (IommuGroup group : snapshot.groups().values()) {
            groups.put(group.id(), judgeGroup(group, snapshot, vfio));
        }
        // Thousands of VFs share a handful of modaliases: choose once per modalias, not once per device
        // (each choice globs the modalias against every vfio_pci alias of the host).
        Map<String, DriverChoice> choices = new HashMap<>();
        TreeMap<PciAddress, DeviceVerdict> devices = new TreeMap<>();
        for (PciDevice device : snapshot.allDevices()) {
            GroupVerdict group = device.iommuGroup() == null ? null : groups.get(device.iommuGroup());
            DriverChoice recommended = device.modalias() == null ? chooser.best(device)
                    : choices.computeIfAbsent(device.modalias(), chooser::best);
            devices.put(device.address(), judgeDevice(device, group, snapshot, vfio, recommended));
        }
        return new HostAssessment(snapshot, devices, groups);
    }

    private static GroupVerdict judgeGroup(IommuGroup group, HostSnapshot snapshot, VfioDriverTest vfio) {
        List<Blocker> blockers = new ArrayList<>();
        for (PciAddress member : group.members()) {
            PciDevice device = snapshot.devices().get(member);
            if (device == null || !device.isBound()) {
                continue;
            }
            if (device.driverUnknown()) {
                blockers.add(new Blocker(member, null)); // whatever holds it may use DMA
            } else if (!DMA_SAFE_HOST_DRIVERS.contains(device.driver()) && !vfio.isVfioDriver(device)) {
                blockers.add(new Blocker(member, device.driver()));
            }
        }
        boolean noIommu = snapshot.deviceNodes().noIommuGroups().contains(group.id());
        List<String> reasons = new ArrayList<>();
        if (noIommu) {
            reasons.add("group " + group.id() + " uses no-IOMMU mode: there is no DMA isolation, so it is never"
                    + " offered to VMs (enable the IOMMU instead of vfio enable_unsafe_noiommu_mode)");
        }
        if (!blockers.isEmpty()) {
            reasons.add("group " + group.id() + " is not viable: " + describe(blockers));
        }
        return new GroupVerdict(group.id(), blockers.isEmpty() && !noIommu, group.members(), blockers, noIommu,
                reasons);
    }

    private static DeviceVerdict judgeDevice(PciDevice device, GroupVerdict group, HostSnapshot snapshot,
            VfioDriverTest vfio, DriverChoice recommended) {
        boolean onVfio = vfio.isVfioDriver(device);
        List<String> reasons = new ArrayList<>();

        if (device.iommuGroup() == null) {
            reasons.add(snapshot.iommuEnabled()
                    ? "no IOMMU group: the IOMMU does not cover this device (check firmware DMA remapping settings)"
                    : "no IOMMU group: enable the IOMMU (intel_iommu=on / amd_iommu=on)");
        }
        if (device.isBridge()) {
            reasons.add("is a PCI bridge: never handed to a VM (vfio-pci refuses bridges); in a VM's group it must stay"
                    + " driverless or on pcieport");
        } else if (!onVfio && !device.driverUnknown()) { // an unknown driver is said by the scan's problem
            String target = recommended.driver();
            if (device.driver() == null) {
                reasons.add("not bound to any driver: bind it to " + target + " for a VM");
            } else {
                reasons.add("bound to " + device.driver() + ", not a VFIO driver: bind it to " + target + " for a VM");
            }
        }
        if (device.hasVfsEnabled()) {
            reasons.add("has " + device.sriovNumVfs() + " SR-IOV VFs enabled: vfio-pci refuses a PF with VFs"
                    + " (hand the VFs to VMs, or set sriov_numvfs to 0)");
        }
        if (device.modalias() == null) {
            reasons.add("modalias unreadable: 'auto' can only choose vfio-pci");
        }
        if (group != null) {
            if (group.noIommu()) {
                reasons.add(group.reasons().get(0));
            }
            String siblings = otherBlockers(group, device);
            if (!siblings.isEmpty()) {
                reasons.add("group " + group.id() + " is not viable: " + siblings);
            }
            if (onVfio && group.viable() && !snapshot.deviceNodes().groups().contains(group.id())) {
                reasons.add("/dev/vfio/" + group.id() + " does not exist: is the vfio module loaded and /dev mounted?");
            }
        }
        for (String problem : device.problems()) {
            reasons.add("sysfs: " + problem);
        }
        boolean viable = onVfio && group != null && group.viable()
                && snapshot.deviceNodes().groups().contains(group.id());
        return new DeviceVerdict(device.address(), onVfio, viable, reasons, recommended);
    }

    /** The group's blockers other than the device itself, described; empty when there are none. */
    private static String otherBlockers(GroupVerdict group, PciDevice device) {
        List<Blocker> others = group.blockers().stream().filter(b -> !b.address().equals(device.address())).toList();
        return others.isEmpty() ? "" : describe(others);
    }

    private static String describe(List<Blocker> blockers) {
        List<String> parts = new ArrayList<>();
        List<Blocker> known = blockers.stream().filter(b -> b.driver() != null).toList();
        if (!known.isEmpty()) {
            String them = known.size() == 1 ? "it" : "them";
            parts.add(known.stream().map(b -> b.address() + " is bound to " + b.driver() + " (a host driver that uses DMA)")
                    .collect(Collectors.joining("; "))
                    + "; bind " + them + " to vfio-pci too (companions: Bind) or unbind " + them);
        }
        // nothing rebinds a device whose driver is unknown: its own reasons say what to fix
        blockers.stream().filter(b -> b.driver() == null).forEach(b -> parts.add(b.address()
                + " is bound to a driver its sysfs link does not name (see its reasons)"));
        return String.join("; ", parts);
    }
}
