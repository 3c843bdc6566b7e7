package com.example.vfio.api;

/** Kubelet-facing health of a published device. */
public enum Health {
    Healthy, Unhealthy
}
