package com.example.vfio.binding;

import java.util.Locale;

/**
 * Where a binding step takes a device: the {@code driver_override} it writes and the driver it must
 * end on.
 *
 * @param driver   the driver for {@link Expect#EXACT}; null otherwise
 * @param override the {@code driver_override} to write, null to clear it
 */
public record Goal(String driver, String override, Expect expect) {
    /** How the end of a step is recognised. */
    public enum Expect {
        /** Bound to exactly {@link Goal#driver()}. */
        EXACT,
        /** No driver at all (the device was driverless before the project touched it). */
        DRIVERLESS,
        /** Any driver that is not a VFIO driver, or none: the kernel's own choice for a device given back. */
        HOST;

        public String word() {
            return name().toLowerCase(Locale.ROOT);
        }

        static Expect parse(String word) {
            return word == null ? EXACT : valueOf(word.toUpperCase(Locale.ROOT));
        }
    }

    public static Goal exact(String driver, String override) {
        return new Goal(driver, override, Expect.EXACT);
    }

    /** Back to a recorded state: its driver with its override, or driverless with its override. */
    public static Goal backTo(DriverState state) {
        return state.driver() == null ? new Goal(null, state.override(), Expect.DRIVERLESS)
                : exact(state.driver(), state.override());
    }

    /** Whatever driver the kernel binds without an override, as long as it is not a VFIO driver. */
    public static Goal anyHostDriver() {
        return new Goal(null, null, Expect.HOST);
    }

    /** Whether the kernel is asked to probe a driver once the device is free. */
    public boolean probes() {
        return expect != Expect.DRIVERLESS;
    }

    public String describe() {
        return switch (expect) {
            case EXACT -> driver;
            case DRIVERLESS -> "no driver";
            case HOST -> "its host driver";
        };
    }
}
