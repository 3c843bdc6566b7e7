package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.Subject;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class RbacTest {

    private static final String NODE_ROLE = "vfio-vfio-passthrough-node";
    private static final String OPERATOR_ROLE = "vfio-vfio-passthrough-operator";

    /** Every permission a rule list grants, one "group/resource:verb" per entry ("core" for ""). */
    private static Set<String> grants(List<PolicyRule> rules) {
        Set<String> grants = new TreeSet<>();
        for (PolicyRule rule : rules) {
            assertThat(rule.getResourceNames()).as("rules name no single objects").isEmpty();
            assertThat(rule.getNonResourceURLs()).isEmpty();
            for (String group : rule.getApiGroups()) {
                for (String resource : rule.getResources()) {
                    for (String verb : rule.getVerbs()) {
                        grants.add((group.isEmpty() ? "core" : group) + "/" + resource + ":" + verb);
                    }
                }
            }
        }
        return grants;
    }

    private static final List<String> NODE_GRANTS = List.of(
                "vfio.example.com/vfionodestates:get",
                "vfio.example.com/vfionodestates:list",
                "vfio.example.com/vfionodestates:watch",
                "vfio.example.com/vfionodestates/status:get",
                "vfio.example.com/vfionodestates/status:update",
                "vfio.example.com/vfionodestates/status:patch",
                "core/events:create",
                "core/events:patch");

    @Test
    void nodeAgentMayReadVfioNodeStatesAndWriteOnlyTheirStatusAndEvents() {
        ClusterRole role = ChartUnderTest.render().set("dra.enabled", false).objects().named(ClusterRole.class, NODE_ROLE);

        assertThat(grants(role.getRules())).containsExactlyInAnyOrderElementsOf(NODE_GRANTS);
    }

    @Test
    void withDraTheNodeAgentAlsoWritesResourceSlicesAndReadsClaimsAndItsNodeAndNothingMore() {
        ClusterRole role = ChartUnderTest.render().objects().named(ClusterRole.class, NODE_ROLE);

        Set<String> dra = grants(role.getRules());
        dra.removeAll(NODE_GRANTS);
        assertThat(dra).containsExactlyInAnyOrder(
                "resource.k8s.io/resourceslices:list",
                "resource.k8s.io/resourceslices:watch",
                "resource.k8s.io/resourceslices:create",
                "resource.k8s.io/resourceslices:update",
                "resource.k8s.io/resourceslices:delete",
                "resource.k8s.io/resourceclaims:get",
                "core/nodes:get");
    }

    @Test
    void operatorWritesNodeStateSpecsAndPolicyStatusAndEventsAndOnlyReadsNodes() {
        ClusterRole role = ChartUnderTest.render().objects().named(ClusterRole.class, OPERATOR_ROLE);

        Set<String> granted = grants(role.getRules());
        assertThat(granted).as("the DeviceClasses of DRA resources").contains(
                "resource.k8s.io/deviceclasses:list",
                "resource.k8s.io/deviceclasses:watch",
                "resource.k8s.io/deviceclasses:create",
                "resource.k8s.io/deviceclasses:update",
                "resource.k8s.io/deviceclasses:delete");
        assertThat(grants(ChartUnderTest.render().set("dra.enabled", false).objects()
                .named(ClusterRole.class, OPERATOR_ROLE).getRules())).containsExactlyInAnyOrder(
                "vfio.example.com/vfiobindingpolicies:get",
                "vfio.example.com/vfiobindingpolicies:list",
                "vfio.example.com/vfiobindingpolicies:watch",
                "vfio.example.com/vfiobindingpolicies:update",
                "vfio.example.com/vfiobindingpolicies:patch",
                "vfio.example.com/vfiobindingpolicies/status:update",
                "vfio.example.com/vfiobindingpolicies/status:patch",
                "vfio.example.com/vfiobindingpolicies/finalizers:update",
                "vfio.example.com/vfiobindingpolicies/finalizers:patch",
                "vfio.example.com/vfionodestates:get",
                "vfio.example.com/vfionodestates:list",
                "vfio.example.com/vfionodestates:watch",
                "vfio.example.com/vfionodestates:create",
                "vfio.example.com/vfionodestates:update",
                "vfio.example.com/vfionodestates:patch",
                "vfio.example.com/vfionodestates:delete",
                "core/nodes:get",
                "core/nodes:list",
                "core/nodes:watch",
                "core/events:create",
                "core/events:patch",
                "authorization.k8s.io/selfsubjectrulesreviews:create");
    }

    @Test
    void leaderElectionIsANamespacedRoleOverLeasesOnly() {
        RenderedChart chart = ChartUnderTest.render().objects();
        Role role = chart.one(Role.class);

        assertThat(role.getMetadata().getNamespace()).isEqualTo(ChartUnderTest.NAMESPACE);
        assertThat(grants(role.getRules())).containsExactlyInAnyOrder(
                "coordination.k8s.io/leases:get",
                "coordination.k8s.io/leases:create",
                "coordination.k8s.io/leases:update",
                "coordination.k8s.io/leases:patch");
        RoleBinding binding = chart.one(RoleBinding.class);
        assertThat(binding.getRoleRef().getKind()).isEqualTo("Role");
        assertThat(binding.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
        assertThat(binding.getSubjects()).extracting(Subject::getName).containsExactly(
                chart.one(Deployment.class).getSpec().getTemplate().getSpec().getServiceAccountName());
    }

    @Test
    void eachClusterRoleIsBoundToTheServiceAccountItsWorkloadRunsAs() {
        RenderedChart chart = ChartUnderTest.render().namespace("gpu-infra").objects();
        String nodeAccount = chart.one(DaemonSet.class).getSpec().getTemplate().getSpec().getServiceAccountName();
        String operatorAccount = chart.one(Deployment.class).getSpec().getTemplate().getSpec().getServiceAccountName();

        assertThat(nodeAccount).isNotEqualTo(operatorAccount);
        assertThat(chart.all(ServiceAccount.class)).extracting(sa -> sa.getMetadata().getName())
                .containsExactlyInAnyOrder(nodeAccount, operatorAccount);
        assertBoundTo(chart.named(ClusterRoleBinding.class, NODE_ROLE), NODE_ROLE, nodeAccount);
        assertBoundTo(chart.named(ClusterRoleBinding.class, OPERATOR_ROLE), OPERATOR_ROLE, operatorAccount);
    }

    private static void assertBoundTo(ClusterRoleBinding binding, String role, String account) {
        assertThat(binding.getRoleRef().getKind()).isEqualTo("ClusterRole");
        assertThat(binding.getRoleRef().getName()).isEqualTo(role);
        assertThat(binding.getSubjects()).singleElement().satisfies(subject -> {
            assertThat(subject.getKind()).isEqualTo("ServiceAccount");
            assertThat(subject.getName()).isEqualTo(account);
            assertThat(subject.getNamespace()).isEqualTo("gpu-infra");
        });
    }

    @Test
    void existingServiceAccountsAreBoundAndNoneIsCreated() {
        RenderedChart chart = ChartUnderTest.render().values("existing-service-accounts.yaml").objects();

        assertThat(chart.all(ServiceAccount.class)).isEmpty();
        assertThat(chart.one(DaemonSet.class).getSpec().getTemplate().getSpec().getServiceAccountName())
                .isEqualTo("platform-vfio-node");
        assertThat(chart.one(Deployment.class).getSpec().getTemplate().getSpec().getServiceAccountName())
                .isEqualTo("platform-vfio-operator");
        assertThat(chart.named(ClusterRoleBinding.class, NODE_ROLE).getSubjects())
                .extracting(Subject::getName).containsExactly("platform-vfio-node");
        assertThat(chart.named(ClusterRoleBinding.class, OPERATOR_ROLE).getSubjects())
                .extracting(Subject::getName).containsExactly("platform-vfio-operator");
    }

    @Test
    void noRoleGrantsWildcardsOrSecrets() {
        RenderedChart chart = ChartUnderTest.render().values("everything-on.yaml").objects();
        List<ClusterRole> clusterRoles = chart.all(ClusterRole.class);
        List<Role> roles = chart.all(Role.class);

        assertThat(clusterRoles).hasSize(2);
        assertThat(roles).hasSize(1);
        for (ClusterRole role : clusterRoles) {
            assertNoWildcardOrSecret(role, role.getRules());
        }
        for (Role role : roles) {
            assertNoWildcardOrSecret(role, role.getRules());
        }
    }

    private static void assertNoWildcardOrSecret(HasMetadata role, List<PolicyRule> rules) {
        assertThat(grants(rules)).as(role.getMetadata().getName())
                .isNotEmpty()
                .noneMatch(grant -> grant.contains("*"))
                .noneMatch(grant -> grant.startsWith("core/secrets"));
    }
}
