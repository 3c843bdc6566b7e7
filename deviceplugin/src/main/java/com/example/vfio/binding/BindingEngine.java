package com.example.vfio.binding;

import com.example.vfio.api.BindState;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.Drivers;
import com.example.vfio.binding.BindingJournal.Entry;
import com.example.vfio.binding.BindingJournal.Step;
import com.example.vfio.binding.ModuleLoader.ModuleLoadException;
import com.example.vfio.binding.PlannedChange.Action;
import com.example.vfio.binding.SysfsWriteException.Errno;
import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.InvalidNameException;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.VfioDriverTest;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves devices between drivers the way driverctl and libvirt do, built like a transaction system:
 * <ol>
 * <li>{@link #plan} decides per desired device what to do, resolving {@code auto}, and runs every
 * {@link BindingGuards safety check}; a refused device is never touched.</li>
 * <li>{@link #apply} carries out the plan one IOMMU group at a time (companions before the device they
 * accompany when binding, after it when giving back, so a group ends viable), one device at a time:
 * {@code modprobe}, journal, {@code driver_override}, unbind, {@code drivers_probe}, verify (driver link
 * and {@code vfio-dev/}). A failed step rolls the device back to where it was and says why; one
 * device's failure never stops the others.</li>
 * <li>{@link #recover} finishes or rolls back a step a crash interrupted, from the journal.</li>
 * </ol>
 * Every method is synchronized, and {@link #apply} and {@link #recover} hold the journal's node-wide
 * lock: the engine owns the journal and the host's binding state, and at most one bind runs at a time
 * on the node, even with a second vfio-node process (an admin's {@code apply} next to the daemon).
 */
public final class BindingEngine {
    private static final Logger LOG = LoggerFactory.getLogger(BindingEngine.class);
    static final String ACTION_BIND = "bind";
    static final String ACTION_HOST = "host";
    public static final Duration DEFAULT_LOCK_WAIT = Duration.ofSeconds(30);

    private final HostRoot root;
    private final PciSysfs sysfs;
    private final DriverResolver resolver;
    private final BindingJournal journal;
    private final DeviceHolders holders;
    private final Clock clock;
    private final Duration lockWait;

    public BindingEngine(HostRoot root, SysfsWriter writer, ModuleLoader modules, BindingJournal journal,
            DeviceHolders holders, Clock clock) {
        this(root, writer, modules, journal, holders, clock, DEFAULT_LOCK_WAIT);
    }

    /** @param lockWait how long to wait for another vfio-node process that holds the binding lock */
    public BindingEngine(HostRoot root, SysfsWriter writer, ModuleLoader modules, BindingJournal journal,
            DeviceHolders holders, Clock clock, Duration lockWait) {
        this.lockWait = lockWait;
        this.root = root;
        this.sysfs = new PciSysfs(root, writer);
        this.resolver = new DriverResolver(sysfs, modules);
        this.journal = journal;
        this.holders = holders;
        this.clock = clock;
    }

    public BindingJournal journal() {
        return journal;
    }

    // ---- planning ------------------------------------------------------------------------------

    /** Decides what to do for each desired device; reads the host, changes nothing. */
    public synchronized BindPlan plan(HostAssessment assessment, List<DesiredDevice> desired) {
        journal.reload();
        HostSnapshot snapshot = assessment.snapshot();
        VfioDriverTest vfio = VfioDriverTest.of(snapshot);
        BindingGuards guards = new BindingGuards(sysfs, holders);
        List<PlannedChange> changes = new ArrayList<>();
        for (DesiredDevice d : desired) {
            changes.add(planOne(d, snapshot, vfio, guards));
        }
        changes.addAll(companionsToGiveBack(desired, snapshot, vfio, guards));
        List<String> notes = new ArrayList<>();
        journal.entries().forEach((address, entry) -> {
            if (entry.step() != null) {
                notes.add("the journal has an unfinished " + entry.step().action() + " step for " + address + " (at "
                        + entry.step().phase() + ", started " + entry.step().started() + "): it is finished or rolled"
                        + " back before anything else");
            }
        });
        return new BindPlan(changes, notes, kernelHasVfioDev(snapshot.kernelRelease()));
    }

    private PlannedChange planOne(DesiredDevice d, HostSnapshot snapshot, VfioDriverTest vfio, BindingGuards guards) {
        String rawAddress = d.getAddress();
        String word = d.getDriver();
        if (!PciAddress.isValid(rawAddress)) {
            return refused(rawAddress, word, null, null, d, "not a PCI address (dddd:bb:ss.f): " + quote(rawAddress));
        }
        if (!Drivers.isValidName(word)) {
            return refused(rawAddress, word, null, null, d, "not a driver name: " + quote(word));
        }
        PciAddress address = PciAddress.parse(rawAddress);
        Optional<PciDevice> found = snapshot.device(address);
        if (found.isEmpty()) {
            return refused(address.toString(), word, null, null, d, "no such PCI device on this node");
        }
        PciDevice device = found.get();
        Optional<String> unknown = guards.unknownDriver(device);
        if (unknown.isPresent()) {
            return refused(address.toString(), word, null, device.iommuGroup(), d, unknown.get());
        }
        String current = device.driver();
        boolean onVfio = vfio.isVfioDriver(device);

        if (Drivers.HOST.equals(word)) {
            Optional<Entry> entry = journal.entry(address);
            boolean back = entry.map(e -> Objects.equals(e.original().driver(), current)).orElse(!onVfio);
            if (back) {
                return new PlannedChange(address.toString(), word, Action.UNCHANGED, current, null,
                        current == null ? "driverless, as it was" : "on its host driver " + current, device.iommuGroup(),
                        d.getCompanionOf(), d.effectiveForce());
            }
            if (!d.effectiveManaged()) {
                return reportOnly(d, device, onVfio);
            }
            Optional<String> refusal = guards.beforeRelease(device);
            if (refusal.isPresent()) {
                return refused(address.toString(), word, current, device.iommuGroup(), d, refusal.get());
            }
            String whereTo = (d.isCompanion() ? "companion of " + d.getCompanionOf() + ", given back with it: " : "")
                    + entry.map(e -> e.original().describe() + ", as the journal recorded before binding")
                            .orElse("the driver the kernel picks without an override (the journal has no record of it)");
            return new PlannedChange(address.toString(), word, Action.RELEASE, current,
                    new DriverTarget(null, entry.map(e -> e.original().driver()).orElse(null), whereTo), whereTo,
                    device.iommuGroup(), d.getCompanionOf(), d.effectiveForce());
        }

        DriverTarget target;
        try {
            target = resolver.preview(device, word, snapshot);
        } catch (InvalidNameException e) {
            return refused(address.toString(), word, current, device.iommuGroup(), d, e.getMessage());
        }
        String why = d.isCompanion() ? "companion of " + d.getCompanionOf() + ": IOMMU group " + device.iommuGroup()
                + " is viable only when all of it is on VFIO drivers" : target.why();
        target = new DriverTarget(target.module(), target.driver(), why);
        if (DriverResolver.isOn(device, target)) {
            return new PlannedChange(address.toString(), word, Action.UNCHANGED, current, target,
                    "already on " + current + "; " + why, device.iommuGroup(), d.getCompanionOf(),
                    d.effectiveForce());
        }
        if (!d.effectiveManaged()) {
            return reportOnly(d, device, onVfio);
        }
        Optional<String> refusal = guards.beforeBind(device, d.effectiveForce());
        if (refusal.isPresent()) {
            return refused(address.toString(), word, current, device.iommuGroup(), d, refusal.get());
        }
        return new PlannedChange(address.toString(), word, Action.BIND, current, target, why, device.iommuGroup(),
                d.getCompanionOf(), d.effectiveForce());
    }

    /**
     * Companions bound along with a device go back with it: when a device is wanted on its host
     * driver, so is every device the journal says was bound as its companion, unless the desired
     * list says otherwise about that device.
     */
    private List<PlannedChange> companionsToGiveBack(List<DesiredDevice> desired, HostSnapshot snapshot,
            VfioDriverTest vfio, BindingGuards guards) {
        Set<String> listed = new HashSet<>();
        Set<String> released = new TreeSet<>();
        for (DesiredDevice d : desired) {
            listed.add(d.getAddress());
            if (Drivers.HOST.equals(d.getDriver()) && d.effectiveManaged()) {
                released.add(d.getAddress());
            }
        }
        List<PlannedChange> extra = new ArrayList<>();
        journal.entries().forEach((address, entry) -> {
            if (entry.companionOf() != null && released.contains(entry.companionOf())
                    && !listed.contains(address.toString())) {
                DesiredDevice implied = new DesiredDevice(address.toString(), Drivers.HOST, null, null, null, true, null,
                        entry.companionOf());
                extra.add(planOne(implied, snapshot, vfio, guards));
            }
        });
        return extra;
    }

    private static PlannedChange reportOnly(DesiredDevice d, PciDevice device, boolean onVfio) {
        String now = device.driver() == null ? "driverless" : "on " + device.driver();
        return new PlannedChange(device.address().toString(), d.getDriver(), Action.REPORT_ONLY, device.driver(), null,
                "managed: false, so never rebound: left " + now + (onVfio ? " (a VFIO driver)"
                        : ", not a VFIO driver, so it is not offered to VMs"), device.iommuGroup(), d.getCompanionOf(),
                d.effectiveForce());
    }

    private static PlannedChange refused(String address, String word, String current, String group, DesiredDevice d,
            String why) {
        return new PlannedChange(address, word, Action.REFUSED, current, null, why, group, d.getCompanionOf(),
                d.effectiveForce());
    }

    // ---- applying ------------------------------------------------------------------------------

    /**
     * Carries out a plan: recovers unfinished journal steps first, then one group at a time. The
     * outcomes come back in address order, one per planned device (plus any recovered device).
     */
    public synchronized List<DeviceOutcome> apply(BindPlan plan) {
        try (BindingJournal.Lock lock = journal.lock(lockWait)) {
            return applyLocked(plan);
        }
    }

    private List<DeviceOutcome> applyLocked(BindPlan plan) {
        Map<String, DeviceOutcome> outcomes = new TreeMap<>();
        for (DeviceOutcome recovered : recoverSteps()) {
            outcomes.put(recovered.address(), recovered);
        }
        Map<String, List<PlannedChange>> byGroup = new LinkedHashMap<>();
        plan.changes().stream().sorted(Comparator.comparing(PlannedChange::address))
                .forEach(c -> byGroup.computeIfAbsent(c.group() == null ? "device " + c.address() : "group " + c.group(),
                        g -> new ArrayList<>()).add(c));
        for (List<PlannedChange> group : byGroup.values()) {
            // who holds a device can change between plan and apply: each group gets a fresh look
            BindingGuards guards = new BindingGuards(sysfs, holders);
            group.sort(Comparator.comparingInt(BindingEngine::orderInGroup));
            for (PlannedChange change : group) {
                DeviceOutcome outcome;
                try {
                    outcome = carryOut(change, guards, plan.requireVfioDev());
                } catch (RuntimeException e) {
                    LOG.warn("binding {} failed unexpectedly", change.address(), e);
                    outcome = outcome(change, BindState.Failed, change.currentDriver(),
                            "failed unexpectedly: " + e.getMessage() + "; see the node daemon's log");
                }
                outcomes.merge(outcome.address(), outcome, (recovered, now) -> now.state() == BindState.Unchanged
                        ? new DeviceOutcome(now.address(), now.desiredDriver(), recovered.state(), recovered.fromDriver(),
                                now.toDriver(), recovered.message() + "; " + now.message(), now.time())
                        : now);
            }
        }
        return List.copyOf(outcomes.values());
    }

    /** Companions are bound before the device they accompany, and given back after it. */
    private static int orderInGroup(PlannedChange c) {
        boolean companion = c.companionOf() != null;
        if (c.action() == Action.BIND) {
            return companion ? 0 : 1;
        }
        if (c.action() == Action.RELEASE) {
            return companion ? 3 : 2;
        }
        return 4;
    }

    private DeviceOutcome carryOut(PlannedChange change, BindingGuards guards, boolean requireVfioDev) {
        switch (change.action()) {
            case UNCHANGED:
                forgetIfBackToOriginal(change);
                return outcome(change, BindState.Unchanged, change.currentDriver(), change.why());
            case REPORT_ONLY:
                return outcome(change, BindState.Unchanged, change.currentDriver(), change.why());
            case REFUSED:
                return outcome(change, BindState.Refused, change.currentDriver(), change.why());
            default:
                break;
        }
        PciAddress address = PciAddress.parse(change.address());
        if (!sysfs.exists(address)) {
            return outcome(change, BindState.Failed, null, "the device vanished before it was bound (hot unplug?)");
        }
        DriverState before = sysfs.stateOf(address);
        // who holds it can change between plan and apply: ask again right before touching it
        Optional<String> held = guards.heldByPod(address)
                .or(() -> guards.openByProcess(address, sysfs.groupOf(address).orElse(null)));
        if (held.isPresent()) {
            return outcome(change, BindState.Refused, before.driver(), held.get());
        }
        if (change.action() == Action.RELEASE) {
            Goal goal = journal.entry(address).map(e -> Goal.backTo(e.original())).orElse(Goal.anyHostDriver());
            return transition(change, address, ACTION_HOST, before, goal, requireVfioDev);
        }
        DriverTarget target;
        try {
            target = resolver.load(change.target());
        } catch (ModuleLoadException e) {
            return outcome(change, BindState.Failed, before.driver(), "cannot load the driver: " + e.getMessage()
                    + "; nothing was changed");
        }
        if (target.driver().equals(before.driver()) && (!requireVfioDev || !sysfs.vfioDevsOf(address).isEmpty())) {
            return outcome(change, BindState.Unchanged, before.driver(), "already on " + before.driver());
        }
        return transition(change, address, ACTION_BIND, before, Goal.exact(target.driver(), target.driver()),
                requireVfioDev);
    }

    /** One journaled change of driver: override, unbind, probe, verify; rolled back when it fails. */
    private DeviceOutcome transition(PlannedChange change, PciAddress address, String action, DriverState before,
            Goal goal, boolean requireVfioDev) {
        journal.begin(address, action, before, goal, "override", change.companionOf());
        String problem;
        try {
            problem = drive(address, goal, true, requireVfioDev && action.equals(ACTION_BIND));
        } catch (SysfsWriteException e) {
            if (e.errno() == Errno.TIMEOUT) {
                return outcome(change, BindState.Failed, sysfs.driverOf(address).orElse(null), e.getMessage()
                        + "; the journal keeps the step, and the next pass finishes or rolls it back");
            }
            problem = e.getMessage() + " (" + e.errno() + ")";
        } catch (RuntimeException e) {
            // e.g. the journal could not be written between two writes: do not leave the device half done
            problem = e.getMessage();
        }
        if (problem == null) {
            DriverState now = sysfs.stateOf(address);
            journal.finish(address, now);
            String what = action.equals(ACTION_BIND) ? "bound to " + now.driver() + " (was "
                    + (before.driver() == null ? "driverless" : before.driver()) + "); " + change.why()
                    : now.driver() == null ? "given back: left driverless, as it was" : "given back to " + now.driver();
            LOG.info("{}: {}", address, what);
            return outcome(change, BindState.Bound, now.driver(), what);
        }
        return rollBack(change, address, before, problem);
    }

    private DeviceOutcome rollBack(PlannedChange change, PciAddress address, DriverState before, String problem) {
        String rolled;
        try {
            String left = drive(address, Goal.backTo(before), false, false);
            DriverState now = sysfs.stateOf(address);
            if (left == null) {
                rolled = "rolled back to " + before.describe();
                try {
                    journal.finish(address, now);
                } catch (RuntimeException e) {
                    rolled += " (the journal could not record that: " + e.getMessage() + ")";
                }
            } else {
                rolled = "rolling back did not restore " + before.describe() + ": " + left
                        + "; the journal keeps the step and the next pass retries";
            }
        } catch (SysfsWriteException | RuntimeException e) {
            rolled = "rolling back failed too: " + e.getMessage() + "; the device is now "
                    + safeState(address) + "; the journal keeps the step and the next pass retries";
        }
        LOG.warn("{}: {}; {}", address, problem, rolled);
        return outcome(change, BindState.Failed, sysfs.driverOf(address).orElse(null), problem + "; " + rolled);
    }

    /**
     * Makes the writes that take the device from where it is now to the goal: the override, an
     * unbind when it is on a driver the goal does not want, a probe when the goal wants a driver.
     *
     * @return null when the goal is reached, else what is wrong
     */
    private String drive(PciAddress address, Goal goal, boolean journaled, boolean requireVfioDev)
            throws SysfsWriteException {
        DriverState now = sysfs.stateOf(address);
        if (!Objects.equals(now.override(), goal.override())) {
            sysfs.writeOverride(address, goal.override());
        }
        if (now.driver() != null && wantsOff(address, now.driver(), goal)) {
            if (journaled) {
                journal.phase(address, "unbind");
            }
            sysfs.unbind(address, now.driver());
            Optional<String> still = sysfs.driverOf(address);
            if (still.isPresent()) {
                return "the unbind from " + now.driver() + " returned, but the device is still on " + still.get();
            }
        }
        if (goal.probes() && sysfs.driverOf(address).isEmpty()) {
            if (journaled) {
                journal.phase(address, "probe");
            }
            sysfs.probe(address);
        }
        return verify(address, goal, requireVfioDev);
    }

    private boolean wantsOff(PciAddress address, String driver, Goal goal) {
        return switch (goal.expect()) {
            case EXACT -> !driver.equals(goal.driver());
            case DRIVERLESS -> true;
            case HOST -> isVfio(address, driver);
        };
    }

    /** Null when the device is where the goal wants it, else what the kernel did instead. */
    private String verify(PciAddress address, Goal goal, boolean requireVfioDev) {
        DriverState now = sysfs.stateOf(address);
        if (!Objects.equals(now.override(), goal.override())) {
            return "driver_override reads " + (now.override() == null ? "(null)" : now.override()) + " after writing "
                    + (goal.override() == null ? "a clear" : goal.override());
        }
        switch (goal.expect()) {
            case EXACT:
                if (now.driver() == null) {
                    return "drivers_probe bound nothing: " + goal.driver() + " did not take the device (its probe"
                            + " failed; the kernel log says why)";
                }
                if (!now.driver().equals(goal.driver())) {
                    return "the kernel bound " + now.driver() + " instead of " + goal.driver();
                }
                if (requireVfioDev && sysfs.vfioDevsOf(address).isEmpty()) {
                    return "bound to " + now.driver() + ", but it has no vfio-dev/: " + now.driver()
                            + " is not a VFIO driver";
                }
                return null;
            case DRIVERLESS:
                return now.driver() == null ? null : "still bound to " + now.driver();
            case HOST:
                return now.driver() != null && isVfio(address, now.driver())
                        ? "the kernel bound " + now.driver() + " again, a VFIO driver (a new_id entry?)" : null;
            default:
                throw new IllegalStateException(goal.expect().toString());
        }
    }

    private boolean isVfio(PciAddress address, String driver) {
        if (!sysfs.vfioDevsOf(address).isEmpty() || VfioDriverTest.VFIO_PCI_DRIVER.equals(driver)) {
            return true;
        }
        HostSnapshot snapshot = new SysfsScanner(root).scan();
        return VfioDriverTest.of(snapshot).isVfioDriverName(driver, sysfs.moduleOfDriver(driver).orElse(null));
    }

    // ---- recovery ------------------------------------------------------------------------------

    /**
     * Finishes or rolls back every step the journal shows in progress (the process died between two
     * writes). Run once at start, before any new step; {@link #apply} does it too.
     */
    public synchronized List<DeviceOutcome> recover() {
        try (BindingJournal.Lock lock = journal.lock(lockWait)) {
            return recoverSteps();
        }
    }

    private List<DeviceOutcome> recoverSteps() {
        List<DeviceOutcome> outcomes = new ArrayList<>();
        for (Map.Entry<PciAddress, Entry> e : journal.entries().entrySet()) {
            Step step = e.getValue().step();
            if (step == null) {
                continue;
            }
            PciAddress address = e.getKey();
            String desired = step.action().equals(ACTION_HOST) ? Drivers.HOST
                    : step.toDriver() == null ? Drivers.AUTO : step.toDriver();
            PlannedChange change = new PlannedChange(address.toString(), desired,
                    step.action().equals(ACTION_HOST) ? Action.RELEASE : Action.BIND, step.fromDriver(), null,
                    "recovery", null, null, false);
            try {
                outcomes.add(recoverOne(change, address, step));
            } catch (RuntimeException ex) {
                LOG.warn("recovering {} failed", address, ex);
                outcomes.add(outcome(change, BindState.Failed, null, "recovering the interrupted " + step.action()
                        + " step failed: " + ex.getMessage()));
            }
        }
        return outcomes;
    }

    private DeviceOutcome recoverOne(PlannedChange change, PciAddress address, Step step) {
        String interrupted = "a " + step.action() + " step was interrupted at " + step.phase() + " (started "
                + step.started() + ")";
        if (!sysfs.exists(address)) {
            journal.forget(address);
            return outcome(change, BindState.Failed, null, interrupted + "; the device is gone, so its journal entry"
                    + " is dropped");
        }
        boolean requireVfioDev = kernelHasVfioDev(new SysfsScanner(root).scan().kernelRelease())
                && step.action().equals(ACTION_BIND);
        Goal goal = step.goal();
        DriverState now = sysfs.stateOf(address);
        if (verify(address, goal, requireVfioDev) == null) {
            journal.finish(address, now);
            return outcome(change, BindState.Bound, now.driver(), interrupted + "; it had completed: on "
                    + now.describe());
        }
        if (now.sameAs(step.from())) {
            journal.finish(address, now);
            return outcome(change, BindState.Unchanged, now.driver(), interrupted + " before it changed anything: still "
                    + now.describe());
        }
        String problem;
        try {
            problem = drive(address, goal, false, requireVfioDev);
        } catch (SysfsWriteException ex) {
            problem = ex.getMessage() + " (" + ex.errno() + ")";
        }
        if (problem == null) {
            DriverState after = sysfs.stateOf(address);
            journal.finish(address, after);
            return outcome(change, BindState.Bound, after.driver(), interrupted + "; finished it: now on "
                    + after.describe() + " (was " + now.describe() + ")");
        }
        return rollBack(change, address, step.from(), interrupted + "; finishing it failed: " + problem);
    }

    // ---- helpers -------------------------------------------------------------------------------

    /**
     * A device wanted on its host driver that is back on its journaled original state by itself (the
     * node rebooted, which clears every driver_override) needs no journal entry any more.
     */
    private void forgetIfBackToOriginal(PlannedChange change) {
        if (!Drivers.HOST.equals(change.desiredDriver())) {
            return;
        }
        PciAddress address = PciAddress.parse(change.address());
        journal.entry(address).filter(e -> e.step() == null && sysfs.stateOf(address).sameAs(e.original()))
                .ifPresent(e -> journal.forget(address));
    }

    private DeviceOutcome outcome(PlannedChange change, BindState state, String toDriver, String message) {
        return new DeviceOutcome(change.address(), change.desiredDriver(), state, change.currentDriver(), toDriver,
                message, clock.instant());
    }

    private String safeState(PciAddress address) {
        try {
            return sysfs.stateOf(address).describe();
        } catch (RuntimeException e) {
            return "unreadable (" + e.getMessage() + ")";
        }
    }

    /** {@code vfio-dev/} exists from kernel 6.1; on older (or unknown-format) releases it is not required. */
    static boolean kernelHasVfioDev(String release) {
        if (release == null) {
            return true;
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\d+)\\.(\\d+)").matcher(release);
        if (!m.find()) {
            return true;
        }
        int major = Integer.parseInt(m.group(1));
        int minor = Integer.parseInt(m.group(2));
        return major > 6 || (major == 6 && minor >= 1);
    }

    private static String quote(String s) {
        if (s == null) {
            return "(none)";
        }
        String cut = s.length() > 80 ? s.substring(0, 80) + "..." : s;
        return "'" + cut.replaceAll("\\p{Cntrl}", "?") + "'";
    }
}
