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

    @Test
    void admissionPolicyIsOffByDefault() {
        RenderedChart chart = ChartUnderTest.render().objects();

        assertThat(chart.all(ValidatingAdmissionPolicy.class)).isEmpty();
        assertThat(chart.all(ValidatingAdmissionPolicyBinding.class)).isEmpty();
    }

    @Test
    void policyAppliesToWritesOfVfioNodeStatesAndTheirStatusByTheNodeAgentOnly() {
        RenderedChart chart = ChartUnderTest.render().namespace("gpu-infra").set("admissionPolicy.enabled", true).objects();
        ValidatingAdmissionPolicy policy = chart.one(ValidatingAdmissionPolicy.class);

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
                .one(ValidatingAdmissionPolicy.class);

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
        ValidatingAdmissionPolicy policy = chart.one(ValidatingAdmissionPolicy.class);
        ValidatingAdmissionPolicyBinding binding = chart.one(ValidatingAdmissionPolicyBinding.class);

        assertThat(binding.getSpec().getPolicyName()).isEqualTo(policy.getMetadata().getName());
        assertThat(binding.getSpec().getValidationActions()).containsExactly("Deny");
        assertThat(binding.getSpec().getParamRef()).isNull();
    }

    @Test
    void policyFollowsAPreCreatedNodeServiceAccount() {
        ValidatingAdmissionPolicy policy = ChartUnderTest.render().values("existing-service-accounts.yaml").objects()
                .one(ValidatingAdmissionPolicy.class);

        assertThat(policy.getSpec().getMatchConditions()).extracting(MatchCondition::getExpression).containsExactly(
                "request.userInfo.username == 'system:serviceaccount:vfio-system:platform-vfio-node'");
    }
}
