package com.example.vfio.viability;

import com.example.vfio.pci.PciAddress;
import java.util.List;

/**
 * Whether one device can go to a VM now: on a VFIO driver, in a viable group whose device node
 * exists. Every "no" has reasons a person can act on.
 */
public record DeviceVerdict(PciAddress address, boolean vfioDriver, boolean viable, List<String> reasons,
        DriverChoice recommended) {
    public DeviceVerdict {
        reasons = List.copyOf(reasons);
    }
}
