package com.example.vfio.operator;

import com.example.vfio.api.BindResult;
import com.example.vfio.api.BindState;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.DeviceProblem;
import com.example.vfio.api.Health;
import com.example.vfio.api.InventoryDevice;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateStatus;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Plays the node agent in operator tests: writes {@code status} of its VfioNodeState the way the real agent does,
 * binding every desired device unless told to refuse one. Public for the bench module's FanOutProbe.
 */
public final class FakeNodeAgent {
    private final KubernetesClient client;
    private final String node;
    private final Map<String, InventoryDevice> hardware = new LinkedHashMap<>();
    private final Map<String, String> refusals = new HashMap<>();

    public FakeNodeAgent(KubernetesClient client, String node) {
        this.client = client;
        this.node = node;
    }

    /** A device as the kernel presents it before anything was rebound. */
    public FakeNodeAgent device(String address, String vendor, String device, String cls, String driver, String group) {
        hardware.put(address, new InventoryDevice(address, vendor, device, cls, driver, group));
        return this;
    }

    FakeNodeAgent refuse(String address, String why) {
        refusals.put(address, why);
        return this;
    }

    /** The admin fixed what made the agent refuse (e.g. set force: true, moved the console). */
    FakeNodeAgent allow(String address) {
        refusals.remove(address);
        return this;
    }

    /** One pass of the agent: read the spec, "bind", write the status (observedGeneration = the spec's generation). */
    public void sync() {
        for (int attempt = 1; ; attempt++) {
            try {
                syncOnce();
                return;
            } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                if (e.getCode() != 409 || attempt == 10) {
                    throw e;
                }
            }
        }
    }

    private void syncOnce() {
        VfioNodeState state = client.resources(VfioNodeState.class).withName(node).get();
        Objects.requireNonNull(state, "no VfioNodeState for " + node);
        Map<String, DesiredDevice> desired = new HashMap<>();
        state.getSpec().getDevices().forEach(d -> desired.put(d.getAddress(), d));
        VfioNodeStateStatus previous = state.getStatus();
        VfioNodeStateStatus status = new VfioNodeStateStatus();
        List<InventoryDevice> devices = new ArrayList<>();
        List<BindResult> results = new ArrayList<>();
        List<DeviceProblem> problems = new ArrayList<>();
        int viable = 0;
        int published = 0;
        for (InventoryDevice hw : hardware.values()) {
            InventoryDevice now = new InventoryDevice(hw.getAddress(), hw.getVendor(), hw.getDevice(), hw.getClassCode(), hw.getDriver(), hw.getGroup());
            String current = previous == null ? hw.getDriver()
                    : previous.device(hw.getAddress()).map(InventoryDevice::getDriver).orElse(hw.getDriver());
            now.setDriver(current);
            DesiredDevice want = desired.get(hw.getAddress());
            if (want != null && want.effectiveManaged()) {
                String target = switch (want.getDriver()) {
                    case "auto" -> "vfio-pci";
                    case "host" -> hw.getDriver();
                    default -> want.getDriver();
                };
                if (refusals.containsKey(hw.getAddress())) {
                    results.add(new BindResult(hw.getAddress(), target, BindState.Refused, refusals.get(hw.getAddress()), "2026-01-01T00:00:00Z"));
                } else if (!Objects.equals(current, target)) {
                    now.setDriver(target);
                    results.add(new BindResult(hw.getAddress(), target, BindState.Bound, null, "2026-01-01T00:00:00Z"));
                }
            }
            boolean vfio = now.getDriver() != null && now.getDriver().contains("vfio");
            now.setVfio(vfio);
            now.setViable(vfio);
            if (!Objects.equals(now.getDriver(), hw.getDriver())) {
                now.setHostDriver(hw.getDriver());
            }
            if (!vfio) {
                problems.add(new DeviceProblem(hw.getAddress(), List.of("on host driver " + now.getDriver())));
            }
            if (vfio && want != null && want.getResourceName() != null) {
                now.setResource(want.getResourceName());
                now.setHealth(Health.Healthy);
                published++;
            }
            viable += vfio ? 1 : 0;
            devices.add(now);
        }
        status.setDevices(devices);
        status.setProblems(problems);
        status.setBindResults(results);
        status.setObservedGeneration(Objects.requireNonNullElse(state.getMetadata().getGeneration(), 0L));
        status.setSyncStatus(refusals.keySet().stream().anyMatch(desired::containsKey) ? SyncStatus.Failed : SyncStatus.Succeeded);
        status.setLastSyncError(refusals.keySet().stream().filter(desired::containsKey).findFirst()
                .map(a -> a + ": " + refusals.get(a)).orElse(null));
        status.setKernelRelease("6.12.0");
        status.setIommuEnabled(true);
        status.setDeviceCount(devices.size());
        status.setViableCount(viable);
        status.setPublishedCount(published);
        client.resources(VfioNodeState.class).withName(node).editStatus(s -> {
            s.setStatus(status);
            return s;
        });
    }
}
