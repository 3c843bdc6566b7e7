package com.example.vfio.plugin;

import java.util.List;
import java.util.Objects;

/**
 * One unit the kubelet sees for a resource, as listed by ListAndWatch.
 *
 * <p>The ID contract: for {@code allocationUnit: Device} the ID is the PCI address ({@code 0000:41:00.0})
 * and {@code addresses} is exactly that address. For {@code allocationUnit: Group} the ID is
 * {@code iommu-group-<N>} and {@code addresses} lists the resource's devices in that group in address
 * order; those addresses are what Allocate hands to the VM.
 *
 * @param id        device ID on the wire (at most 63 characters)
 * @param healthy   true exactly when a VM could take the unit now
 * @param reason    why the unit is unhealthy (empty when healthy)
 * @param numaNode  NUMA node of the unit, -1 when unknown (no TopologyInfo then)
 * @param iommuGroup IOMMU group ID, null when the device has none (then it is never healthy)
 * @param cdevs     iommufd character devices ({@code vfioN} under /dev/vfio/devices) present on the host
 * @param addresses PCI addresses the unit stands for, in the order handed to the VM
 */
public record PublishedDevice(String id, boolean healthy, String reason, int numaNode, String iommuGroup,
                              List<String> cdevs, List<String> addresses) {

    public static final int MAX_ID_LENGTH = 63;

    public PublishedDevice {
        Objects.requireNonNull(id, "id");
        if (id.isEmpty() || id.length() > MAX_ID_LENGTH) {
            throw new IllegalArgumentException("device ID must have 1 to 63 characters: '" + id + "'");
        }
        reason = healthy ? "" : Objects.requireNonNull(reason, "reason");
        cdevs = List.copyOf(cdevs);
        addresses = List.copyOf(addresses);
        if (addresses.isEmpty()) {
            throw new IllegalArgumentException("device " + id + " stands for no PCI address");
        }
    }

    /** A Device unit: the ID is the PCI address. */
    public static PublishedDevice device(String address, boolean healthy, String reason, int numaNode,
                                         String iommuGroup, List<String> cdevs) {
        return new PublishedDevice(address, healthy, reason, numaNode, iommuGroup, cdevs, List.of(address));
    }

    /** The ID a Group unit carries on the wire. */
    public static String groupUnitId(String iommuGroup) {
        return "iommu-group-" + iommuGroup;
    }

    public PublishedDevice withHealth(boolean nowHealthy, String why) {
        return new PublishedDevice(id, nowHealthy, why, numaNode, iommuGroup, cdevs, addresses);
    }
}
