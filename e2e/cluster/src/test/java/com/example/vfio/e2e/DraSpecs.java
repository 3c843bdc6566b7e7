package com.example.vfio.e2e;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.PublishWith;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateSpec;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.ArrayList;
import java.util.List;

/** What the operator writes for a node whose policy publishes a resource through DRA, written by the tests instead. */
final class DraSpecs {
    private DraSpecs() {
    }

    /** {@code spec.devices} entries: the addresses on vfio-pci as {@code resource}, {@code publishWith: DRA}. */
    static List<DesiredDevice> dra(String resource, String... addresses) {
        List<DesiredDevice> out = new ArrayList<>();
        for (String a : addresses) {
            DesiredDevice d = new DesiredDevice(a, "vfio-pci", resource, resource + "s", null, null, null, null);
            d.setPublishWith(PublishWith.DRA);
            out.add(d);
        }
        return out;
    }

    /** Writes the node's VfioNodeState spec (server-side apply, as the operator's field manager would). */
    static void write(KubernetesClient client, String node, List<DesiredDevice> devices) {
        VfioNodeState state = new VfioNodeState();
        state.setMetadata(new ObjectMetaBuilder().withName(node).build());
        state.setSpec(new VfioNodeStateSpec(devices));
        client.resource(state).fieldManager("vfio-e2e-operator").forceConflicts().serverSideApply();
    }
}
