package com.example.vfio.dra;

import com.example.vfio.plugin.PublishedDevice;
import com.example.vfio.plugin.PublishedResource;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** The names the DRA driver gives things in the API: driver, pool, devices, slices, counters, DeviceClasses. */
public final class DraNames {
    /** The driver name in ResourceSlices, claims' allocation results, and the kubelet's plugin registry. */
    public static final String DRIVER = PublishedResource.DOMAIN;
    /** Attribute names of our own domain, and the taint key. */
    static final String OWN = DRIVER + "/";
    static final String STANDARD = "resource.kubernetes.io/";
    public static final String ATTR_PCI_BUS_ID = STANDARD + "pciBusID";
    public static final String ATTR_PCIE_ROOT = STANDARD + "pcieRoot";
    public static final String ATTR_NUMA_NODE = STANDARD + "numaNode";
    public static final String ATTR_RESOURCE = OWN + "resource";
    public static final String ATTR_IOMMU_GROUP = OWN + "iommuGroup";
    public static final String ATTR_VENDOR = OWN + "vendor";
    public static final String ATTR_DEVICE = OWN + "device";
    public static final String ATTR_CLASS = OWN + "class";
    public static final String ATTR_DRIVER = OWN + "driver";
    public static final String ATTR_VIABLE = OWN + "viable";
    public static final String TAINT_KEY = OWN + "unusable";
    private static final int MAX_OBJECT_NAME = 253;

    private DraNames() {
    }

    /**
     * A unit's device name, a DNS label: {@code 0000:41:00.0} → {@code pci-0000-41-00-0}; a group unit
     * ({@code iommu-group-14}) keeps its ID.
     */
    public static String deviceName(PublishedDevice unit) {
        String id = unit.id();
        return id.startsWith("iommu-group-") ? id : "pci-" + id.replace(':', '-').replace('.', '-');
    }

    /** One pool per node, named after it: the IOMMU group counters of a node must be in the pool of its devices. */
    public static String poolName(String nodeName) {
        return nodeName;
    }

    /** The counter of an IOMMU group, a DNS label. */
    static String counterName(String group) {
        return "group-" + group;
    }

    /** The counter set holding the counters of the k-th batch of groups, a DNS label. */
    static String counterSetName(int index) {
        return "iommu-groups-" + index;
    }

    /**
     * The name of one of the node's ResourceSlices: {@code <node>-vfio-<part>}, a DNS subdomain; a node name too long
     * for that is replaced by a digest of it (the slices still say their node in {@code spec.nodeName}).
     */
    static String sliceName(String nodeName, String part) {
        String name = nodeName + "-vfio-" + part;
        if (name.length() <= MAX_OBJECT_NAME) {
            return name;
        }
        return "vfio-" + digest(nodeName) + "-" + part;
    }

    private static String digest(String text) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
