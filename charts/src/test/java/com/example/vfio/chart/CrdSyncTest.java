package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionVersion;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The repository's crds/ (written by the crds module's generator) is the source of truth; the chart
 * ships a copy because Helm only installs CRDs from the chart's own crds/ directory.
 */
class CrdSyncTest {

    private static Path sourceCrds() {
        return ChartUnderTest.repoRoot().resolve("crds");
    }

    private static Path chartCrds() {
        return ChartUnderTest.chartDir().resolve("crds");
    }

    /** The CRD YAML files of the repository's crds/, which is also the crds Maven module (pom.xml, src/). */
    private static List<String> sourceCrdFiles() throws IOException {
        return fileNames(sourceCrds()).stream().filter(name -> name.endsWith(".yml") || name.endsWith(".yaml"))
                .collect(Collectors.toList());
    }

    /** Everything in the chart's crds/: Helm would install any YAML found there. */
    private static List<String> chartCrdFiles() throws IOException {
        return fileNames(chartCrds());
    }

    private static List<String> fileNames(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(Files::isRegularFile).map(p -> p.getFileName().toString()).sorted()
                    .collect(Collectors.toList());
        }
    }

    @Test
    void chartShipsExactlyTheCrdFilesOfTheRepository() throws IOException {
        assertThat(sourceCrdFiles()).isNotEmpty();

        assertThat(chartCrdFiles())
                .as("charts/vfio-passthrough/crds must list the same files as crds/ (copy them over after regenerating)")
                .containsExactlyElementsOf(sourceCrdFiles());
    }

    @Test
    void everyChartCrdIsByteIdenticalToTheRepositoryOne() throws IOException {
        for (String name : sourceCrdFiles()) {
            Path chartCopy = chartCrds().resolve(name);
            assertThat(chartCopy).as("chart copy of crds/%s", name).exists();
            assertThat(Files.readAllBytes(chartCopy))
                    .as("charts/vfio-passthrough/crds/%s differs from crds/%s: copy crds/%s over it", name, name, name)
                    .isEqualTo(Files.readAllBytes(sourceCrds().resolve(name)));
        }
    }

    @Test
    void bothKindsAreClusterScopedV1alpha1WithShortNamesAndAStatusSubresource() throws IOException {
        assertThat(crd("vfiobindingpolicies.vfio.example.com-v1.yml"))
                .satisfies(crd -> assertShape(crd, "VfioBindingPolicy", "vfiobindingpolicies", "vbp"));
        assertThat(crd("vfionodestates.vfio.example.com-v1.yml"))
                .satisfies(crd -> assertShape(crd, "VfioNodeState", "vfionodestates", "vns"));
    }

    @Test
    void helmShipsTheChartCrdFilesUnchanged() throws IOException {
        // `helm show crds` prints the CRD files as Helm loaded them from the chart.
        String shown = ChartUnderTest.helm().show().crds().call();

        for (String name : chartCrdFiles()) {
            assertThat(shown).contains(Files.readString(chartCrds().resolve(name)).strip());
        }
    }

    private static CustomResourceDefinition crd(String fileName) throws IOException {
        try (InputStream in = Files.newInputStream(chartCrds().resolve(fileName))) {
            return new KubernetesSerialization().unmarshal(in, CustomResourceDefinition.class);
        }
    }

    private static void assertShape(CustomResourceDefinition crd, String kind, String plural, String shortName) {
        assertThat(crd.getMetadata().getName()).isEqualTo(plural + ".vfio.example.com");
        assertThat(crd.getSpec().getGroup()).isEqualTo("vfio.example.com");
        assertThat(crd.getSpec().getScope()).isEqualTo("Cluster");
        assertThat(crd.getSpec().getNames().getKind()).isEqualTo(kind);
        assertThat(crd.getSpec().getNames().getPlural()).isEqualTo(plural);
        assertThat(crd.getSpec().getNames().getShortNames()).contains(shortName);
        assertThat(crd.getSpec().getVersions()).extracting(CustomResourceDefinitionVersion::getName).contains("v1alpha1");
        CustomResourceDefinitionVersion v1alpha1 = crd.getSpec().getVersions().stream()
                .filter(v -> v.getName().equals("v1alpha1")).findFirst().orElseThrow();
        assertThat(v1alpha1.getServed()).isTrue();
        assertThat(v1alpha1.getStorage()).isTrue();
        assertThat(v1alpha1.getSubresources().getStatus()).isNotNull();
        assertThat(v1alpha1.getSchema().getOpenAPIV3Schema().getProperties()).containsKeys("spec", "status");
        assertThat(UnknownFields.in(crd)).isEmpty();
    }
}
