package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One PCI function as the node agent sees it (in {@code VfioNodeState.status.devices}), written as one
 * lspci-like line so that a node with thousands of functions stays small and reads well in
 * {@code kubectl describe}:
 *
 * <pre>
 * &lt;address&gt; &lt;vendor&gt;:&lt;device&gt; &lt;class&gt; &lt;driver or -&gt; [vfio] [viable] [group=G] [numa=N] [auto=D] [host=D]
 *     [resource=R] [dra] [health=Healthy|Unhealthy] [held=TEXT]
 * </pre>
 *
 * e.g. {@code 0000:41:00.0 10de:2330 030200 vfio-pci vfio viable group=14 numa=0 resource=gpu health=Healthy}.
 * Flags appear only when true or known; an unknown id prints {@code ?}; {@code auto=} is left out when the
 * device is on that driver already; {@code dra} says the resource is published through DRA (ResourceSlices), and then
 * {@code held=claim:<namespace>/<name>} names the ResourceClaim prepared with the device. Why a device is not usable
 * is in {@code status.problems}, not here.
 */
public class InventoryDevice {
    private static final Pattern ADDRESS = Pattern.compile(DeviceSelector.ADDRESS_REGEX);
    private static final Pattern ID = Pattern.compile("^[0-9a-f]{4}$");
    private static final Pattern CLASS = Pattern.compile("^[0-9a-f]{6}$");
    private static final Pattern GROUP = Pattern.compile("^[0-9]{1,9}$");
    private static final Pattern NUMA = Pattern.compile("^[0-9]{1,4}$");

    private String address;
    private String vendor;
    private String device;
    private String classCode;
    private String driver;
    private String hostDriver;
    private Boolean vfio;
    private String group;
    private Integer numa;
    private Boolean viable;
    private String recommended;
    private String resource;
    private Boolean dra;
    private Health health;
    private String allocatedTo;

    public InventoryDevice() {
    }

    public InventoryDevice(String address, String vendor, String device, String classCode, String driver, String group) {
        this.address = address;
        this.vendor = vendor;
        this.device = device;
        this.classCode = classCode;
        this.driver = driver;
        this.group = group;
    }

    public String getAddress() { return address; }
    public void setAddress(String address) { this.address = address; }
    /** PCI vendor id, 4 lower-case hex digits; null when unknown. */
    public String getVendor() { return vendor; }
    public void setVendor(String vendor) { this.vendor = vendor; }
    /** PCI device id, 4 lower-case hex digits; null when unknown. */
    public String getDevice() { return device; }
    public void setDevice(String device) { this.device = device; }
    /** PCI class code, 6 lower-case hex digits; null when unknown. */
    public String getClassCode() { return classCode; }
    public void setClassCode(String classCode) { this.classCode = classCode; }
    /** Current driver; null when unbound. */
    public String getDriver() { return driver; }
    public void setDriver(String driver) { this.driver = driver; }
    /** The driver the device had before this project rebound it (from the binding journal); null when never rebound. */
    public String getHostDriver() { return hostDriver; }
    public void setHostDriver(String hostDriver) { this.hostDriver = hostDriver; }
    /** TRUE when the current driver is a VFIO driver, otherwise null (the line only says it when true). */
    public Boolean getVfio() { return vfio; }
    public void setVfio(Boolean vfio) { this.vfio = Boolean.TRUE.equals(vfio) ? Boolean.TRUE : null; }
    /** IOMMU group id; null without an IOMMU. */
    public String getGroup() { return group; }
    public void setGroup(String group) { this.group = group; }
    public Integer getNuma() { return numa; }
    public void setNuma(Integer numa) { this.numa = numa; }
    /** TRUE when ready to hand to a VM (VFIO driver, viable group, device nodes present), otherwise null. */
    public Boolean getViable() { return viable; }
    public void setViable(Boolean viable) { this.viable = Boolean.TRUE.equals(viable) ? Boolean.TRUE : null; }
    /** The driver an auto policy would bind ({@code auto=} in the line). */
    public String getRecommended() { return recommended; }
    public void setRecommended(String recommended) { this.recommended = recommended; }
    /** Resource the device is published under; null when not published. */
    public String getResource() { return resource; }
    public void setResource(String resource) { this.resource = resource; }
    /** TRUE when the resource is published through DRA, otherwise null. */
    public Boolean getDra() { return dra; }
    public void setDra(Boolean dra) { this.dra = Boolean.TRUE.equals(dra) ? Boolean.TRUE : null; }
    public Health getHealth() { return health; }
    public void setHealth(Health health) { this.health = health; }
    /** Who holds the device ({@code held=}), without spaces; null when free. */
    public String getAllocatedTo() { return allocatedTo; }
    public void setAllocatedTo(String allocatedTo) { this.allocatedTo = allocatedTo; }

    /** The status line; the address must be set and no value may contain white space. */
    @JsonValue
    public String toLine() {
        if (address == null) {
            throw new IllegalStateException("an inventory device needs an address");
        }
        StringBuilder b = new StringBuilder(96);
        b.append(word("address", address)).append(' ')
                .append(orUnknown(vendor, "vendor")).append(':').append(orUnknown(device, "device")).append(' ')
                .append(orUnknown(classCode, "class")).append(' ')
                .append(driver == null ? "-" : word("driver", driver));
        if (Boolean.TRUE.equals(vfio)) {
            b.append(" vfio");
        }
        if (Boolean.TRUE.equals(viable)) {
            b.append(" viable");
        }
        flag(b, "group", group);
        flag(b, "numa", numa == null ? null : numa.toString());
        flag(b, "auto", Objects.equals(recommended, driver) ? null : recommended);
        flag(b, "host", hostDriver);
        flag(b, "resource", resource);
        if (Boolean.TRUE.equals(dra)) {
            b.append(" dra");
        }
        flag(b, "health", health == null ? null : health.name());
        flag(b, "held", allocatedTo);
        return b.toString();
    }

    /** Reads a status line; refuses anything that does not follow the grammar, naming what is wrong. */
    @JsonCreator
    public static InventoryDevice parse(String line) {
        if (line == null || line.isBlank()) {
            throw new IllegalArgumentException("empty device line");
        }
        String[] t = line.strip().split(" +");
        if (t.length < 4) {
            throw bad(line, "expected '<address> <vendor>:<device> <class> <driver or ->' first");
        }
        InventoryDevice d = new InventoryDevice();
        if (!ADDRESS.matcher(t[0]).matches()) {
            throw bad(line, "'" + t[0] + "' is not a PCI address (dddd:bb:ss.f)");
        }
        d.address = t[0];
        int colon = t[1].indexOf(':');
        if (colon < 0) {
            throw bad(line, "'" + t[1] + "' is not <vendor>:<device>");
        }
        d.vendor = hexOrUnknown(line, t[1].substring(0, colon), ID, "vendor id");
        d.device = hexOrUnknown(line, t[1].substring(colon + 1), ID, "device id");
        d.classCode = hexOrUnknown(line, t[2], CLASS, "class code");
        if (!t[3].equals("-")) {
            if (t[3].contains("=")) {
                throw bad(line, "'" + t[3] + "' is not a driver name (or - for none)");
            }
            d.driver = t[3];
        }
        Map<String, String> seen = new LinkedHashMap<>();
        for (int i = 4; i < t.length; i++) {
            String token = t[i];
            int eq = token.indexOf('=');
            String key = eq < 0 ? token : token.substring(0, eq);
            String value = eq < 0 ? null : token.substring(eq + 1);
            if (seen.put(key, token) != null) {
                throw bad(line, "'" + key + "' appears twice");
            }
            if (eq >= 0 && value.isEmpty()) {
                throw bad(line, "'" + token + "' has no value");
            }
            switch (key) {
                case "vfio" -> d.vfio = flagOnly(line, token, value);
                case "viable" -> d.viable = flagOnly(line, token, value);
                case "group" -> d.group = valued(line, key, value, GROUP, "a group number");
                case "numa" -> d.numa = Integer.valueOf(valued(line, key, value, NUMA, "a NUMA node number"));
                case "auto" -> d.recommended = driverName(line, key, value);
                case "host" -> d.hostDriver = driverName(line, key, value);
                case "resource" -> d.resource = valued(line, key, value, null, "a resource name");
                case "dra" -> d.dra = flagOnly(line, token, value);
                case "health" -> {
                    if (!"Healthy".equals(value) && !"Unhealthy".equals(value)) {
                        throw bad(line, "health must be Healthy or Unhealthy, not '" + value + "'");
                    }
                    d.health = Health.valueOf(value);
                }
                case "held" -> d.allocatedTo = valued(line, key, value, null, "a holder");
                default -> throw bad(line, "unknown field '" + token + "'");
            }
        }
        return d;
    }

    private static String orUnknown(String value, String what) {
        return value == null ? "?" : word(what, value);
    }

    private static String word(String what, String value) {
        if (value.isEmpty() || value.chars().anyMatch(c -> Character.isWhitespace(c) || c == '=')) {
            throw new IllegalStateException(what + " '" + value + "' cannot go in a device line (empty, white space or '=')");
        }
        return value;
    }

    private static void flag(StringBuilder b, String key, String value) {
        if (value != null) {
            b.append(' ').append(key).append('=').append(word(key, value));
        }
    }

    private static String hexOrUnknown(String line, String value, Pattern p, String what) {
        if (value.equals("?")) {
            return null;
        }
        if (!p.matcher(value).matches()) {
            throw bad(line, "'" + value + "' is not a " + what + " (lower-case hex) or ?");
        }
        return value;
    }

    private static Boolean flagOnly(String line, String token, String value) {
        if (value != null) {
            throw bad(line, "'" + token + "' is a flag and takes no value");
        }
        return Boolean.TRUE;
    }

    private static String valued(String line, String key, String value, Pattern p, String what) {
        if (value == null) {
            throw bad(line, "'" + key + "' needs a value: " + key + "=...");
        }
        if (p != null && !p.matcher(value).matches()) {
            throw bad(line, key + "='" + value + "' is not " + what);
        }
        return value;
    }

    private static String driverName(String line, String key, String value) {
        return valued(line, key, value, null, "a driver name");
    }

    private static IllegalArgumentException bad(String line, String why) {
        return new IllegalArgumentException("malformed device line '" + line + "': " + why);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof InventoryDevice d && Objects.equals(address, d.address) && Objects.equals(vendor, d.vendor)
                && Objects.equals(device, d.device) && Objects.equals(classCode, d.classCode)
                && Objects.equals(driver, d.driver) && Objects.equals(hostDriver, d.hostDriver)
                && Objects.equals(vfio, d.vfio) && Objects.equals(group, d.group) && Objects.equals(numa, d.numa)
                && Objects.equals(viable, d.viable) && Objects.equals(recommended, d.recommended)
                && Objects.equals(resource, d.resource) && Objects.equals(dra, d.dra) && health == d.health
                && Objects.equals(allocatedTo, d.allocatedTo);
    }

    @Override
    public int hashCode() {
        return Objects.hash(address, vendor, device, classCode, driver, hostDriver, vfio, group, numa, viable,
                recommended, resource, dra, health, allocatedTo);
    }

    @Override
    public String toString() {
        return address == null ? "InventoryDevice(no address)" : toLine();
    }
}
