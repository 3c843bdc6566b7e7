package com.example.vfio.api.crd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cel.common.CelValidationResult;
import dev.cel.common.types.SimpleType;
import dev.cel.compiler.CelCompiler;
import dev.cel.compiler.CelCompilerFactory;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelEvaluationException;
import dev.cel.runtime.CelRuntime;
import dev.cel.runtime.CelRuntimeFactory;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.api.model.apiextensions.v1.ValidationRule;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What the API server does with a CRD's structural schema on create, for the subset our CRDs use: defaulting, then
 * types, required, unknown fields (kubectl's default strict field validation), enum, pattern, bounds, sizes, list-map
 * key uniqueness and the x-kubernetes-validations CEL rules (evaluated with cel-java; {@code self} is the value).
 * Errors read "path: what is wrong".
 */
final class SchemaValidator {
    private final CelCompiler compiler = CelCompilerFactory.standardCelCompilerBuilder()
            .setStandardMacros(CelStandardMacro.STANDARD_MACROS).addVar("self", SimpleType.DYN).build();
    private final CelRuntime runtime = CelRuntimeFactory.standardCelRuntimeBuilder().build();

    /** Applies defaults to {@code value} in place, then returns every violation. */
    List<String> validate(JSONSchemaProps schema, Object value) {
        applyDefaults(schema, value);
        List<String> errors = new ArrayList<>();
        check(schema, value, "", errors);
        return errors;
    }

    @SuppressWarnings("unchecked")
    private void applyDefaults(JSONSchemaProps s, Object value) {
        if (value instanceof Map<?, ?> map && s.getProperties() != null) {
            Map<String, Object> m = (Map<String, Object>) map;
            s.getProperties().forEach((name, prop) -> {
                if (!m.containsKey(name) && prop.getDefault() != null) {
                    m.put(name, fromJson(prop.getDefault()));
                }
                if (m.containsKey(name)) {
                    applyDefaults(prop, m.get(name));
                }
            });
        } else if (value instanceof List<?> list && s.getItems() != null && s.getItems().getSchema() != null) {
            list.forEach(item -> applyDefaults(s.getItems().getSchema(), item));
        }
    }

    private static Object fromJson(JsonNode n) {
        if (n.isBoolean()) {
            return n.booleanValue();
        }
        if (n.isIntegralNumber()) {
            return n.longValue();
        }
        if (n.isNumber()) {
            return n.doubleValue();
        }
        return n.asText();
    }

    @SuppressWarnings("unchecked")
    private void check(JSONSchemaProps s, Object value, String path, List<String> errors) {
        String at = path.isEmpty() ? "<root>" : path;
        int before = errors.size();
        switch (String.valueOf(s.getType())) {
            case "object" -> {
                if (!(value instanceof Map<?, ?> raw)) {
                    errors.add(at + ": must be an object");
                    return;
                }
                Map<String, Object> map = (Map<String, Object>) raw;
                for (String required : s.getRequired() == null ? List.<String>of() : s.getRequired()) {
                    if (!map.containsKey(required)) {
                        errors.add(join(path, required) + ": Required value");
                    }
                }
                for (Map.Entry<String, Object> e : map.entrySet()) {
                    JSONSchemaProps prop = s.getProperties() == null ? null : s.getProperties().get(e.getKey());
                    if (prop != null) {
                        check(prop, e.getValue(), join(path, e.getKey()), errors);
                    } else if (s.getAdditionalProperties() != null && s.getAdditionalProperties().getSchema() != null) {
                        check(s.getAdditionalProperties().getSchema(), e.getValue(), join(path, e.getKey()), errors);
                    } else if (!Boolean.TRUE.equals(s.getXKubernetesPreserveUnknownFields()) && !isObjectMeta(path, e.getKey())) {
                        errors.add(join(path, e.getKey()) + ": unknown field");
                    }
                }
            }
            case "array" -> {
                if (!(value instanceof List<?> list)) {
                    errors.add(at + ": must be an array");
                    return;
                }
                if (s.getMinItems() != null && list.size() < s.getMinItems()) {
                    errors.add(at + ": must have at least " + s.getMinItems() + " item(s)");
                }
                if (s.getMaxItems() != null && list.size() > s.getMaxItems()) {
                    errors.add(at + ": must have at most " + s.getMaxItems() + " items");
                }
                for (int i = 0; i < list.size(); i++) {
                    check(s.getItems().getSchema(), list.get(i), path + "[" + i + "]", errors);
                }
                if ("map".equals(s.getXKubernetesListType())) {
                    Set<List<Object>> keys = new HashSet<>();
                    for (Object item : list) {
                        List<Object> key = new ArrayList<>();
                        s.getXKubernetesListMapKeys().forEach(k -> key.add(((Map<String, Object>) item).get(k)));
                        if (!keys.add(key)) {
                            errors.add(at + ": Duplicate value: " + key);
                        }
                    }
                }
            }
            case "string" -> {
                if (!(value instanceof String str)) {
                    errors.add(at + ": must be a string");
                    return;
                }
                if (s.getPattern() != null && !Pattern.compile(s.getPattern()).matcher(str).find()) {
                    errors.add(at + ": '" + str + "' does not match " + s.getPattern());
                }
                if (s.getMaxLength() != null && str.length() > s.getMaxLength()) {
                    errors.add(at + ": longer than " + s.getMaxLength());
                }
            }
            case "integer" -> {
                if (!(value instanceof Integer || value instanceof Long)) {
                    errors.add(at + ": must be an integer");
                    return;
                }
                long n = ((Number) value).longValue();
                if (s.getMinimum() != null && n < s.getMinimum()) {
                    errors.add(at + ": " + n + " is less than the minimum " + s.getMinimum().longValue());
                }
                if (s.getMaximum() != null && n > s.getMaximum()) {
                    errors.add(at + ": " + n + " is greater than the maximum " + s.getMaximum().longValue());
                }
            }
            case "boolean" -> {
                if (!(value instanceof Boolean)) {
                    errors.add(at + ": must be a boolean");
                    return;
                }
            }
            default -> throw new IllegalStateException("schema type " + s.getType() + " at " + at + " is not handled here");
        }
        if (s.getEnum() != null && !s.getEnum().isEmpty()
                && s.getEnum().stream().map(JsonNode::asText).noneMatch(v -> v.equals(String.valueOf(value)))) {
            errors.add(at + ": Unsupported value: '" + value + "': supported values: "
                    + s.getEnum().stream().map(JsonNode::asText).toList());
        }
        if (errors.size() == before && s.getXKubernetesValidations() != null) {
            for (ValidationRule rule : s.getXKubernetesValidations()) {
                if (!Boolean.TRUE.equals(evaluate(rule.getRule(), value))) {
                    errors.add(at + (rule.getFieldPath() == null ? "" : rule.getFieldPath()) + ": " + rule.getMessage());
                }
            }
        }
    }

    private static boolean isObjectMeta(String path, String key) {
        return path.isEmpty() && (key.equals("apiVersion") || key.equals("kind") || key.equals("metadata"));
    }

    private Object evaluate(String rule, Object self) {
        CelValidationResult compiled = compiler.compile(rule);
        if (compiled.hasError()) {
            throw new IllegalStateException("CEL rule does not compile: " + rule + "\n" + compiled.getErrorString());
        }
        try {
            return runtime.createProgram(compiled.getAst()).eval(Map.of("self", celValue(self)));
        } catch (dev.cel.common.CelValidationException | CelEvaluationException e) {
            throw new IllegalStateException("CEL rule fails to evaluate: " + rule + ": " + e.getMessage(), e);
        }
    }

    /** CEL wants 64-bit integers. */
    @SuppressWarnings("unchecked")
    private static Object celValue(Object v) {
        if (v instanceof Integer i) {
            return i.longValue();
        }
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            ((Map<String, Object>) m).forEach((k, x) -> out.put(k, celValue(x)));
            return out;
        }
        if (v instanceof List<?> l) {
            return l.stream().map(SchemaValidator::celValue).toList();
        }
        return v;
    }

    private static String join(String path, String field) {
        return path.isEmpty() ? field : path + "." + field;
    }
}
