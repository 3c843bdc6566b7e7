package com.example.vfio.operator;

import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateSpec;
import com.example.vfio.planning.NodePlan;
import com.example.vfio.planning.NodePlanner;
import io.fabric8.kubernetes.api.model.Node;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Owns {@code VfioNodeState.spec}: the plan of all policies for the node's labels and reported inventory. Runs on
 * inventory (status) changes of the node state, label changes of its Node and any policy change; writes only when
 * the plan differs. A node state whose Node is gone is deleted (the garbage collector would do it in a cluster).
 */
final class NodeStateReconciler implements Reconciler<VfioNodeState> {
    static final String NAME = "vfio-node-state-planner";
    private static final Logger LOG = LoggerFactory.getLogger(NodeStateReconciler.class);

    private final NodeStateWriter writer;
    private InformerEventSource<Node, VfioNodeState> nodes;
    private InformerEventSource<VfioBindingPolicy, VfioNodeState> policies;

    NodeStateReconciler(NodeStateWriter writer) {
        this.writer = writer;
    }

    @Override
    public List<EventSource<?, VfioNodeState>> prepareEventSources(EventSourceContext<VfioNodeState> context) {
        nodes = new InformerEventSource<>(InformerEventSourceConfiguration.from(Node.class, VfioNodeState.class)
                .withName("nodes")
                .withSecondaryToPrimaryMapper(n -> Set.of(new ResourceID(n.getMetadata().getName())))
                .withOnUpdateFilter((fresh, old) -> !Objects.equals(fresh.getMetadata().getLabels(), old.getMetadata().getLabels()))
                .build(), context);
        policies = new InformerEventSource<>(InformerEventSourceConfiguration.from(VfioBindingPolicy.class, VfioNodeState.class)
                .withName("policies")
                .withSecondaryToPrimaryMapper(p -> context.getPrimaryCache().list().map(ResourceID::fromResource).collect(Collectors.toSet()))
                .withOnUpdateFilter(NodeStateReconciler::planningInputChanged)
                .build(), context);
        return List.of(nodes, policies);
    }

    /** Status writes and finalizer bookkeeping on policies do not change any node's plan. */
    static boolean planningInputChanged(VfioBindingPolicy fresh, VfioBindingPolicy old) {
        return !Objects.equals(fresh.getSpec(), old.getSpec())
                || !Objects.equals(fresh.getMetadata().getDeletionTimestamp(), old.getMetadata().getDeletionTimestamp())
                || !Objects.equals(fresh.getMetadata().getCreationTimestamp(), old.getMetadata().getCreationTimestamp());
    }

    @Override
    public UpdateControl<VfioNodeState> reconcile(VfioNodeState state, Context<VfioNodeState> context) {
        String name = state.getMetadata().getName();
        Optional<Node> node = nodes.get(new ResourceID(name));
        if (node.isEmpty()) {
            LOG.info("node {} is gone: deleting its VfioNodeState", name);
            writer.delete(name);
            return UpdateControl.noUpdate();
        }
        NodeObservation observed = new NodeObservation(name, node.get().getMetadata().getLabels(), state);
        NodePlan plan = NodePlanner.plan(name, observed.labels(), observed.inventory(), policies.list().toList());
        VfioNodeStateSpec desired = plan.toSpec();
        if (!desired.equals(state.getSpec())) {
            LOG.info("node {}: writing {} desired device(s){}", name, desired.getDevices().size(),
                    plan.conflicts().isEmpty() ? "" : ", " + plan.conflicts().size() + " conflicting device(s) left as they are");
            writer.writeSpec(name, desired);
        }
        return UpdateControl.noUpdate();
    }
}
