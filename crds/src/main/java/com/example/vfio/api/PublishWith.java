package com.example.vfio.api;

/**
 * Which kubelet API hands a resource's devices to pods on a node. One resource is published through exactly one of
 * them on a node: the kubelet refuses a DRA-backed extended resource that a device plugin also advertises.
 */
public enum PublishWith {
    /** The kubelet's device plugin API (v1beta1): works on every supported Kubernetes release; the default. */
    DevicePlugin,
    /**
     * Dynamic Resource Allocation: ResourceSlices of driver {@code vfio.example.com}, claims prepared by the kubelet,
     * and a DeviceClass with {@code extendedResourceName: vfio.example.com/<resourceName>} so pods that ask for the
     * extended resource are served too (Kubernetes 1.37+, where that is GA).
     */
    DRA
}
