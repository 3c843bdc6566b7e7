package com.example.vfio.agent;

import com.example.vfio.api.DesiredDevice;
import java.util.List;

/**
 * The node's {@code VfioNodeState.spec} as last seen: its devices and the {@code metadata.generation}
 * they belong to.
 *
 * @param exists     false while the operator has not created the object (or after it was deleted)
 * @param generation the object's generation; null when it does not exist
 */
public record NodeSpec(boolean exists, Long generation, List<DesiredDevice> devices) {
    public NodeSpec {
        devices = List.copyOf(devices);
    }

    public static NodeSpec absent() {
        return new NodeSpec(false, null, List.of());
    }
}
