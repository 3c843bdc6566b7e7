package com.example.vfio.api;

/** Outcome of one binding step on a node. */
public enum BindState {
    /** The device is on the desired driver now. */
    Bound,
    /** A safety guard refused (boot VGA, backs a disk or the network, held by a pod, ...). */
    Refused,
    /** The kernel refused or the write failed. */
    Failed,
    /** Waiting (e.g. for the group's other members, or a pod to release the device). */
    Pending,
    /** Already on the desired driver (or managed: false): nothing done. */
    Unchanged
}
