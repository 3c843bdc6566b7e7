package com.example.vfio.pci;

import java.nio.file.Path;

/**
 * Where a device's {@code driver} link leads. The kernel makes it {@code ../../../bus/pci/drivers/<name>} (as many
 * {@code ..} as the device is deep), always into the same sysfs; a link that leads anywhere else ({@code /etc}, a
 * driver directory of another tree) names no driver of this host, however its last component reads.
 */
public final class DriverLink {
    private DriverLink() {
    }

    /**
     * The driver the link names, or null when it does not lead to {@code <realRoot>/sys/bus/pci/drivers/<name>}
     * with a valid driver name. Decided on the link's text alone, without a system call: leading {@code ..}
     * climb out of {@code realDeviceDir}, whose components are real directories, and a {@code .} or {@code ..}
     * after a descent is refused (through a symbolic link it would not climb where the text says).
     *
     * @param realRoot      the host root's real path
     * @param realDeviceDir the device's directory, as a real path ({@code sys/devices/...})
     * @param target        the link's target as read
     */
    public static String driverName(Path realRoot, Path realDeviceDir, Path target) {
        Path last = target.getFileName();
        if (last == null || !Names.isDriverName(last.toString())) {
            return null;
        }
        Path at = target.isAbsolute() ? target.getRoot() : realDeviceDir;
        boolean descended = false;
        for (Path part : target) {
            String p = part.toString();
            if (p.equals("..") && !descended) {
                at = at.getParent();
                if (at == null) {
                    return null;
                }
            } else if (p.equals(".") || p.equals("..")) {
                return null;
            } else {
                descended = true;
                at = at.resolve(p);
            }
        }
        return at.equals(realRoot.resolve("sys/bus/pci/drivers").resolve(last.toString())) ? last.toString() : null;
    }

    /** The words for a device whose link {@link #driverName} refused. */
    public static String problem(Path target, Path root) {
        return "driver link points to " + Names.quote(target.toString()) + ", not to a driver in " + root
                + "/sys/bus/pci/drivers: which driver holds the device is unknown, so it is not offered to VMs and"
                + " never rebound (is the root a faithful copy of sysfs?)";
    }
}
