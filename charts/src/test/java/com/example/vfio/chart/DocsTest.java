package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The guides must stay true to the chart and the CRDs they walk an admin through. */
class DocsTest {

    private static final Pattern YAML_BLOCK = Pattern.compile("(?s)```yaml\\n(.*?)```");
    private static final Pattern LINK = Pattern.compile("\\]\\(([^)#\\s]+)(#[^)]*)?\\)");
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private static Path docs() {
        return ChartUnderTest.repoRoot().resolve("docs");
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + file, e);
        }
    }

    private static List<Path> markdownFiles() throws IOException {
        List<Path> files = new ArrayList<>();
        try (Stream<Path> docs = Files.list(docs())) {
            docs.filter(p -> p.toString().endsWith(".md")).sorted().forEach(files::add);
        }
        files.add(ChartUnderTest.repoRoot().resolve("images/README.md"));
        return files;
    }

    private static List<String> yamlBlocks(String markdown) {
        List<String> blocks = new ArrayList<>();
        Matcher matcher = YAML_BLOCK.matcher(markdown);
        while (matcher.find()) {
            blocks.add(matcher.group(1));
        }
        return blocks;
    }

    @Test
    void theGuidesExist() {
        assertThat(docs().resolve("install.md")).isRegularFile();
        assertThat(docs().resolve("first-policy.md")).isRegularFile();
        assertThat(docs().resolve("reading-node-state.md")).isRegularFile();
        assertThat(docs().resolve("troubleshooting.md")).isRegularFile();
    }

    @Test
    void everyRelativeLinkInTheGuidesPointsAtAnExistingFile() throws IOException {
        for (Path file : markdownFiles()) {
            Matcher link = LINK.matcher(read(file));
            while (link.find()) {
                String target = link.group(1);
                if (target.contains("://")) {
                    continue;
                }
                assertThat(file.resolveSibling(target)).as("link %s in %s", target, file.getFileName()).exists();
            }
        }
    }

    @Test
    void everyYamlExampleInTheGuidesParses() throws IOException {
        for (Path file : markdownFiles()) {
            for (String block : yamlBlocks(read(file))) {
                assertThat((Object) SERIALIZATION.unmarshal(block, Map.class))
                        .as("YAML example in %s:\n%s", file.getFileName(), block).isNotNull();
            }
        }
    }

    @Test
    void theInstallGuidesValuesFileRendersWithTheChart(@TempDir Path tmp) throws IOException {
        String guide = read(docs().resolve("install.md"));
        int at = guide.indexOf("`my-values.yaml`:");
        assertThat(at).as("install.md shows my-values.yaml").isNotNegative();
        String values = yamlBlocks(guide.substring(at)).get(0);
        Path file = Files.writeString(tmp.resolve("my-values.yaml"), values);

        String rendered = ChartUnderTest.helm().template().withName("vfio-passthrough")
                .withNamespace("vfio-system").withValuesFile(file).call();

        RenderedChart chart = RenderedChart.parse(rendered);
        assertThat(chart.one(DaemonSet.class).getSpec().getTemplate().getSpec().getNodeSelector())
                .containsEntry("vfio.example.com/passthrough", "true");
        assertThat(chart.kinds()).contains("PodMonitor", "ValidatingAdmissionPolicy");
    }

    @Test
    @SuppressWarnings("unchecked")
    void everyPolicyInTheGuidesUsesOnlyFieldsTheCrdDefines() throws IOException {
        CrdSchema policySchema = CrdSchema.of("vfiobindingpolicies.vfio.example.com-v1.yml");
        List<String> policies = new ArrayList<>();
        for (Path file : markdownFiles()) {
            for (String block : yamlBlocks(read(file))) {
                Map<String, Object> document = SERIALIZATION.unmarshal(block, Map.class);
                if ("VfioBindingPolicy".equals(document.get("kind"))) {
                    policies.add(file.getFileName() + ": " + ((Map<String, Object>) document.get("metadata")).get("name"));
                    assertThat(policySchema.undefinedFields(document))
                            .as("fields of the policy in %s that the CRD does not define", file.getFileName())
                            .isEmpty();
                }
            }
        }
        assertThat(policies).as("the guides show at least the first policy").isNotEmpty();
    }

    @Test
    void theKubevirtWiringInTheGuideUsesTheResourceThePolicyNames() {
        String guide = read(docs().resolve("first-policy.md"));

        assertThat(guide).contains("resourceName: gpu\n")
                .contains("resourceName: vfio.example.com/gpu\n          externalResourceProvider: true")
                .contains("deviceName: vfio.example.com/gpu")
                .contains("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU");
    }
}
