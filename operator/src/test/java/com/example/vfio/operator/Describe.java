package com.example.vfio.operator;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Renders an object and its Events the way {@code kubectl describe} does for custom resources. */
final class Describe {
    private static final Pattern WORD = Pattern.compile("(?<=[a-z0-9])(?=[A-Z])");

    private Describe() {
    }

    static String of(HasMetadata object, List<Event> events) {
        StringBuilder out = new StringBuilder();
        out.append(String.format("%-13s%s%n", "Name:", object.getMetadata().getName()));
        out.append(String.format("%-13s%s%n", "Labels:", labels(object.getMetadata().getLabels())));
        out.append(String.format("%-13s%s%n", "API Version:", object.getApiVersion()));
        out.append(String.format("%-13s%s%n", "Kind:", object.getKind()));
        @SuppressWarnings("unchecked")
        Map<String, Object> tree = Serialization.jsonMapper().convertValue(object, Map.class);
        for (String section : List.of("spec", "status")) {
            Object value = tree.get(section);
            if (value != null) {
                out.append(title(section)).append(":\n");
                render(out, value, 1);
            }
        }
        out.append("Events:\n");
        if (events.isEmpty()) {
            out.append("  <none>\n");
        } else {
            out.append(String.format("  %-8s %-22s %-14s %s%n", "Type", "Reason", "From", "Message"));
            out.append(String.format("  %-8s %-22s %-14s %s%n", "----", "------", "----", "-------"));
            for (Event e : events) {
                out.append(String.format("  %-8s %-22s %-14s %s%n", e.getType(), e.getReason(), e.getSource().getComponent(), e.getMessage()));
            }
        }
        return out.toString();
    }

    private static String labels(Map<String, String> labels) {
        return labels == null || labels.isEmpty() ? "<none>" : String.join(",", labels.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
    }

    @SuppressWarnings("unchecked")
    private static void render(StringBuilder out, Object value, int depth) {
        String indent = "  ".repeat(depth);
        if (value instanceof Map<?, ?> map) {
            for (Map.Entry<String, Object> e : ((Map<String, Object>) map).entrySet()) {
                if (e.getValue() instanceof Map<?, ?> || e.getValue() instanceof List<?>) {
                    out.append(indent).append(title(e.getKey())).append(":\n");
                    render(out, e.getValue(), depth + 1);
                } else {
                    out.append(indent).append(title(e.getKey())).append(":  ").append(e.getValue()).append('\n');
                }
            }
        } else if (value instanceof List<?> list) {
            for (Object item : list) {
                if (item instanceof Map<?, ?>) {
                    render(out, item, depth);
                } else {
                    out.append(indent).append(item).append('\n');
                }
            }
        } else {
            out.append(indent).append(value).append('\n');
        }
    }

    /** kubectl's field names: "lastTransitionTime" -> "Last Transition Time". */
    private static String title(String key) {
        Matcher m = WORD.matcher(key);
        String spaced = m.replaceAll(" ");
        return Character.toUpperCase(spaced.charAt(0)) + spaced.substring(1);
    }
}
