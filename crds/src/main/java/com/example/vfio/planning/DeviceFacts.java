package com.example.vfio.planning;

import com.example.vfio.api.InventoryDevice;

import java.util.Locale;
import java.util.Objects;

/**
 * What the planner needs to know about one PCI function. Hex strings are lower-cased here.
 *
 * @param address    "0000:41:00.0"
 * @param vendor     4 hex digits
 * @param device     4 hex digits
 * @param classCode  6 hex digits
 * @param driver     the device's <em>host</em> driver, matched by {@code selector.drivers}: the driver it had before
 *                   this project rebound it (binding journal) when known, else the current one; null when unbound.
 *                   Using the host driver keeps a {@code drivers: [nouveau]} policy matching after the device moved to vfio-pci.
 * @param iommuGroup group id, null without an IOMMU
 */
public record DeviceFacts(String address, String vendor, String device, String classCode, String driver, String iommuGroup) {

    public DeviceFacts {
        Objects.requireNonNull(address, "address");
        address = address.toLowerCase(Locale.ROOT);
        vendor = lower(vendor);
        device = lower(device);
        classCode = lower(classCode);
    }

    private static String lower(String s) {
        return s == null ? null : s.toLowerCase(Locale.ROOT);
    }

    /** From a node's reported inventory entry (operator side): the journal's host driver wins over the current one. */
    public static DeviceFacts from(InventoryDevice d) {
        String driver = d.getHostDriver() != null ? d.getHostDriver() : d.getDriver();
        return new DeviceFacts(d.getAddress(), d.getVendor(), d.getDevice(), d.getClassCode(), driver, d.getGroup());
    }

    /** PCI-to-PCI and CardBus bridges: vfio-pci refuses them and VFIO tolerates them in a group unbound or on pcieport. */
    public boolean isBridge() {
        return classCode != null && (classCode.startsWith("0604") || classCode.startsWith("0607"));
    }
}
