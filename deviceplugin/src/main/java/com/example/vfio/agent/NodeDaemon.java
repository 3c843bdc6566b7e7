package com.example.vfio.agent;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.pci.HostReadException;
import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.plugin.DirectoryWatch;
import com.example.vfio.plugin.NodePlugin;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.PublishedDevice;
import com.example.vfio.plugin.PublishedResource;
import com.example.vfio.uevent.UeventListener;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.io.IOException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The rescan loop: scan the host, assess viability, ask the desired-state source what to publish, and
 * hand the result to the kubelet side. When it hears the kernel's uevents, each burst of them is one rescan
 * of the devices they name (and their IOMMU groups), and the whole host is rescanned every minute as a
 * safety net; without them, the whole host every 5 s and at once when {@code /dev/vfio} changes. The
 * kubelet side only sends what changed.
 */
public final class NodeDaemon implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(NodeDaemon.class);
    private static final long DEBOUNCE_MILLIS = 50;

    private final HostRoot root;
    private final SysfsScanner scanner;
    private final ViabilityAnalyzer analyzer = new ViabilityAnalyzer();
    private final DesiredStateSource source;
    private final NodePlugin plugin;
    private final PluginMetrics metrics;
    private final ChangeDetection changes;
    private final Semaphore wake = new Semaphore(0);
    private final Object pendingLock = new Object();
    /** What the next rescan must read: everything, or only these devices (guarded by pendingLock). */
    private boolean pendingFull;
    private final Set<PciAddress> pendingDevices = new TreeSet<>();
    private int pendingEvents;
    private final Object scanLock = new Object();
    private final Set<String> notesSeen = new HashSet<>();
    private volatile List<PublishedResource> last = List.of();
    private List<DesiredResource> lastDesired = List.of();
    private HostAssessment lastAssessment;
    private List<DesiredDevice> lastWanted;
    private volatile boolean running = true;
    private volatile RescanListener listener = (assessment, resources) -> { };
    private volatile DraSide dra = (assessment, resources) -> { };
    private volatile String scanProblem;
    private volatile boolean started;
    private Thread loop;
    private DirectoryWatch devVfioWatch;
    private UeventListener uevents;
    private volatile boolean listening;

    /** Without uevents: a full rescan every {@code interval} and on /dev/vfio changes. */
    public NodeDaemon(HostRoot root, DesiredStateSource source, NodePlugin plugin, PluginMetrics metrics,
                      Duration interval) {
        this(root, source, plugin, metrics, ChangeDetection.polling(interval, "not asked to"));
    }

    public NodeDaemon(HostRoot root, DesiredStateSource source, NodePlugin plugin, PluginMetrics metrics,
                      ChangeDetection changes) {
        this.root = root;
        this.scanner = new SysfsScanner(root);
        this.source = source;
        this.plugin = plugin;
        this.metrics = metrics;
        this.changes = changes;
    }

    /** Told after every rescan that read the host: what it found and what went to the kubelet side. */
    @FunctionalInterface
    public interface RescanListener {
        /** Runs on the rescanning thread: hand over, do not work here. */
        void rescanned(HostAssessment assessment, List<PublishedResource> resources);
    }

    /**
     * The DRA half of the kubelet side: told after every rescan, with the host as last read, the resources whose
     * policies say {@code publishWith: DRA} (the complete list; empty when there are none).
     */
    @FunctionalInterface
    public interface DraSide {
        /** Runs on the rescanning thread: hand over, do not work here. */
        void publish(HostAssessment assessment, List<PublishedResource> resources);
    }

    /** Set before {@link #start()}: where the DRA resources go (the device plugin gets the others). */
    public NodeDaemon withDra(DraSide side) {
        this.dra = java.util.Objects.requireNonNull(side);
        return this;
    }

    /** Set before {@link #start()}; cluster mode writes the node status from it. */
    public NodeDaemon onRescan(RescanListener listener) {
        this.listener = listener;
        return this;
    }

    /**
     * Scans once (so the first publication is complete), then keeps rescanning in the background.
     *
     * @throws HostReadException when the first scan fails: the root is not a host (a wrong --root)
     */
    public NodeDaemon start() throws IOException {
        LOG.info("serving VFIO devices of {} from {}", root, source.describe());
        rescanNow();
        if (scanProblem != null) {
            throw new HostReadException(scanProblem);
        }
        started = true;
        loop = new Thread(this::run, "vfio-rescan");
        loop.setDaemon(true);
        if (changes.uevents() != null) {
            listening = true;
            metrics.ueventsListening(true);
            uevents = new UeventListener(changes.uevents(), new UeventChanges()).start();
            LOG.info("listening to kernel uevents ({}): a changed device is rescanned at once, the whole host every {}",
                    uevents.describe(), format(changes.listeningInterval()));
        } else {
            metrics.ueventsListening(false);
            LOG.info("not listening to kernel uevents: {}; the whole host is rescanned every {} and when /dev/vfio"
                    + " changes", changes.notListening(), format(changes.pollingInterval()));
            watchDevVfio();
        }
        loop.start();
        return this;
    }

    /** /dev/vfio comes and goes with the vfio modules: look for it again every second while it is missing. */
    private synchronized void watchDevVfio() throws IOException {
        if (devVfioWatch != null || !running) {
            return;
        }
        Duration interval = changes.pollingInterval();
        Duration retry = interval.compareTo(Duration.ofSeconds(1)) < 0 ? interval : Duration.ofSeconds(1);
        devVfioWatch = new DirectoryWatch(List.of(root.devVfio(), root.devVfio().resolve("devices")),
                this::requestRescan, retry, "vfio-dev-watch");
    }

    /** The current full-rescan interval: slow while uevents are heard. */
    private Duration interval() {
        return listening ? changes.listeningInterval() : changes.pollingInterval();
    }

    private static String format(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() + "ms";
    }

    /** Asks for a rescan of the whole host soon (coalesced with others). */
    public void requestRescan() {
        synchronized (pendingLock) {
            pendingFull = true;
        }
        wake.release();
    }

    /** The uevent listener's batches, handed to the rescan loop. */
    private final class UeventChanges implements UeventListener.HostChanges {
        @Override
        public void devicesChanged(Set<PciAddress> devices, int events) {
            synchronized (pendingLock) {
                pendingDevices.addAll(devices);
                pendingEvents += events;
            }
            wake.release();
        }

        @Override
        public void unknownChanges(String why) {
            LOG.warn("uevents: {}: rescanning the whole host", why);
            requestRescan();
        }

        @Override
        public void stopped(String why) {
            LOG.error("stopped listening to kernel uevents ({}): the whole host is rescanned every {} from now on",
                    why, format(changes.pollingInterval()));
            listening = false;
            metrics.ueventsListening(false);
            try {
                watchDevVfio();
            } catch (IOException e) {
                LOG.warn("cannot watch {}: {}", root.devVfio(), e.getMessage());
            }
            requestRescan();
        }
    }

    private void run() {
        if (listening && lastAssessment != null && !lastAssessment.snapshot().devices().isEmpty()) {
            // the path every uevent takes, taken once now: the first event then finds it loaded and compiled
            rescan(s -> s.rescan(Set.of(lastAssessment.snapshot().devices().firstKey())));
        }
        while (running) {
            boolean full;
            Set<PciAddress> devices;
            int events;
            try {
                boolean woken = wake.tryAcquire(interval().toMillis(), TimeUnit.MILLISECONDS);
                if (woken && !listening) {
                    Thread.sleep(DEBOUNCE_MILLIS); // a bind touches several nodes: one rescan for all of them
                }
                wake.drainPermits();
                synchronized (pendingLock) {
                    full = !woken || pendingFull;
                    devices = Set.copyOf(pendingDevices);
                    events = pendingEvents;
                    pendingFull = false;
                    pendingDevices.clear();
                    pendingEvents = 0;
                }
            } catch (InterruptedException e) {
                return;
            }
            if (!running) {
                return;
            }
            if (full) {
                rescanNow();
            } else if (events > 0) { // (nothing: a wake-up whose batch the previous round took)
                long t0 = System.nanoTime();
                rescan(s -> s.rescan(devices));
                LOG.debug("uevents: rescanned {} device(s) and their groups for {} event(s) in {} ms", devices.size(),
                        events, (System.nanoTime() - t0) / 1_000_000);
            }
        }
    }

    /** One rescan of the whole host, on the calling thread. */
    public void rescanNow() {
        rescan(SysfsScanner::scan);
    }

    private void rescan(Function<SysfsScanner, HostSnapshot> scan) {
        synchronized (scanLock) {
            long t0 = System.nanoTime();
            List<PublishedResource> resources;
            HostAssessment assessment = null;
            try {
                HostSnapshot snapshot = scan.apply(scanner);
                HostAssessment before = lastAssessment;
                boolean hostUnchanged = before != null && before.snapshot() == snapshot;
                if (!hostUnchanged) {
                    logNewNotes(snapshot);
                }
                assessment = hostUnchanged ? before : analyzer.assess(snapshot);
                lastAssessment = assessment;
                HostAssessment assessed = assessment;
                List<DesiredDevice> wanted = source.desired(assessment);
                // the scanner hands back the same snapshot when nothing changed, and the sources the same list
                // when they want the same: then the same resources go on, and the kubelet side recognises them
                // without comparing
                boolean lastStands = hostUnchanged && scanProblem == null;
                if (lastStands && wanted == lastWanted) {
                    resources = last;
                } else {
                    List<DesiredResource> desired = DesiredResource.keepVanished(DesiredResource.from(wanted),
                            lastDesired, snapshot.devices().keySet());
                    resources = lastStands && desired.equals(lastDesired) ? last
                            : desired.stream().map(r -> r.published(assessed)).toList();
                    lastDesired = desired;
                }
                lastWanted = wanted;
                if (scanProblem != null) {
                    LOG.info("host scan works again");
                    scanProblem = null;
                }
            } catch (HostReadException e) {
                metrics.error("rescan");
                if (started && !e.getMessage().equals(scanProblem)) {
                    LOG.error("host scan failed, every device is Unhealthy until it works: {}", e.getMessage());
                }
                scanProblem = e.getMessage();
                resources = allUnhealthy(last, "host scan failed: " + e.getMessage());
            } catch (RuntimeException e) {
                // a bug or a source failure: keep publishing what we had rather than dropping devices
                metrics.error("rescan");
                LOG.error("rescan failed, keeping the last published devices", e);
                resources = last;
            }
            last = resources;
            plugin.publish(resources.stream().filter(r -> !r.isDra()).toList());
            if (lastAssessment != null) {
                dra.publish(lastAssessment, resources.stream().filter(PublishedResource::isDra).toList());
            }
            metrics.rescan(System.nanoTime() - t0);
            if (assessment != null) {
                listener.rescanned(assessment, resources);
            }
        }
    }

    private static List<PublishedResource> allUnhealthy(List<PublishedResource> before, String why) {
        return before.stream().map(r -> r.withDevices(
                r.devices().stream().map(d -> d.healthy() ? d.withHealth(false, why) : d).toList())).toList();
    }

    private void logNewNotes(HostSnapshot snapshot) {
        for (String note : snapshot.notes()) {
            if (notesSeen.add(note)) {
                LOG.warn("scan: {}", note);
            }
        }
    }

    /** The resources of the last rescan (host view, no holds). */
    public List<PublishedResource> lastPublished() {
        return last;
    }

    /** Null while rescans keep happening; otherwise what is wrong (for /healthz). */
    public String liveness() {
        long lastMillis = metrics.lastRescanMillis();
        long allowed = 3 * interval().toMillis() + 10_000;
        if (lastMillis < 0 || System.currentTimeMillis() - lastMillis > allowed) {
            return "no host rescan for more than " + allowed / 1000 + "s";
        }
        return null;
    }

    /** Healthy devices by resource, for the startup log. */
    public static String summary(List<PublishedResource> resources) {
        if (resources.isEmpty()) {
            return "no resource: the policies select no device of this node";
        }
        StringBuilder b = new StringBuilder();
        for (PublishedResource r : resources) {
            long healthy = r.devices().stream().filter(PublishedDevice::healthy).count();
            b.append(b.length() == 0 ? "" : ", ").append(r.resourceName()).append(": ").append(healthy).append('/')
                    .append(r.devices().size()).append(" healthy");
        }
        return b.toString();
    }

    @Override
    public void close() {
        running = false;
        if (uevents != null) {
            uevents.close();
        } else if (changes.uevents() != null) {
            changes.uevents().close(); // never started
        }
        synchronized (this) {
            if (devVfioWatch != null) {
                devVfioWatch.close();
            }
        }
        if (loop != null) {
            loop.interrupt();
            try {
                loop.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
