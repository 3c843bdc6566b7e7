package com.example.vfio.dra;

import com.example.vfio.kube.ApiErrors;
import com.example.vfio.plugin.PluginMetrics;
import io.fabric8.kubernetes.api.model.KubernetesResourceList;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.dsl.FilterWatchListDeletable;
import io.fabric8.kubernetes.client.dsl.Resource;
import java.net.HttpURLConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the node's ResourceSlices on the API server equal to what the driver publishes. One owner thread: each
 * change of the wanted pool, and each change to our slices on the server (the kubelet deletes them all when it
 * starts, an admin may delete one), reads the node's slices afresh and writes only when they differ: then every
 * slice of the pool gets the next generation, slices no longer wanted are deleted, and a pool that is already as
 * wanted is not written at all. Failures (API server away, the Node not there yet) are retried with exponential
 * backoff; the caller never waits on the network.
 */
public final class SlicePublisher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SlicePublisher.class);
    private static final long DEBOUNCE_MILLIS = 50;

    private final KubernetesClient client;
    private final String nodeName;
    private final PluginMetrics metrics;
    private final Duration minBackoff;
    private final Duration maxBackoff;
    private final ScheduledExecutorService owner;

    // owned by the owner thread
    private PoolLayout.Pool wanted;
    private String nodeUid;
    private long generation;
    private Duration backoff;
    private ScheduledFuture<?> pending;
    private String lastProblem;
    private io.fabric8.kubernetes.client.Watch watch;
    private volatile long writes;
    private volatile boolean inSync;

    public SlicePublisher(KubernetesClient client, String nodeName, PluginMetrics metrics, Duration minBackoff,
                          Duration maxBackoff) {
        this.client = Objects.requireNonNull(client);
        this.nodeName = Objects.requireNonNull(nodeName);
        this.metrics = Objects.requireNonNull(metrics);
        this.minBackoff = minBackoff;
        this.maxBackoff = maxBackoff;
        this.backoff = minBackoff;
        this.owner = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vfio-dra-slices");
            t.setDaemon(true);
            return t;
        });
    }

    /** Hands over the pool to publish (the whole pool); returns at once. The same pool again changes nothing. */
    public void publish(PoolLayout.Pool pool) {
        Objects.requireNonNull(pool);
        run(() -> {
            if (pool.equals(wanted)) {
                return;
            }
            wanted = pool;
            inSync = false;
            soon(0);
        });
    }

    /** Slice writes (creates, updates, deletes) that reached the API server. */
    public long writes() {
        return writes;
    }

    /** True once the server's slices were seen to be as wanted (false while a change is on its way). */
    public boolean inSync() {
        return inSync;
    }

    private void run(Runnable r) {
        try {
            owner.execute(r);
        } catch (RejectedExecutionException closed) {
            // closing
        }
    }

    private void soon(long delayMillis) {
        if (pending != null && !pending.isDone()) {
            if (pending.getDelay(TimeUnit.MILLISECONDS) <= delayMillis) {
                return;
            }
            pending.cancel(false);
        }
        try {
            pending = owner.schedule(this::reconcile, delayMillis, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException closed) {
            pending = null;
        }
    }

    private void reconcile() {
        pending = null;
        if (wanted == null) {
            return;
        }
        try {
            watchOurSlices();
            if (nodeUid == null && !wanted.slices().isEmpty()) {
                Node node = client.nodes().withName(nodeName).get();
                if (node == null) {
                    throw new Problem("Node " + nodeName + " does not exist (yet): the ResourceSlices are owned by it;"
                            + " waiting");
                }
                nodeUid = node.getMetadata().getUid();
            }
            sync();
            inSync = true;
            backoff = minBackoff;
            if (lastProblem != null) {
                LOG.info("ResourceSlices of node {} written again", nodeName);
                lastProblem = null;
            }
        } catch (KubernetesClientException | Problem e) {
            if (owner.isShutdown()) {
                return;
            }
            metrics.error("resourceslices");
            if (e instanceof KubernetesClientException k && k.getCode() == HttpURLConnection.HTTP_CONFLICT) {
                soon(0); // someone wrote in between (or our own write raced the watch): read again at once
                return;
            }
            String problem = e instanceof KubernetesClientException k ? "cannot write the ResourceSlices of node "
                    + nodeName + ": " + ApiErrors.describe(k) : e.getMessage();
            if (!problem.equals(lastProblem)) {
                LOG.warn("{} (retrying, at most {} ms apart)", problem, maxBackoff.toMillis());
                lastProblem = problem;
            }
            soon(backoff.toMillis());
            backoff = backoff.multipliedBy(2).compareTo(maxBackoff) > 0 ? maxBackoff : backoff.multipliedBy(2);
        }
    }

    private FilterWatchListDeletable<ResourceSlice, KubernetesResourceList<ResourceSlice>, Resource<ResourceSlice>> ours() {
        return client.resources(ResourceSlice.class).withField("spec.nodeName", nodeName)
                .withField("spec.driver", DraNames.DRIVER);
    }

    /** Reads the node's slices, and writes what differs from {@link #wanted}. */
    private void sync() {
        Map<String, ResourceSlice> observed = new HashMap<>();
        long observedGeneration = 0;
        for (ResourceSlice s : ours().list().getItems()) {
            observed.put(s.getMetadata().getName(), s);
            observedGeneration = Math.max(observedGeneration, s.getSpec().getPool().getGeneration());
        }
        generation = Math.max(generation, observedGeneration);
        if (isAsWanted(observed, observedGeneration)) {
            metrics.draSlices(observed.size(), wanted.devices().size());
            return;
        }
        long next = generation + 1;
        List<ResourceSlice> slices = ResourceSlices.of(nodeName, nodeUid, next, wanted);
        List<String> done = new ArrayList<>();
        for (ResourceSlice s : slices) {
            ResourceSlice existing = observed.remove(s.getMetadata().getName());
            if (existing == null) {
                client.resource(s).create();
                done.add("created " + s.getMetadata().getName());
            } else {
                s.getMetadata().setResourceVersion(existing.getMetadata().getResourceVersion());
                client.resource(s).update();
                done.add("updated " + s.getMetadata().getName());
            }
            written();
        }
        for (ResourceSlice gone : observed.values()) {
            client.resource(gone).delete();
            written();
            done.add("deleted " + gone.getMetadata().getName());
        }
        generation = next;
        metrics.draSlices(slices.size(), wanted.devices().size());
        LOG.info("ResourceSlices of node {} at generation {} ({} device(s)): {}", nodeName, next,
                wanted.devices().size(), String.join(", ", done));
    }

    private void written() {
        writes++;
        metrics.draSliceWrite();
    }

    private boolean isAsWanted(Map<String, ResourceSlice> observed, long observedGeneration) {
        if (wanted.slices().isEmpty()) {
            return observed.isEmpty();
        }
        List<ResourceSlice> expected = ResourceSlices.of(nodeName, nodeUid, observedGeneration, wanted);
        if (expected.size() != observed.size()) {
            return false;
        }
        for (ResourceSlice e : expected) {
            ResourceSlice o = observed.get(e.getMetadata().getName());
            if (o == null || !ResourceSlices.sameContent(e, o)) {
                return false;
            }
        }
        return true;
    }

    /** A watch on our slices: a change someone else made (the kubelet's wipe at its start) is put right at once. */
    private void watchOurSlices() {
        if (watch != null) {
            return;
        }
        watch = ours().watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, ResourceSlice slice) {
                run(() -> {
                    if (action == Action.DELETED) {
                        nodeUid = null; // a Node deleted and created again owns none of the old slices
                    }
                    soon(DEBOUNCE_MILLIS);
                });
            }

            @Override
            public void onClose(WatcherException cause) {
                // the API server went away or the watch expired: watch anew at the next reconcile, and look now
                run(() -> {
                    watch = null;
                    soon(backoff.toMillis());
                });
            }
        });
    }

    @Override
    public void close() {
        owner.shutdownNow();
        try {
            owner.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (watch != null) {
            watch.close();
        }
    }

    private static final class Problem extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Problem(String message) {
            super(message, null, false, false);
        }
    }
}
