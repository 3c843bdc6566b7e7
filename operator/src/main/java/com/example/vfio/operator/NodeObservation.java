package com.example.vfio.operator;

import com.example.vfio.api.VfioNodeState;
import com.example.vfio.planning.DeviceFacts;

import java.util.List;
import java.util.Map;

/**
 * What the operator knows about one node: its labels and its VfioNodeState (null while not created yet).
 */
public record NodeObservation(String name, Map<String, String> labels, VfioNodeState state) {
    public NodeObservation {
        labels = labels == null ? Map.of() : Map.copyOf(labels);
    }

    /** The node agent has reported its devices (a node without a report is not counted by any policy). */
    public boolean hasInventory() {
        return state != null && state.getStatus() != null && state.getStatus().getDevices() != null
                && !state.getStatus().getDevices().isEmpty();
    }

    public List<DeviceFacts> inventory() {
        if (!hasInventory()) {
            return List.of();
        }
        return state.getStatus().getDevices().stream().filter(d -> d.getAddress() != null).map(DeviceFacts::from).toList();
    }
}
