package com.example.vfio.api;

/** What one allocation of the resource hands to a pod. */
public enum AllocationUnit {
    /** One device; its group siblings are locked while it is allocated. */
    Device,
    /** A whole IOMMU group at once (every selected device of the group). */
    Group
}
