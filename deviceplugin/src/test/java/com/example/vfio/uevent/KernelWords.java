package com.example.vfio.uevent;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Uevents worded as Linux 6.12 words them: the device core's keys (lib/kobject_uevent.c, drivers/base/core.c:
 * ACTION, DEVPATH, SUBSYSTEM, DRIVER while bound, MAJOR/MINOR/DEVNAME for device nodes), PCI's
 * (drivers/pci/pci-driver.c pci_uevent: PCI_CLASS, PCI_ID, PCI_SUBSYS_ID, PCI_SLOT_NAME, MODALIAS; an unbind
 * loses MODALIAS) and SEQNUM last. Devices sit below {@code /devices/pci0000:00/}, as in the fixture hosts.
 */
public final class KernelWords {
    private static final AtomicLong SEQNUM = new AtomicLong(4000);

    private KernelWords() {
    }

    /** A PCI function's event: add, remove, bind (with {@code driver}), unbind, change. */
    public static Uevent pci(String action, String address, String driver, int vendor, int device, int classCode) {
        Map<String, String> keys = new LinkedHashMap<>();
        if (driver != null) {
            keys.put("DRIVER", driver);
        }
        keys.put("PCI_CLASS", String.format("%04X", classCode));
        keys.put("PCI_ID", String.format("%04X:%04X", vendor, device));
        keys.put("PCI_SUBSYS_ID", String.format("%04X:%04X", vendor, 0));
        keys.put("PCI_SLOT_NAME", address);
        if (!action.equals("unbind")) {
            keys.put("MODALIAS", String.format("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", vendor, device, vendor,
                    0, classCode >> 16, (classCode >> 8) & 0xff, classCode & 0xff));
        }
        // (PCI_CLASS is the 24-bit class in %04X: 20000 for 0x020000, FF00 for 0x00ff00, as the lab's capture shows)
        return event(action, "/devices/pci0000:00/" + address, "pci", keys);
    }

    /** A VFIO group's character device, {@code /dev/vfio/<group>} (class vfio), as the lab's kernel words it. */
    public static Uevent vfioGroup(String action, String group) {
        Map<String, String> keys = new LinkedHashMap<>();
        keys.put("MAJOR", "245");
        keys.put("MINOR", group);
        keys.put("DEVNAME", "vfio/" + group);
        return event(action, "/devices/virtual/vfio/" + group, "vfio", keys);
    }

    /**
     * A VFIO device's {@code vfio-dev/vfioN} (class vfio-dev), a child of its PCI function; Linux 6.12 sends it
     * without MAJOR, MINOR and DEVNAME (the kernel lab's capture).
     */
    public static Uevent vfioCdev(String action, String address, String name) {
        return event(action, "/devices/pci0000:00/" + address + "/vfio-dev/" + name, "vfio-dev", Map.of());
    }

    /** A network interface of a PCI function: not the daemon's business. */
    public static Uevent net(String action, String address, String ifname) {
        return event(action, "/devices/pci0000:00/" + address + "/net/" + ifname, "net",
                Map.of("INTERFACE", ifname, "IFINDEX", "7"));
    }

    private static Uevent event(String action, String devpath, String subsystem, Map<String, String> keys) {
        Map<String, String> all = new LinkedHashMap<>();
        all.put("ACTION", action);
        all.put("DEVPATH", devpath);
        all.put("SUBSYSTEM", subsystem);
        all.putAll(keys);
        all.put("SEQNUM", Long.toString(SEQNUM.incrementAndGet()));
        return new Uevent(action, devpath, subsystem, all);
    }

    /**
     * What udevd sends its own listeners (multicast group 2): "libudev\0", the magic 0xfeedcafe in network
     * order, a header, then the properties (systemd's device-monitor.c).
     */
    public static byte[] libudevPacket(Uevent event) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("libudev\0".getBytes());
        out.writeBytes(ByteBuffer.allocate(4).putInt(0xfeedcafe).array());
        out.writeBytes(new byte[32]);
        byte[] body = event.toBytes();
        int header = 0;
        while (body[header] != 0) {
            header++;
        }
        out.write(body, header + 1, body.length - header - 1);
        return out.toByteArray();
    }
}
