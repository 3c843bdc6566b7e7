package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.admissionregistration.v1.MatchCondition;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.NamedRuleWithOperations;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBinding;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.Validation;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.Variable;
import org.junit.jupiter.api.Test;

class AdmissionPolicyTest {
    private static final String OWN_NODE = "vfio-vfio-passthrough-node-agent-own-node";
    private static final String OWN_SLICES = "vfio-vfio-passthrough-node-own-slices";

    @Test
    void admissionPolicyIsOffByDefault() {
        RenderedChart chart = ChartUnderTest.render().objects();

        assertThat(chart.all(ValidatingAdmissionPolicy.class)).isEmpty();
        assertThat(chart.all(ValidatingAdmissionPolicyBinding.class)).isEmpty();
    }

    @Test
    void policyAppliesToWritesOfVfioNodeStatesAndTheirStatusByTheNodeAgentOnly() {
        RenderedChart chart = ChartUnderTest.render().namespace("gpu-infra").set("admissionPolicy.enabled", true).objects();
        ValidatingAdmissionPolicy policy = chart.named(ValidatingAdmissionPolicy.class, OWN_NODE);

        assertThat(policy.getApiVersion()).isEqualTo("admissionregistration.k8s.io/v1");
        assertThat(policy.getSpec().getFailurePolicy()).isEqualTo("Fail");
        assertThat(policy.getSpec().getMatchConstraints().getResourceRules()).singleElement()
                .satisfies((NamedRuleWithOperations rule) -> {
                    assertThat(rule.getApiGroups()).containsExactly("vfio.example.com");
                    assertThat(rule.getResources()).containsExactlyInAnyOrder("vfionodestates", "vfionodestates/status");
                    assertThat(rule.getOperations()).containsExactlyInAnyOrder("CREATE", "UPDATE", "DELETE");
                });
        assertThat(policy.getSpec().getMatchConditions()).extracting(MatchCondition::getExpression).containsExactly(
                "request.userInfo.username == 'system:serviceaccount:gpu-infra:vfio-vfio-passthrough-node'");
    }

    @Test
    void policyComparesTheObjectNameWithTheNodeNameOfTheAgentsBoundToken() {
        ValidatingAdmissionPolicy policy = ChartUnderTest.render().set("admissionPolicy.enabled", true).objects()
                .named(ValidatingAdmissionPolicy.class, OWN_NODE);

        assertThat(policy.getSpec().getVariables()).singleElement().satisfies((Variable variable) -> {
            assertThat(variable.getName()).isEqualTo("nodeName");
            assertThat(variable.getExpression())
                    .contains("request.userInfo.extra['authentication.kubernetes.io/node-name'][0]");
        });
        assertThat(policy.getSpec().getValidations()).extracting(Validation::getExpression).containsExactly(
                "variables.nodeName != ''",
                "variables.nodeName == '' || request.name == variables.nodeName");
        assertThat(policy.getSpec().getValidations()).allSatisfy(validation ->
                assertThat(validation.getReason()).isEqualTo("Forbidden"));
    }

    @Test
    void bindingDeniesThroughThePolicyWithoutParameters() {
        RenderedChart chart = ChartUnderTest.render().set("admissionPolicy.enabled", true).objects();
        assertThat(chart.all(ValidatingAdmissionPolicy.class)).extracting(p -> p.getMetadata().getName())
                .containsExactlyInAnyOrder(OWN_NODE, OWN_SLICES);
        assertThat(chart.all(ValidatingAdmissionPolicyBinding.class)).hasSize(2).allSatisfy(binding -> {
            assertThat(binding.getSpec().getPolicyName()).isEqualTo(binding.getMetadata().getName());
            assertThat(binding.getSpec().getValidationActions()).containsExactly("Deny");
            assertThat(binding.getSpec().getParamRef()).isNull();
        });
    }

    @Test
    void policyFollowsAPreCreatedNodeServiceAccount() {
        RenderedChart chart = ChartUnderTest.render().values("existing-service-accounts.yaml").objects();

        assertThat(chart.all(ValidatingAdmissionPolicy.class)).hasSize(2).allSatisfy(policy ->
                assertThat(policy.getSpec().getMatchConditions()).extracting(MatchCondition::getExpression).containsExactly(
                        "request.userInfo.username == 'system:serviceaccount:vfio-system:platform-vfio-node'"));
    }

    @Test
    void withDraTheAgentWritesOnlyItsOwnNodesResourceSlicesOfOurDriver() {
        RenderedChart chart = ChartUnderTest.render().set("admissionPolicy.enabled", true).objects();
        ValidatingAdmissionPolicy policy = chart.named(ValidatingAdmissionPolicy.class, OWN_SLICES);

        assertThat(policy.getSpec().getFailurePolicy()).isEqualTo("Fail");
        assertThat(policy.getSpec().getMatchConstraints().getResourceRules()).singleElement()
                .satisfies((NamedRuleWithOperations rule) -> {
                    assertThat(rule.getApiGroups()).containsExactly("resource.k8s.io");
                    assertThat(rule.getResources()).containsExactly("resourceslices");
                    assertThat(rule.getOperations()).containsExactlyInAnyOrder("CREATE", "UPDATE", "DELETE");
                });
        assertThat(policy.getSpec().getVariables()).extracting(Variable::getName).containsExactly("nodeName", "slice");
        assertThat(policy.getSpec().getValidations()).extracting(Validation::getExpression)
                .anySatisfy(e -> assertThat(e).contains("variables.slice.spec.nodeName == variables.nodeName")
                        .contains("oldObject.spec.nodeName == variables.nodeName"))
                .anySatisfy(e -> assertThat(e).isEqualTo("variables.slice.spec.driver == 'vfio.example.com'"));

        assertThat(ChartUnderTest.render().set("admissionPolicy.enabled", true).set("dra.enabled", false).objects()
                .all(ValidatingAdmissionPolicy.class)).extracting(p -> p.getMetadata().getName()).containsExactly(OWN_NODE);
    }
}
