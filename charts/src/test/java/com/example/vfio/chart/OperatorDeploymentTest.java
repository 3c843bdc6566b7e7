package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OperatorDeploymentTest {

    private static Deployment deployment(ChartUnderTest.Render render) {
        return render.objects().one(Deployment.class);
    }

    private static Container operator(Deployment deployment) {
        assertThat(deployment.getSpec().getTemplate().getSpec().getContainers()).hasSize(1);
        return deployment.getSpec().getTemplate().getSpec().getContainers().get(0);
    }

    private static EnvVar env(Container container, String name) {
        return container.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no env " + name + " in " + container.getEnv()));
    }

    @Test
    void operatorTakesItsLeaderElectionNamespaceFromTheDownwardApiAndAppliesServerSide() {
        Container operator = operator(deployment(ChartUnderTest.render()));

        assertThat(operator.getCommand()).containsExactly("java");
        assertThat(operator.getArgs()).endsWith("-jar", "/opt/vfio/operator.jar");
        EnvVar namespace = env(operator, "LEADER_ELECTION_NAMESPACE");
        assertThat(namespace.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.namespace");
        assertThat(env(operator, "POD_NAME").getValueFrom().getFieldRef().getFieldPath())
                .as("the leader-election identity").isEqualTo("metadata.name");
        assertThat(env(operator, "OPERATOR_SSA").getValue()).isEqualTo("true");
        assertThat(env(operator, "OPERATOR_DRA").getValue()).as("DeviceClasses of DRA resources").isEqualTo("true");
        assertThat(env(operator(deployment(ChartUnderTest.render().set("dra.enabled", false))), "OPERATOR_DRA").getValue())
                .isEqualTo("false");
    }

    @Test
    void serverSideApplyAndReplicasComeFromValues() {
        Deployment deployment = deployment(ChartUnderTest.render().values("everything-on.yaml"));

        assertThat(deployment.getSpec().getReplicas()).isEqualTo(2);
        assertThat(env(operator(deployment), "OPERATOR_SSA").getValue()).isEqualTo("false");
        assertThat(operator(deployment).getArgs()).containsExactly("-Xmx200m", "-jar", "/opt/vfio/operator.jar");
    }

    @Test
    void livenessAndReadinessProbeHealthzAndReadyzOnPort8080() {
        Container operator = operator(deployment(ChartUnderTest.render()));

        assertThat(operator.getPorts()).singleElement().satisfies(port -> {
            assertThat(port.getName()).isEqualTo("health");
            assertThat(port.getContainerPort()).isEqualTo(8080);
        });
        assertThat(operator.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(operator.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("health");
        assertThat(operator.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(operator.getReadinessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("health");
    }

    @Test
    void operatorRunsAsNonRootWithoutCapabilitiesOnAReadOnlyRootFilesystem() {
        Deployment deployment = deployment(ChartUnderTest.render());
        PodSpec pod = deployment.getSpec().getTemplate().getSpec();
        Container operator = operator(deployment);

        assertThat(pod.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(pod.getSecurityContext().getRunAsUser()).isPositive();
        assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        assertThat(operator.getSecurityContext().getPrivileged()).isNull();
        assertThat(operator.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(operator.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(operator.getSecurityContext().getReadOnlyRootFilesystem()).isTrue();
        assertThat(pod.getHostNetwork()).isNull();
        assertThat(pod.getVolumes()).allSatisfy(volume -> assertThat(volume.getHostPath()).isNull());
    }

    @Test
    void operatorHasResourceRequestsAndAMemoryLimit() {
        Container operator = operator(deployment(ChartUnderTest.render()));

        assertThat(operator.getResources().getRequests()).containsKeys("cpu", "memory");
        assertThat(operator.getResources().getLimits()).containsOnlyKeys("memory");
    }

    @Test
    void placementComesFromValues() {
        PodSpec pod = deployment(ChartUnderTest.render().values("everything-on.yaml")).getSpec().getTemplate().getSpec();

        assertThat(pod.getNodeSelector()).isEqualTo(Map.of(
                "kubernetes.io/os", "linux", "node-role.kubernetes.io/control-plane", ""));
        assertThat(pod.getTolerations()).singleElement()
                .satisfies(t -> assertThat(t.getKey()).isEqualTo("node-role.kubernetes.io/control-plane"));
        assertThat(pod.getPriorityClassName()).isEqualTo("system-cluster-critical");
    }
}
