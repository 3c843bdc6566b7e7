package com.example.vfio.plugin;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.Unit;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The node daemon's metrics, and the one owner of its Prometheus registry: one per daemon, handed to the parts
 * that count, so that daemons sharing a JVM (as in the tests) never share a series. {@link StatusHttpServer}
 * serves the registry on {@code /metrics}.
 *
 * <p>A new metric is one line: a field made by {@link #counter}, {@link #gauge} or {@link #histogram}, e.g.
 * {@code public final Gauge ueventsUp = gauge("vfio_uevents_up", "1 while uevents are heard.");}; a part
 * outside this package declares it in its own class the same way through the daemon's {@code PluginMetrics}.
 * Names follow Prometheus' conventions: counters end in {@code _total}, durations are {@code _seconds}.
 */
public final class PluginMetrics {

    /** Rescan of an unchanged 4,096-function host: ~30 ms; first scans and 16,384 functions: up to seconds. */
    static final double[] RESCAN_SECONDS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    /** Allocate: about a millisecond; a refusal asks PodResources again first (up to its deadline). */
    static final double[] ALLOCATE_SECONDS = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
        0.1, 0.25, 1, 5};
    /** The kinds {@link #error} is called with, each exposed from the start (at 0) so that rates see the first. */
    static final List<String> ERROR_KINDS = List.of("allocate_refused", "kubelet_watch", "podresources", "register",
            "rescan", "dra", "dra_registration", "dra_unprepare", "resourceslices");

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Gauge devices = gauge("vfio_devices", "Published devices by resource and health.",
            "resource", "health");
    private final Counter allocations = counter("vfio_allocations_total",
            "Containers given devices by Allocate, by resource.", "resource");
    private final Histogram allocateSeconds = histogram("vfio_allocate_duration_seconds",
            "Time the daemon took to answer the kubelet's Allocate calls, refusals included, by resource.",
            ALLOCATE_SECONDS, "resource");
    private final Gauge heldGroups = gauge("vfio_held_iommu_groups", "IOMMU groups held by an allocation.");
    private final Counter registrations = counter("vfio_registrations_total",
            "Successful registrations with the kubelet by resource.", "resource");
    private final Counter rescans = counter("vfio_rescans_total", "Host rescans.");
    private final Histogram rescanSeconds = histogram("vfio_rescan_duration_seconds",
            "Time spent rescanning the host and publishing the result.", RESCAN_SECONDS);
    private final Gauge podResourcesUp = gauge("vfio_podresources_up",
            "1 when the last PodResources List succeeded; 0 means group holds are kept until it answers.");
    private final Counter errors = counter("vfio_errors_total", "Errors by kind.", "kind");
    private final Gauge ueventsListening = gauge("vfio_uevents_listening",
            "1 while kernel uevents are heard (a changed device is rescanned at once); 0: the host is polled.");
    private final AtomicLong lastRescanMillis = new AtomicLong(-1);
    // the DRA driver's
    private final Gauge draSlices = gauge("vfio_dra_resourceslices",
            "The node's ResourceSlices of driver vfio.example.com.");
    private final Gauge draDevices = gauge("vfio_dra_devices", "Devices in the node's ResourceSlices.");
    private final Counter draSliceWrites = counter("vfio_dra_resourceslice_writes_total",
            "ResourceSlice creates, updates and deletes.");
    private final Gauge draPreparedNow = gauge("vfio_dra_prepared_claims", "ResourceClaims prepared on this node now.");
    private final Counter draPrepared = counter("vfio_dra_prepares_total",
            "ResourceClaims prepared (NodePrepareResources).");
    private final Counter draUnprepared = counter("vfio_dra_unprepares_total",
            "ResourceClaims unprepared (NodeUnprepareResources).");
    private final Counter draRefused = counter("vfio_dra_prepare_refusals_total",
            "ResourceClaims whose preparation was refused (device not usable or its IOMMU group held).");

    public PluginMetrics() {
        podResourcesUp.set(1);
        ERROR_KINDS.forEach(errors::initLabelValues);
    }

    /**
     * Adds the JVM's and the process's own metrics (heap, GC, threads, classes, CPU, RSS, open files). Once, by
     * the process's entry point: they are read at scrape time, with no thread of their own.
     */
    public PluginMetrics withJvmMetrics() {
        JvmMetrics.builder().register(registry);
        return this;
    }

    public PrometheusRegistry registry() {
        return registry;
    }

    public Counter counter(String name, String help, String... labelNames) {
        return Counter.builder().name(name).help(help).labelNames(labelNames).register(registry);
    }

    public Gauge gauge(String name, String help, String... labelNames) {
        return Gauge.builder().name(name).help(help).labelNames(labelNames).register(registry);
    }

    /** A classic histogram of seconds (the name ends in {@code _seconds}) with these bucket upper bounds. */
    public Histogram histogram(String name, String help, double[] upperBounds, String... labelNames) {
        return Histogram.builder().name(name).help(help).unit(Unit.SECONDS).labelNames(labelNames)
                .classicOnly().classicUpperBounds(upperBounds).register(registry);
    }

    /** Devices per health of one resource, replacing the previous counts. */
    public void devices(String resourceName, long healthy, long unhealthy) {
        devices.labelValues(resourceName, "healthy").set(healthy);
        devices.labelValues(resourceName, "unhealthy").set(unhealthy);
        allocations.initLabelValues(resourceName);
        allocateSeconds.initLabelValues(resourceName);
        registrations.initLabelValues(resourceName);
    }

    public void resourceRemoved(String resourceName) {
        devices.remove(resourceName, "healthy");
        devices.remove(resourceName, "unhealthy");
    }

    public void allocation(String resourceName) {
        allocations.labelValues(resourceName).inc();
    }

    public void allocateTook(String resourceName, long nanos) {
        allocateSeconds.labelValues(resourceName).observe(Unit.nanosToSeconds(nanos));
    }

    public void registration(String resourceName) {
        registrations.labelValues(resourceName).inc();
    }

    /** @param kind a short stable label: one of {@link #ERROR_KINDS} */
    public void error(String kind) {
        errors.labelValues(kind).inc();
    }

    public void rescan(long nanos) {
        rescans.inc();
        rescanSeconds.observe(Unit.nanosToSeconds(nanos));
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
        draSliceWrites.inc();
    }

    /** One claim prepared (not counted again when the kubelet prepares it again). */
    public void draPrepared() {
        draPrepared.inc();
    }

    public void draUnprepared() {
        draUnprepared.inc();
    }

    /** One claim whose preparation was refused (the device is not usable, or its group is held). */
    public void draRefused() {
        draRefused.inc();
    }

    public void draPreparedClaims(long n) {
        draPreparedNow.set(n);
    }

    /** How many preparations were refused ({@code vfio_dra_prepare_refusals_total}). */
    public long draRefusals() {
        return (long) draRefused.get();
    }

    /** Whether the daemon hears the kernel's uevents (else it rescans the whole host often). */
    public void ueventsListening(boolean listening) {
        ueventsListening.set(listening ? 1 : 0);
    }

    /** The value {@code vfio_uevents_listening} shows. */
    public boolean ueventsListening() {
        return ueventsListening.get() == 1;
    }

    /** How many rescans were counted ({@code vfio_rescans_total}). */
    public long rescans() {
        return (long) rescans.get();
    }

    /** How many errors of this kind were counted. */
    public long count(String kind) {
        for (CounterSnapshot.CounterDataPointSnapshot point : errors.collect().getDataPoints()) {
            if (kind.equals(point.getLabels().get("kind"))) {
                return (long) point.getValue();
            }
        }
        return 0;
    }
}
