package com.example.vfio.uevent;

import com.example.vfio.pci.PciAddress;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One kernel uevent as the kernel words it on {@code NETLINK_KOBJECT_UEVENT}: a header
 * {@code ACTION@DEVPATH}, then {@code KEY=VALUE} pairs, each ended by a NUL byte, e.g.
 * {@code bind@/devices/pci0000:00/0000:00:02.0/0000:01:00.0\0ACTION=bind\0DEVPATH=...\0SUBSYSTEM=pci\0
 * DRIVER=vfio-pci\0PCI_SLOT_NAME=0000:01:00.0\0...\0SEQNUM=2345\0} (lib/kobject_uevent.c).
 *
 * @param properties every {@code KEY=VALUE} pair, in the kernel's order
 */
public record Uevent(String action, String devpath, String subsystem, Map<String, String> properties) {

    /** The header udevd puts before the events it re-sends to its own listeners (multicast group 2). */
    private static final byte[] LIBUDEV_MAGIC = "libudev\0".getBytes(StandardCharsets.ISO_8859_1);

    public Uevent {
        properties = Collections.unmodifiableMap(new LinkedHashMap<>(properties));
    }

    /**
     * The event in a datagram, or null when it is not a kernel uevent: a libudev packet, or bytes without
     * the header and the ACTION, DEVPATH and SUBSYSTEM keys every kernel uevent carries.
     */
    public static Uevent parse(byte[] data, int length) {
        if (length <= 0 || length > data.length || startsWith(data, length, LIBUDEV_MAGIC)) {
            return null;
        }
        int headerEnd = indexOf(data, 0, length);
        String header = new String(data, 0, headerEnd, StandardCharsets.ISO_8859_1);
        int at = header.indexOf("@/");
        if (at <= 0) {
            return null;
        }
        Map<String, String> properties = new LinkedHashMap<>();
        for (int start = headerEnd + 1; start < length; ) {
            int end = indexOf(data, start, length);
            String pair = new String(data, start, end - start, StandardCharsets.ISO_8859_1);
            int eq = pair.indexOf('=');
            if (eq > 0) {
                properties.putIfAbsent(pair.substring(0, eq), pair.substring(eq + 1));
            }
            start = end + 1;
        }
        String action = properties.get("ACTION");
        String devpath = properties.get("DEVPATH");
        String subsystem = properties.get("SUBSYSTEM");
        if (action == null || devpath == null || subsystem == null
                || !header.equals(action + "@" + devpath)) {
            return null;
        }
        return new Uevent(action, devpath, subsystem, properties);
    }

    public static Uevent parse(byte[] data) {
        return parse(data, data.length);
    }

    /** The datagram the kernel would send for this event (for tests and the benchmark's synthetic host). */
    public byte[] toBytes() {
        StringBuilder b = new StringBuilder(action).append('@').append(devpath).append('\0');
        Map<String, String> ordered = new LinkedHashMap<>();
        ordered.put("ACTION", action);
        ordered.put("DEVPATH", devpath);
        ordered.put("SUBSYSTEM", subsystem);
        ordered.putAll(properties);
        ordered.forEach((k, v) -> b.append(k).append('=').append(v).append('\0'));
        return b.toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    public String property(String key) {
        return properties.get(key);
    }

    /**
     * The PCI function the event is about, or null: a {@code pci} event names it in PCI_SLOT_NAME (and as
     * the last DEVPATH element); a {@code vfio-dev} event (a VFIO cdev added or removed at bind or unbind)
     * is a child of it: {@code .../0000:01:00.0/vfio-dev/vfio0}.
     */
    public PciAddress pciFunction() {
        String name = null;
        if (subsystem.equals("pci")) {
            name = property("PCI_SLOT_NAME");
            if (name == null || !PciAddress.isValid(name)) {
                name = lastElement(devpath);
            }
        } else if (subsystem.equals("vfio-dev")) {
            int child = devpath.lastIndexOf("/vfio-dev/");
            name = child < 0 ? null : lastElement(devpath.substring(0, child));
        }
        return name != null && PciAddress.isValid(name) ? PciAddress.parse(name) : null;
    }

    /**
     * Whether the event changes what the host-wide part of a scan reads: the /dev/vfio nodes (vfio groups,
     * the container, iommufd), or the PCI drivers and modules that are loaded.
     */
    public boolean changesHostWideFacts() {
        return switch (subsystem) {
            case "vfio" -> true;
            case "misc" -> {
                String node = property("DEVNAME");
                yield node != null && (node.startsWith("vfio/") || node.equals("iommu"));
            }
            case "drivers" -> devpath.startsWith("/bus/pci/drivers/");
            case "module" -> true;
            default -> false;
        };
    }

    private static String lastElement(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? path : path.substring(slash + 1);
    }

    private static int indexOf(byte[] data, int from, int length) {
        for (int i = from; i < length; i++) {
            if (data[i] == 0) {
                return i;
            }
        }
        return length;
    }

    private static boolean startsWith(byte[] data, int length, byte[] prefix) {
        if (length < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (data[i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }
}
