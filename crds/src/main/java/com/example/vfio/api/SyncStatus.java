package com.example.vfio.api;

/** How the node agent's last pass over {@code spec} went. */
public enum SyncStatus {
    Succeeded, InProgress, Failed
}
