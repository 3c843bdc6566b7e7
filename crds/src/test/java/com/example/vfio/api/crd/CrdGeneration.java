package com.example.vfio.api.crd;

import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.Drivers;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioNodeState;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.crdv2.generator.CRDGenerator;
import io.fabric8.crdv2.generator.CRDPostProcessor;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Runs the fabric8 CRD generator (v2 API) over the two kinds, then adds what its annotations cannot say:
 * list-map keys (conditions by type, problems by address, ...), the atomic desired devices, patterns on the items of the selector lists, and
 * printer columns in the order they are declared on the class (the generator does not keep it).
 */
public final class CrdGeneration {
    public static final List<Class<? extends HasMetadata>> KINDS = List.of(VfioBindingPolicy.class, VfioNodeState.class);

    /** kind -> dotted path of a list -> its map keys. */
    private static final Map<String, Map<String, List<String>>> LIST_MAPS = Map.of(
            "VfioBindingPolicy", Map.of("status.conditions", List.of("type")),
            "VfioNodeState", Map.of(
                    "status.problems", List.of("address"),
                    "status.groups", List.of("id"),
                    "status.bindResults", List.of("address"),
                    "status.conditions", List.of("type")));

    private static final Map<String, String> SELECTOR_ITEM_PATTERNS = Map.of(
            "vendors", DeviceSelector.ID_REGEX,
            "devices", DeviceSelector.ID_REGEX,
            "classes", DeviceSelector.CLASS_REGEX,
            "addresses", DeviceSelector.ADDRESS_REGEX,
            "drivers", Drivers.NAME_REGEX);

    private CrdGeneration() {
    }

    /** Generates into {@code outputDir}; returns file name -> YAML text, in a stable order. */
    public static Map<String, String> generate(Path outputDir) {
        try {
            Files.createDirectories(outputDir);
            new CRDGenerator()
                    .inOutputDir(outputDir.toFile())
                    .forCRDVersions("v1")
                    .withParallelGenerationEnabled(false)
                    .withPostProcessor(new Customizer())
                    .customResourceClasses(KINDS)
                    .generate();
            Map<String, String> files = new LinkedHashMap<>();
            try (Stream<Path> list = Files.list(outputDir)) {
                for (Path p : list.filter(f -> f.getFileName().toString().endsWith("-v1.yml")).sorted().toList()) {
                    files.put(p.getFileName().toString(), Files.readString(p, StandardCharsets.UTF_8));
                }
            }
            return files;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static final class Customizer implements CRDPostProcessor {
        @Override
        public HasMetadata process(HasMetadata resource, String crdSpecVersion) {
            CustomResourceDefinition crd = (CustomResourceDefinition) resource;
            String kind = crd.getSpec().getNames().getKind();
            Class<? extends HasMetadata> type = KINDS.stream().filter(k -> HasMetadata.getKind(k).equals(kind)).findFirst()
                    .orElseThrow(() -> new IllegalStateException("unexpected CRD kind " + kind));
            for (CustomResourceDefinitionVersion version : crd.getSpec().getVersions()) {
                orderColumns(version, type);
                JSONSchemaProps root = version.getSchema().getOpenAPIV3Schema();
                LIST_MAPS.getOrDefault(kind, Map.of()).forEach((path, keys) -> listMap(at(root, path, kind), keys));
                if (type == VfioNodeState.class) {
                    // One writer, the operator, which applies the whole list: as a list-map, server-side apply kept the
                    // entries someone else had added (the operator could not take them back), tracked each entry in
                    // managedFields (565 KB at 4,080 devices, a third of etcd's limit) and left null when the last went.
                    at(root, "spec.devices", kind).setXKubernetesListType("atomic");
                }
                if (type == VfioBindingPolicy.class) {
                    JSONSchemaProps selector = at(root, "spec.selector", kind);
                    SELECTOR_ITEM_PATTERNS.forEach((list, pattern) -> selector.getProperties().get(list).getItems().getSchema().setPattern(pattern));
                }
            }
            return crd;
        }

        private static void orderColumns(CustomResourceDefinitionVersion version, Class<?> type) {
            List<String> declared = Arrays.stream(type.getAnnotationsByType(AdditionalPrinterColumn.class))
                    .map(AdditionalPrinterColumn::name).toList();
            List<CustomResourceColumnDefinition> columns = new ArrayList<>(version.getAdditionalPrinterColumns());
            columns.sort(Comparator.comparingInt(c -> declared.indexOf(c.getName())));
            version.setAdditionalPrinterColumns(columns);
        }

        private static void listMap(JSONSchemaProps list, List<String> keys) {
            list.setXKubernetesListType("map");
            list.setXKubernetesListMapKeys(keys);
            JSONSchemaProps item = list.getItems().getSchema();
            List<String> required = new ArrayList<>(item.getRequired() == null ? List.of() : item.getRequired());
            keys.stream().filter(k -> !required.contains(k)).forEach(required::add);
            required.sort(Comparator.naturalOrder());
            item.setRequired(required);
        }

        private static JSONSchemaProps at(JSONSchemaProps root, String path, String kind) {
            JSONSchemaProps node = root;
            for (String part : path.split("\\.")) {
                node = node.getProperties() == null ? null : node.getProperties().get(part);
                if (node == null) {
                    throw new IllegalStateException(kind + " schema has no " + path);
                }
            }
            return node;
        }
    }
}
