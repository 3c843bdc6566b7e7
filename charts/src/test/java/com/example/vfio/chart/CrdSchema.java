package com.example.vfio.chart;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The v1alpha1 schema of one of the chart's CRDs, to check example objects against. */
final class CrdSchema {

    private final JSONSchemaProps root;

    private CrdSchema(JSONSchemaProps root) {
        this.root = root;
    }

    static CrdSchema of(String crdFileName) {
        Path file = ChartUnderTest.chartDir().resolve("crds").resolve(crdFileName);
        try {
            CustomResourceDefinition crd = new KubernetesSerialization()
                    .unmarshal(Files.readString(file), CustomResourceDefinition.class);
            return new CrdSchema(crd.getSpec().getVersions().stream().filter(v -> v.getName().equals("v1alpha1"))
                    .findFirst().orElseThrow(() -> new IllegalStateException(file + " has no v1alpha1"))
                    .getSchema().getOpenAPIV3Schema());
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + file, e);
        }
    }

    /** Paths of the example's spec fields that the schema does not define, e.g. "spec.companion". */
    List<String> undefinedFields(Map<String, Object> object) {
        List<String> undefined = new ArrayList<>();
        collect(object.get("spec"), root.getProperties().get("spec"), "spec", undefined);
        return undefined;
    }

    @SuppressWarnings("unchecked")
    private static void collect(Object value, JSONSchemaProps schema, String path, List<String> undefined) {
        if (schema == null) {
            undefined.add(path);
            return;
        }
        if (Boolean.TRUE.equals(schema.getXKubernetesPreserveUnknownFields())) {
            return;
        }
        if (value instanceof Map<?, ?> map) {
            boolean isMap = schema.getProperties().isEmpty() && schema.getAdditionalProperties() != null;
            for (Map.Entry<String, Object> entry : ((Map<String, Object>) map).entrySet()) {
                if (isMap) {
                    JSONSchemaProps values = schema.getAdditionalProperties().getSchema();
                    if (values != null) {
                        collect(entry.getValue(), values, path + "." + entry.getKey(), undefined);
                    }
                } else {
                    collect(entry.getValue(), schema.getProperties().get(entry.getKey()), path + "." + entry.getKey(),
                            undefined);
                }
            }
        } else if (value instanceof List<?> list && schema.getItems() != null) {
            for (Object item : list) {
                collect(item, schema.getItems().getSchema(), path + "[]", undefined);
            }
        }
    }
}
