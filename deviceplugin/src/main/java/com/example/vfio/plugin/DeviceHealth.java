package com.example.vfio.plugin;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.PublishWith;
import com.example.vfio.pci.DeviceNodes;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.viability.DeviceVerdict;
import com.example.vfio.viability.HostAssessment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What the host allows for one resource: each selected device (or group, for {@code allocationUnit: Group})
 * is Healthy exactly when a VM could take it now: it is present, on a VFIO driver, its group is viable,
 * {@code /dev/vfio/<group>} and {@code /dev/vfio/vfio} exist. Pure; allocation holds are laid over the
 * result by {@link GroupLockOverlay}.
 */
public final class DeviceHealth {

    private DeviceHealth() {
    }

    /**
     * @param name    the short resource name ({@code gpu})
     * @param unit    what one allocation hands out
     * @param devices the devices the policies select for the resource
     */
    public static PublishedResource hostView(HostAssessment assessment, String name, AllocationUnit unit,
                                             List<PciAddress> devices) {
        return hostView(assessment, name, PublishWith.DevicePlugin, unit, devices);
    }

    /** @param api the kubelet API the resource goes through: it changes nothing about health */
    public static PublishedResource hostView(HostAssessment assessment, String name, PublishWith api,
                                             AllocationUnit unit, List<PciAddress> devices) {
        DeviceNodes nodes = assessment.snapshot().deviceNodes();
        PublishedResource.HostVfioNodes hostNodes = new PublishedResource.HostVfioNodes(nodes.container(),
                nodes.iommufd());
        List<PublishedDevice> perDevice = new TreeSet<>(devices).stream().map(a -> device(assessment, a)).toList();
        if (unit == AllocationUnit.Device) {
            return new PublishedResource(name, api, perDevice, hostNodes);
        }
        return new PublishedResource(name, api, groupUnits(perDevice), hostNodes);
    }

    static PublishedDevice device(HostAssessment assessment, PciAddress address) {
        String id = address.toString();
        PciDevice d = assessment.snapshot().devices().get(address);
        if (d == null) {
            return PublishedDevice.device(id, false, "not on the host any more (removed or hot-unplugged)", -1, null,
                    List.of());
        }
        DeviceNodes nodes = assessment.snapshot().deviceNodes();
        List<String> cdevs = d.vfioDevs().stream().filter(nodes.cdevs()::contains).sorted().toList();
        DeviceVerdict v = assessment.verdict(address);
        String reason = null;
        if (v == null || !v.viable()) {
            reason = v == null || v.reasons().isEmpty() ? "not ready for a VM" : String.join("; ", v.reasons());
        } else if (!nodes.container()) {
            reason = "/dev/vfio/vfio does not exist: is the vfio module loaded and /dev mounted?";
        }
        return PublishedDevice.device(id, reason == null, reason, d.numaNode(), d.iommuGroup(), cdevs);
    }

    /** One unit per IOMMU group: healthy when every selected member is; devices without a group stay alone. */
    static List<PublishedDevice> groupUnits(List<PublishedDevice> devices) {
        Map<String, List<PublishedDevice>> byGroup = new LinkedHashMap<>();
        List<PublishedDevice> units = new ArrayList<>();
        for (PublishedDevice d : devices) {
            if (d.iommuGroup() == null) {
                units.add(d); // gone or IOMMU off: listed under its address, Unhealthy, so it is not silently dropped
            } else {
                byGroup.computeIfAbsent(d.iommuGroup(), g -> new ArrayList<>()).add(d);
            }
        }
        byGroup.forEach((group, members) -> {
            List<String> problems = new ArrayList<>();
            Set<String> cdevs = new LinkedHashSet<>();
            int numa = -1;
            for (PublishedDevice m : members) {
                if (!m.healthy()) {
                    problems.add(m.id() + ": " + m.reason());
                }
                cdevs.addAll(m.cdevs());
                if (numa < 0) {
                    numa = m.numaNode();
                }
            }
            units.add(new PublishedDevice(PublishedDevice.groupUnitId(group), problems.isEmpty(),
                    String.join("; ", problems), numa, group, List.copyOf(cdevs),
                    members.stream().map(PublishedDevice::id).toList()));
        });
        units.sort(java.util.Comparator.comparing(PublishedDevice::id));
        return units;
    }
}
