package com.example.vfio.agent;

import java.util.Objects;

/**
 * What the kubelet side shows for one published device: the resource it is listed under, whether it is
 * Healthy there, and who holds it.
 *
 * @param resource    short resource name ({@code gpu} for {@code vfio.example.com/gpu})
 * @param healthy     listed Healthy to the kubelet
 * @param reason      why it is Unhealthy; null when healthy
 * @param allocatedTo who holds it, in one word (the status line's {@code held=}): a pod ({@code namespace/name}), the
 *                    resource it is allocated as ({@code vfio.example.com/gpu}), the DRA claim it is prepared for
 *                    ({@code claim:<namespace>/<name>}) or the group siblings it is held with
 *                    ({@code with:0000:41:00.0}); null when free
 * @param dra         published through DRA (a device of the node's ResourceSlices) rather than a device plugin
 */
public record DevicePublication(String resource, boolean healthy, String reason, String allocatedTo, boolean dra) {
    public DevicePublication {
        Objects.requireNonNull(resource, "resource");
    }

    /** A device plugin's device. */
    public DevicePublication(String resource, boolean healthy, String reason, String allocatedTo) {
        this(resource, healthy, reason, allocatedTo, false);
    }
}
