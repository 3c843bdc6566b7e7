package com.example.vfio.operator;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** Kubernetes condition conventions: lastTransitionTime moves only when the status flips. */
final class Conditions {
    private Conditions() {
    }

    static Condition of(String type, boolean status, String reason, String message, Long generation) {
        return new ConditionBuilder().withType(type).withStatus(status ? "True" : "False").withReason(reason)
                .withMessage(message).withObservedGeneration(generation).build();
    }

    /** The fresh conditions, keeping the old lastTransitionTime where a condition kept its status. */
    static List<Condition> merge(List<Condition> old, List<Condition> fresh, String now) {
        List<Condition> merged = new ArrayList<>();
        for (Condition c : fresh) {
            Condition previous = find(old, c.getType());
            boolean same = previous != null && Objects.equals(previous.getStatus(), c.getStatus()) && previous.getLastTransitionTime() != null;
            merged.add(new ConditionBuilder(c).withLastTransitionTime(same ? previous.getLastTransitionTime() : now).build());
        }
        return merged;
    }

    static Condition find(List<Condition> conditions, String type) {
        if (conditions == null) {
            return null;
        }
        return conditions.stream().filter(c -> type.equals(c.getType())).findFirst().orElse(null);
    }

    static boolean isTrue(List<Condition> conditions, String type) {
        Condition c = find(conditions, type);
        return c != null && "True".equals(c.getStatus());
    }

    /** Same status and reason (message changes alone, e.g. counts, are no news). */
    static boolean sameState(Condition a, Condition b) {
        return a != null && b != null && Objects.equals(a.getStatus(), b.getStatus()) && Objects.equals(a.getReason(), b.getReason());
    }
}
