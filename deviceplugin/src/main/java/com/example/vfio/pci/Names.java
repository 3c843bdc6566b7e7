package com.example.vfio.pci;

import java.util.regex.Pattern;

/** Validation of every name that becomes part of a sysfs path. */
public final class Names {
    private static final Pattern DRIVER_OR_MODULE = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final Pattern GROUP_ID = Pattern.compile("[0-9]{1,9}");

    private Names() {
    }

    public static boolean isDriverName(String name) {
        return name != null && DRIVER_OR_MODULE.matcher(name).matches();
    }

    /** A kernel driver name such as {@code vfio-pci} or {@code xe-vfio-pci}. */
    public static String requireDriverName(String name) {
        if (!isDriverName(name)) {
            throw new InvalidNameException("not a valid driver name (letters, digits, '_' and '-', at most 64): "
                    + quote(name));
        }
        return name;
    }

    /** A kernel module name such as {@code vfio_pci}; modules always use '_'. */
    public static String requireModuleName(String name) {
        if (!isDriverName(name)) {
            throw new InvalidNameException("not a valid module name (letters, digits, '_' and '-', at most 64): "
                    + quote(name));
        }
        return name;
    }

    public static boolean isGroupId(String id) {
        return id != null && GROUP_ID.matcher(id).matches();
    }

    public static String requireGroupId(String id) {
        if (!isGroupId(id)) {
            throw new InvalidNameException("not an IOMMU group number: " + quote(id));
        }
        return id;
    }

    /** The kernel's module name for a driver or module name: modules always use '_'. */
    public static String moduleForm(String name) {
        return name.replace('-', '_');
    }

    /** Quotes a value for an error message, cut short and with control characters made visible. */
    static String quote(String value) {
        if (value == null) {
            return "(none)";
        }
        StringBuilder out = new StringBuilder("'");
        int limit = Math.min(value.length(), 80);
        for (int i = 0; i < limit; i++) {
            char c = value.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                out.append(String.format("\\x%02x", (int) c));
            } else {
                out.append(c);
            }
        }
        if (value.length() > limit) {
            out.append("...");
        }
        return out.append('\'').toString();
    }
}
