package com.example.vfio.plugin;

import com.example.vfio.proto.podresources.v1.ContainerDevices;
import com.example.vfio.proto.podresources.v1.ContainerResources;
import com.example.vfio.proto.podresources.v1.ListPodResourcesRequest;
import com.example.vfio.proto.podresources.v1.ListPodResourcesResponse;
import com.example.vfio.proto.podresources.v1.PodResources;
import com.example.vfio.proto.podresources.v1.PodResourcesListerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Learns from the kubelet's PodResources API which of our units running pods still hold, and releases
 * the IOMMU group holds of the others. Polls every few seconds, and on demand when an Allocate is refused
 * because of a hold. When the API cannot be reached the holds stay (safe) and the metric says so.
 */
public final class PodResourcesWatcher implements DevicePluginServer.HoldRecheck, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(PodResourcesWatcher.class);
    static final long LIST_TIMEOUT_MILLIS = 2000;

    private final Path socket;
    private final GroupAllocations allocations;
    private final PluginMetrics metrics;
    private final Clock clock;
    private final ManagedChannel channel;
    private final ScheduledExecutorService thread;
    private final ClaimResolver resolver;
    private volatile boolean recovered;

    /** Maps a unit a pod holds back to what Allocate would have claimed for it (empty: not ours now). */
    public interface ClaimResolver {
        Optional<GroupAllocations.Claim> claim(GroupAllocations.InUse unit);
    }

    /**
     * @param resolver used once, on the first successful List: the holds of pods that got their devices
     *                 before this daemon started (a restart) are taken up again
     */
    public PodResourcesWatcher(Path socket, UnixSockets sockets, GroupAllocations allocations, PluginMetrics metrics,
                               Clock clock, Duration period, ClaimResolver resolver) {
        this.socket = socket;
        this.resolver = resolver;
        this.allocations = allocations;
        this.metrics = metrics;
        this.clock = clock;
        this.channel = sockets.dial(socket);
        ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1,
                UnixSockets.daemonThreads("vfio-podresources"));
        this.thread = t;
        t.scheduleWithFixedDelay(this::pollQuietly, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void recheckNow() {
        poll();
    }

    /**
     * True once a List succeeded: from then on the holds of pods that got their devices before this daemon
     * started are known. Asks PodResources now when that has not happened yet.
     */
    public boolean holdsKnown() {
        if (!recovered) {
            poll();
        }
        return recovered;
    }

    /** Polls soon on the watcher's own thread (after the first publication: recovers holds early). */
    public void pollSoon() {
        try {
            thread.execute(this::pollQuietly);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closing
        }
    }

    private void pollQuietly() {
        try {
            poll();
        } catch (RuntimeException e) {
            metrics.error("podresources");
            LOG.error("PodResources poll failed", e);
        }
    }

    /** One List and reconcile; synchronized so the periodic and on-demand polls never interleave. */
    public synchronized void poll() {
        if (recovered && !allocations.hasPodHolds()) {
            return; // nothing to release: spare the kubelet's rate limit
        }
        if (!Files.exists(socket)) {
            unreachable("the socket does not exist");
            return;
        }
        Instant listedAt = clock.instant();
        ListPodResourcesResponse resp;
        // after a kubelet restart the channel sits in reconnect backoff (up to minutes): try at once instead
        channel.resetConnectBackoff();
        try {
            resp = PodResourcesListerGrpc.newBlockingStub(channel).withWaitForReady()
                    .withDeadlineAfter(LIST_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS)
                    .list(ListPodResourcesRequest.getDefaultInstance());
        } catch (StatusRuntimeException e) {
            unreachable(e.getStatus().getCode().toString());
            return;
        }
        if (!allocations.podResourcesReachable()) {
            LOG.info("PodResources API answers again at {}", socket);
        }
        metrics.podResourcesUp(true);
        List<GroupAllocations.InUse> used = inUse(resp);
        if (!recovered) {
            recovered = true;
            List<GroupAllocations.Recovered> claims = new ArrayList<>();
            for (GroupAllocations.InUse u : used) {
                resolver.claim(u).ifPresent(c -> claims.add(new GroupAllocations.Recovered(u.resource(), c)));
            }
            allocations.recover(claims);
        }
        allocations.reconcile(used, listedAt);
    }

    private void unreachable(String why) {
        metrics.podResourcesUp(false);
        metrics.error("podresources");
        allocations.podResourcesUnreachable(socket + ": " + why);
    }

    static List<GroupAllocations.InUse> inUse(ListPodResourcesResponse resp) {
        List<GroupAllocations.InUse> used = new ArrayList<>();
        for (PodResources pod : resp.getPodResourcesList()) {
            for (ContainerResources c : pod.getContainersList()) {
                for (ContainerDevices d : c.getDevicesList()) {
                    if (d.getResourceName().startsWith(PublishedResource.DOMAIN + "/")) {
                        d.getDeviceIdsList().forEach(id -> used.add(new GroupAllocations.InUse(d.getResourceName(), id)));
                    }
                }
            }
        }
        return used;
    }

    @Override
    public void close() {
        thread.shutdownNow();
        try {
            thread.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        UnixSockets.shutdown(channel);
    }
}
