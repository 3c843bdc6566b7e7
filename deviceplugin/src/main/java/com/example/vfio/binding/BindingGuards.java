package com.example.vfio.binding;

import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import java.nio.file.Files;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The safety checks before a device is rebound, one function each. Each answers with the reason to
 * refuse, for the admin, or empty. A refused device is not touched at all. {@code force: true} lifts
 * only the checks that protect the node's own console, disks and network; nothing lifts the others.
 * The node-wide facts (open files, mounts, interfaces) are read once per instance: make a new one
 * for a fresh look.
 */
public final class BindingGuards {
    private final DeviceHolders holders;
    private final HostUsage usage;
    private final PciSysfs sysfs;
    private HostUsage.OpenFiles openFiles;
    private Map<PciAddress, List<String>> mounts;
    private Map<PciAddress, List<String>> interfaces;

    public BindingGuards(PciSysfs sysfs, DeviceHolders holders) {
        this.sysfs = sysfs;
        this.holders = holders;
        this.usage = new HostUsage(sysfs.root());
    }

    /** Every check that applies before binding a device to a VFIO driver, first refusal wins. */
    public Optional<String> beforeBind(PciDevice device, boolean force) {
        return first(heldByPod(device), openByProcess(device), withoutIommuGroup(device), bridge(device),
                pfWithVfsEnabled(device),
                force ? Optional.empty() : bootVga(device),
                force ? Optional.empty() : backsMountedFileSystem(device),
                force ? Optional.empty() : backsUpNetworkInterface(device));
    }

    /** The checks before giving a device back to the host: only whether someone is using it. */
    public Optional<String> beforeRelease(PciDevice device) {
        return first(heldByPod(device), openByProcess(device));
    }

    @SafeVarargs
    private static Optional<String> first(Optional<String>... checks) {
        for (Optional<String> check : checks) {
            if (check.isPresent()) {
                return check;
            }
        }
        return Optional.empty();
    }

    /**
     * Its driver link leads to no driver of the root: whatever holds it is unknown, so neither binding nor
     * giving it back can be planned (which driver to unbind, which one to restore). Checked before anything
     * else, for every desired driver.
     */
    public Optional<String> unknownDriver(PciDevice device) {
        return device.driverUnknown() ? Optional.of("its driver link does not lead to a driver in "
                + sysfs.root() + "/sys/bus/pci/drivers, so what holds it is unknown: it is never rebound (the"
                + " device's reasons in inspect say where the link leads)") : Optional.empty();
    }

    /** A pod holds it (PodResources, or the device plugin's allocation records). */
    public Optional<String> heldByPod(PciDevice device) {
        return heldByPod(device.address());
    }

    public Optional<String> heldByPod(PciAddress address) {
        return holders.holderOf(address).map(holder -> "held by " + holder
                + ": a device a pod holds is never rebound; it is done once the pod releases it");
    }

    /**
     * A process on the node has its group node or its VFIO cdev open: QEMU started outside
     * Kubernetes, DPDK, or a VM in a pod the kubelet did not report.
     */
    public Optional<String> openByProcess(PciDevice device) {
        return openByProcess(device.address(), device.iommuGroup());
    }

    /** As {@link #openByProcess(PciDevice)}, for the device's address and group read fresh. */
    public Optional<String> openByProcess(PciAddress address, String group) {
        Set<String> nodes = new LinkedHashSet<>();
        if (group != null) {
            nodes.add("/dev/vfio/" + group);
            nodes.add("/dev/vfio/noiommu-" + group);
        }
        for (String cdev : sysfs.vfioDevsOf(address)) {
            if (cdev.matches("vfio[0-9]{1,9}")) {
                nodes.add("/dev/vfio/devices/" + cdev);
            }
        }
        if (openFiles == null) {
            openFiles = usage.vfioOpenFiles();
        }
        HostUsage.OpenFiles open = openFiles;
        List<HostUsage.Opener> openers = open.openersOf(nodes);
        if (!openers.isEmpty()) {
            return Optional.of(openers.stream().map(HostUsage.Opener::describe).collect(Collectors.joining(", "))
                    + ": the device is in use (a VM or DPDK outside Kubernetes?); stop it first");
        }
        boolean groupNodeExists = group != null && Files.exists(sysfs.root().devVfio().resolve(group));
        if (groupNodeExists && !open.unreadablePids().isEmpty()) {
            return Optional.of("cannot tell whether a process has /dev/vfio/" + group + " open: the open"
                    + " files of " + open.unreadablePids().size() + " processes are unreadable (run as root)");
        }
        return Optional.empty();
    }

    public Optional<String> withoutIommuGroup(PciDevice device) {
        return device.iommuGroup() != null ? Optional.empty()
                : Optional.of("has no IOMMU group: VFIO cannot isolate it (enable the IOMMU: intel_iommu=on or"
                        + " amd_iommu=on, and DMA remapping in the firmware)");
    }

    public Optional<String> bridge(PciDevice device) {
        return device.isBridge() ? Optional.of("is a PCI bridge: vfio-pci refuses bridges, and the devices behind it"
                + " depend on it") : Optional.empty();
    }

    public Optional<String> pfWithVfsEnabled(PciDevice device) {
        return device.hasVfsEnabled() ? Optional.of("is an SR-IOV PF with " + device.sriovNumVfs() + " VFs enabled:"
                + " vfio-pci refuses it (EBUSY); hand its VFs to VMs, or set sriov_numvfs to 0 first") : Optional.empty();
    }

    public Optional<String> bootVga(PciDevice device) {
        return device.bootVga() ? Optional.of("boot VGA device (the node's console); set force: true to bind it anyway")
                : Optional.empty();
    }

    public Optional<String> backsMountedFileSystem(PciDevice device) {
        if (mounts == null) {
            mounts = usage.mountsByDevice();
        }
        List<String> uses = mounts.get(device.address());
        return uses == null ? Optional.empty() : Optional.of("backs the node's mounted file systems ("
                + String.join(", ", uses) + "); set force: true to bind it anyway");
    }

    public Optional<String> backsUpNetworkInterface(PciDevice device) {
        if (interfaces == null) {
            interfaces = usage.interfacesByDevice();
        }
        List<String> ifs = interfaces.get(device.address());
        return ifs == null ? Optional.empty() : Optional.of("backs the node's network interface "
                + String.join(", ", ifs) + " (up, with an address); set force: true to bind it anyway");
    }
}
