package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespaced;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class ChartRenderingTest {

    static Stream<Arguments> valueSets() {
        return Stream.of(
                Arguments.of("defaults", ChartUnderTest.render()),
                Arguments.of("binding-off.yaml", ChartUnderTest.render().values("binding-off.yaml")),
                Arguments.of("everything-on.yaml", ChartUnderTest.render().values("everything-on.yaml")),
                Arguments.of("existing-service-accounts.yaml",
                        ChartUnderTest.render().values("existing-service-accounts.yaml")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("valueSets")
    void everyRenderedObjectParsesIntoItsFabric8ModelWithoutUnknownFields(String valueSet, ChartUnderTest.Render render) {
        RenderedChart chart = render.objects();

        assertThat(chart.all()).isNotEmpty();
        for (HasMetadata object : chart.all()) {
            String id = object.getKind() + "/" + object.getMetadata().getName();
            if (object instanceof GenericKubernetesResource) {
                // Only the Prometheus Operator's kinds have no fabric8 model class.
                assertThat(object.getApiVersion()).as(id).isEqualTo("monitoring.coreos.com/v1");
                continue;
            }
            assertThat(UnknownFields.in(object)).as("fields fabric8 does not know in %s", id).isEmpty();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("valueSets")
    void everyNamespacedObjectLandsInTheReleaseNamespaceAndClusterObjectsHaveNone(String valueSet,
            ChartUnderTest.Render render) {
        RenderedChart chart = render.namespace("gpu-infra").objects();

        for (HasMetadata object : chart.all()) {
            String id = object.getKind() + "/" + object.getMetadata().getName();
            if (object instanceof Namespaced || object instanceof GenericKubernetesResource) {
                assertThat(object.getMetadata().getNamespace()).as(id).isEqualTo("gpu-infra");
            } else {
                assertThat(object.getMetadata().getNamespace()).as(id).isNull();
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("valueSets")
    void everyObjectCarriesTheReleaseLabels(String valueSet, ChartUnderTest.Render render) {
        for (HasMetadata object : render.objects().all()) {
            assertThat(object.getMetadata().getLabels())
                    .as(object.getKind() + "/" + object.getMetadata().getName())
                    .containsEntry("app.kubernetes.io/instance", ChartUnderTest.RELEASE)
                    .containsEntry("app.kubernetes.io/managed-by", "Helm")
                    .containsEntry("app.kubernetes.io/part-of", "vfio-passthrough")
                    .containsKey("app.kubernetes.io/component");
        }
    }

    @Test
    void defaultsInstallOperatorNodeAgentsAndTheirRbacButNoOptionalParts() {
        RenderedChart chart = ChartUnderTest.render().objects();

        assertThat(chart.kinds()).containsExactly(
                "ClusterRole", "ClusterRole",
                "ClusterRoleBinding", "ClusterRoleBinding",
                "DaemonSet",
                "Deployment",
                "Role",
                "RoleBinding",
                "ServiceAccount", "ServiceAccount");
    }

    @Test
    void everyOptionalPartRendersWhenSwitchedOn() {
        RenderedChart chart = ChartUnderTest.render().values("everything-on.yaml").objects();

        assertThat(chart.kinds()).contains(
                "PodMonitor", "ServiceMonitor", "Service",
                "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding");
    }

    @Test
    void longestReleaseNameStillGivesValidObjectNames() {
        // Helm allows release names up to 53 characters.
        String release = "a-release-name-that-is-exactly-fifty-three-chars-long";
        assertThat(release).hasSize(53);

        RenderedChart chart = ChartUnderTest.render().release(release).values("everything-on.yaml").objects();

        List<String> names = chart.all().stream().map(o -> o.getMetadata().getName()).toList();
        assertThat(names).allSatisfy(name -> assertThat(name)
                .hasSizeLessThanOrEqualTo(63)
                .matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?"));
        assertThat(chart.all().stream().map(o -> o.getKind() + "/" + o.getMetadata().getName()))
                .doesNotHaveDuplicates();
    }

    @Test
    void fullnameOverrideNamesEveryObject() {
        RenderedChart chart = ChartUnderTest.render().set("fullnameOverride", "vfio").objects();

        assertThat(chart.all()).allSatisfy(object -> assertThat(object.getMetadata().getName()).startsWith("vfio-"));
        assertThat(chart.all().stream().map(o -> o.getMetadata().getName()))
                .contains("vfio-operator", "vfio-node", "vfio-operator-leader-election");
    }
}
