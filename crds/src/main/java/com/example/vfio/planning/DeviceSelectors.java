package com.example.vfio.planning;

import com.example.vfio.api.DeviceSelector;

import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;

/** The one implementation of {@link DeviceSelector} matching, shared by the operator and the node daemon. */
public final class DeviceSelectors {
    private DeviceSelectors() {
    }

    /**
     * True when every list the selector gives has an entry matching the device. A null selector, or one that gives
     * no list at all, selects nothing: a policy never takes every device of a node by omission.
     */
    public static boolean matches(DeviceSelector selector, DeviceFacts device) {
        if (selector == null || isEmpty(selector)) {
            return false;
        }
        return anyOf(selector.getVendors(), v -> v.equalsIgnoreCase(device.vendor()))
                && anyOf(selector.getDevices(), v -> v.equalsIgnoreCase(device.device()))
                && anyOf(selector.getClasses(), c -> device.classCode() != null
                        && device.classCode().startsWith(c.toLowerCase(Locale.ROOT)))
                && anyOf(selector.getAddresses(), a -> a.equalsIgnoreCase(device.address()))
                && anyOf(selector.getDrivers(), d -> device.driver() == null
                        ? DeviceSelector.UNBOUND.equals(d) : d.equals(device.driver()));
    }

    public static boolean isEmpty(DeviceSelector selector) {
        return blank(selector.getVendors()) && blank(selector.getDevices()) && blank(selector.getClasses())
                && blank(selector.getAddresses()) && blank(selector.getDrivers());
    }

    private static boolean anyOf(List<String> entries, Predicate<String> test) {
        return blank(entries) || entries.stream().filter(e -> e != null).anyMatch(test);
    }

    private static boolean blank(List<String> l) {
        return l == null || l.isEmpty();
    }
}
