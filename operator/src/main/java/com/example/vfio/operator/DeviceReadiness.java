package com.example.vfio.operator;

import com.example.vfio.api.BindResult;
import com.example.vfio.api.BindState;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.InventoryDevice;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateSpec;
import com.example.vfio.api.VfioNodeStateStatus;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/** Is one desired device in effect on its node, judged from the node agent's report. */
record DeviceReadiness(State state, String message) {
    enum State { READY, PENDING, FAILED }

    static final DeviceReadiness READY = new DeviceReadiness(State.READY, null);

    /**
     * @param want    the planned entry
     * @param planned the whole planned spec of the node (the agent must have acted on exactly this)
     * @param node    the node's VfioNodeState
     */
    static DeviceReadiness of(DesiredDevice want, VfioNodeStateSpec planned, VfioNodeState node) {
        String a = want.getAddress();
        VfioNodeStateStatus status = node.getStatus();
        if (!planned.equals(node.getSpec())) {
            return pending(a + ": the operator has not written the new spec yet");
        }
        long generation = Objects.requireNonNullElse(node.getMetadata().getGeneration(), 0L);
        if (status == null || Objects.requireNonNullElse(status.getObservedGeneration(), -1L) < generation) {
            return pending(a + ": waiting for the node agent to act on generation " + generation);
        }
        Optional<InventoryDevice> found = status.device(a);
        if (found.isEmpty()) {
            return failed(a + ": no longer in the node's inventory");
        }
        InventoryDevice dev = found.get();
        boolean onVfio = Boolean.TRUE.equals(dev.getVfio());
        String driver = dev.getDriver() == null ? "no driver" : dev.getDriver();
        boolean inEffect = want.isHost() ? !onVfio : onVfio && Boolean.TRUE.equals(dev.getViable()) && published(want, dev);
        if (inEffect) {
            return READY;
        }
        Optional<BindResult> bind = status.bindResult(a);
        if (bind.isPresent() && (bind.get().getState() == BindState.Refused || bind.get().getState() == BindState.Failed)) {
            return failed(a + ": " + bind.get().getState() + " binding " + bind.get().getDesiredDriver()
                    + (bind.get().getMessage() == null ? "" : ": " + bind.get().getMessage()));
        }
        if (want.isHost()) {
            if (!want.effectiveManaged()) {
                return failed(a + ": on " + driver + ", a VFIO driver, and the policy is managed: false (give it back by"
                        + " hand, or set managed: true)");
            }
            return settled(status) ? failed(a + ": still on " + driver + " after a completed sync")
                    : pending(a + ": returning from " + driver + " to its host driver");
        }
        if (onVfio && !Boolean.TRUE.equals(dev.getViable())) {
            return failed(a + ": on " + driver + " but not viable" + reasons(status, a));
        }
        if (!onVfio && !want.effectiveManaged()) {
            return failed(a + ": on " + driver + ", not a VFIO driver, and the policy is managed: false" + reasons(status, a));
        }
        if (status.getSyncStatus() == SyncStatus.Failed) {
            return failed(a + ": node sync failed" + (status.getLastSyncError() == null ? "" : ": " + status.getLastSyncError()));
        }
        if (onVfio) {
            return settled(status) ? failed(a + ": viable but not published as " + want.getResourceName())
                    : pending(a + ": not yet published as " + want.getResourceName());
        }
        return settled(status) ? failed(a + ": still on " + driver + " after a completed sync" + reasons(status, a))
                : pending(a + ": binding (now on " + driver + ")");
    }

    private static boolean published(DesiredDevice want, InventoryDevice dev) {
        return want.getResourceName() == null || want.getResourceName().equals(dev.getResource());
    }

    private static boolean settled(VfioNodeStateStatus status) {
        return status.getSyncStatus() == SyncStatus.Succeeded;
    }

    private static String reasons(VfioNodeStateStatus status, String address) {
        List<String> reasons = status.reasonsOf(address);
        return reasons.isEmpty() ? "" : " (" + String.join("; ", reasons) + ")";
    }

    private static DeviceReadiness pending(String m) {
        return new DeviceReadiness(State.PENDING, m);
    }

    private static DeviceReadiness failed(String m) {
        return new DeviceReadiness(State.FAILED, m);
    }
}
