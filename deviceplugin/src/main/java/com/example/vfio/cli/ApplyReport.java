package com.example.vfio.cli;

import com.example.vfio.api.BindState;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.binding.BindPlan;
import com.example.vfio.binding.DeviceOutcome;
import com.example.vfio.binding.PlannedChange;
import com.example.vfio.binding.PlannedChange.Action;
import com.example.vfio.planning.NodePlan;
import com.example.vfio.planning.PlanConflict;
import com.example.vfio.planning.PolicyMatch;
import com.example.vfio.planning.PolicyProblem;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The two renderings of {@code apply}: a plan a person reads, and a JSON document. */
final class ApplyReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** One device's line: what happens (or happened) and why. */
    record Line(String address, String policy, String desiredDriver, String action, BindState state, String fromDriver,
            String toDriver, String message) {
    }

    private final String root;
    private final String node;
    private final String kernel;
    private final int policyCount;
    private final boolean dryRun;
    private final NodePlan nodePlan;
    private final List<String> notes;
    private final List<Line> lines;
    private final String journal;

    private ApplyReport(String root, String node, String kernel, int policyCount, boolean dryRun, NodePlan nodePlan,
            List<String> notes, List<Line> lines, String journal) {
        this.root = root;
        this.node = node;
        this.kernel = kernel;
        this.policyCount = policyCount;
        this.dryRun = dryRun;
        this.nodePlan = nodePlan;
        this.notes = notes;
        this.lines = lines;
        this.journal = journal;
    }

    static ApplyReport planned(String root, String node, String kernel, int policyCount, NodePlan nodePlan,
            BindPlan plan) {
        Map<String, DesiredDevice> desired = ApplyCommand.byAddress(nodePlan.devices());
        List<Line> lines = new ArrayList<>();
        for (PlannedChange c : plan.changes()) {
            BindState state = switch (c.action()) {
                case BIND, RELEASE -> BindState.Pending;
                case REFUSED -> BindState.Refused;
                case UNCHANGED, REPORT_ONLY -> BindState.Unchanged;
            };
            String to = c.action() == Action.BIND ? c.target().driver()
                    : c.action() == Action.RELEASE ? c.target().driver() : c.currentDriver();
            lines.add(new Line(c.address(), policyOf(desired, c.address()), c.desiredDriver(), word(c.action()), state,
                    c.currentDriver(), to, c.why()));
        }
        return new ApplyReport(root, node, kernel, policyCount, true, nodePlan, plan.notes(), sorted(lines), null);
    }

    static ApplyReport applied(String root, String node, String kernel, int policyCount, NodePlan nodePlan,
            BindPlan plan, List<DeviceOutcome> recovered, List<DeviceOutcome> outcomes, String journal) {
        Map<String, DesiredDevice> desired = ApplyCommand.byAddress(nodePlan.devices());
        Map<String, PlannedChange> planned = new LinkedHashMap<>();
        plan.changes().forEach(c -> planned.put(c.address(), c));
        List<Line> lines = new ArrayList<>();
        for (DeviceOutcome o : outcomes) {
            PlannedChange c = planned.get(o.address());
            boolean recovery = c == null || recovered.stream().anyMatch(r -> r == o);
            lines.add(new Line(o.address(), policyOf(desired, o.address()), o.desiredDriver(),
                    recovery ? "recover" : word(c.action()), o.state(), o.fromDriver(), o.toDriver(), o.message()));
        }
        return new ApplyReport(root, node, kernel, policyCount, false, nodePlan, List.of(), sorted(lines), journal);
    }

    boolean anyProblem() {
        return !nodePlan.conflicts().isEmpty()
                || lines.stream().anyMatch(l -> l.state() == BindState.Failed || l.state() == BindState.Refused);
    }

    String text() {
        StringBuilder out = new StringBuilder();
        out.append("vfio-node apply: node ").append(node).append(", host ").append(root).append(", kernel ")
                .append(kernel == null ? "unknown" : kernel).append(", ").append(policyCount)
                .append(policyCount == 1 ? " policy" : " policies").append('\n');
        out.append(dryRun ? "Dry run: nothing is changed (no modprobe, no sysfs write, no journal).\n"
                : "Journal: " + journal + "\n");
        out.append('\n');
        if (lines.isEmpty()) {
            out.append("No device is selected by a policy on this node.\n");
        }
        for (Line l : lines) {
            out.append(String.format("%-11s %s", label(l), printable(l.address())));
            if (l.state() == BindState.Refused || l.state() == BindState.Failed) {
                out.append(": ").append(l.message());
            } else {
                out.append("  ").append(drivers(l)).append("  (").append(l.message()).append(')');
            }
            out.append(l.policy() == null ? "" : "  [policy " + l.policy() + "]").append('\n');
        }
        if (!nodePlan.conflicts().isEmpty()) {
            out.append("\nConflicts, left as they are (equal priority, different wishes; raise one policy's priority):\n");
            for (PlanConflict c : nodePlan.conflicts()) {
                out.append("  CONFLICT ").append(c.describe()).append('\n');
            }
        }
        if (!nodePlan.problems().isEmpty()) {
            out.append("\nPolicies not used:\n");
            for (PolicyProblem p : nodePlan.problems()) {
                out.append("  ").append(p.policy()).append(" (").append(p.reason()).append("): ").append(p.message())
                        .append('\n');
            }
        }
        List<String> idle = idlePolicies();
        if (!idle.isEmpty()) {
            out.append("\nPolicies that select nothing on this node: ").append(String.join(", ", idle)).append('\n');
        }
        if (!notes.isEmpty()) {
            out.append("\nNotes:\n");
            notes.forEach(n -> out.append("  - ").append(n).append('\n'));
        }
        out.append('\n').append(summary()).append('\n');
        return out.toString();
    }

    String json() {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("node", node);
        doc.put("root", root);
        doc.put("kernelRelease", kernel);
        doc.put("dryRun", dryRun);
        doc.put("journal", journal);
        List<Object> devices = new ArrayList<>();
        for (Line l : lines) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("address", l.address());
            d.put("policy", l.policy());
            d.put("desiredDriver", l.desiredDriver());
            d.put("action", l.action());
            d.put("state", l.state() == null ? null : l.state().name());
            d.put("fromDriver", l.fromDriver());
            d.put("toDriver", l.toDriver());
            d.put("message", l.message());
            devices.add(d);
        }
        doc.put("devices", devices);
        List<Object> conflicts = new ArrayList<>();
        for (PlanConflict c : nodePlan.conflicts()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("address", c.address());
            m.put("policies", c.policies());
            m.put("message", c.describe());
            conflicts.add(m);
        }
        doc.put("conflicts", conflicts);
        List<Object> problems = new ArrayList<>();
        for (PolicyProblem p : nodePlan.problems()) {
            problems.add(Map.of("policy", p.policy(), "reason", p.reason(), "message", p.message()));
        }
        doc.put("policyProblems", problems);
        doc.put("notes", notes);
        doc.put("summary", summary());
        try {
            return JSON.writeValueAsString(doc) + System.lineSeparator();
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render the apply document", e);
        }
    }

    private String summary() {
        Map<String, Integer> counts = new TreeMap<>();
        for (Line l : lines) {
            counts.merge(countWord(l), 1, Integer::sum);
        }
        List<String> parts = new ArrayList<>();
        for (String key : dryRun ? List.of("to bind", "to give back", "unchanged", "refused")
                : List.of("bound", "given back", "recovered", "unchanged", "failed", "refused")) {
            parts.add(counts.getOrDefault(key, 0) + " " + key);
        }
        if (!nodePlan.conflicts().isEmpty()) {
            parts.add(nodePlan.conflicts().size() + " in conflict");
        }
        return (dryRun ? "Plan: " : "Result: ") + String.join(", ", parts) + ".";
    }

    private String countWord(Line l) {
        if (l.state() == BindState.Refused) {
            return "refused";
        }
        if (l.state() == BindState.Failed) {
            return "failed";
        }
        if (l.state() == BindState.Unchanged) {
            return "unchanged";
        }
        if (dryRun) {
            return l.action().equals("give back") ? "to give back" : "to bind";
        }
        return switch (l.action()) {
            case "recover" -> "recovered";
            case "give back" -> "given back";
            default -> "bound";
        };
    }

    private String label(Line l) {
        if (l.state() == BindState.Refused) {
            return "REFUSED";
        }
        if (l.state() == BindState.Failed) {
            return "FAILED";
        }
        if (l.state() == BindState.Unchanged) {
            return l.action().equals("report only") ? "report only" : "unchanged";
        }
        if (dryRun) {
            return l.action().equals("give back") ? "would free" : "would bind";
        }
        return switch (l.action()) {
            case "recover" -> "recovered";
            case "give back" -> "given back";
            default -> "bound";
        };
    }

    private String drivers(Line l) {
        String from = l.fromDriver() == null ? "(no driver)" : l.fromDriver();
        if (l.state() == BindState.Unchanged) {
            return from;
        }
        String to = l.toDriver() == null ? (l.action().equals("give back") ? "host driver" : "(no driver)")
                : l.toDriver();
        return from + " → " + to;
    }

    private List<String> idlePolicies() {
        List<String> idle = new ArrayList<>();
        for (PolicyMatch m : new TreeMap<>(nodePlan.policies()).values()) {
            boolean refused = nodePlan.problems().stream().anyMatch(p -> p.policy().equals(m.policy()));
            if (!refused && m.matched().isEmpty()) {
                idle.add(m.policy() + (m.nodeMatched() ? "" : " (nodeSelector does not match " + node + ")"));
            }
        }
        return idle;
    }

    /** An address that failed validation may hold anything: never let it break the table. */
    private static String printable(String text) {
        return text == null ? "(none)" : text.replaceAll("\\p{Cntrl}", "?");
    }

    private static String word(Action action) {
        return switch (action) {
            case BIND -> "bind";
            case RELEASE -> "give back";
            case UNCHANGED -> "none";
            case REPORT_ONLY -> "report only";
            case REFUSED -> "refuse";
        };
    }

    private static String policyOf(Map<String, DesiredDevice> desired, String address) {
        DesiredDevice d = desired.get(address);
        return d == null ? null : d.getPolicy();
    }

    private static List<Line> sorted(List<Line> lines) {
        List<Line> copy = new ArrayList<>(lines);
        copy.sort(java.util.Comparator.comparing(Line::address));
        return copy;
    }
}
