package com.example.vfio.operator;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.Companions;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.PublishWith;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicySpec;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;

/** Policies as an admin writes them. Public for the bench module's FanOutProbe. */
public final class Policies {
    private final VfioBindingPolicy policy = new VfioBindingPolicy();

    private Policies(String name) {
        policy.setMetadata(new ObjectMetaBuilder().withName(name).build());
        policy.setSpec(new VfioBindingPolicySpec());
    }

    public static Policies policy(String name) {
        return new Policies(name);
    }

    public Policies select(DeviceSelector s) { policy.getSpec().setSelector(s); return this; }
    public Policies driver(String d) { policy.getSpec().setDriver(d); return this; }
    public Policies resource(String r) { policy.getSpec().setResourceName(r); return this; }
    public Policies priority(int p) { policy.getSpec().setPriority(p); return this; }
    public Policies companions(Companions c) { policy.getSpec().setCompanions(c); return this; }
    public Policies unit(AllocationUnit u) { policy.getSpec().setAllocationUnit(u); return this; }
    public Policies publishWith(PublishWith api) { policy.getSpec().setPublishWith(api); return this; }
    public Policies onNodes(String key, String value) {
        policy.getSpec().setNodeSelector(new LabelSelectorBuilder().addToMatchLabels(key, value).build());
        return this;
    }
    public VfioBindingPolicy build() { return policy; }
}
