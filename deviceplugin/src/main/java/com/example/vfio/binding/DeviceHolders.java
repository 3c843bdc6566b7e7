package com.example.vfio.binding;

import com.example.vfio.pci.PciAddress;
import java.util.List;
import java.util.Optional;

/**
 * Who holds a device on behalf of a workload, as far as Kubernetes knows: the kubelet's PodResources
 * and the device plugin's own allocation records plug in here. A held device is never rebound.
 * Processes that hold a VFIO device open outside Kubernetes are found separately (see {@link BindingGuards}).
 */
@FunctionalInterface
public interface DeviceHolders {
    /** A description of the holder for the admin (e.g. "pod default/vm-1"), empty when nobody holds it. */
    Optional<String> holderOf(PciAddress address);

    /** Nobody is known to hold anything (the standalone {@code apply} without a kubelet). */
    static DeviceHolders none() {
        return address -> Optional.empty();
    }

    /** The first holder any of the sources names. */
    static DeviceHolders anyOf(List<DeviceHolders> sources) {
        List<DeviceHolders> copy = List.copyOf(sources);
        return address -> {
            for (DeviceHolders source : copy) {
                Optional<String> holder = source.holderOf(address);
                if (holder.isPresent()) {
                    return holder;
                }
            }
            return Optional.empty();
        };
    }
}
