package com.example.vfio.api;

/** What happens to the other functions of a selected device's IOMMU group. */
public enum Companions {
    /** Bind the other (non-bridge) members of the group to vfio-pci, without a resource of their own. */
    Bind,
    /** Leave them alone; a group with a sibling on a host DMA driver is then reported not viable. */
    Ignore
}
