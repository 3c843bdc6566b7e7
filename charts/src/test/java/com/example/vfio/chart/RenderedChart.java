package com.example.vfio.chart;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.stream.Collectors;

/** Every object of one `helm template` run, parsed with the fabric8 model. */
public final class RenderedChart {

    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private final List<HasMetadata> objects;

    private RenderedChart(List<HasMetadata> objects) {
        this.objects = List.copyOf(objects);
    }

    public static RenderedChart parse(String multiDocumentYaml) {
        List<HasMetadata> parsed = new ArrayList<>();
        // Helm separates documents with "---" lines; a document may hold only the "# Source:" comment
        // when a template rendered nothing.
        for (String document : multiDocumentYaml.split("(?m)^---\\s*$")) {
            if (document.lines().allMatch(line -> line.isBlank() || line.startsWith("#"))) {
                continue;
            }
            KubernetesResource resource = SERIALIZATION.unmarshal(document, KubernetesResource.class);
            if (!(resource instanceof HasMetadata object)) {
                throw new IllegalStateException("rendered document is not a Kubernetes object:\n" + document);
            }
            parsed.add(object);
        }
        return new RenderedChart(parsed);
    }

    public List<HasMetadata> all() {
        return objects;
    }

    public <T extends HasMetadata> List<T> all(Class<T> type) {
        return objects.stream().filter(type::isInstance).map(type::cast).collect(Collectors.toList());
    }

    public <T extends HasMetadata> T one(Class<T> type) {
        List<T> matches = all(type);
        if (matches.size() != 1) {
            throw new AssertionError("expected exactly one " + type.getSimpleName() + " but the chart rendered "
                    + matches.size() + ": " + names(matches));
        }
        return matches.get(0);
    }

    public <T extends HasMetadata> T named(Class<T> type, String name) {
        return all(type).stream()
                .filter(o -> name.equals(o.getMetadata().getName()))
                .findFirst()
                .orElseThrow(() -> new NoSuchElementException("no " + type.getSimpleName() + " named " + name
                        + " among " + names(all(type))));
    }

    /** Objects whose kind has no fabric8 model class (Prometheus Operator monitors). */
    public List<GenericKubernetesResource> generic(String apiVersion, String kind) {
        return all(GenericKubernetesResource.class).stream()
                .filter(o -> apiVersion.equals(o.getApiVersion()) && kind.equals(o.getKind()))
                .collect(Collectors.toList());
    }

    public List<String> kinds() {
        return objects.stream().map(HasMetadata::getKind).sorted().collect(Collectors.toList());
    }

    private static List<String> names(List<? extends HasMetadata> list) {
        return list.stream().map(o -> o.getMetadata().getName()).collect(Collectors.toList());
    }
}
