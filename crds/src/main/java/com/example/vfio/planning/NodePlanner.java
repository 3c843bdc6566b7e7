package com.example.vfio.planning;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.Companions;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.Drivers;
import com.example.vfio.api.PublishWith;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicySpec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Turns all policies into the desired state of one node. Pure: no client, no clock, no I/O; the same inputs give
 * the same plan, so the operator (cluster mode) and the node daemon (standalone {@code serve --policies FILE}) share it.
 */
public final class NodePlanner {
    private static final Comparator<VfioBindingPolicy> AGE = Comparator
            .comparing((VfioBindingPolicy p) -> Objects.requireNonNullElse(p.getMetadata().getCreationTimestamp(), ""))
            .thenComparing(p -> p.getMetadata().getName());

    private NodePlanner() {
    }

    /**
     * Computes the desired state of one node.
     * <ol>
     * <li>Policies that fail {@link PolicyValidator} are left out ({@link PolicyProblem#INVALID_SPEC}); so is any policy
     * whose resourceName is already used, by an older policy (creationTimestamp, then name), with a different
     * allocationUnit ({@link PolicyProblem#RESOURCE_UNIT_MISMATCH}) or publishWith ({@link PolicyProblem#RESOURCE_PUBLISH_MISMATCH}:
     * the kubelet must never see one resource from a device plugin and from DRA on one node, and the DeviceClass that
     * serves the extended resource is cluster-wide). These problems do not depend on the node.</li>
     * <li>A policy applies when its nodeSelector matches {@code nodeLabels} (no selector: every node); it claims every
     * inventory device its selector matches ({@link DeviceSelectors}).</li>
     * <li>Per device the highest priority wins. Policies of equal top priority that want a different driver or
     * resourceName are a {@link PlanConflict}: the device gets no entry (left as it is). Agreeing policies share it:
     * the entry names the first by name, managed/force hold only if all of them say so.</li>
     * <li>{@code companions: Bind}: the other members of each assigned device's IOMMU group that no live policy claims
     * and that are not bridges get {@code vfio-pci} ({@code host} when the policy gives its devices back: the
     * companions go back to their own host drivers with them), no resource, {@code companionOf} = the assigned
     * address.</li>
     * <li>A policy being deleted (deletionTimestamp set) releases its managed devices: each device it matches that no
     * live policy (nor companion) takes gets {@code driver: host}.</li>
     * </ol>
     * {@code driver: auto} stays {@code auto}: the node resolves it from its own modules.alias.
     *
     * @param nodeName   the node (only copied into the plan)
     * @param nodeLabels its labels; null means none
     * @param inventory  its devices; hex strings as in {@link DeviceFacts}
     * @param policies   all policies of the cluster (or the standalone file), in any order
     * @return the plan; {@link NodePlan#devices()} sorted by address
     */
    public static NodePlan plan(String nodeName, Map<String, String> nodeLabels, List<DeviceFacts> inventory,
                                List<VfioBindingPolicy> policies) {
        List<PolicyProblem> problems = new ArrayList<>();
        usablePolicies(policies, problems);
        Set<String> refused = problems.stream().map(PolicyProblem::policy).collect(Collectors.toSet());

        Map<String, DeviceFacts> byAddress = new TreeMap<>();
        for (DeviceFacts d : inventory) {
            byAddress.put(d.address(), d);
        }

        Map<String, MatchBuilder> matches = new TreeMap<>();
        Map<String, List<Claim>> liveClaims = new TreeMap<>();
        Map<String, List<Claim>> releases = new TreeMap<>();
        for (VfioBindingPolicy p : policies) {
            String name = p.getMetadata() == null ? null : p.getMetadata().getName();
            if (name == null) {
                continue;
            }
            MatchBuilder m = matches.computeIfAbsent(name, MatchBuilder::new);
            if (refused.contains(name)) {
                continue;
            }
            VfioBindingPolicySpec spec = p.getSpec();
            if (!NodeSelectors.matches(spec.getNodeSelector(), nodeLabels)) {
                continue;
            }
            m.nodeMatched = true;
            boolean deleting = p.getMetadata().getDeletionTimestamp() != null;
            for (DeviceFacts d : byAddress.values()) {
                if (!DeviceSelectors.matches(spec.getSelector(), d)) {
                    continue;
                }
                m.matched.add(d.address());
                if (deleting) {
                    if (spec.effectiveManaged() && !Drivers.HOST.equals(spec.effectiveDriver())) {
                        releases.computeIfAbsent(d.address(), a -> new ArrayList<>()).add(Claim.of(p));
                    }
                } else {
                    liveClaims.computeIfAbsent(d.address(), a -> new ArrayList<>()).add(Claim.of(p));
                }
            }
        }

        Map<String, DesiredDevice> desired = new TreeMap<>();
        List<PlanConflict> conflicts = new ArrayList<>();
        Map<String, Claim> winners = new HashMap<>();
        for (Map.Entry<String, List<Claim>> e : liveClaims.entrySet()) {
            String address = e.getKey();
            List<Claim> claims = e.getValue();
            int top = claims.stream().mapToInt(Claim::priority).max().orElseThrow();
            List<Claim> best = claims.stream().filter(c -> c.priority == top).sorted(Comparator.comparing(Claim::policy)).toList();
            for (Claim c : claims) {
                if (c.priority < top) {
                    matches.get(c.policy).overriddenBy.put(address, best.get(0).policy);
                }
            }
            Set<List<String>> wishes = new HashSet<>();
            best.forEach(c -> wishes.add(Arrays.asList(c.driver, c.resourceName)));
            if (wishes.size() > 1) {
                conflicts.add(new PlanConflict(address, best.stream()
                        .map(c -> new PlanConflict.Claim(c.policy, c.priority, c.driver, c.resourceName)).toList()));
                best.forEach(c -> matches.get(c.policy).conflicted.add(address));
                continue;
            }
            Claim first = best.get(0);
            boolean managed = best.stream().allMatch(c -> c.managed);
            boolean force = best.stream().allMatch(c -> c.force);
            DesiredDevice entry = new DesiredDevice(address, first.driver, first.resourceName, first.policy,
                    first.resourceName == null ? null : first.unit, managed, force, null);
            if (first.resourceName != null) {
                entry.setPublishWith(first.publishWith);
            }
            desired.put(address, entry);
            winners.put(address, first);
            best.forEach(c -> matches.get(c.policy).assigned.add(address));
        }

        // Companions: only devices no live policy claims (a conflicted device stays as it is).
        Map<String, List<DeviceFacts>> groups = new HashMap<>();
        byAddress.values().stream().filter(d -> d.iommuGroup() != null)
                .forEach(d -> groups.computeIfAbsent(d.iommuGroup(), g -> new ArrayList<>()).add(d));
        for (Map.Entry<String, Claim> w : new TreeMap<>(winners).entrySet()) {
            Claim owner = w.getValue();
            DeviceFacts selected = byAddress.get(w.getKey());
            if (owner.companions != Companions.Bind || !owner.managed || selected.iommuGroup() == null) {
                continue;
            }
            for (DeviceFacts sibling : groups.get(selected.iommuGroup())) {
                String a = sibling.address();
                if (liveClaims.containsKey(a) || desired.containsKey(a) || sibling.isBridge()) {
                    continue;
                }
                String driver = Drivers.HOST.equals(owner.driver) ? Drivers.HOST : Drivers.VFIO_PCI;
                desired.put(a, new DesiredDevice(a, driver, null, owner.policy, null, true, owner.force, selected.address()));
                matches.get(owner.policy).companions.add(a);
            }
        }

        for (Map.Entry<String, List<Claim>> e : releases.entrySet()) {
            String address = e.getKey();
            if (desired.containsKey(address) || liveClaims.containsKey(address)) {
                continue;
            }
            Claim first = e.getValue().stream().min(Comparator.comparing(Claim::policy)).orElseThrow();
            desired.put(address, new DesiredDevice(address, Drivers.HOST, null, first.policy, null, true, first.force, null));
            e.getValue().forEach(c -> matches.get(c.policy).assigned.add(address));
        }

        Map<String, PolicyMatch> result = new LinkedHashMap<>();
        matches.forEach((name, m) -> result.put(name, m.build()));
        return new NodePlan(nodeName, new ArrayList<>(desired.values()), conflicts, problems, result);
    }

    /**
     * The policies the planner may use; the others are added to {@code problems}. Exposed for the operator, which
     * reports these problems once per policy rather than once per node.
     */
    public static List<VfioBindingPolicy> usablePolicies(List<VfioBindingPolicy> policies, List<PolicyProblem> problems) {
        List<VfioBindingPolicy> valid = new ArrayList<>();
        for (VfioBindingPolicy p : policies) {
            List<String> invalid = PolicyValidator.problems(p);
            if (invalid.isEmpty()) {
                valid.add(p);
            } else if (p.getMetadata() != null && p.getMetadata().getName() != null) {
                problems.add(new PolicyProblem(p.getMetadata().getName(), PolicyProblem.INVALID_SPEC, String.join("; ", invalid)));
            }
        }
        // The oldest policy using a resource decides its allocation unit and the kubelet API it is published through.
        Map<String, VfioBindingPolicy> unitOwner = new HashMap<>();
        List<VfioBindingPolicy> usable = new ArrayList<>();
        for (VfioBindingPolicy p : valid.stream().sorted(AGE).toList()) {
            VfioBindingPolicySpec spec = p.getSpec();
            String resource = Drivers.HOST.equals(spec.effectiveDriver()) ? null : spec.getResourceName();
            if (resource != null) {
                VfioBindingPolicy owner = unitOwner.putIfAbsent(resource, p);
                if (owner != null && owner.getSpec().effectiveAllocationUnit() != spec.effectiveAllocationUnit()) {
                    problems.add(new PolicyProblem(p.getMetadata().getName(), PolicyProblem.RESOURCE_UNIT_MISMATCH,
                            "resource " + resource + " is allocated per " + owner.getSpec().effectiveAllocationUnit()
                                    + " by the older policy " + owner.getMetadata().getName() + ", this policy asks for "
                                    + spec.effectiveAllocationUnit() + "; use another resourceName or the same allocationUnit"));
                    continue;
                }
                if (owner != null && owner.getSpec().effectivePublishWith() != spec.effectivePublishWith()) {
                    problems.add(new PolicyProblem(p.getMetadata().getName(), PolicyProblem.RESOURCE_PUBLISH_MISMATCH,
                            "resource " + resource + " is published through " + owner.getSpec().effectivePublishWith()
                                    + " by the older policy " + owner.getMetadata().getName() + ", this policy asks for "
                                    + spec.effectivePublishWith() + "; one resource is never published through both"
                                    + " (change publishWith on every policy of the resource, or use another resourceName)"));
                    continue;
                }
            }
            usable.add(p);
        }
        return usable;
    }

    private record Claim(String policy, int priority, String driver, String resourceName, AllocationUnit unit,
                         PublishWith publishWith, boolean managed, boolean force, Companions companions) {
        static Claim of(VfioBindingPolicy p) {
            VfioBindingPolicySpec s = p.getSpec();
            String driver = s.effectiveDriver();
            String resource = Drivers.HOST.equals(driver) ? null : s.getResourceName();
            return new Claim(p.getMetadata().getName(), s.effectivePriority(), driver, resource,
                    s.effectiveAllocationUnit(), s.effectivePublishWith(), s.effectiveManaged(), s.effectiveForce(),
                    s.effectiveCompanions());
        }
    }

    private static final class MatchBuilder {
        final String policy;
        boolean nodeMatched;
        final List<String> matched = new ArrayList<>();
        final List<String> assigned = new ArrayList<>();
        final List<String> companions = new ArrayList<>();
        final Map<String, String> overriddenBy = new TreeMap<>();
        final List<String> conflicted = new ArrayList<>();

        MatchBuilder(String policy) {
            this.policy = policy;
        }

        PolicyMatch build() {
            return new PolicyMatch(policy, nodeMatched, matched, assigned, companions, overriddenBy, conflicted);
        }
    }
}
