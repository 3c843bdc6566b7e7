package com.example.vfio.planning;

import com.example.vfio.api.VfioBindingPolicy;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.kubernetes.api.model.HasMetadata;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Reads VfioBindingPolicy objects from YAML, as the standalone node daemon gets them ({@code serve --policies FILE}):
 * one or more documents, the text one would {@code kubectl apply}. Refuses what the API server would refuse.
 */
public final class PolicyDocuments {
    private static final String API_VERSION = VfioBindingPolicy.GROUP + "/" + VfioBindingPolicy.VERSION;
    private static final String KIND = HasMetadata.getKind(VfioBindingPolicy.class);

    private static final YAMLMapper YAML = new YAMLMapper(new YAMLFactory());
    private static final ObjectMapper STRICT = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    private PolicyDocuments() {
    }

    /** Thrown for input that is not a list of valid policies; the message names the document (1-based) and field. */
    public static final class InvalidPolicyException extends IllegalArgumentException {
        public InvalidPolicyException(String message) {
            super(message);
        }

        public InvalidPolicyException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Parses and validates every document; empty documents (a trailing {@code ---}) are skipped.
     *
     * @throws InvalidPolicyException naming every problem of the first bad document
     */
    public static List<VfioBindingPolicy> parse(String yaml) {
        List<JsonNode> documents = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(yaml)) {
            while (it.hasNextValue()) {
                documents.add(it.nextValue());
            }
        } catch (IOException | RuntimeException e) {
            throw new InvalidPolicyException("not valid YAML: " + rootMessage(e), e);
        }
        List<VfioBindingPolicy> policies = new ArrayList<>();
        Set<String> names = new HashSet<>();
        int index = 0;
        for (JsonNode doc : documents) {
            index++;
            if (doc == null || doc.isNull() || doc.isMissingNode() || (doc.isObject() && doc.isEmpty())) {
                continue;
            }
            String where = "document " + index;
            if (!doc.isObject()) {
                throw new InvalidPolicyException(where + ": expected a VfioBindingPolicy object, got " + doc.getNodeType());
            }
            String apiVersion = doc.path("apiVersion").asText(null);
            String kind = doc.path("kind").asText(null);
            if (!API_VERSION.equals(apiVersion)) {
                throw new InvalidPolicyException(where + ": apiVersion must be " + API_VERSION + ", got " + apiVersion);
            }
            if (!KIND.equals(kind)) {
                throw new InvalidPolicyException(where + ": kind must be " + KIND + ", got " + kind);
            }
            VfioBindingPolicy policy;
            try {
                policy = STRICT.treeToValue(doc, VfioBindingPolicy.class);
            } catch (JsonMappingException e) {
                throw new InvalidPolicyException(where + ": " + path(e) + ": " + e.getOriginalMessage(), e);
            } catch (IOException e) {
                throw new InvalidPolicyException(where + ": " + rootMessage(e), e);
            }
            List<String> problems = PolicyValidator.problems(policy);
            if (!problems.isEmpty()) {
                String name = policy.getMetadata() == null ? null : policy.getMetadata().getName();
                throw new InvalidPolicyException(where + (name == null ? "" : " (" + name + ")") + ": " + String.join("; ", problems));
            }
            if (!names.add(policy.getMetadata().getName())) {
                throw new InvalidPolicyException(where + ": metadata.name: " + policy.getMetadata().getName() + " is given twice");
            }
            policies.add(policy);
        }
        return policies;
    }

    private static String path(JsonMappingException e) {
        String p = e.getPath().stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining("."));
        return p.replace(".[", "[");
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage().lines().findFirst().orElse("");
    }
}
