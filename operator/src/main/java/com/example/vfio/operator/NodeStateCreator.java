package com.example.vfio.operator;

import com.example.vfio.api.VfioNodeState;
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
import java.util.Set;

/**
 * Every Node has its VfioNodeState. JOSDK only reconciles primaries that exist, so the node-state reconciler cannot
 * create its own primaries: this one watches Nodes (and deletions of node states) and creates the missing ones.
 */
final class NodeStateCreator implements Reconciler<Node> {
    static final String NAME = "vfio-node-state-creator";
    private static final Logger LOG = LoggerFactory.getLogger(NodeStateCreator.class);

    private final NodeStateWriter writer;

    NodeStateCreator(NodeStateWriter writer) {
        this.writer = writer;
    }

    @Override
    public List<EventSource<?, Node>> prepareEventSources(EventSourceContext<Node> context) {
        InformerEventSource<VfioNodeState, Node> states = new InformerEventSource<>(
                InformerEventSourceConfiguration.from(VfioNodeState.class, Node.class)
                        .withName("node-states")
                        .withSecondaryToPrimaryMapper(s -> Set.of(new ResourceID(s.getMetadata().getName())))
                        .withOnUpdateFilter((fresh, old) -> false)
                        .build(), context);
        return List.of(states);
    }

    @Override
    public UpdateControl<Node> reconcile(Node node, Context<Node> context) {
        if (context.getSecondaryResource(VfioNodeState.class).isEmpty() && writer.create(node)) {
            LOG.info("created VfioNodeState {}", node.getMetadata().getName());
        }
        return UpdateControl.noUpdate();
    }
}
