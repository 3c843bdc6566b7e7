package com.example.vfio.binding;

import java.util.Objects;

/**
 * What binding changes on a device: the bound driver and {@code driver_override}.
 *
 * @param driver   the bound driver, null when driverless
 * @param override {@code driver_override}, null when unset
 */
public record DriverState(String driver, String override) {
    public boolean sameAs(DriverState other) {
        return Objects.equals(driver, other.driver) && Objects.equals(override, other.override);
    }

    /** "vfio-pci (override vfio-pci)", "no driver". */
    public String describe() {
        return (driver == null ? "no driver" : driver) + (override == null ? "" : " (override " + override + ")");
    }
}
