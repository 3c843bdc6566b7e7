package com.example.vfio.agent;

import com.example.vfio.api.BindResult;
import com.example.vfio.api.BindState;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.binding.BindPlan;
import com.example.vfio.binding.BindingEngine;
import com.example.vfio.binding.BindingJournal;
import com.example.vfio.binding.DeviceOutcome;
import com.example.vfio.pci.HostReadException;
import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.plugin.GroupAllocations;
import com.example.vfio.plugin.GroupLockOverlay;
import com.example.vfio.plugin.PublishedDevice;
import com.example.vfio.plugin.PublishedResource;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cluster mode's loop, the hands of the operator: when the spec changes (or the host or the allocations
 * under the desired devices change, or a step the kernel failed is due for another try) it moves the
 * devices to their desired drivers with the binding engine, has the kubelet side rescan, and hands the
 * node's status to the publisher. Refusals are not retried until something they depend on changes. Every event is
 * handed to one owner thread; nothing here waits on the API server.
 */
public final class NodeAgent implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NodeAgent.class);

    private final HostRoot root;
    private final BindingEngine engine;
    private final Rescanner rescanner;
    private final Supplier<Map<String, GroupAllocations.Hold>> holds;
    private final NodeStatusPublisher publisher;
    private final NodeEvents events;
    private final Clock clock;
    private final Duration failedBindRetry;
    private final NodeStatusBuilder builder = new NodeStatusBuilder();
    private final ExecutorService owner;

    // owned by the owner thread
    private NodeSpec spec = NodeSpec.absent();
    private HostAssessment assessment;
    private List<PublishedResource> resources = List.of();
    private final Map<String, DeviceOutcome> outcomes = new TreeMap<>();
    private Object boundFingerprint;
    private boolean bindNeeded;
    private boolean fingerprintNextRescan;
    /** The spec changed after the last rescan: what the kubelet side publishes under it is not known yet. */
    private boolean rescanBehindSpec;
    private Instant failedBindAt;
    private boolean passQueued;
    private VfioNodeStateStatus lastBuilt;
    private StatusInputsKey lastBuiltFrom;

    /** Has the kubelet side rescan now, on the calling thread ({@link NodeDaemon#rescanNow()}). */
    @FunctionalInterface
    public interface Rescanner {
        void rescanNow();
    }

    /**
     * @param engine          null: binding is off on this node, every desired device is only checked and
     *                        published, as with {@code managed: false}
     * @param holds           the plugin's group holds ({@link GroupAllocations#holds()}): what is allocated is
     *                        never rebound, and the status names who holds what
     * @param events          where a device's move, refusal or failure is told (an Event on the node state)
     * @param failedBindRetry a bind step the kernel failed (not a refusal) is tried again on the first rescan
     *                        after this long
     */
    public NodeAgent(HostRoot root, BindingEngine engine, Rescanner rescanner,
            Supplier<Map<String, GroupAllocations.Hold>> holds, NodeStatusPublisher publisher, NodeEvents events,
            Clock clock, Duration failedBindRetry) {
        this.root = Objects.requireNonNull(root);
        this.engine = engine;
        this.rescanner = Objects.requireNonNull(rescanner);
        this.holds = Objects.requireNonNull(holds);
        this.publisher = Objects.requireNonNull(publisher);
        this.events = Objects.requireNonNull(events);
        this.clock = Objects.requireNonNull(clock);
        this.failedBindRetry = Objects.requireNonNull(failedBindRetry);
        this.owner = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "vfio-node-agent");
            t.setDaemon(true);
            return t;
        });
    }

    /** From the informer: the spec as it is now. */
    public void specChanged(NodeSpec newSpec) {
        owner.execute(() -> {
            LOG.info("VfioNodeState spec {}: {} desired device(s)",
                    newSpec.exists() ? "generation " + newSpec.generation() : "absent", newSpec.devices().size());
            if (newSpec.exists() && !Objects.equals(newSpec.uid(), spec.uid())) {
                publisher.rewriteNextTime(); // (re)created: its status starts empty whatever we wrote before
            }
            spec = newSpec;
            bindNeeded = true;
            rescanBehindSpec = true;
            queuePass();
        });
    }

    /** From the kubelet side after each rescan ({@link NodeDaemon.RescanListener}). */
    public void rescanned(HostAssessment newAssessment, List<PublishedResource> newResources) {
        owner.execute(() -> {
            assessment = newAssessment;
            resources = List.copyOf(newResources);
            rescanBehindSpec = false;
            if (fingerprintNextRescan) {
                fingerprintNextRescan = false; // the rescan right after a bind pass: what binding left
                boundFingerprint = fingerprint(newAssessment);
            } else if (!Objects.equals(fingerprint(newAssessment), boundFingerprint)
                    || (failedBindAt != null && !clock.instant().isBefore(failedBindAt.plus(failedBindRetry)))) {
                bindNeeded = true;
            }
            queuePass();
        });
    }

    private void queuePass() {
        if (!passQueued) {
            passQueued = true;
            owner.execute(this::pass);
        }
    }

    private void pass() {
        passQueued = false;
        if (assessment == null) {
            return; // the first rescan has not happened yet
        }
        if (bindNeeded) {
            bindNeeded = false;
            if (engine != null && !spec.devices().isEmpty()) {
                bind();
                rescanner.rescanNow(); // comes back as rescanned(): the status of the new state follows
                return;
            }
            if (rescanBehindSpec) {
                // nothing to bind, but the status of this generation must say what is published under it
                fingerprintNextRescan = true;
                rescanner.rescanNow();
                return;
            }
            boundFingerprint = fingerprint(assessment);
        }
        publishStatus(false);
    }

    private void bind() {
        publishStatus(true);
        try {
            HostAssessment fresh = new ViabilityAnalyzer().assess(new SysfsScanner(root).scan());
            BindPlan plan = engine.plan(fresh, spec.devices());
            List<DeviceOutcome> done = engine.apply(plan);
            failedBindAt = done.stream().anyMatch(o -> o.state() == BindState.Failed) ? clock.instant() : null;
            outcomes.keySet().retainAll(spec.devices().stream().map(DesiredDevice::getAddress).toList());
            for (DeviceOutcome o : done) {
                announce(outcomes.put(o.address(), o), o);
                if (o.isProblem()) {
                    LOG.warn("{}: {} binding {}: {}", o.address(), o.state(), o.desiredDriver(), o.message());
                } else if (o.fromDriver() == null ? o.toDriver() != null : !o.fromDriver().equals(o.toDriver())) {
                    LOG.info("{}: {}", o.address(), o.message());
                }
            }
            fingerprintNextRescan = true;
        } catch (HostReadException e) {
            LOG.error("cannot read the host to bind devices: {}", e.getMessage());
        }
    }

    /**
     * An Event when binding did something a person should see: a device moved (each time), or a refusal or failure
     * that is new (the same one again, as a failed step is retried, is not news).
     */
    private void announce(DeviceOutcome before, DeviceOutcome now) {
        boolean moved = now.state() == BindState.Bound && !Objects.equals(now.fromDriver(), now.toDriver());
        if (spec.uid() == null || (!moved && !now.isProblem())) {
            return;
        }
        if (!moved && before != null && before.state() == now.state() && Objects.equals(before.message(), now.message())) {
            return;
        }
        boolean toHost = spec.devices().stream().anyMatch(d -> d.getAddress().equals(now.address()) && d.isHost());
        String reason = moved ? (toHost ? "Restored" : "Bound") : now.state() == BindState.Refused ? "BindRefused" : "BindFailed";
        events.record(spec.uid(), moved ? NodeEvents.NORMAL : NodeEvents.WARNING, reason, now.address() + ": " + now.message());
    }

    /**
     * What binding depends on: the spec, the drivers of the desired devices and the allocations. When it
     * is the same as after the last bind pass, nothing would change, so no pass runs.
     */
    private Object fingerprint(HostAssessment a) {
        Map<String, String> drivers = new TreeMap<>();
        for (DesiredDevice d : spec.devices()) {
            PciDevice device = PciAddress.isValid(d.getAddress())
                    ? a.snapshot().devices().get(PciAddress.parse(d.getAddress())) : null;
            drivers.put(d.getAddress(), device == null ? "(absent)" : String.valueOf(device.driver()));
        }
        return List.of(spec, drivers, holds.get().keySet());
    }

    private void publishStatus(boolean binding) {
        Map<String, GroupAllocations.Hold> held = holds.get();
        Map<PciAddress, String> hostDrivers = engine == null ? Map.of() : hostDrivers(engine.journal());
        StatusInputsKey key = new StatusInputsKey(assessment, resources, held, spec, List.copyOf(outcomes.values()),
                hostDrivers, binding);
        if (key.sameAs(lastBuiltFrom)) {
            return; // every rescan of an unchanged host comes here: the status it would build is the last one
        }
        List<BindResult> results = outcomes.values().stream().map(DeviceOutcome::toBindResult).toList();
        List<DesiredDevice> desired = engine != null ? spec.devices() : spec.devices().stream()
                .map(NodeAgent::unmanaged).toList();
        StatusInputs in = new StatusInputs(assessment, desired, spec.generation(), publications(held), results,
                hostDrivers, binding, null, clock.instant());
        lastBuilt = builder.build(in, lastBuilt);
        lastBuiltFrom = key;
        publisher.offer(lastBuilt);
    }

    /** What the last status was built from; the assessment by identity (the scanner reuses an unchanged one). */
    private record StatusInputsKey(HostAssessment assessment, List<PublishedResource> resources,
            Map<String, GroupAllocations.Hold> holds, NodeSpec spec, List<DeviceOutcome> outcomes,
            Map<PciAddress, String> hostDrivers, boolean binding) {
        boolean sameAs(StatusInputsKey other) {
            return other != null && other.assessment == assessment && other.resources.equals(resources)
                    && other.holds.equals(holds) && other.spec.equals(spec) && other.outcomes.equals(outcomes)
                    && other.hostDrivers.equals(hostDrivers) && other.binding == binding;
        }
    }

    /**
     * What the kubelet sees per address: the host view with the allocation holds laid over it. For a DRA resource the
     * scheduler keeps a prepared claim's group siblings apart (their group's counter is used up): they stay Healthy
     * and say whom they are held with; only a device plugin pod's hold makes a DRA device unusable (its taint).
     */
    private Map<PciAddress, DevicePublication> publications(Map<String, GroupAllocations.Hold> held) {
        Map<PciAddress, DevicePublication> out = new HashMap<>();
        for (PublishedResource r : resources) {
            List<PublishedDevice> units = r.isDra() ? r.devices() : GroupLockOverlay.apply(r, held).devices();
            for (PublishedDevice d : units) {
                GroupAllocations.Hold hold = d.iommuGroup() == null ? null : held.get(d.iommuGroup());
                boolean healthy = d.healthy();
                String reason = d.reason();
                if (r.isDra() && healthy && hold != null && hold.claim() == null) {
                    healthy = false;
                    reason = "IOMMU group " + hold.group() + " is allocated with " + hold.holders() + " to a pod's "
                            + hold.resource() + " (device plugin)";
                }
                for (String address : d.addresses()) {
                    String allocatedTo = null;
                    if (hold != null && hold.addresses().contains(address)) {
                        // one word each: the status line's held= takes no spaces; the hold names the full resource
                        allocatedTo = hold.claim() != null ? "claim:" + hold.claim().name() : hold.resource();
                    } else if (hold != null) {
                        allocatedTo = "with:" + hold.holders();
                    }
                    out.put(PciAddress.parse(address), new DevicePublication(r.name(), healthy,
                            healthy ? null : reason, allocatedTo, r.isDra()));
                }
            }
        }
        return out;
    }

    private static DesiredDevice unmanaged(DesiredDevice d) {
        DesiredDevice copy = d.copy();
        copy.setManaged(false);
        return copy;
    }

    private static Map<PciAddress, String> hostDrivers(BindingJournal journal) {
        Map<PciAddress, String> out = new LinkedHashMap<>();
        journal.entries().forEach((address, entry) -> {
            if (entry.originalDriver() != null) {
                out.put(address, entry.originalDriver());
            }
        });
        return out;
    }

    @Override
    public void close() {
        owner.shutdownNow();
        try {
            owner.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
