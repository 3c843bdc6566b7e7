package com.example.vfio.dra;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.resource.v1.Counter;
import io.fabric8.kubernetes.api.model.resource.v1.CounterSet;
import io.fabric8.kubernetes.api.model.resource.v1.Device;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceAttribute;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceCounterConsumption;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceTaint;
import io.fabric8.kubernetes.api.model.resource.v1.ResourcePool;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceSlice;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceSliceSpec;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A node's {@link PoolLayout.Pool} as {@code resource.k8s.io/v1} ResourceSlice objects, and their comparison. Pure. */
public final class ResourceSlices {
    /** Labels every slice of ours carries, so an admin can list them ({@code kubectl get resourceslices -l ...}). */
    public static final String MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
    public static final String MANAGED_BY = "vfio-node";
    private static final Quantity ONE = new Quantity("1");

    private ResourceSlices() {
    }

    /**
     * @param nodeUid the Node's uid: the slices are owned by their Node, so they go when it goes; null: no owner
     */
    public static List<ResourceSlice> of(String nodeName, String nodeUid, long generation, PoolLayout.Pool pool) {
        List<ResourceSlice> out = new ArrayList<>();
        for (PoolLayout.Slice s : pool.slices()) {
            ObjectMetaBuilder meta = new ObjectMetaBuilder().withName(DraNames.sliceName(nodeName, s.part()))
                    .addToLabels(MANAGED_BY_LABEL, MANAGED_BY);
            if (nodeUid != null) {
                meta.withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("v1").withKind("Node")
                        .withName(nodeName).withUid(nodeUid).withController(true).build());
            }
            ResourceSliceSpec spec = new ResourceSliceSpec();
            spec.setDriver(DraNames.DRIVER);
            spec.setNodeName(nodeName);
            spec.setPool(new ResourcePool(generation, DraNames.poolName(nodeName), (long) pool.slices().size()));
            if (!s.counterSets().isEmpty()) {
                spec.setSharedCounters(s.counterSets().stream().map(ResourceSlices::counterSet).toList());
            } else {
                spec.setDevices(s.devices().stream().map(d -> device(d, pool)).toList());
            }
            ResourceSlice slice = new ResourceSlice();
            slice.setMetadata(meta.build());
            slice.setSpec(spec);
            out.add(slice);
        }
        return out;
    }

    private static CounterSet counterSet(PoolLayout.CounterSet set) {
        Map<String, Counter> counters = new LinkedHashMap<>();
        set.groups().forEach(g -> counters.put(DraNames.counterName(g), new Counter(ONE)));
        return new CounterSet(counters, set.name());
    }

    private static Device device(DraDevice d, PoolLayout.Pool pool) {
        Device device = new Device();
        device.setName(d.name());
        Map<String, DeviceAttribute> attributes = new LinkedHashMap<>();
        d.attributes().forEach((name, value) -> attributes.put(name, attribute(value)));
        device.setAttributes(attributes);
        device.setConsumesCounters(List.of(new DeviceCounterConsumption(pool.counterSetOfGroup().get(d.iommuGroup()),
                Map.of(DraNames.counterName(d.iommuGroup()), new Counter(ONE)))));
        if (d.taint() != null) {
            DeviceTaint taint = new DeviceTaint();
            taint.setKey(DraNames.TAINT_KEY);
            taint.setValue(d.taint().value());
            taint.setEffect("NoSchedule");
            device.setTaints(List.of(taint));
        }
        return device;
    }

    private static DeviceAttribute attribute(Object value) {
        if (value instanceof String s) {
            return new DeviceAttribute(null, null, s, null);
        }
        if (value instanceof Long l) {
            return new DeviceAttribute(null, l, null, null);
        }
        return new DeviceAttribute((Boolean) value, null, null, null);
    }

    /**
     * Whether a slice on the API server says what {@code desired} says: the same spec (the API server stamps
     * {@code timeAdded} on taints: ignored) and the same owner. Labels others added are left alone.
     */
    public static boolean sameContent(ResourceSlice desired, ResourceSlice observed) {
        return normalized(desired.getSpec()).equals(normalized(observed.getSpec()))
                && Serialization.jsonMapper().valueToTree(desired.getMetadata().getOwnerReferences())
                        .equals(Serialization.jsonMapper().valueToTree(observed.getMetadata().getOwnerReferences()))
                && MANAGED_BY.equals(observed.getMetadata().getLabels() == null ? null
                        : observed.getMetadata().getLabels().get(MANAGED_BY_LABEL));
    }

    private static JsonNode normalized(ResourceSliceSpec spec) {
        ObjectNode tree = Serialization.jsonMapper().valueToTree(spec);
        JsonNode devices = tree.get("devices");
        if (devices instanceof ArrayNode list) {
            for (JsonNode d : list) {
                JsonNode taints = d.get("taints");
                if (taints instanceof ArrayNode ts) {
                    ts.forEach(t -> ((ObjectNode) t).remove("timeAdded"));
                }
            }
        }
        return tree;
    }
}
