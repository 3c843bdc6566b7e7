package com.example.vfio.viability;

import com.example.vfio.pci.PciAddress;

/**
 * A group member on a host driver that uses DMA: it keeps the whole group from user space.
 *
 * @param driver the driver, null when unknown (the device's driver link names no driver of the host)
 */
public record Blocker(PciAddress address, String driver) {
}
