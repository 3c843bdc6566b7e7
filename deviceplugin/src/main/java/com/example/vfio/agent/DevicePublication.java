package com.example.vfio.agent;

import java.util.Objects;

/**
 * What the kubelet side shows for one published device: the resource it is listed under, whether it is
 * Healthy there, and who holds it.
 *
 * @param resource    short resource name ({@code gpu} for {@code vfio.example.com/gpu})
 * @param healthy     listed Healthy to the kubelet
 * @param reason      why it is Unhealthy; null when healthy
 * @param allocatedTo who holds it: a pod ({@code namespace/name}) or a group sibling's allocation; null when free
 */
public record DevicePublication(String resource, boolean healthy, String reason, String allocatedTo) {
    public DevicePublication {
        Objects.requireNonNull(resource, "resource");
    }
}
