package com.example.vfio.api;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Singular;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * Cluster-scoped, one per node and named after it: spec (desired drivers/resources) is written by the operator,
 * status (inventory, viability, bind results, health) by the node agent.
 */
@Group(VfioBindingPolicy.GROUP)
@Version(VfioBindingPolicy.VERSION)
@Kind("VfioNodeState")
@Plural("vfionodestates")
@Singular("vfionodestate")
@ShortNames("vns")
@AdditionalPrinterColumn(name = "Sync", jsonPath = ".status.syncStatus", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Devices", jsonPath = ".status.deviceCount", type = AdditionalPrinterColumn.Type.INTEGER,
        getDescription = "PCI devices the node reports")
@AdditionalPrinterColumn(name = "Viable", jsonPath = ".status.viableCount", type = AdditionalPrinterColumn.Type.INTEGER,
        getDescription = "devices ready for VFIO passthrough")
@AdditionalPrinterColumn(name = "Published", jsonPath = ".status.publishedCount", type = AdditionalPrinterColumn.Type.INTEGER,
        getDescription = "devices published to the kubelet")
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class VfioNodeState extends CustomResource<VfioNodeStateSpec, VfioNodeStateStatus> {

    @Override
    protected VfioNodeStateSpec initSpec() {
        return new VfioNodeStateSpec();
    }
}
