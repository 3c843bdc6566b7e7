package com.example.vfio.dra;

import com.example.vfio.plugin.PublishedDevice;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One device of a ResourceSlice, as the DRA driver publishes it (immutable): its name in the pool, the resource and
 * unit it stands for, its attributes and, when a VM must not be given it now, the reason for its NoSchedule taint.
 *
 * @param name       a DNS label: {@code pci-0000-41-00-0} for a device, {@code iommu-group-14} for a whole group
 * @param resource   the short resource name ({@code gpu})
 * @param unit       the unit of the device plugin's model it stands for (addresses, group, cdevs, health)
 * @param attributes qualified name → value ({@link String}, {@link Long} or {@link Boolean}), in a stable order
 * @param taint      why it is tainted NoSchedule, null when it is not
 */
public record DraDevice(String name, String resource, PublishedDevice unit, Map<String, Object> attributes,
                        Taint taint) {

    /**
     * A NoSchedule taint (never NoExecute: that would evict the VMs that run on the device).
     *
     * @param value   the taint's value, a label value: {@code NotViable}, {@code HeldByDevicePlugin}
     * @param message the reason in words, for logs and the health stream
     */
    public record Taint(String value, String message) {
        public Taint {
            Objects.requireNonNull(value, "value");
            Objects.requireNonNull(message, "message");
        }
    }

    public DraDevice {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(resource, "resource");
        Objects.requireNonNull(unit, "unit");
        attributes = Collections.unmodifiableMap(new LinkedHashMap<>(attributes));
        for (Object v : attributes.values()) {
            if (!(v instanceof String || v instanceof Long || v instanceof Boolean)) {
                throw new IllegalArgumentException("attribute value of " + name + " is not a string, int or bool: " + v);
            }
        }
    }

    /** The IOMMU group whose counter the device consumes (never null: a device without a group is not published). */
    public String iommuGroup() {
        return unit.iommuGroup();
    }

    /** Usable for a new claim now: not tainted. */
    public boolean allocatable() {
        return taint == null;
    }
}
