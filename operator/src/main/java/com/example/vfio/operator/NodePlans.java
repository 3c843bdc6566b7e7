package com.example.vfio.operator;

import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicySpec;
import com.example.vfio.planning.NodePlan;
import com.example.vfio.planning.NodePlanner;

import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The plans of the fleet's nodes, kept between policy roll-ups. Every node-state change triggers a roll-up of every
 * policy, and a roll-up needs the plan of every node: planning them all each time made a burst of N node-state writes
 * (a policy change fanned out, agents reporting) cost N plans per roll-up, several roll-ups per second per policy. A
 * node is planned again only when an input of {@link NodePlanner#plan} changed: its labels, its node state (by
 * resourceVersion: the inventory is in its status) or the policies (name, age, deletion, spec). Safe for the
 * roll-ups of several policies running at once (at worst a node is planned twice).
 */
final class NodePlans {
    /** What the planner reads of a policy. */
    private record PolicyInput(String name, String created, boolean deleting, VfioBindingPolicySpec spec) {
        static PolicyInput of(VfioBindingPolicy p) {
            return new PolicyInput(p.getMetadata().getName(), p.getMetadata().getCreationTimestamp(),
                    p.getMetadata().getDeletionTimestamp() != null, p.getSpec());
        }
    }

    private record Inputs(Map<String, String> labels, String stateVersion, List<PolicyInput> policies) {
    }

    private record Cached(Inputs inputs, NodePlan plan) {
    }

    private final Map<String, Cached> plans = new ConcurrentHashMap<>();

    /** Plans nodes under {@code policies}: each node again only when its inputs changed since it was last planned. */
    Function<NodeObservation, NodePlan> under(List<VfioBindingPolicy> policies) {
        List<PolicyInput> policyInputs = policies.stream().map(PolicyInput::of)
                .sorted(Comparator.comparing(PolicyInput::name, Comparator.nullsFirst(Comparator.naturalOrder()))).toList();
        return node -> {
            String version = node.state() == null ? null : node.state().getMetadata().getResourceVersion();
            if (version == null) {
                return NodePlanner.plan(node.name(), node.labels(), node.inventory(), policies);
            }
            Inputs inputs = new Inputs(node.labels(), version, policyInputs);
            Cached cached = plans.get(node.name());
            if (cached != null && cached.inputs().equals(inputs)) {
                return cached.plan();
            }
            NodePlan plan = NodePlanner.plan(node.name(), node.labels(), node.inventory(), policies);
            plans.put(node.name(), new Cached(inputs, plan));
            return plan;
        };
    }

    /** Forgets the nodes not in {@code nodes} (deleted). */
    void retain(Set<String> nodes) {
        plans.keySet().retainAll(nodes);
    }
}
