package com.example.vfio.api;

import java.util.regex.Pattern;

/** The driver words of {@code spec.driver} and the rules for driver and module names. */
public final class Drivers {
    /** Let the node choose the best VFIO driver from its modules.alias (vfio-pci or a variant). */
    public static final String AUTO = "auto";
    /** Give the device back to the driver the kernel would bind without an override. */
    public static final String HOST = "host";
    public static final String VFIO_PCI = "vfio-pci";

    /** Same rule as the node daemon's name check: a driver or module name never becomes a path escape. */
    public static final String NAME_REGEX = "^[A-Za-z0-9_-]{1,64}$";
    private static final Pattern NAME = Pattern.compile(NAME_REGEX);

    private Drivers() {
    }

    public static boolean isValidName(String name) {
        return name != null && NAME.matcher(name).matches();
    }
}
