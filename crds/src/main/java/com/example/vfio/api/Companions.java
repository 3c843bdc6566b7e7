package com.example.vfio.api;

/** What happens to the other functions of a selected device's IOMMU group. */
public enum Companions {
    /**
     * The other (non-bridge) members of the group go along: to vfio-pci, without a resource of their own, or,
     * when the policy's driver is {@code host}, back to their own host drivers (the journal's record).
     */
    Bind,
    /** Leave them alone; a group with a sibling on a host DMA driver is then reported not viable. */
    Ignore
}
