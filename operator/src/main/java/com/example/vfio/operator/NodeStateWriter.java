package com.example.vfio.operator;

import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateSpec;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.net.HttpURLConnection;
import java.util.List;
import java.util.Map;

/** The operator's only writes to VfioNodeState: create (owned by its Node), spec, delete. */
final class NodeStateWriter {
    private final KubernetesClient client;
    private final boolean serverSideApply;

    NodeStateWriter(KubernetesClient client, boolean serverSideApply) {
        this.client = client;
        this.serverSideApply = serverSideApply;
    }

    /** Creates the node's VfioNodeState, owned by the Node so that it goes with it; false when it already exists. */
    boolean create(Node node) {
        VfioNodeState state = new VfioNodeState();
        state.setMetadata(new ObjectMetaBuilder().withName(node.getMetadata().getName())
                .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("v1").withKind("Node")
                        .withName(node.getMetadata().getName()).withUid(node.getMetadata().getUid())
                        .withBlockOwnerDeletion(false).withController(true).build())
                .build());
        state.setSpec(new VfioNodeStateSpec());
        try {
            client.resource(state).create();
            return true;
        } catch (KubernetesClientException e) {
            if (e.getCode() == HttpURLConnection.HTTP_CONFLICT) {
                return false;
            }
            throw e;
        }
    }

    /** Replaces spec.devices with {@code spec}; the node agent's status is never touched. */
    void writeSpec(String name, VfioNodeStateSpec spec) {
        if (serverSideApply) {
            VfioNodeState applied = new VfioNodeState();
            applied.setMetadata(new ObjectMetaBuilder().withName(name).build());
            applied.setSpec(spec);
            applied.setStatus(null);
            client.resource(applied).fieldManager(OperatorSettings.FIELD_MANAGER).forceConflicts().serverSideApply();
        } else {
            // JSON Patch "add" replaces the whole spec: a merge patch would do too on a real API server, but the
            // fabric8 mock appends to lists when merging. Patched through an object holding only the name: by name
            // alone (withName(name).patch) fabric8 first GETs the whole object, a second request per node.
            String patch = Serialization.asJson(List.of(Map.of("op", "add", "path", "/spec", "value", spec)));
            VfioNodeState target = new VfioNodeState();
            target.setMetadata(new ObjectMetaBuilder().withName(name).build());
            client.resource(target).patch(PatchContext.of(PatchType.JSON), patch);
        }
    }

    void delete(String name) {
        client.resources(VfioNodeState.class).withName(name).delete();
    }
}
