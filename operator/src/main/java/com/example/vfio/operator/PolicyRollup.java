package com.example.vfio.operator;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.NodeProblem;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicyStatus;
import com.example.vfio.api.VfioNodeStateSpec;
import com.example.vfio.planning.NodePlan;
import com.example.vfio.planning.NodePlanner;
import com.example.vfio.planning.PlanConflict;
import com.example.vfio.planning.PolicyMatch;
import com.example.vfio.planning.PolicyProblem;
import io.fabric8.kubernetes.api.model.Condition;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Collectors;

import static com.example.vfio.api.VfioBindingPolicyStatus.CONFLICT;
import static com.example.vfio.api.VfioBindingPolicyStatus.DEGRADED;
import static com.example.vfio.api.VfioBindingPolicyStatus.PROGRESSING;
import static com.example.vfio.api.VfioBindingPolicyStatus.READY;

/**
 * Rolls the nodes' reports up into one policy's status: pure, from the same plans the node-state reconciler writes.
 *
 * @param matchedNodes   nodes where the policy has devices (assigned, companions or conflicted)
 * @param readyNodes     those where all of them are in effect
 * @param matchedDevices devices the policy owns or fights over (not those a higher priority took)
 * @param readyDevices   those in effect
 * @param failing        per node, why the policy is not in effect there (sorted by node), conflicts included
 * @param degraded       the nodes of {@code failing} with a failure other than a conflict
 * @param pendingNodes   nodes still applying
 * @param conflicts      "address on node: who wants what"
 * @param problem        why the planner refuses the policy, or null
 * @param releasing      nodes where a deleting policy's devices are not back on their host drivers yet
 */
record PolicyRollup(int matchedNodes, int readyNodes, int matchedDevices, int readyDevices, List<NodeProblem> failing,
                    List<String> degraded, List<String> pendingNodes, List<String> conflicts, PolicyProblem problem, List<String> releasing) {

    private static final int MAX_LISTED = 5;

    static PolicyRollup compute(VfioBindingPolicy policy, List<VfioBindingPolicy> allPolicies, List<NodeObservation> nodes) {
        return compute(policy, allPolicies, nodes, n -> NodePlanner.plan(n.name(), n.labels(), n.inventory(), allPolicies));
    }

    /** @param planner the plan of a node under {@code allPolicies} (the operator keeps them: {@link NodePlans}) */
    static PolicyRollup compute(VfioBindingPolicy policy, List<VfioBindingPolicy> allPolicies, List<NodeObservation> nodes,
                                Function<NodeObservation, NodePlan> planner) {
        String name = policy.getMetadata().getName();
        boolean deleting = policy.getMetadata().getDeletionTimestamp() != null;
        List<PolicyProblem> problems = new ArrayList<>();
        NodePlanner.usablePolicies(allPolicies, problems);
        PolicyProblem problem = problems.stream().filter(p -> p.policy().equals(name)).findFirst().orElse(null);

        int matchedNodes = 0, readyNodes = 0, matchedDevices = 0, readyDevices = 0;
        List<NodeProblem> failing = new ArrayList<>();
        List<String> degraded = new ArrayList<>();
        List<String> pending = new ArrayList<>();
        List<String> conflicts = new ArrayList<>();
        List<String> releasing = new ArrayList<>();
        for (NodeObservation node : nodes.stream().sorted(Comparator.comparing(NodeObservation::name)).toList()) {
            if (problem != null || !node.hasInventory()) {
                continue;
            }
            NodePlan plan = planner.apply(node);
            PolicyMatch match = plan.policies().get(name);
            if (match == null || match.assigned().size() + match.companions().size() + match.conflicted().size() == 0) {
                continue;
            }
            matchedNodes++;
            VfioNodeStateSpec planned = plan.toSpec();
            List<String> nodeFailures = new ArrayList<>();
            List<String> nodeConflicts = new ArrayList<>();
            boolean nodePending = false;
            List<String> mine = new ArrayList<>(match.assigned());
            mine.addAll(match.companions());
            for (String address : mine) {
                DesiredDevice want = plan.device(address).orElseThrow();
                DeviceReadiness r = DeviceReadiness.of(want, planned, node.state());
                boolean counted = want.getCompanionOf() == null;
                if (counted) {
                    matchedDevices++;
                }
                switch (r.state()) {
                    case READY -> readyDevices += counted ? 1 : 0;
                    case PENDING -> nodePending = true;
                    case FAILED -> nodeFailures.add(r.message());
                }
            }
            for (PlanConflict c : plan.conflicts()) {
                if (c.policies().contains(name)) {
                    matchedDevices++;
                    conflicts.add(c.address() + " on " + node.name() + ": " + c.claims().stream()
                            .map(PlanConflict.Claim::toString).collect(Collectors.joining(", ")));
                    nodeConflicts.add(c.address() + ": equal-priority conflict with "
                            + String.join(", ", c.policies().stream().filter(p -> !p.equals(name)).toList()));
                }
            }
            if (deleting && (nodePending || !nodeFailures.isEmpty())) {
                releasing.add(node.name());
            }
            if (!nodeFailures.isEmpty()) {
                degraded.add(node.name());
            }
            if (!nodeFailures.isEmpty() || !nodeConflicts.isEmpty()) {
                nodeFailures.addAll(nodeConflicts);
                failing.add(new NodeProblem(node.name(), String.join("; ", nodeFailures)));
            } else if (nodePending) {
                pending.add(node.name());
            } else {
                readyNodes++;
            }
        }
        return new PolicyRollup(matchedNodes, readyNodes, matchedDevices, readyDevices, failing, degraded, pending, conflicts, problem, releasing);
    }

    /** True when a deleting policy may let go: every device it held is back on its host driver (or its node is gone). */
    boolean released() {
        return releasing.isEmpty();
    }

    /** The status to write: conditions carry the policy's generation; lastTransitionTime is merged by the caller. */
    VfioBindingPolicyStatus toStatus(VfioBindingPolicy policy) {
        Long gen = policy.getMetadata().getGeneration();
        boolean deleting = policy.getMetadata().getDeletionTimestamp() != null;
        VfioBindingPolicyStatus s = new VfioBindingPolicyStatus();
        s.setObservedGeneration(gen);
        s.setMatchedNodes(matchedNodes);
        s.setReadyNodes(readyNodes);
        s.setMatchedDevices(matchedDevices);
        s.setReadyDevices(readyDevices);
        s.setNodes(readyNodes + "/" + matchedNodes);
        s.setDevices(readyDevices + "/" + matchedDevices);
        s.setFailingNodes(new ArrayList<>(failing.subList(0, Math.min(failing.size(), VfioBindingPolicyStatus.MAX_FAILING_NODES))));

        List<Condition> c = new ArrayList<>();
        if (problem != null) {
            c.add(Conditions.of(READY, false, problem.reason(), "the policy is not applied: " + problem.message(), gen));
            c.add(Conditions.of(PROGRESSING, false, problem.reason(), "nothing to do until the policy is fixed", gen));
            c.add(Conditions.of(DEGRADED, true, problem.reason(), problem.message(), gen));
            c.add(Conditions.of(CONFLICT, false, "NoConflict", "no equal-priority conflict", gen));
            s.setConditions(c);
            return s;
        }
        boolean ready = !deleting && matchedNodes > 0 && readyNodes == matchedNodes;
        String readyReason;
        String readyMessage;
        if (deleting) {
            readyReason = "Deleting";
            readyMessage = releasing.isEmpty() ? "all devices are back on their host drivers"
                    : "returning devices to their host drivers on " + list(releasing);
        } else if (ready) {
            readyReason = "AllNodesReady";
            readyMessage = readyDevices + " device(s) in effect on " + readyNodes + " node(s)";
        } else if (matchedNodes == 0) {
            readyReason = "NoMatchingDevices";
            readyMessage = "no reporting node has a device this policy selects (or higher-priority policies took them all)";
        } else if (!conflicts.isEmpty() && degraded.isEmpty()) {
            readyReason = "Conflict";
            readyMessage = readyNodes + "/" + matchedNodes + " nodes ready; equal-priority conflicts: " + list(conflicts);
        } else if (!failing.isEmpty()) {
            readyReason = "NodesFailing";
            readyMessage = readyNodes + "/" + matchedNodes + " nodes ready; not in effect on " + list(failing.stream().map(NodeProblem::getNode).toList());
        } else {
            readyReason = "InProgress";
            readyMessage = readyNodes + "/" + matchedNodes + " nodes ready; applying on " + list(pendingNodes);
        }
        c.add(Conditions.of(READY, ready, readyReason, readyMessage, gen));
        c.add(pendingNodes.isEmpty() && !(deleting && !releasing.isEmpty())
                ? Conditions.of(PROGRESSING, false, "Complete", "every node has acted on the current spec", gen)
                : Conditions.of(PROGRESSING, true, deleting ? "ReleasingDevices" : "Binding",
                        (deleting ? "returning devices on " + list(releasing) : "node agents applying on " + list(pendingNodes)), gen));
        c.add(degraded.isEmpty()
                ? Conditions.of(DEGRADED, false, "AsExpected", "no node reports a failure", gen)
                : Conditions.of(DEGRADED, true, "NodesFailing", degraded.size() + " node(s) failing: "
                        + failing.stream().filter(f -> degraded.contains(f.getNode())).limit(MAX_LISTED)
                        .map(NodeProblem::toString).collect(Collectors.joining(" | ")), gen));
        c.add(conflicts.isEmpty()
                ? Conditions.of(CONFLICT, false, "NoConflict", "no equal-priority conflict", gen)
                : Conditions.of(CONFLICT, true, "EqualPriorityConflict", "devices left as they are: " + list(conflicts), gen));
        s.setConditions(c);
        return s;
    }

    private static String list(List<String> items) {
        String shown = String.join(", ", items.subList(0, Math.min(items.size(), MAX_LISTED)));
        return items.size() > MAX_LISTED ? shown + " and " + (items.size() - MAX_LISTED) + " more" : shown;
    }
}
