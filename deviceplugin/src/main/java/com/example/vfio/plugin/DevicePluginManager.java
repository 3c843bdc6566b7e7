package com.example.vfio.plugin;

import java.nio.file.Path;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The set of device plugin servers, one per published resource: creates a server when a resource
 * appears, hands every new host view to its server, stops the server of a resource that is gone.
 * Serving and registering is the {@link KubeletWatcher}'s job.
 */
public final class DevicePluginManager implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DevicePluginManager.class);

    private final Path pluginDir;
    private final UnixSockets sockets;
    private final GroupAllocations allocations;
    private final DevicePluginServer.HoldRecheck recheck;
    private final PluginMetrics metrics;
    private final CdiSpecs cdi;
    private final Map<String, DevicePluginServer> servers = new ConcurrentSkipListMap<>();
    private volatile Runnable onServersChanged = () -> { };
    /**
     * Holds taken or released change what ListAndWatch shows; that list is recomputed off the Allocate
     * path, at most once per {@link #REPUBLISH_DELAY_MS}, so a burst of Allocates costs one recomputation
     * of a list that can hold thousands of devices. Allocate itself stays exact: the hold is granted or
     * refused atomically by {@link GroupAllocations}, not by what the kubelet was last told.
     */
    static final long REPUBLISH_DELAY_MS = 50;
    private final ScheduledExecutorService republisher = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vfio-republish");
        t.setDaemon(true);
        return t;
    });
    private final AtomicBoolean republishPending = new AtomicBoolean();

    public DevicePluginManager(Path pluginDir, UnixSockets sockets, GroupAllocations allocations,
                               DevicePluginServer.HoldRecheck recheck, PluginMetrics metrics, CdiSpecs cdi) {
        this.pluginDir = pluginDir;
        this.sockets = sockets;
        this.allocations = allocations;
        this.recheck = recheck;
        this.metrics = metrics;
        this.cdi = cdi;
        allocations.onChange(this::scheduleRepublish);
    }

    public Path pluginDir() {
        return pluginDir;
    }

    /** Called when servers were added (they need serving and registering). */
    void onServersChanged(Runnable r) {
        onServersChanged = r;
    }

    /** Takes the resources of one rescan: the complete list; resources not in it are withdrawn. */
    public synchronized void publish(List<PublishedResource> resources) {
        Set<String> names = new HashSet<>();
        boolean added = false;
        for (PublishedResource r : resources) {
            names.add(r.name());
            DevicePluginServer s = servers.get(r.name());
            if (s == null) {
                servers.put(r.name(), new DevicePluginServer(r, pluginDir, sockets, allocations, recheck, metrics, cdi));
                added = true;
            } else {
                s.publish(r);
            }
        }
        for (var it = servers.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (!names.contains(e.getKey())) {
                LOG.info("{}: no policy selects devices for it any more: stopping its plugin",
                        e.getValue().resourceName());
                it.remove();
                e.getValue().close();
                metrics.resourceRemoved(e.getValue().resourceName());
            }
        }
        metrics.heldGroups(allocations.holds().size());
        if (added) {
            onServersChanged.run();
        }
    }

    public Collection<DevicePluginServer> servers() {
        return List.copyOf(servers.values());
    }

    public DevicePluginServer server(String name) {
        return servers.get(name);
    }

    /** What Allocate would claim for a unit a pod holds, from the current host view of its resource. */
    public java.util.Optional<GroupAllocations.Claim> claimFor(GroupAllocations.InUse unit) {
        return servers.values().stream().filter(s -> s.resourceName().equals(unit.resource())).findFirst()
                .flatMap(s -> s.hostView().device(unit.unit()))
                .map(d -> new GroupAllocations.Claim(d.id(), d.iommuGroup(), d.addresses()));
    }

    private void scheduleRepublish() {
        metrics.heldGroups(allocations.holds().size());
        if (republishPending.compareAndSet(false, true)) {
            try {
                republisher.schedule(() -> {
                    republishPending.set(false);
                    republishAll();
                }, REPUBLISH_DELAY_MS, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException closed) {
                republishPending.set(false);
            }
        }
    }

    private void republishAll() {
        metrics.heldGroups(allocations.holds().size());
        for (DevicePluginServer s : servers.values()) {
            s.republish();
        }
    }

    @Override
    public synchronized void close() {
        republisher.shutdownNow();
        for (DevicePluginServer s : servers.values()) {
            s.close();
        }
        servers.clear();
    }
}
