package com.example.vfio.planning;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.Companions;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.PublishWith;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicySpec;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;

/** Builds policies for planner tests the way an admin would write them. */
final class TestPolicies {
    private final VfioBindingPolicy policy = new VfioBindingPolicy();

    private TestPolicies(String name) {
        policy.setMetadata(new ObjectMetaBuilder().withName(name).build());
        policy.setSpec(new VfioBindingPolicySpec());
    }

    static TestPolicies policy(String name) {
        return new TestPolicies(name);
    }

    TestPolicies select(DeviceSelector s) { policy.getSpec().setSelector(s); return this; }
    TestPolicies driver(String d) { policy.getSpec().setDriver(d); return this; }
    TestPolicies resource(String r) { policy.getSpec().setResourceName(r); return this; }
    TestPolicies priority(int p) { policy.getSpec().setPriority(p); return this; }
    TestPolicies companions(Companions c) { policy.getSpec().setCompanions(c); return this; }
    TestPolicies unit(AllocationUnit u) { policy.getSpec().setAllocationUnit(u); return this; }
    TestPolicies publishWith(PublishWith api) { policy.getSpec().setPublishWith(api); return this; }
    TestPolicies managed(boolean m) { policy.getSpec().setManaged(m); return this; }
    TestPolicies created(String ts) { policy.getMetadata().setCreationTimestamp(ts); return this; }
    TestPolicies deleting() { policy.getMetadata().setDeletionTimestamp("2026-01-01T00:00:00Z"); return this; }
    TestPolicies nodeLabel(String k, String v) {
        policy.getSpec().setNodeSelector(new LabelSelectorBuilder().addToMatchLabels(k, v).build());
        return this;
    }
    VfioBindingPolicy build() { return policy; }
}
