package com.example.vfio.e2e;

import com.example.vfio.chart.ChartUnderTest;
import com.example.vfio.chart.RenderedChart;
import com.example.vfio.api.VfioNodeState;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
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

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

/**
 * The Helm chart, rendered by real Helm (helm-java) and applied to the real API server: every object accepted, and
 * the chart's RBAC and admission policy deciding for real what the operator and the node agent may not do. (That
 * they may do all they need is shown by the operator, agent and fault suites, which run both under exactly this RBAC.)
 */
@ExtendWith(RealCluster.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ChartOnTheRealServerTest {
    private static final String NAMESPACE = ChartUnderTest.NAMESPACE;
    /** The values docs/install.md shows, installed as a second release beside the default one. */
    private static final String DOCS_RELEASE = "docs";
    private static final String DOCS_NAMESPACE = "vfio-docs";

    private ControlPlane cluster;
    private KubernetesClient admin;
    private RenderedChart defaults;
    private RenderedChart withPolicy;

    /** Nodes (and their node states) this class made; removed at the end, as other suites share the cluster. */
    private final List<String> created = new ArrayList<>();

    @AfterAll
    void removeWhatWasMade() {
        admin.genericKubernetesResources("vfio.example.com/v1alpha1", "VfioBindingPolicy").withName("rbac-operator-policy").delete();
        for (String name : created) {
            admin.resources(VfioNodeState.class).withName(name).delete();
            admin.nodes().withName(name).delete();
        }
    }

    @BeforeAll
    void install(ControlPlane cluster) {
        this.cluster = cluster;
        this.admin = cluster.admin();
        Crds.install(admin);
        defaults = ChartUnderTest.render().objects();
        withPolicy = ChartUnderTest.render().set("admissionPolicy.enabled", true).objects();
    }

    @Test
    @DisplayName("Chart: every object of the default render is accepted by kube-apiserver (strict field validation)")
    void the_default_render_is_accepted() {
        List<String> created = apply(defaults.all(), NAMESPACE);
        assertThat(created).anyMatch(s -> s.startsWith("DaemonSet")).anyMatch(s -> s.startsWith("Deployment"))
                .anyMatch(s -> s.startsWith("ClusterRole ")).anyMatch(s -> s.startsWith("ServiceAccount"));
        CheckReport.note("created: " + String.join(", ", created));
    }

    @Test
    @DisplayName("Chart: every object rendered with the values of docs/install.md (admission policy on) is accepted")
    void the_documented_values_are_accepted() throws IOException {
        Path values = RealCluster.workDir("docs-install-values").resolve("values.yaml");
        Files.writeString(values, installMdValues());
        RenderedChart docs = ChartUnderTest.render().release(DOCS_RELEASE).namespace(DOCS_NAMESPACE).values(values).objects();
        List<HasMetadata> served = new ArrayList<>();
        List<String> notServed = new ArrayList<>();
        for (HasMetadata object : docs.all()) {
            if (served(object.getApiVersion())) {
                served.add(object);
            } else {
                notServed.add(object.getKind() + " " + object.getMetadata().getName() + " (" + object.getApiVersion() + ")");
            }
        }
        List<String> created = apply(served, DOCS_NAMESPACE);
        assertThat(created).anyMatch(s -> s.startsWith("ValidatingAdmissionPolicy "));
        CheckReport.note("created: " + String.join(", ", created)
                + (notServed.isEmpty() ? "" : "; not applied, their CRDs (Prometheus Operator) are not installed here: " + String.join(", ", notServed)));
    }

    @Test
    @DisplayName("Chart RBAC: the node agent's service account may read VfioNodeStates and patch their status")
    void the_agent_may_read_node_states_and_write_their_status() {
        apply(defaults.all(), NAMESPACE);
        nodeState("rbac-agent-a");
        try (KubernetesClient agent = agent("rbac-agent-a")) {
            assertThat(agent.resources(VfioNodeState.class).list().getItems()).isNotEmpty();
            assertThat(writeStatus(agent, "rbac-agent-a").getStatus().getSyncStatus()).isEqualTo(com.example.vfio.api.SyncStatus.Succeeded);
        }
    }

    @Test
    @DisplayName("Chart RBAC: the node agent may not change a spec, create or delete a VfioNodeState, write a policy, patch a Node or read a Secret (403 each)")
    void the_agent_may_do_nothing_else() {
        apply(defaults.all(), NAMESPACE);
        nodeState("rbac-agent-b");
        try (KubernetesClient agent = agent("rbac-agent-b")) {
            var states = agent.resources(VfioNodeState.class);
            Map<String, Consumer<KubernetesClient>> attempts = new LinkedHashMap<>();
            attempts.put("update a VfioNodeState's spec", c -> {
                VfioNodeState s = states.withName("rbac-agent-b").get();
                s.getSpec().setDevices(List.of());
                s.getMetadata().setLabels(Map.of("changed", "by-agent"));
                c.resource(s).update();
            });
            attempts.put("create a VfioNodeState", c -> c.resource(nodeStateObject("rbac-agent-new")).create());
            attempts.put("delete a VfioNodeState", c -> states.withName("rbac-agent-b").delete());
            attempts.put("create a VfioBindingPolicy", c -> c.resource(policyObject("rbac-agent-policy")).create());
            attempts.put("list VfioBindingPolicies", c -> c.genericKubernetesResources("vfio.example.com/v1alpha1", "VfioBindingPolicy").list());
            attempts.put("label a Node", c -> c.nodes().withName("rbac-agent-b").edit(n -> new NodeBuilder(n).editMetadata().addToLabels("x", "y").endMetadata().build()));
            attempts.put("list Secrets", c -> c.secrets().inNamespace(NAMESPACE).list());
            attempts.put("list Pods", c -> c.pods().inAnyNamespace().list());
            assertAllForbidden(agent, attempts);
        }
    }

    @Test
    @DisplayName("Chart RBAC: the operator's service account may not read Secrets, change Nodes, write node-state status, delete policies or take Leases elsewhere (403 each)")
    void the_operator_may_do_no_more_than_it_needs() {
        apply(defaults.all(), NAMESPACE);
        nodeState("rbac-operator-a");
        admin.resource(policyObject("rbac-operator-policy")).fieldManager("vfio-e2e").serverSideApply();
        try (KubernetesClient operator = operator()) {
            var states = operator.resources(VfioNodeState.class);
            Map<String, Consumer<KubernetesClient>> attempts = new LinkedHashMap<>();
            attempts.put("write a VfioNodeState's status", c -> writeStatus(c, "rbac-operator-a"));
            attempts.put("delete a VfioBindingPolicy", c -> c.genericKubernetesResources("vfio.example.com/v1alpha1", "VfioBindingPolicy")
                    .withName("rbac-operator-policy").delete());
            attempts.put("create a VfioBindingPolicy", c -> c.resource(policyObject("rbac-operator-new")).create());
            attempts.put("label a Node", c -> c.nodes().withName("rbac-operator-a").edit(n -> new NodeBuilder(n).editMetadata().addToLabels("x", "y").endMetadata().build()));
            attempts.put("delete a Node", c -> c.nodes().withName("rbac-operator-a").delete());
            attempts.put("list Secrets", c -> c.secrets().inAnyNamespace().list());
            attempts.put("create a Lease in another namespace", c -> c.resource(new LeaseBuilder().withNewMetadata().withName("x")
                    .withNamespace("default").endMetadata().build()).create());
            attempts.put("list Pods", c -> c.pods().inAnyNamespace().list());
            assertAllForbidden(operator, attempts);
        }
    }

    @Test
    @DisplayName("Chart admission policy: the agent on node-a may write VfioNodeState node-a's status; node-b's is denied with the chart's message, and so is a token without a node name")
    void the_admission_policy_keeps_each_agent_to_its_own_node() {
        apply(withPolicy.all(), NAMESPACE);
        nodeState("node-a");
        nodeState("node-b");
        try (KubernetesClient agentA = agent("node-a")) {
            await().atMost(Duration.ofSeconds(30)).ignoreExceptionsInstanceOf(KubernetesClientException.class).untilAsserted(() -> {
                KubernetesClientException denied = catchThrowableOfType(KubernetesClientException.class,
                        () -> writeStatus(agentA, "node-b"));
                assertThat(denied).as("node-b's status written by node-a's agent is denied").isNotNull();
                assertThat(denied.getCode()).isEqualTo(403);
                assertThat(denied.getMessage()).contains("the node agent on node node-a may only write the VfioNodeState named node-a, not node-b");
            });
            assertThat(writeStatus(agentA, "node-a").getStatus().getSyncStatus()).isEqualTo(com.example.vfio.api.SyncStatus.Succeeded);
        }
        try (KubernetesClient noNode = cluster.impersonating(Identities.user(NAMESPACE, serviceAccount(withPolicy, "node")),
                Identities.groups(NAMESPACE), Map.of())) {
            KubernetesClientException denied = catchThrowableOfType(KubernetesClientException.class, () -> writeStatus(noNode, "node-a"));
            assertThat(denied).isNotNull();
            assertThat(denied.getMessage()).contains("the node agent's token carries no node name");
        }
        // the chart's bindings (VfioNodeStates, and the DRA driver's ResourceSlices) go: the cluster is shared
        for (var binding : withPolicy.all(io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBinding.class)) {
            admin.resource(binding).delete();
        }
    }

    private static VfioNodeState writeStatus(KubernetesClient client, String name) {
        VfioNodeState s = client.resources(VfioNodeState.class).withName(name).get();
        s.setStatus(new com.example.vfio.api.VfioNodeStateStatus());
        s.getStatus().setSyncStatus(com.example.vfio.api.SyncStatus.Succeeded);
        return client.resource(s).updateStatus();
    }

    private static void assertAllForbidden(KubernetesClient client, Map<String, Consumer<KubernetesClient>> attempts) {
        List<String> allowed = new ArrayList<>();
        attempts.forEach((what, attempt) -> {
            KubernetesClientException e = catchThrowableOfType(KubernetesClientException.class, () -> attempt.accept(client));
            if (e == null || e.getCode() != 403) {
                allowed.add(what + (e == null ? ": allowed" : ": " + e.getCode() + " " + e.getMessage()));
            }
        });
        assertThat(allowed).as("attempts that were not refused with 403").isEmpty();
        CheckReport.note("refused with 403: " + String.join("; ", attempts.keySet()));
    }

    /** Impersonates the chart's node agent service account with a node-bound token's extra. */
    private KubernetesClient agent(String node) {
        return cluster.impersonating(Identities.user(NAMESPACE, serviceAccount(defaults, "node")), Identities.groups(NAMESPACE),
                Identities.onNode(node));
    }

    private KubernetesClient operator() {
        return cluster.impersonating(Identities.user(NAMESPACE, serviceAccount(defaults, "operator")), Identities.groups(NAMESPACE), Map.of());
    }

    private static String serviceAccount(RenderedChart chart, String component) {
        return chart.all(ServiceAccount.class).stream().map(sa -> sa.getMetadata().getName())
                .filter(n -> n.endsWith("-" + component)).findFirst().orElseThrow();
    }

    /** Server-side apply of each object, as `helm install` (Helm 4) does; returns "Kind name" of each. */
    private List<String> apply(List<HasMetadata> objects, String namespace) {
        Identities.namespace(admin, namespace);
        List<String> created = new ArrayList<>();
        for (HasMetadata object : objects) {
            if (namespaced(object) && object.getMetadata().getNamespace() == null) {
                object.getMetadata().setNamespace(namespace);
            }
            admin.resource(object).fieldValidation(FieldValidateable.Validation.STRICT).fieldManager("helm").forceConflicts().serverSideApply();
            created.add(object.getKind() + " " + object.getMetadata().getName());
        }
        return created;
    }

    private boolean namespaced(HasMetadata object) {
        return !List.of("ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
                "CustomResourceDefinition", "Namespace").contains(object.getKind());
    }

    private boolean served(String apiVersion) {
        return !apiVersion.contains("/") || admin.getApiGroups().getGroups().stream()
                .flatMap(g -> g.getVersions().stream()).anyMatch(v -> v.getGroupVersion().equals(apiVersion));
    }

    /** A VfioNodeState and its Node: an operator running in this cluster removes a node state whose Node is gone. */
    private void nodeState(String name) {
        node(name);
        created.add(name);
        admin.resource(nodeStateObject(name)).fieldManager("vfio-e2e").serverSideApply();
    }

    private void node(String name) {
        node(name, Map.of());
    }

    private void node(String name, Map<String, String> labels) {
        admin.resource(new NodeBuilder().withNewMetadata().withName(name).withLabels(labels).endMetadata().build())
                .fieldManager("vfio-e2e").serverSideApply();
    }

    private static GenericKubernetesResource nodeStateObject(String name) {
        return Serialization.unmarshal("""
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioNodeState
                metadata: {name: %s}
                spec:
                  devices: []
                """.formatted(name), GenericKubernetesResource.class);
    }

    private static GenericKubernetesResource policyObject(String name) {
        return Serialization.unmarshal("""
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata: {name: %s}
                spec:
                  # no node of any suite: an operator running in this cluster must plan nothing from it
                  nodeSelector: {matchLabels: {vfio-e2e: rbac-checks-only}}
                  selector: {vendors: ["10de"]}
                  resourceName: gpu
                """.formatted(name), GenericKubernetesResource.class);
    }

    private static String installMdValues() throws IOException {
        Matcher block = Pattern.compile("(?s)```yaml\\n(.*?)```").matcher(Files.readString(Crds.repo().resolve("docs/install.md")));
        while (block.find()) {
            if (block.group(1).contains("admissionPolicy:")) {
                return block.group(1);
            }
        }
        throw new IllegalStateException("docs/install.md shows no values block with admissionPolicy");
    }
}
