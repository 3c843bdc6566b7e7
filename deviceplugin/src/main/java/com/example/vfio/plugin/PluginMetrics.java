package com.example.vfio.plugin;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/** The daemon's counters and gauges, rendered in the Prometheus text exposition format (0.0.4). */
public final class PluginMetrics {

    private final Map<String, Map<String, Long>> devices = new ConcurrentSkipListMap<>();
    private final Map<String, LongAdder> allocations = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> registrations = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
    private final LongAdder rescans = new LongAdder();
    private final DoubleAdder rescanSeconds = new DoubleAdder();
    private final AtomicLong lastRescanMillis = new AtomicLong(-1);
    private final AtomicLong heldGroups = new AtomicLong();
    private final AtomicLong podResourcesUp = new AtomicLong(1);
    // the DRA driver's (kept together so they move as one block)
    private final AtomicLong draSlices = new AtomicLong();
    private final AtomicLong draDevices = new AtomicLong();
    private final LongAdder draSliceWrites = new LongAdder();
    private final LongAdder draPrepared = new LongAdder();
    private final LongAdder draUnprepared = new LongAdder();
    private final LongAdder draRefused = new LongAdder();
    private final AtomicLong draPreparedNow = new AtomicLong();

    /** Devices per health of one resource, replacing the previous counts. */
    public void devices(String resourceName, long healthy, long unhealthy) {
        devices.put(resourceName, Map.of("healthy", healthy, "unhealthy", unhealthy));
    }

    public void resourceRemoved(String resourceName) {
        devices.remove(resourceName);
    }

    public void allocation(String resourceName) {
        allocations.computeIfAbsent(resourceName, k -> new LongAdder()).increment();
    }

    public void registration(String resourceName) {
        registrations.computeIfAbsent(resourceName, k -> new LongAdder()).increment();
    }

    /** @param kind a short stable label: allocate_refused, register, rescan, podresources, ... */
    public void error(String kind) {
        errors.computeIfAbsent(kind, k -> new LongAdder()).increment();
    }

    public void rescan(long nanos) {
        rescans.increment();
        rescanSeconds.add(nanos / 1e9);
        lastRescanMillis.set(System.currentTimeMillis());
    }

    public long lastRescanMillis() {
        return lastRescanMillis.get();
    }

    public void heldGroups(long n) {
        heldGroups.set(n);
    }

    public void podResourcesUp(boolean up) {
        podResourcesUp.set(up ? 1 : 0);
    }

    /** The node's ResourceSlices and the devices in them, as last written or found on the API server. */
    public void draSlices(long slices, long devices) {
        draSlices.set(slices);
        draDevices.set(devices);
    }

    public void draSliceWrite() {
        draSliceWrites.increment();
    }

    /** One claim prepared (not counted again when the kubelet prepares it again). */
    public void draPrepared() {
        draPrepared.increment();
    }

    public void draUnprepared() {
        draUnprepared.increment();
    }

    /** One claim whose preparation was refused (the device is not usable, or its group is held). */
    public void draRefused() {
        draRefused.increment();
    }

    public void draPreparedClaims(long n) {
        draPreparedNow.set(n);
    }

    public long draRefusals() {
        return draRefused.sum();
    }

    public long count(String kind) {
        LongAdder a = errors.get(kind);
        return a == null ? 0 : a.sum();
    }

    public String render() {
        StringBuilder out = new StringBuilder();
        header(out, "vfio_devices", "gauge", "Published devices by resource and health.");
        devices.forEach((res, byHealth) -> new TreeMap<>(byHealth).forEach((health, n) ->
                line(out, "vfio_devices", List.of("resource", res, "health", health), n)));
        header(out, "vfio_allocations_total", "counter", "Successful Allocate calls by resource.");
        new TreeMap<>(allocations).forEach((res, n) -> line(out, "vfio_allocations_total", List.of("resource", res),
                n.sum()));
        header(out, "vfio_held_iommu_groups", "gauge", "IOMMU groups held by an allocation.");
        line(out, "vfio_held_iommu_groups", List.of(), heldGroups.get());
        header(out, "vfio_registrations_total", "counter", "Successful registrations with the kubelet by resource.");
        new TreeMap<>(registrations).forEach((res, n) -> line(out, "vfio_registrations_total",
                List.of("resource", res), n.sum()));
        header(out, "vfio_rescans_total", "counter", "Host rescans.");
        line(out, "vfio_rescans_total", List.of(), rescans.sum());
        header(out, "vfio_rescan_duration_seconds", "summary", "Time spent rescanning the host.");
        out.append("vfio_rescan_duration_seconds_sum ").append(rescanSeconds.sum()).append('\n');
        out.append("vfio_rescan_duration_seconds_count ").append(rescans.sum()).append('\n');
        header(out, "vfio_podresources_up", "gauge",
                "1 when the last PodResources List succeeded; 0 means group holds are kept until it answers.");
        line(out, "vfio_podresources_up", List.of(), podResourcesUp.get());
        header(out, "vfio_errors_total", "counter", "Errors by kind.");
        new TreeMap<>(errors).forEach((kind, n) -> line(out, "vfio_errors_total", List.of("kind", kind), n.sum()));
        renderDra(out);
        return out.toString();
    }

    private void renderDra(StringBuilder out) {
        header(out, "vfio_dra_resourceslices", "gauge", "The node's ResourceSlices of driver vfio.example.com.");
        line(out, "vfio_dra_resourceslices", List.of(), draSlices.get());
        header(out, "vfio_dra_devices", "gauge", "Devices in the node's ResourceSlices.");
        line(out, "vfio_dra_devices", List.of(), draDevices.get());
        header(out, "vfio_dra_resourceslice_writes_total", "counter", "ResourceSlice creates, updates and deletes.");
        line(out, "vfio_dra_resourceslice_writes_total", List.of(), draSliceWrites.sum());
        header(out, "vfio_dra_prepared_claims", "gauge", "ResourceClaims prepared on this node now.");
        line(out, "vfio_dra_prepared_claims", List.of(), draPreparedNow.get());
        header(out, "vfio_dra_prepares_total", "counter", "ResourceClaims prepared (NodePrepareResources).");
        line(out, "vfio_dra_prepares_total", List.of(), draPrepared.sum());
        header(out, "vfio_dra_unprepares_total", "counter", "ResourceClaims unprepared (NodeUnprepareResources).");
        line(out, "vfio_dra_unprepares_total", List.of(), draUnprepared.sum());
        header(out, "vfio_dra_prepare_refusals_total", "counter",
                "ResourceClaims whose preparation was refused (device not usable or its IOMMU group held).");
        line(out, "vfio_dra_prepare_refusals_total", List.of(), draRefused.sum());
    }

    private static void header(StringBuilder out, String name, String type, String help) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void line(StringBuilder out, String name, List<String> labels, long value) {
        out.append(name);
        if (!labels.isEmpty()) {
            out.append('{');
            for (int i = 0; i < labels.size(); i += 2) {
                if (i > 0) {
                    out.append(',');
                }
                out.append(labels.get(i)).append("=\"").append(escape(labels.get(i + 1))).append('"');
            }
            out.append('}');
        }
        out.append(' ').append(value).append('\n');
    }

    private static String escape(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
