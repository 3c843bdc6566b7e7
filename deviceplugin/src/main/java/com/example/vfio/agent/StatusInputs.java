package com.example.vfio.agent;

import com.example.vfio.api.BindResult;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.viability.HostAssessment;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything one node status is computed from, as of one pass of the agent.
 *
 * @param assessment         the host as last scanned, with viability
 * @param desired            {@code spec.devices} the pass acted on
 * @param observedGeneration {@code metadata.generation} of that spec; null before any spec was seen
 * @param published          what the kubelet side shows, per published address
 * @param bindResults        the binding engine's results of the last pass, one per address it looked at
 * @param hostDrivers        from the binding journal: the driver a device had before it was rebound
 * @param binding            a bind pass is under way (its results are not in yet)
 * @param nodeError          a failure that is about the node, not one device (e.g. the spec names an
 *                           unusable driver for everything); null when none
 * @param now                the time stamped on conditions that change
 */
public record StatusInputs(HostAssessment assessment, List<DesiredDevice> desired, Long observedGeneration,
        Map<PciAddress, DevicePublication> published, List<BindResult> bindResults,
        Map<PciAddress, String> hostDrivers, boolean binding, String nodeError, Instant now) {

    public StatusInputs {
        Objects.requireNonNull(assessment, "assessment");
        Objects.requireNonNull(now, "now");
        desired = List.copyOf(desired);
        published = Map.copyOf(published);
        bindResults = List.copyOf(bindResults);
        hostDrivers = Map.copyOf(hostDrivers);
    }

    /** A host with nothing desired, published or bound yet. */
    public static StatusInputs inventoryOnly(HostAssessment assessment, Instant now) {
        return new StatusInputs(assessment, List.of(), null, Map.of(), List.of(), Map.of(), false, null, now);
    }
}
