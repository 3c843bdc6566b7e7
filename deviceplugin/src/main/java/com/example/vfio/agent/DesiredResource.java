package com.example.vfio.agent;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.PublishWith;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.plugin.DeviceHealth;
import com.example.vfio.plugin.PublishedResource;
import com.example.vfio.viability.HostAssessment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Set;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * One extended resource the node should publish: the devices the desired state assigns to it. The same
 * model whether the desired state comes from the standalone planner or from {@code VfioNodeState.spec}.
 *
 * @param name    short resource name ({@code gpu}), published as {@code vfio.example.com/gpu}
 * @param unit    what one allocation hands out
 * @param api     the kubelet API that publishes it: a device plugin, or the DRA driver
 * @param devices the assigned devices, in address order
 */
public record DesiredResource(String name, AllocationUnit unit, PublishWith api, List<PciAddress> devices) {

    public DesiredResource {
        PublishedResource.requireValidName(name);
        Objects.requireNonNull(unit, "unit");
        Objects.requireNonNull(api, "api");
        devices = List.copyOf(new java.util.TreeSet<>(devices));
    }

    /** A resource of the device plugin, the default API. */
    public DesiredResource(String name, AllocationUnit unit, List<PciAddress> devices) {
        this(name, unit, PublishWith.DevicePlugin, devices);
    }

    /**
     * Groups the desired devices by resource. Companions (pulled in by a selected device's group), devices
     * given back to the host and devices without a resource are not published.
     */
    public static List<DesiredResource> from(List<DesiredDevice> desired) {
        Map<String, List<PciAddress>> byName = new TreeMap<>();
        Map<String, AllocationUnit> units = new TreeMap<>();
        Map<String, PublishWith> apis = new TreeMap<>();
        for (DesiredDevice d : desired) {
            if (d.isCompanion() || d.isHost() || d.getResourceName() == null) {
                continue;
            }
            byName.computeIfAbsent(d.getResourceName(), n -> new ArrayList<>()).add(PciAddress.parse(d.getAddress()));
            units.putIfAbsent(d.getResourceName(), d.effectiveAllocationUnit());
            // the planner gives every device of a resource the same API; should a spec disagree, DRA wins: a resource
            // is never published through both, and a DRA claim's devices must stay reachable through the driver
            if (d.effectivePublishWith() == PublishWith.DRA) {
                apis.put(d.getResourceName(), PublishWith.DRA);
            }
        }
        List<DesiredResource> out = new ArrayList<>();
        byName.forEach((name, devices) -> out.add(new DesiredResource(name, units.get(name),
                apis.getOrDefault(name, PublishWith.DevicePlugin), devices)));
        return out;
    }

    /**
     * Keeps listing devices that were published before and are gone from the host now: the planner only
     * sees the current inventory, but the kubelet must see a vanished device turn Unhealthy, not vanish.
     * A device still on the host that no policy selects any more is dropped.
     */
    public static List<DesiredResource> keepVanished(List<DesiredResource> now, List<DesiredResource> before,
                                                     Set<PciAddress> onHost) {
        Map<String, DesiredResource> merged = new TreeMap<>();
        now.forEach(r -> merged.put(r.name(), r));
        Set<PciAddress> claimed = new HashSet<>();
        now.forEach(r -> claimed.addAll(r.devices()));
        for (DesiredResource old : before) {
            List<PciAddress> vanished = old.devices().stream()
                    .filter(a -> !onHost.contains(a) && !claimed.contains(a)).toList();
            if (vanished.isEmpty()) {
                continue;
            }
            DesiredResource current = merged.get(old.name());
            List<PciAddress> devices = new ArrayList<>(vanished);
            AllocationUnit unit = old.unit();
            PublishWith api = old.api();
            if (current != null) {
                devices.addAll(current.devices());
                unit = current.unit();
                api = current.api();
            }
            merged.put(old.name(), new DesiredResource(old.name(), unit, api, devices));
        }
        return List.copyOf(merged.values());
    }

    /** What the host allows for this resource now (allocation holds not applied). */
    public PublishedResource published(HostAssessment assessment) {
        return DeviceHealth.hostView(assessment, name, api, unit, devices);
    }
}
