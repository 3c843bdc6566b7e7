package com.example.vfio.operator;

import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.planning.DraDeviceClasses;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceClass;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the DRA DeviceClasses equal to what the policies want ({@link DraDeviceClasses#desired}): the operator knows
 * the policies, so it owns the classes (the chart would have to be told every resource name again). Writes only what
 * differs; deletes only classes it labelled its own. Called from every policy roll-up and from a policy's cleanup.
 */
final class DeviceClassSync {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceClassSync.class);

    private final KubernetesClient client;

    DeviceClassSync(KubernetesClient client) {
        this.client = client;
    }

    /**
     * @param policies the policies as they are now (without one whose deletion completes)
     * @param current  the classes the operator owns now (from its informer)
     */
    synchronized void sync(List<VfioBindingPolicy> policies, Supplier<List<DeviceClass>> current) {
        Map<String, DeviceClass> want = new TreeMap<>();
        DraDeviceClasses.desired(policies).forEach(c -> want.put(c.getMetadata().getName(), c));
        Map<String, DeviceClass> have = new TreeMap<>();
        current.get().forEach(c -> have.put(c.getMetadata().getName(), c));
        for (DeviceClass c : want.values()) {
            DeviceClass h = have.remove(c.getMetadata().getName());
            if (h != null && Objects.equals(h.getSpec(), c.getSpec())
                    && Objects.equals(h.getMetadata().getLabels(), c.getMetadata().getLabels())) {
                continue;
            }
            if (h == null) {
                client.resource(c).createOr(existing -> existing.update());
                LOG.info("created DeviceClass {} (extendedResourceName {})", c.getMetadata().getName(),
                        c.getSpec().getExtendedResourceName());
            } else {
                c.getMetadata().setResourceVersion(h.getMetadata().getResourceVersion());
                client.resource(c).update();
                LOG.info("updated DeviceClass {}", c.getMetadata().getName());
            }
        }
        for (DeviceClass gone : have.values()) {
            client.resource(gone).delete();
            LOG.info("deleted DeviceClass {}: no policy publishes its resource through DRA any more",
                    gone.getMetadata().getName());
        }
    }
}
