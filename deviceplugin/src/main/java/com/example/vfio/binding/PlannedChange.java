package com.example.vfio.binding;

/**
 * What binding will do (or refuses to do) for one desired device, decided before anything is touched.
 *
 * @param address       the address as the spec gives it (validated unless {@code action} is REFUSED)
 * @param desiredDriver the spec's driver word: auto, vfio-pci, a name, host
 * @param action        what happens
 * @param currentDriver the driver now, null when unbound
 * @param target        for BIND: the driver to bind; for RELEASE: what the device goes back to; else null
 * @param why           for the admin: how the target was chosen, or the reason for the refusal
 * @param group         the IOMMU group, null when none
 * @param companionOf   set on group companions
 */
public record PlannedChange(String address, String desiredDriver, Action action, String currentDriver,
        DriverTarget target, String why, String group, String companionOf, boolean force) {

    /** What binding does with one device. */
    public enum Action {
        /** Bind to a VFIO driver. */
        BIND,
        /** Give it back to the host driver (the journal's original, else the kernel's choice). */
        RELEASE,
        /** Already as desired. */
        UNCHANGED,
        /** managed: false: only reported, never rebound. */
        REPORT_ONLY,
        /** A safety guard or a bad name: nothing is touched. */
        REFUSED
    }

    public boolean changes() {
        return action == Action.BIND || action == Action.RELEASE;
    }
}
