package com.example.vfio.plugin;

import com.example.vfio.pci.PciAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one owner of allocation state: which IOMMU groups are held by an allocation, and by which units.
 * Both kubelet APIs take their holds here, so one device never goes to a device-plugin pod and a DRA claim at once.
 *
 * <p>A group is never split between containers: once Allocate hands out a unit, every other unit of its
 * group is refused (and published Unhealthy) until the PodResources API shows that no pod holds the
 * allocated units any more. The kubelet records an allocation only after Allocate returns, so a hold
 * younger than {@code grace} is never released; when PodResources cannot be reached nothing is released.
 *
 * <p>A DRA claim's holds ({@link #acquireForClaim}) are taken when the kubelet prepares the claim and given back
 * only when it unprepares it ({@link #releaseClaim}): the kubelet calls NodeUnprepareResources once the last pod
 * using the claim is gone, so PodResources never releases them.
 */
public final class GroupAllocations {

    private static final Logger LOG = LoggerFactory.getLogger(GroupAllocations.class);

    /**
     * One held group. {@code units} are the unit IDs of {@code resource} that were allocated in it.
     *
     * @param claim the DRA claim that holds the group; null for a device plugin allocation
     */
    public record Hold(String group, String resource, Set<String> units, Set<String> addresses, Instant since,
                       DraClaim claim) {
        public Hold {
            units = Set.copyOf(units);
            addresses = Set.copyOf(new TreeSet<>(addresses));
        }

        /** Who holds it, for a person: the claim ({@code claim default/vm-gpu}) or the resource. */
        public String holder() {
            return claim == null ? resource : "claim " + claim.name();
        }

        /** The held addresses, sorted, comma-joined: how a person reads "held with ...". */
        public String holders() {
            return String.join(",", new TreeSet<>(addresses));
        }
    }

    /** One unit an Allocate request asks for. */
    public record Claim(String unit, String group, List<String> addresses) {
        public Claim {
            Objects.requireNonNull(unit, "unit");
            addresses = List.copyOf(addresses);
        }
    }

    /** A claim of a running pod found at startup, for {@link #recover}. */
    public record Recovered(String resource, Claim claim) {
    }

    /**
     * A prepared DRA ResourceClaim.
     *
     * @param uid  the claim's uid: what identifies it (a claim deleted and created again under its name is another one)
     * @param name {@code namespace/name}, for people
     */
    public record DraClaim(String uid, String name) {
        public DraClaim {
            Objects.requireNonNull(uid, "uid");
            Objects.requireNonNull(name, "name");
        }
    }

    /** One unit of a DRA claim: the resource it was published under and what it holds. */
    public record ClaimedUnit(String resource, Claim unit) {
        public ClaimedUnit {
            Objects.requireNonNull(resource, "resource");
            Objects.requireNonNull(unit, "unit");
        }
    }

    /** A unit a running pod holds, as PodResources lists it. */
    public record InUse(String resource, String unit) {
    }

    /** Thrown when an Allocate must be refused; nothing was recorded. */
    public static final class RefusedException extends Exception {
        private static final long serialVersionUID = 1L;

        public RefusedException(String message) {
            super(message, null, false, false);
        }
    }

    private final Clock clock;
    private final Duration grace;
    private final Map<String, Hold> holds = new LinkedHashMap<>();
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private Boolean podResourcesReachable;

    public GroupAllocations(Clock clock, Duration grace) {
        this.clock = Objects.requireNonNull(clock);
        this.grace = Objects.requireNonNull(grace);
    }

    /** Called (outside the lock) after holds were acquired or released. */
    public void onChange(Runnable listener) {
        listeners.add(listener);
    }

    /**
     * Records the claims of one Allocate request atomically: all of them, or none and a refusal naming the
     * unit and the reason.
     */
    public void acquire(String resource, List<Claim> claims) throws RefusedException {
        Instant now = clock.instant();
        boolean changed = false;
        synchronized (this) {
            for (Claim c : claims) {
                if (c.group() == null) {
                    throw new RefusedException(c.unit() + ": the device has no IOMMU group");
                }
                Hold h = holds.get(c.group());
                if (h != null && h.claim() != null) {
                    throw new RefusedException(c.unit() + ": IOMMU group " + c.group() + " is held with "
                            + h.holders() + " by DRA " + h.holder());
                }
                if (h != null && !(h.resource().equals(resource) && h.units().contains(c.unit()))) {
                    throw new RefusedException(c.unit() + ": IOMMU group " + c.group() + " is held with "
                            + h.holders() + " by another container");
                }
            }
            for (Claim c : claims) {
                Hold h = holds.get(c.group());
                Hold renewed = joined(h, resource, c, now, null);
                changed |= h == null || !h.units().equals(renewed.units()) || !h.addresses().equals(renewed.addresses());
                holds.put(c.group(), renewed);
            }
        }
        // a container allocated again (a restart) only renews its holds' time: nothing the kubelet sees changes
        if (changed) {
            fire();
        }
    }

    /**
     * Records the devices of one DRA claim atomically: all of them, or none and a refusal naming the unit and the
     * reason. Preparing the same claim again (the kubelet retries) changes nothing.
     */
    public void acquireForClaim(DraClaim claim, List<ClaimedUnit> units) throws RefusedException {
        Instant now = clock.instant();
        boolean changed = false;
        synchronized (this) {
            for (ClaimedUnit u : units) {
                Claim c = u.unit();
                if (c.group() == null) {
                    throw new RefusedException(c.unit() + ": the device has no IOMMU group");
                }
                Hold h = holds.get(c.group());
                if (heldByAnother(h, claim)) {
                    throw new RefusedException(c.unit() + ": IOMMU group " + c.group() + " is held with "
                            + h.holders() + " by " + (h.claim() == null ? "a pod's " + h.resource() + " (device plugin)"
                            : h.holder()));
                }
            }
            for (ClaimedUnit u : units) {
                Claim c = u.unit();
                Hold h = holds.get(c.group());
                Hold joined = joined(h, u.resource(), c, h == null ? now : h.since(), claim);
                changed |= !joined.equals(h);
                holds.put(c.group(), joined);
            }
        }
        if (changed) {
            fire();
        }
    }

    /** A hold that is not this claim's: a device plugin allocation or another claim. */
    private static boolean heldByAnother(Hold h, DraClaim claim) {
        return h != null && (h.claim() == null || !h.claim().uid().equals(claim.uid()));
    }

    /** Gives back every group of the claim (NodeUnprepareResources); an unknown claim changes nothing. */
    public List<Hold> releaseClaim(String claimUid) {
        List<Hold> released = new ArrayList<>();
        synchronized (this) {
            var it = holds.values().iterator();
            while (it.hasNext()) {
                Hold h = it.next();
                if (h.claim() != null && h.claim().uid().equals(claimUid)) {
                    it.remove();
                    released.add(h);
                }
            }
        }
        if (!released.isEmpty()) {
            fire();
        }
        return released;
    }

    /**
     * Takes up the holds of claims prepared before this daemon started (from the driver's checkpoint). Never refuses;
     * a group already held by someone else is logged and left to that holder.
     */
    public void recoverClaim(DraClaim claim, List<ClaimedUnit> units) {
        Instant now = clock.instant();
        boolean changed = false;
        synchronized (this) {
            for (ClaimedUnit u : units) {
                Claim c = u.unit();
                if (c.group() == null) {
                    continue;
                }
                Hold h = holds.get(c.group());
                if (heldByAnother(h, claim)) {
                    LOG.warn("IOMMU group {} of prepared claim {} is also held with {} by {}", c.group(), claim.name(),
                            h.holders(), h.holder());
                    continue;
                }
                holds.put(c.group(), joined(h, u.resource(), c, now, claim));
                changed = true;
            }
        }
        if (changed) {
            LOG.info("prepared claim {} holds {}: its IOMMU groups stay locked", claim.name(),
                    String.join(",", units.stream().flatMap(u -> u.unit().addresses().stream()).toList()));
            fire();
        }
    }

    /** The group's hold (null: none yet) with the claim's unit and addresses added, taken at {@code now}. */
    private static Hold joined(Hold held, String resource, Claim c, Instant now, DraClaim claim) {
        Set<String> units = new LinkedHashSet<>();
        Set<String> addresses = new LinkedHashSet<>();
        if (held != null) {
            units.addAll(held.units());
            addresses.addAll(held.addresses());
        }
        units.add(c.unit());
        addresses.addAll(c.addresses());
        return new Hold(c.group(), resource, units, addresses, now, claim);
    }

    /**
     * Takes up the holds of pods that were given devices before this daemon started (it restarted): without
     * them a group sibling of a running VM's device could be handed to another pod. Never refuses; a group
     * that running pods already split (another plugin, or no lock before) is logged.
     */
    public void recover(List<Recovered> running) {
        Instant now = clock.instant();
        List<String> taken = new ArrayList<>();
        synchronized (this) {
            for (Recovered r : running) {
                Claim c = r.claim();
                if (c.group() == null) {
                    continue;
                }
                Hold h = holds.get(c.group());
                if (h != null && (h.claim() != null || !h.resource().equals(r.resource()))) {
                    LOG.warn("IOMMU group {} is already split between running pods: {} ({}) and {} ({})", c.group(),
                            h.holders(), h.resource(), String.join(",", c.addresses()), r.resource());
                    continue;
                }
                holds.put(c.group(), joined(h, r.resource(), c, now, null));
                taken.add(c.unit() + " (group " + c.group() + ")");
            }
        }
        if (!taken.isEmpty()) {
            LOG.info("running pods hold {}: their IOMMU groups stay locked", String.join(", ", taken));
            fire();
        }
    }

    /**
     * Releases the holds none of whose units a running pod holds any more, according to one successful
     * PodResources List taken at {@code listedAt}.
     *
     * @return the released holds
     */
    public List<Hold> reconcile(Collection<InUse> inUse, Instant listedAt) {
        Set<InUse> used = Set.copyOf(inUse);
        List<Hold> released = new ArrayList<>();
        synchronized (this) {
            podResourcesReachable = true;
            var it = holds.values().iterator();
            while (it.hasNext()) {
                Hold h = it.next();
                if (h.claim() != null) {
                    continue; // a prepared claim is given back by NodeUnprepareResources, not by PodResources
                }
                boolean stillUsed = h.units().stream().anyMatch(u -> used.contains(new InUse(h.resource(), u)));
                boolean young = listedAt.isBefore(h.since().plus(grace));
                if (!stillUsed && !young) {
                    it.remove();
                    released.add(h);
                }
            }
        }
        for (Hold h : released) {
            LOG.info("released IOMMU group {} ({} of {}): no pod holds it any more", h.group(), h.holders(),
                    h.resource());
        }
        if (!released.isEmpty()) {
            fire();
        }
        return released;
    }

    /** PodResources could not be listed: every hold stays (safe); logged once per outage. */
    public void podResourcesUnreachable(String why) {
        boolean first;
        int held;
        synchronized (this) {
            first = !Boolean.FALSE.equals(podResourcesReachable);
            podResourcesReachable = false;
            held = holds.size();
        }
        if (first && held == 0) {
            LOG.warn("PodResources API unreachable ({}): IOMMU groups of pods that already run are not known"
                    + " until it answers", why);
        } else if (first) {
            LOG.warn("PodResources API unreachable ({}): keeping all {} IOMMU group hold(s) until it answers",
                    why, held);
        }
    }

    /** Whether the last PodResources List succeeded (true before the first attempt). */
    public synchronized boolean podResourcesReachable() {
        return !Boolean.FALSE.equals(podResourcesReachable);
    }

    /** The holds by group ID, a snapshot. */
    public synchronized Map<String, Hold> holds() {
        return Map.copyOf(holds);
    }

    /** Whether any hold is a device plugin allocation, the only kind PodResources can release. */
    public synchronized boolean hasPodHolds() {
        return holds.values().stream().anyMatch(h -> h.claim() == null);
    }

    /** Every PCI address in a held group's allocation: what the binding engine must never rebind. */
    public synchronized Set<String> heldAddresses() {
        Set<String> all = new TreeSet<>();
        holds.values().forEach(h -> all.addAll(h.addresses()));
        return Set.copyOf(all);
    }

    /** {@link #heldAddresses()} as PCI addresses: what the binding engine must never rebind. */
    public Set<PciAddress> heldDevices() {
        Set<PciAddress> all = new TreeSet<>();
        heldAddresses().forEach(a -> all.add(PciAddress.parse(a)));
        return Set.copyOf(all);
    }

    /**
     * Who holds a device through an allocation of ours, for the binding engine's guards
     * ({@code allocations::holderOf} is a {@code binding.DeviceHolders}); empty when nobody does.
     */
    public Optional<String> holderOf(PciAddress address) {
        String a = address.toString();
        synchronized (this) {
            for (Hold h : holds.values()) {
                if (h.addresses().contains(a)) {
                    return Optional.of((h.claim() == null ? "an allocation of " + h.resource()
                            : "DRA " + h.holder() + " of " + h.resource()) + " (IOMMU group " + h.group() + ")");
                }
            }
        }
        return Optional.empty();
    }

    /** The hold on a group that blocks {@code unit} of {@code resource}, or null when the unit is free. */
    public static Hold blocking(Map<String, Hold> holds, String resource, String unit, String group) {
        if (group == null) {
            return null;
        }
        Hold h = holds.get(group);
        if (h == null || (h.claim() == null && h.resource().equals(resource) && h.units().contains(unit))) {
            return null;
        }
        return h;
    }

    private void fire() {
        for (Runnable r : listeners) {
            r.run();
        }
    }
}
