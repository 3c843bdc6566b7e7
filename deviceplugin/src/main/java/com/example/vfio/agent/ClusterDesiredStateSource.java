package com.example.vfio.agent;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.viability.HostAssessment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cluster mode: the desired state is {@code spec.devices} of this node's VfioNodeState, which the
 * operator writes. An informer watches only that one object (field selector {@code metadata.name}); it
 * relists and rewatches by itself when the API server goes away, and until then {@link #desired} keeps
 * answering with the last spec it saw, so the kubelet side never waits on the network.
 */
public final class ClusterDesiredStateSource implements DesiredStateSource, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterDesiredStateSource.class);

    private final KubernetesClient client;
    private final String nodeName;
    private volatile Consumer<NodeSpec> onChange = spec -> { };
    private volatile NodeSpec current = NodeSpec.absent();
    private SharedIndexInformer<VfioNodeState> informer;

    public ClusterDesiredStateSource(KubernetesClient client, String nodeName) {
        this.client = Objects.requireNonNull(client);
        this.nodeName = Objects.requireNonNull(nodeName);
    }

    /**
     * Starts watching without waiting for the API server: it may be unreachable now and come later.
     *
     * @param onChange told about every new spec; must only hand it over (it runs on the informer's thread)
     */
    public ClusterDesiredStateSource start(Consumer<NodeSpec> onChange) {
        this.onChange = Objects.requireNonNull(onChange);
        informer = client.resources(VfioNodeState.class).withName(nodeName).runnableInformer(0);
        informer.exceptionHandler((started, t) -> {
            LOG.warn("watching VfioNodeState {}: {} (retrying)", nodeName, t.getMessage());
            return true;
        });
        informer.addEventHandler(new ResourceEventHandler<>() {
            @Override
            public void onAdd(VfioNodeState obj) {
                seen(obj);
            }

            @Override
            public void onUpdate(VfioNodeState oldObj, VfioNodeState newObj) {
                seen(newObj);
            }

            @Override
            public void onDelete(VfioNodeState obj, boolean deletedFinalStateUnknown) {
                LOG.warn("VfioNodeState {} was deleted: nothing is desired until the operator creates it again",
                        nodeName);
                changed(NodeSpec.absent());
            }
        });
        informer.start();
        return this;
    }

    private void seen(VfioNodeState obj) {
        List<DesiredDevice> devices = obj.getSpec() == null || obj.getSpec().getDevices() == null ? List.of()
                : new ArrayList<>(obj.getSpec().getDevices());
        Set<String> addresses = new HashSet<>();
        for (DesiredDevice d : devices) {
            if (!addresses.add(d.getAddress())) {
                // the list is atomic, not keyed by address: only a hand edit can repeat one, and the operator writes
                // the spec again at once
                LOG.warn("VfioNodeState {} generation {} lists {} more than once: not acting on it until the operator"
                        + " writes the spec again", nodeName, obj.getMetadata().getGeneration(), d.getAddress());
                return;
            }
        }
        changed(new NodeSpec(true, obj.getMetadata().getUid(), obj.getMetadata().getGeneration(), devices));
    }

    private void changed(NodeSpec spec) {
        if (spec.equals(current)) {
            return; // a status write or a resync: same spec, same generation
        }
        current = spec;
        onChange.accept(spec);
    }

    public NodeSpec current() {
        return current;
    }

    @Override
    public List<DesiredDevice> desired(HostAssessment ignored) {
        return current.devices();
    }

    @Override
    public String describe() {
        return "VfioNodeState " + nodeName + " (cluster mode)";
    }

    @Override
    public void close() {
        if (informer != null) {
            informer.close();
        }
    }
}
