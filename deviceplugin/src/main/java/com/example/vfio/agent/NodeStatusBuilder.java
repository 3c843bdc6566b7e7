package com.example.vfio.agent;

import com.example.vfio.api.BindResult;
import com.example.vfio.api.BindState;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.DeviceProblem;
import com.example.vfio.api.Drivers;
import com.example.vfio.api.GroupBlocker;
import com.example.vfio.api.GroupStatus;
import com.example.vfio.api.Health;
import com.example.vfio.api.InventoryDevice;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.viability.DeviceVerdict;
import com.example.vfio.viability.GroupVerdict;
import com.example.vfio.viability.HostAssessment;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * Computes the {@code status} of a node's VfioNodeState from one pass of the agent. Pure: the same inputs
 * (and previous status) give the same status.
 *
 * <p>The status is compact so that a node with thousands of functions stays far below etcd's object limit:
 * each device is one line ({@link InventoryDevice#toLine()}) whose flags appear only when true or known
 * ({@code auto=} only when the device is not on that driver already, {@code host=} only when it differs from
 * the current driver). {@code problems} lists only the devices with reasons left after dropping what the line
 * already says (not on a VFIO driver: see the driver and {@code auto=}); a group's problem is spelled out once,
 * in {@code groups}, and named briefly on the members someone wants. {@code groups} lists only the groups that
 * need explaining: no-IOMMU groups and the blocked groups of wanted devices (membership is in each line's
 * {@code group=}). {@code bindResults} lists only the steps that did not take effect (Refused, Failed,
 * Pending): a device that moved shows its new driver in its line.
 */
public final class NodeStatusBuilder {
    public static final String READY = "Ready";
    public static final String PROGRESSING = "Progressing";
    public static final String DEGRADED = "Degraded";

    /** How many devices a condition message or {@code lastSyncError} names before "and N more". */
    static final int NAMED_IN_MESSAGE = 5;
    /** At most this many bind results are listed; every failure still counts in {@code lastSyncError}. */
    static final int MAX_BIND_RESULTS = 64;
    /** Longest bind-result message kept (a kernel error text can be long). */
    static final int MAX_MESSAGE = 300;

    /**
     * @param previous the status last written (null when none): conditions that did not change keep their
     *                 {@code lastTransitionTime}
     */
    public VfioNodeStateStatus build(StatusInputs in, VfioNodeStateStatus previous) {
        HostAssessment assessment = in.assessment();
        HostSnapshot snapshot = assessment.snapshot();
        Map<String, BindResult> results = new LinkedHashMap<>();
        for (BindResult r : in.bindResults()) {
            results.put(r.getAddress(), r);
        }
        Set<PciAddress> wanted = new HashSet<>();
        for (DesiredDevice d : in.desired()) {
            if (PciAddress.isValid(d.getAddress())) {
                wanted.add(PciAddress.parse(d.getAddress()));
            }
        }

        VfioNodeStateStatus status = new VfioNodeStateStatus();
        status.setObservedGeneration(in.observedGeneration());
        status.setKernelRelease(snapshot.kernelRelease());
        status.setIommuEnabled(snapshot.iommuEnabled());

        List<InventoryDevice> devices = new ArrayList<>(snapshot.devices().size());
        List<DeviceProblem> problems = new ArrayList<>();
        int viable = 0;
        int published = 0;
        for (PciDevice device : snapshot.allDevices()) {
            DeviceVerdict verdict = assessment.verdict(device.address());
            DevicePublication publication = in.published().get(device.address());
            boolean matters = matters(device.address(), wanted, in.published().keySet(), assessment);
            devices.add(inventoryEntry(device, verdict, publication, in.hostDrivers().get(device.address())));
            List<String> reasons = statusReasons(device, verdict, assessment.groupOf(device.address()), matters);
            if (publication != null && !publication.healthy() && verdict.viable() && publication.allocatedTo() == null
                    && publication.reason() != null) {
                reasons.add("Unhealthy for the kubelet: " + publication.reason());
            }
            if (!reasons.isEmpty()) {
                problems.add(new DeviceProblem(device.address().toString(), reasons));
            }
            viable += verdict.viable() ? 1 : 0;
            published += publication != null ? 1 : 0;
        }
        status.setDevices(devices);
        status.setProblems(problems);
        status.setDeviceCount(devices.size());
        status.setViableCount(viable);
        status.setPublishedCount(published);
        status.setGroups(groups(assessment, wanted, in.published().keySet()));
        status.setBindResults(bindResults(results.values()));

        Outcomes outcomes = judge(in, results);
        List<String> failures = new ArrayList<>();
        if (in.nodeError() != null) {
            failures.add(in.nodeError());
        }
        failures.addAll(outcomes.failed.values());
        if (in.binding()) {
            status.setSyncStatus(SyncStatus.InProgress);
        } else if (!failures.isEmpty()) {
            status.setSyncStatus(SyncStatus.Failed);
        } else if (!outcomes.pending.isEmpty()) {
            status.setSyncStatus(SyncStatus.InProgress);
        } else {
            status.setSyncStatus(SyncStatus.Succeeded);
        }
        if (!failures.isEmpty()) {
            status.setLastSyncError(summary(failures));
        }
        if (!in.binding()) {
            status.setLastSyncTime(in.now().toString());
        } else if (previous != null) {
            status.setLastSyncTime(previous.getLastSyncTime());
        }
        status.setConditions(conditions(in, outcomes, failures, previous));
        return status;
    }

    private static InventoryDevice inventoryEntry(PciDevice device, DeviceVerdict verdict,
            DevicePublication publication, String journalHostDriver) {
        InventoryDevice entry = new InventoryDevice(device.address().toString(), device.vendorHex(),
                device.deviceHex(), device.classHex(), device.driver(), device.iommuGroup());
        if (journalHostDriver != null && !journalHostDriver.equals(device.driver())) {
            entry.setHostDriver(journalHostDriver);
        }
        entry.setVfio(verdict.vfioDriver() ? Boolean.TRUE : null);
        entry.setNuma(device.numaNode() >= 0 ? device.numaNode() : null);
        entry.setViable(verdict.viable() ? Boolean.TRUE : null);
        String recommended = verdict.recommended().driver();
        entry.setRecommended(recommended.equals(device.driver()) ? null : recommended);
        if (publication != null) {
            entry.setResource(publication.resource());
            entry.setDra(publication.dra());
            entry.setHealth(publication.healthy() ? Health.Healthy : Health.Unhealthy);
            entry.setAllocatedTo(publication.allocatedTo());
        }
        return entry;
    }

    /**
     * The device's verdict reasons without what the entry's fields already say. A group problem is named
     * briefly on devices someone wants (in the spec, published or on a VFIO driver) and left to the
     * {@code groups} entry otherwise.
     */
    static List<String> statusReasons(PciDevice device, DeviceVerdict verdict, GroupVerdict group, boolean matters) {
        List<String> out = new ArrayList<>();
        boolean groupNamed = false;
        for (String reason : verdict.reasons()) {
            if (!verdict.vfioDriver() && saysNotOnVfio(reason, device)) {
                continue;
            }
            if (group != null && reason.startsWith("group " + group.id() + " ")) {
                if (matters && !groupNamed) {
                    out.add(groupSummary(group));
                    groupNamed = true;
                }
                continue;
            }
            out.add(reason);
        }
        return out;
    }

    /** The viability reason "not bound to any driver: ..." / "bound to X, not a VFIO driver: ...". */
    private static boolean saysNotOnVfio(String reason, PciDevice device) {
        return device.driver() == null ? reason.startsWith("not bound to any driver")
                : reason.startsWith("bound to " + device.driver() + ", not a VFIO driver");
    }

    static String groupSummary(GroupVerdict group) {
        if (group.noIommu()) {
            return "group " + group.id() + " is in no-IOMMU mode: never offered to VMs";
        }
        String named = group.blockers().stream().limit(2)
                .map(b -> b.address() + " is on " + (b.driver() == null ? "an unknown driver" : b.driver()))
                .collect(Collectors.joining(", "));
        int more = group.blockers().size() - 2;
        return "group " + group.id() + " is not viable: " + named + (more > 0 ? " and " + more + " more" : "")
                + " (see groups)";
    }

    private static List<GroupStatus> groups(HostAssessment assessment, Set<PciAddress> wanted,
            Set<PciAddress> published) {
        List<GroupVerdict> listed = new ArrayList<>();
        for (GroupVerdict g : assessment.groups().values()) {
            boolean wantedGroup = g.devices().stream().anyMatch(a -> matters(a, wanted, published, assessment));
            if (g.noIommu() || (wantedGroup && !g.viable())) {
                listed.add(g);
            }
        }
        listed.sort(Comparator.comparing(GroupVerdict::id, NodeStatusBuilder::compareGroupIds));
        List<GroupStatus> out = new ArrayList<>(listed.size());
        for (GroupVerdict g : listed) {
            // a group nobody wants is blocked by its own members' drivers, which their lines show
            boolean wantedGroup = g.devices().stream().anyMatch(a -> matters(a, wanted, published, assessment));
            List<GroupBlocker> blockers = !wantedGroup ? List.of() : g.blockers().stream()
                    .map(b -> new GroupBlocker(b.address().toString(), b.driver())).toList();
            GroupStatus s = new GroupStatus(g.id(), g.viable(),
                    g.devices().stream().map(PciAddress::toString).toList(), blockers);
            out.add(s);
        }
        return out;
    }

    /** Someone wants the device: it is in the spec, published, or on a VFIO driver already. */
    private static boolean matters(PciAddress a, Set<PciAddress> wanted, Set<PciAddress> published,
            HostAssessment assessment) {
        DeviceVerdict v = assessment.verdict(a);
        return wanted.contains(a) || published.contains(a) || (v != null && v.vfioDriver());
    }

    /** Numeric order for group numbers ("2" before "10"). */
    static int compareGroupIds(String a, String b) {
        return a.length() != b.length() ? Integer.compare(a.length(), b.length()) : a.compareTo(b);
    }

    private static List<BindResult> bindResults(Iterable<BindResult> all) {
        List<BindResult> out = new ArrayList<>();
        for (BindResult r : all) {
            if (r.getState() == BindState.Bound || r.getState() == BindState.Unchanged) {
                continue;
            }
            if (out.size() == MAX_BIND_RESULTS) {
                break;
            }
            out.add(new BindResult(r.getAddress(), r.getDesiredDriver(), r.getState(), clip(r.getMessage()),
                    r.getTime()));
        }
        out.sort(Comparator.comparing(BindResult::getAddress));
        return out;
    }

    /** Whether each desired device is in effect, on its way, or failed, in words for a person. */
    private static Outcomes judge(StatusInputs in, Map<String, BindResult> results) {
        Outcomes o = new Outcomes();
        HostAssessment assessment = in.assessment();
        for (DesiredDevice want : in.desired()) {
            String a = want.getAddress();
            if (!PciAddress.isValid(a)) {
                o.failed.put(String.valueOf(a), "'" + a + "' is not a PCI address");
                continue;
            }
            PciAddress address = PciAddress.parse(a);
            PciDevice device = assessment.snapshot().devices().get(address);
            if (device == null) {
                o.failed.put(a, a + ": not on this node");
                continue;
            }
            DeviceVerdict verdict = assessment.verdict(address);
            String driver = device.driver() == null ? "no driver" : device.driver();
            BindResult result = results.get(a);
            BindState state = result == null ? null : result.getState();
            if (state == BindState.Refused || state == BindState.Failed) {
                o.failed.put(a, a + ": " + state + " binding " + result.getDesiredDriver()
                        + (result.getMessage() == null ? "" : ": " + clip(result.getMessage())));
                continue;
            }
            boolean inEffect;
            String notYet;
            if (want.isHost()) {
                inEffect = !verdict.vfioDriver();
                if (!inEffect && !want.effectiveManaged()) {
                    o.failed.put(a, a + ": on " + driver + ", a VFIO driver, and not given back here (policy managed:"
                            + " false, or binding turned off on this node)");
                    continue;
                }
                notYet = "still on " + driver + ", waiting to return to its host driver";
            } else if (verdict.vfioDriver() && !verdict.viable()) {
                o.failed.put(a, a + ": on " + driver + " but not viable: " + String.join("; ",
                        statusReasons(device, verdict, assessment.groupOf(address), true)));
                continue;
            } else if (verdict.vfioDriver()) {
                DevicePublication p = in.published().get(address);
                String resource = want.getResourceName();
                if (resource != null && (p == null || !resource.equals(p.resource()))) {
                    o.failed.put(a, a + ": ready but not published as " + resource);
                    continue;
                }
                inEffect = true;
                notYet = null;
            } else if (!want.effectiveManaged()) {
                o.failed.put(a, a + ": on " + driver + ", not a VFIO driver, and not rebound here (policy managed:"
                        + " false, or binding turned off on this node)");
                continue;
            } else {
                inEffect = false;
                String target = Drivers.AUTO.equals(want.getDriver()) ? verdict.recommended().driver() : want.getDriver();
                notYet = "on " + driver + ", waiting to be bound to " + target;
            }
            if (inEffect) {
                o.ready.add(a);
            } else if (state == BindState.Pending) {
                o.pending.put(a, a + ": " + (result.getMessage() == null ? notYet : clip(result.getMessage())));
            } else if (in.binding()) {
                o.pending.put(a, a + ": " + notYet);
            } else {
                o.failed.put(a, a + ": " + notYet.replace("waiting to", "did not")
                        + " (the bind pass left it there)");
            }
        }
        return o;
    }

    private static List<Condition> conditions(StatusInputs in, Outcomes o, List<String> failures,
            VfioNodeStateStatus previous) {
        int desired = in.desired().size();
        List<Condition> out = new ArrayList<>();
        boolean ready = failures.isEmpty() && o.pending.isEmpty() && !in.binding();
        out.add(condition(in, previous, READY, ready,
                ready ? (desired == 0 ? "NothingDesired" : "DevicesReady") : "DevicesNotReady",
                ready ? o.ready.size() + " of " + desired + " desired devices are in effect"
                        : o.ready.size() + " of " + desired + " desired devices are in effect; not yet: "
                                + summary(notReady(o, failures))));
        boolean progressing = in.binding() || !o.pending.isEmpty();
        out.add(condition(in, previous, PROGRESSING, progressing,
                in.binding() ? "Binding" : progressing ? "Waiting" : "Idle",
                in.binding() ? "moving devices to their desired drivers"
                        : progressing ? summary(new ArrayList<>(o.pending.values())) : "nothing to do"));
        boolean degraded = !failures.isEmpty();
        out.add(condition(in, previous, DEGRADED, degraded,
                in.nodeError() != null ? "NodeError" : degraded ? "DevicesFailed" : "AsExpected",
                degraded ? summary(failures) : "no device failed"));
        return out;
    }

    private static List<String> notReady(Outcomes o, List<String> failures) {
        List<String> all = new ArrayList<>(failures);
        all.addAll(o.pending.values());
        return all;
    }

    private static Condition condition(StatusInputs in, VfioNodeStateStatus previous, String type, boolean value,
            String reason, String message) {
        String status = value ? "True" : "False";
        String since = in.now().toString();
        if (previous != null && previous.getConditions() != null) {
            for (Condition c : previous.getConditions()) {
                if (type.equals(c.getType()) && status.equals(c.getStatus()) && c.getLastTransitionTime() != null) {
                    since = c.getLastTransitionTime();
                }
            }
        }
        return new Condition(since, message, in.observedGeneration(), reason, status, type);
    }

    /** Names the first few, then says how many more there are. */
    static String summary(List<String> items) {
        String named = items.stream().limit(NAMED_IN_MESSAGE).collect(Collectors.joining("; "));
        int more = items.size() - NAMED_IN_MESSAGE;
        return more > 0 ? named + "; and " + more + " more" : named;
    }

    private static String clip(String message) {
        return message == null || message.length() <= MAX_MESSAGE ? message
                : message.substring(0, MAX_MESSAGE - 3) + "...";
    }

    private static final class Outcomes {
        final List<String> ready = new ArrayList<>();
        final Map<String, String> pending = new TreeMap<>();
        final Map<String, String> failed = new TreeMap<>();
    }
}
