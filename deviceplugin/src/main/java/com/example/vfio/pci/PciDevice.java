package com.example.vfio.pci;

import java.util.List;

/**
 * What sysfs says about one PCI function at the moment of a scan. Ids are -1 when the file was
 * missing or malformed; {@link #problems()} then says which file and why.
 *
 * @param driver         name of the bound driver ({@code driver} link), null when unbound or unknown
 * @param driverUnknown  a {@code driver} link exists but does not lead to {@code sys/bus/pci/drivers/<name>} of
 *                       the root: something holds the device, but nothing says which driver ({@code driver} is
 *                       null); such a device is never viable, blocks its group and is never rebound
 * @param driverModule   module of that driver ({@code drivers/<name>/module} link), null when unknown or built in
 * @param driverOverride {@code driver_override}, null when unset ({@code (null)}), as read when the scanner
 *                       first saw the device or its driver link change (binding reads the file itself)
 * @param vfioDevs       entries of {@code vfio-dev/} ({@code vfio0}, ...): present while any VFIO driver holds it
 * @param iommuGroup     the group number, null when the device has no group (IOMMU off)
 * @param pcieRoot       the PCIe root complex above it ({@code pci0000:00}: the first directory of its real path below
 *                       {@code sys/devices}, KEP-4381's {@code resource.kubernetes.io/pcieRoot}); null when unknown
 */
public record PciDevice(
        PciAddress address,
        int vendor,
        int device,
        int subsystemVendor,
        int subsystemDevice,
        int classCode,
        String modalias,
        int numaNode,
        int headerType,
        String driver,
        boolean driverUnknown,
        String driverModule,
        String driverOverride,
        boolean bootVga,
        PciAddress physfn,
        List<PciAddress> virtfns,
        int sriovNumVfs,
        int sriovTotalVfs,
        List<String> vfioDevs,
        String iommuGroup,
        String pcieRoot,
        List<String> problems) {

    public static final int HEADER_ENDPOINT = 0;
    public static final int HEADER_BRIDGE = 1;
    public static final int HEADER_CARDBUS = 2;

    public PciDevice {
        virtfns = List.copyOf(virtfns);
        vfioDevs = List.copyOf(vfioDevs);
        problems = List.copyOf(problems);
    }

    public String vendorHex() {
        return hex(vendor, 4);
    }

    public String deviceHex() {
        return hex(device, 4);
    }

    public String classHex() {
        return hex(classCode, 6);
    }

    public boolean isBound() {
        return driver != null || driverUnknown;
    }

    /** Host, ISA, PCI-to-PCI and CardBus bridges (class 06, or a bridge header): never a VM's device. */
    public boolean isBridge() {
        return headerType == HEADER_BRIDGE || headerType == HEADER_CARDBUS || (classCode >= 0 && classCode >>> 16 == 0x06);
    }

    public boolean hasVfsEnabled() {
        return sriovNumVfs > 0;
    }

    static String hex(int value, int digits) {
        if (value < 0) {
            return null;
        }
        String s = Integer.toHexString(value);
        return s.length() >= digits ? s : "0".repeat(digits - s.length()) + s;
    }
}
