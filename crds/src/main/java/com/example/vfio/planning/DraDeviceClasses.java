package com.example.vfio.planning;

import com.example.vfio.api.Drivers;
import com.example.vfio.api.PublishWith;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicySpec;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.resource.v1.CELDeviceSelector;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceClass;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceClassSpec;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceSelector;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * The DeviceClasses of the DRA driver {@code vfio.example.com}: one per resource that a policy publishes with
 * {@code publishWith: DRA}, named {@code <resourceName>.vfio.example.com}, selecting the driver's devices of that
 * resource and serving the extended resource {@code vfio.example.com/<resourceName>} (KEP-5004, GA in 1.37): a pod that
 * asks for {@code vfio.example.com/gpu: 1} gets a claim the scheduler makes from this class, on every node whose
 * kubelet does not advertise the resource through a device plugin. Pure.
 */
public final class DraDeviceClasses {
    public static final String DRIVER = "vfio.example.com";
    /** The label the operator puts on the classes it owns (and the only ones it deletes). */
    public static final String MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
    public static final String MANAGED_BY = "vfio-operator";

    private DraDeviceClasses() {
    }

    /** {@code gpu} → {@code gpu.vfio.example.com}. */
    public static String name(String resourceName) {
        return resourceName + "." + DRIVER;
    }

    /** The class of one resource. */
    public static DeviceClass of(String resourceName) {
        DeviceClassSpec spec = new DeviceClassSpec();
        DeviceSelector selector = new DeviceSelector();
        selector.setCel(new CELDeviceSelector("device.driver == \"" + DRIVER + "\" && device.attributes[\"" + DRIVER
                + "\"].resource == \"" + resourceName + "\""));
        spec.setSelectors(List.of(selector));
        spec.setExtendedResourceName(DRIVER + "/" + resourceName);
        DeviceClass c = new DeviceClass();
        c.setMetadata(new ObjectMetaBuilder().withName(name(resourceName)).addToLabels(MANAGED_BY_LABEL, MANAGED_BY)
                .addToLabels("vfio.example.com/resource", resourceName).build());
        c.setSpec(spec);
        return c;
    }

    /**
     * The classes the policies want: one per resource of a usable policy ({@link NodePlanner#usablePolicies}) that says
     * {@code publishWith: DRA}, in name order. A policy being deleted keeps its class until it is gone.
     */
    public static List<DeviceClass> desired(List<VfioBindingPolicy> policies) {
        TreeMap<String, DeviceClass> out = new TreeMap<>();
        for (VfioBindingPolicy p : NodePlanner.usablePolicies(policies, new ArrayList<>())) {
            VfioBindingPolicySpec s = p.getSpec();
            if (s.effectivePublishWith() == PublishWith.DRA && !Drivers.HOST.equals(s.effectiveDriver())
                    && s.getResourceName() != null) {
                out.put(s.getResourceName(), of(s.getResourceName()));
            }
        }
        return List.copyOf(out.values());
    }
}
