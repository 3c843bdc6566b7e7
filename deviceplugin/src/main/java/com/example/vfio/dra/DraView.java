package com.example.vfio.dra;

import com.example.vfio.plugin.PublishedResource;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the driver publishes now, as one immutable value: the DRA resources of the last rescan (host view) and the
 * devices made of them, by name. NodePrepareResources looks the allocated devices up here.
 */
public record DraView(List<PublishedResource> resources, List<DraDevice> devices) {
    public static final DraView EMPTY = new DraView(List.of(), List.of());

    public DraView {
        resources = List.copyOf(resources);
        devices = List.copyOf(devices);
    }

    public Optional<DraDevice> device(String name) {
        return devices.stream().filter(d -> d.name().equals(name)).findFirst();
    }

    public Optional<PublishedResource> resource(String shortName) {
        return resources.stream().filter(r -> r.name().equals(shortName)).findFirst();
    }

    /** Device name → device. */
    public Map<String, DraDevice> byName() {
        Map<String, DraDevice> m = new LinkedHashMap<>();
        devices.forEach(d -> m.put(d.name(), d));
        return m;
    }
}
