package com.example.vfio.api;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/** Cluster-scoped: which devices on which nodes go to which driver and resource. */
@Group(VfioBindingPolicy.GROUP)
@Version(VfioBindingPolicy.VERSION)
@Kind("VfioBindingPolicy")
@Plural("vfiobindingpolicies")
@Singular("vfiobindingpolicy")
@ShortNames("vbp")
@AdditionalPrinterColumn(name = "Ready", jsonPath = ".status.conditions[?(@.type==\"Ready\")].status", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Nodes", jsonPath = ".status.nodes", type = AdditionalPrinterColumn.Type.STRING,
        getDescription = "ready/matched nodes")
@AdditionalPrinterColumn(name = "Devices", jsonPath = ".status.devices", type = AdditionalPrinterColumn.Type.STRING,
        getDescription = "ready/matched devices")
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class VfioBindingPolicy extends CustomResource<VfioBindingPolicySpec, VfioBindingPolicyStatus> {
    public static final String GROUP = "vfio.example.com";
    public static final String VERSION = "v1alpha1";
    /** Keeps a deleted policy until its devices are back on their host drivers. */
    public static final String FINALIZER = "vfio.example.com/release-devices";

    // No initSpec(): a new instance has no spec. JOSDK adds the finalizer by applying a new instance with only the
    // metadata; an empty spec in it made the operator a co-owner of the admin's spec (managedFields f:spec).
}
