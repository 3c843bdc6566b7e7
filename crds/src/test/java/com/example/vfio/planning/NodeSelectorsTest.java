package com.example.vfio.planning;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NodeSelectorsTest {
    private static final Map<String, String> GPU_NODE = Map.of("gpu", "h100", "zone", "a");

    @Test
    void no_selector_matches_every_node() {
        assertThat(NodeSelectors.matches(null, GPU_NODE)).isTrue();
        assertThat(NodeSelectors.matches(new LabelSelector(), Map.of())).isTrue();
    }

    @Test
    void match_labels_must_all_be_equal() {
        assertThat(NodeSelectors.matches(new LabelSelectorBuilder().addToMatchLabels("gpu", "h100").build(), GPU_NODE)).isTrue();
        assertThat(NodeSelectors.matches(new LabelSelectorBuilder().addToMatchLabels("gpu", "h100").addToMatchLabels("zone", "b").build(),
                GPU_NODE)).isFalse();
    }

    @Test
    void expressions_follow_kubernetes_semantics() {
        assertThat(NodeSelectors.matches(expr("gpu", "In", "h100", "a100"), GPU_NODE)).isTrue();
        assertThat(NodeSelectors.matches(expr("gpu", "NotIn", "h100"), GPU_NODE)).isFalse();
        assertThat(NodeSelectors.matches(expr("nic", "NotIn", "cx7"), GPU_NODE)).as("NotIn matches a missing label").isTrue();
        assertThat(NodeSelectors.matches(expr("gpu", "Exists"), GPU_NODE)).isTrue();
        assertThat(NodeSelectors.matches(expr("gpu", "DoesNotExist"), GPU_NODE)).isFalse();
    }

    @Test
    void invalid_expressions_are_named_and_never_silently_match() {
        assertThat(NodeSelectors.problems(expr("gpu", "Equals", "h100"), "spec.nodeSelector"))
                .containsExactly("spec.nodeSelector.matchExpressions[0].operator: 'Equals' is not one of In, NotIn, Exists, DoesNotExist");
        assertThat(NodeSelectors.problems(expr("gpu", "In"), "spec.nodeSelector"))
                .containsExactly("spec.nodeSelector.matchExpressions[0].values: must be non-empty for operator In");
        assertThatThrownBy(() -> NodeSelectors.matches(expr("gpu", "Equals", "h100"), GPU_NODE))
                .isInstanceOf(IllegalArgumentException.class);
    }

    private static LabelSelector expr(String key, String op, String... values) {
        return new LabelSelectorBuilder().addNewMatchExpression().withKey(key).withOperator(op).withValues(values).endMatchExpression().build();
    }
}
