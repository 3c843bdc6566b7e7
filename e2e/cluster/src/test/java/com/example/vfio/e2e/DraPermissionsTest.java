package com.example.vfio.e2e;

import com.example.vfio.chart.ChartUnderTest;
import com.example.vfio.dra.DraDevice;
import com.example.vfio.dra.DraNames;
import com.example.vfio.dra.PoolLayout;
import com.example.vfio.dra.ResourceSlices;
import com.example.vfio.dra.SlicePublisher;
import com.example.vfio.planning.DraDeviceClasses;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.PublishedDevice;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBinding;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceClass;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceClaim;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.FieldValidateable;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

/**
 * The chart's DRA permissions on the real kube-apiserver: its node-agent ClusterRole and ValidatingAdmissionPolicies
 * (rendered by real Helm) applied, and requests made as the node agent's service account with the node name a
 * node-bound token carries (impersonated), so RBAC and the admission policy decide for real.
 */
@ExtendWith(RealCluster.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DraPermissionsTest {
    static final String NS = "vfio-perm";
    static final String AGENT = Identities.user(NS, "vfio-vfio-passthrough-node");
    static final String NODE = "dra-perm-node";
    static final String OTHER = "dra-perm-other";

    KubernetesClient admin;
    KubernetesClient agent;
    List<HasMetadata> chart;

    @BeforeAll
    void installTheChartsPermissions(ControlPlane cluster) {
        admin = cluster.admin();
        chart = ChartUnderTest.render().release("vfio").namespace(NS).set("admissionPolicy.enabled", "true").objects().all()
                .stream()
                .filter(o -> o instanceof ClusterRole || o instanceof ClusterRoleBinding
                        || o instanceof ValidatingAdmissionPolicy || o instanceof ValidatingAdmissionPolicyBinding)
                .toList();
        admin.resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build()).createOr(c -> c.update());
        admin.resource(new ServiceAccountBuilder().withNewMetadata().withName("vfio-vfio-passthrough-node")
                .withNamespace(NS).endMetadata().build()).createOr(c -> c.update());
        for (HasMetadata o : chart) {
            admin.resource(o).fieldValidation(FieldValidateable.Validation.STRICT).createOr(c -> c.update());
        }
        for (String n : List.of(NODE, OTHER)) {
            admin.resource(new NodeBuilder().withNewMetadata().withName(n).endMetadata().build()).createOr(c -> c.update());
        }
        agent = cluster.impersonating(AGENT, Identities.groups(NS), Identities.onNode(NODE));
    }

    @AfterAll
    void removeThem() {
        if (agent != null) {
            agent.close();
        }
        for (HasMetadata o : chart) {
            admin.resource(o).delete();
        }
        admin.resources(ResourceSlice.class).withField("spec.nodeName", NODE).delete();
        admin.resources(ResourceSlice.class).withField("spec.nodeName", OTHER).delete();
    }

    static PoolLayout.Pool pool() {
        PublishedDevice unit = PublishedDevice.device("0000:41:00.0", true, "", 0, "14", List.of());
        return PoolLayout.layout(List.of(new DraDevice(DraNames.deviceName(unit), "gpu", unit,
                Map.of("resource.kubernetes.io/pciBusID", "0000:41:00.0"), null)));
    }

    static String refusal(Runnable call) {
        KubernetesClientException e = catchThrowableOfType(KubernetesClientException.class, call::run);
        assertThat(e).as("refused").isNotNull();
        return e.getCode() + " " + e.getMessage();
    }

    @Test
    @DisplayName("DRA: with the chart's RBAC and admission policy the node agent publishes its own node's ResourceSlices (the driver's SlicePublisher, as that service account with its node-bound token's node name)")
    void the_agent_publishes_its_own_slices() {
        try (SlicePublisher publisher = new SlicePublisher(agent, NODE, new PluginMetrics(), Duration.ofMillis(200),
                Duration.ofSeconds(2))) {
            publisher.publish(pool());
            await().atMost(Duration.ofSeconds(60)).until(publisher::inSync);
            assertThat(admin.resources(ResourceSlice.class).withField("spec.nodeName", NODE).list().getItems())
                    .hasSize(2).allSatisfy(s -> assertThat(s.getMetadata().getOwnerReferences().get(0).getName())
                            .isEqualTo(NODE));
            publisher.publish(PoolLayout.Pool.EMPTY);
            await().atMost(Duration.ofSeconds(60)).until(() -> admin.resources(ResourceSlice.class)
                    .withField("spec.nodeName", NODE).list().getItems().isEmpty());
        }
    }

    @Test
    @DisplayName("DRA: the admission policy refuses the node agent another node's ResourceSlices (create, update, delete) and another driver's, naming the node")
    void another_nodes_slices_are_refused() {
        ResourceSlice theirs = ResourceSlices.of(OTHER, null, 1, pool()).get(1);
        // a policy takes effect a moment after it is created (the API server's policy cache)
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(refusal(() -> agent.resource(theirs).dryRun().create()))
                .contains("403").contains("the node agent on node " + NODE + " may only write the ResourceSlices of its own node"));
        assertThat(refusal(() -> agent.resource(theirs).create())).contains("403")
                .contains("the node agent on node " + NODE + " may only write the ResourceSlices of its own node");
        ResourceSlice stored = admin.resource(theirs).create();
        stored.getSpec().getPool().setGeneration(2L);
        assertThat(refusal(() -> agent.resource(stored).update())).contains("may only write the ResourceSlices of its own node");
        assertThat(refusal(() -> agent.resources(ResourceSlice.class).withName(theirs.getMetadata().getName()).delete()))
                .contains("may only write the ResourceSlices of its own node");
        ResourceSlice other = ResourceSlices.of(NODE, null, 1, pool()).get(1);
        other.getSpec().setDriver("gpu.other.example.com");
        assertThat(refusal(() -> agent.resource(other).create())).contains("only write ResourceSlices of driver vfio.example.com");
    }

    @Test
    @DisplayName("DRA: the node agent may read ResourceClaims but not write them, and may not touch DeviceClasses; the operator's role may")
    void claims_are_read_only_and_classes_are_the_operators(ControlPlane cluster) {
        admin.resource(new NamespaceBuilder().withNewMetadata().withName("vms-perm").endMetadata().build()).createOr(c -> c.update());
        ResourceClaim claim = Serialization.unmarshal("""
                apiVersion: resource.k8s.io/v1
                kind: ResourceClaim
                metadata: {name: vm, namespace: vms-perm}
                spec: {devices: {requests: [{name: gpu, exactly: {deviceClassName: gpu.vfio.example.com}}]}}
                """, ResourceClaim.class);
        admin.resource(claim).createOr(c -> c.update());
        assertThat(agent.resources(ResourceClaim.class).inNamespace("vms-perm").withName("vm").get()).isNotNull();
        assertThat(refusal(() -> agent.resources(ResourceClaim.class).inNamespace("vms-perm").withName("vm").delete()))
                .contains("403");
        assertThat(refusal(() -> agent.resource(DraDeviceClasses.of("nic")).create())).contains("403");

        admin.resource(new ServiceAccountBuilder().withNewMetadata().withName("vfio-vfio-passthrough-operator")
                .withNamespace(NS).endMetadata().build()).createOr(c -> c.update());
        try (KubernetesClient operator = cluster.impersonating(Identities.user(NS, "vfio-vfio-passthrough-operator"),
                Identities.groups(NS), Map.of())) {
            DeviceClass c = operator.resource(DraDeviceClasses.of("perm-check")).create();
            operator.resource(c).delete();
        }
    }
}
