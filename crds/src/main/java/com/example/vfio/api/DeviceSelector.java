package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Which PCI devices of a matching node a policy selects. Every list that is given must match (AND);
 * any entry within one list may match (OR). Matching is implemented once, in
 * {@link com.example.vfio.planning.DeviceSelectors}.
 */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
@ValidationRule(value = "has(self.vendors) || has(self.devices) || has(self.classes) || has(self.addresses) || has(self.drivers)",
        message = "selector must name at least one of vendors, devices, classes, addresses, drivers",
        reason = "FieldValueRequired")
public class DeviceSelector {
    public static final int MAX_ENTRIES = 64;
    public static final String ID_REGEX = "^[0-9a-fA-F]{4}$";
    public static final String CLASS_REGEX = "^([0-9a-fA-F]{2}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6})$";
    public static final String ADDRESS_REGEX = "^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$";
    /** The entry of {@code drivers} that matches a device bound to no driver. */
    public static final String UNBOUND = "none";

    @JsonPropertyDescription("PCI vendor ids, 4 hex digits (e.g. 10de); case-insensitive.")
    @Size(min = 1, max = MAX_ENTRIES)
    private List<String> vendors;

    @JsonPropertyDescription("PCI device ids, 4 hex digits (e.g. 2342); case-insensitive.")
    @Size(min = 1, max = MAX_ENTRIES)
    private List<String> devices;

    @JsonPropertyDescription("PCI class code prefixes of 2, 4 or 6 hex digits: 03 matches every display controller, 0302 only 3D controllers.")
    @Size(min = 1, max = MAX_ENTRIES)
    private List<String> classes;

    @JsonPropertyDescription("Full PCI addresses, lower case, e.g. 0000:41:00.0.")
    @Size(min = 1, max = MAX_ENTRIES)
    private List<String> addresses;

    @JsonPropertyDescription("Host driver names the device is bound to (before this project rebound it); 'none' matches an unbound device.")
    @Size(min = 1, max = MAX_ENTRIES)
    private List<String> drivers;

    public DeviceSelector() {
    }

    public static DeviceSelector of() {
        return new DeviceSelector();
    }

    public DeviceSelector withVendors(String... v) { this.vendors = new ArrayList<>(List.of(v)); return this; }
    public DeviceSelector withDevices(String... v) { this.devices = new ArrayList<>(List.of(v)); return this; }
    public DeviceSelector withClasses(String... v) { this.classes = new ArrayList<>(List.of(v)); return this; }
    public DeviceSelector withAddresses(String... v) { this.addresses = new ArrayList<>(List.of(v)); return this; }
    public DeviceSelector withDrivers(String... v) { this.drivers = new ArrayList<>(List.of(v)); return this; }

    public List<String> getVendors() { return vendors; }
    public void setVendors(List<String> vendors) { this.vendors = vendors; }
    public List<String> getDevices() { return devices; }
    public void setDevices(List<String> devices) { this.devices = devices; }
    public List<String> getClasses() { return classes; }
    public void setClasses(List<String> classes) { this.classes = classes; }
    public List<String> getAddresses() { return addresses; }
    public void setAddresses(List<String> addresses) { this.addresses = addresses; }
    public List<String> getDrivers() { return drivers; }
    public void setDrivers(List<String> drivers) { this.drivers = drivers; }

    @Override
    public boolean equals(Object o) {
        return o instanceof DeviceSelector s && Objects.equals(vendors, s.vendors) && Objects.equals(devices, s.devices)
                && Objects.equals(classes, s.classes) && Objects.equals(addresses, s.addresses) && Objects.equals(drivers, s.drivers);
    }

    @Override
    public int hashCode() {
        return Objects.hash(vendors, devices, classes, addresses, drivers);
    }

    @Override
    public String toString() {
        return "DeviceSelector{vendors=" + vendors + ", devices=" + devices + ", classes=" + classes
                + ", addresses=" + addresses + ", drivers=" + drivers + "}";
    }
}
