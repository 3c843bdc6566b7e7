package com.example.vfio.planning;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Kubernetes label selector semantics (matchLabels AND matchExpressions), for a policy's nodeSelector. */
public final class NodeSelectors {
    private NodeSelectors() {
    }

    /** A null selector matches every node, as does an empty one. Call {@link #problems} first: invalid input throws. */
    public static boolean matches(LabelSelector selector, Map<String, String> labels) {
        if (selector == null) {
            return true;
        }
        Map<String, String> l = labels == null ? Map.of() : labels;
        if (selector.getMatchLabels() != null) {
            for (Map.Entry<String, String> e : selector.getMatchLabels().entrySet()) {
                if (!e.getValue().equals(l.get(e.getKey()))) {
                    return false;
                }
            }
        }
        if (selector.getMatchExpressions() != null) {
            for (LabelSelectorRequirement r : selector.getMatchExpressions()) {
                if (!matches(r, l)) {
                    return false;
                }
            }
        }
        return true;
    }

    private static boolean matches(LabelSelectorRequirement r, Map<String, String> labels) {
        String value = labels.get(r.getKey());
        List<String> values = r.getValues() == null ? List.of() : r.getValues();
        return switch (String.valueOf(r.getOperator())) {
            case "In" -> value != null && values.contains(value);
            case "NotIn" -> value == null || !values.contains(value);
            case "Exists" -> labels.containsKey(r.getKey());
            case "DoesNotExist" -> !labels.containsKey(r.getKey());
            default -> throw new IllegalArgumentException("unknown label selector operator '" + r.getOperator() + "'");
        };
    }

    /** What the API server's label selector validation would refuse, each naming the field below {@code path}. */
    public static List<String> problems(LabelSelector selector, String path) {
        List<String> problems = new ArrayList<>();
        if (selector == null) {
            return problems;
        }
        if (selector.getMatchExpressions() != null) {
            for (int i = 0; i < selector.getMatchExpressions().size(); i++) {
                LabelSelectorRequirement r = selector.getMatchExpressions().get(i);
                String at = path + ".matchExpressions[" + i + "]";
                if (r.getKey() == null || r.getKey().isEmpty()) {
                    problems.add(at + ".key: required");
                }
                String op = r.getOperator();
                boolean hasValues = r.getValues() != null && !r.getValues().isEmpty();
                if ("In".equals(op) || "NotIn".equals(op)) {
                    if (!hasValues) {
                        problems.add(at + ".values: must be non-empty for operator " + op);
                    }
                } else if ("Exists".equals(op) || "DoesNotExist".equals(op)) {
                    if (hasValues) {
                        problems.add(at + ".values: must be empty for operator " + op);
                    }
                } else {
                    problems.add(at + ".operator: '" + op + "' is not one of In, NotIn, Exists, DoesNotExist");
                }
            }
        }
        if (selector.getMatchLabels() != null) {
            selector.getMatchLabels().forEach((k, v) -> {
                if (v == null) {
                    problems.add(path + ".matchLabels." + k + ": value required");
                }
            });
        }
        return problems;
    }
}
