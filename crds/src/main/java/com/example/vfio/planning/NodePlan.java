package com.example.vfio.planning;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.VfioNodeStateSpec;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The desired state of one node, computed by {@link NodePlanner#plan}.
 *
 * @param nodeName  the node
 * @param devices   desired state per address, sorted by address (becomes {@code VfioNodeState.spec.devices})
 * @param conflicts equal-priority conflicts (those devices are not in {@code devices})
 * @param problems  policies left out entirely (the same on every node)
 * @param policies  per policy name, what it matched and got on this node (every input policy has an entry)
 */
public record NodePlan(String nodeName, List<DesiredDevice> devices, List<PlanConflict> conflicts,
                       List<PolicyProblem> problems, Map<String, PolicyMatch> policies) {
    public NodePlan {
        devices = List.copyOf(devices);
        conflicts = List.copyOf(conflicts);
        problems = List.copyOf(problems);
        policies = Map.copyOf(policies);
    }

    public Optional<DesiredDevice> device(String address) {
        return devices.stream().filter(d -> d.getAddress().equals(address)).findFirst();
    }

    /** A fresh, mutable spec object holding copies of {@link #devices()}. */
    public VfioNodeStateSpec toSpec() {
        return new VfioNodeStateSpec(devices.stream().map(DesiredDevice::copy).toList());
    }
}
