package com.example.vfio.agent;

import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.kube.ApiErrors;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.net.HttpURLConnection;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the node's status through the {@code status} subresource (never the spec: the operator owns it),
 * only when it says something new, ignoring times. The latest status wins: one offered while a write is
 * pending replaces it. A conflict re-reads the object and writes again at once; any other failure (API
 * server away, object not created yet) is retried with exponential backoff, so the caller never waits
 * on the network. One thread owns all state.
 */
public final class NodeStatusPublisher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NodeStatusPublisher.class);
    private static final int CONFLICT_RETRIES = 5;

    private final KubernetesClient client;
    private final String nodeName;
    private final Duration minBackoff;
    private final Duration maxBackoff;
    private final ScheduledExecutorService owner;

    // owned by the owner thread
    private VfioNodeStateStatus pending;
    private VfioNodeStateStatus written;
    private Duration backoff;
    private ScheduledFuture<?> retry;
    private String lastProblem;
    private volatile long writes;

    public NodeStatusPublisher(KubernetesClient client, String nodeName, Duration minBackoff, Duration maxBackoff) {
        this.client = Objects.requireNonNull(client);
        this.nodeName = Objects.requireNonNull(nodeName);
        this.minBackoff = minBackoff;
        this.maxBackoff = maxBackoff;
        this.backoff = minBackoff;
        this.owner = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "vfio-status-writer");
            t.setDaemon(true);
            return t;
        });
    }

    /** Hands over the newest status; returns at once. */
    public void offer(VfioNodeStateStatus status) {
        Objects.requireNonNull(status);
        owner.execute(() -> {
            pending = status;
            if (retry == null) {
                attempt();
            }
        });
    }

    /** The next status is written even if it equals the last one written (the object was re-created). */
    public void rewriteNextTime() {
        owner.execute(() -> written = null);
    }

    /** Status writes that reached the API server so far. */
    public long writes() {
        return writes;
    }

    private void attempt() {
        retry = null;
        if (pending == null) {
            return;
        }
        if (StatusComparison.sameIgnoringTimes(pending, written)) {
            pending = null;
            return;
        }
        try {
            write(pending);
            written = pending;
            pending = null;
            backoff = minBackoff;
            if (lastProblem != null) {
                LOG.info("status of VfioNodeState {} written again", nodeName);
                lastProblem = null;
            }
        } catch (KubernetesClientException | NotCreatedYet e) {
            if (owner.isShutdown()) {
                return;
            }
            String problem = e instanceof KubernetesClientException k
                    ? "cannot write the status of VfioNodeState " + nodeName + ": " + ApiErrors.describe(k) : e.getMessage();
            if (!problem.equals(lastProblem)) {
                LOG.warn("{} (retrying, at most {} ms apart)", problem, maxBackoff.toMillis());
                lastProblem = problem;
            }
            retry = owner.schedule(this::attempt, backoff.toMillis(), TimeUnit.MILLISECONDS);
            backoff = backoff.multipliedBy(2).compareTo(maxBackoff) > 0 ? maxBackoff : backoff.multipliedBy(2);
        }
    }

    private void write(VfioNodeStateStatus status) {
        for (int attempt = 1; ; attempt++) {
            VfioNodeState current = client.resources(VfioNodeState.class).withName(nodeName).get();
            if (current == null) {
                throw new NotCreatedYet("VfioNodeState " + nodeName
                        + " does not exist yet: the operator creates it; waiting");
            }
            if (StatusComparison.sameIgnoringTimes(current.getStatus(), status)) {
                return; // e.g. after a restart: the API server has it already
            }
            current.setStatus(status);
            try {
                client.resources(VfioNodeState.class).resource(current).updateStatus();
                writes++;
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != HttpURLConnection.HTTP_CONFLICT || attempt == CONFLICT_RETRIES) {
                    throw e;
                }
                LOG.debug("status of {} conflicted (attempt {}), re-reading", nodeName, attempt);
            }
        }
    }

    @Override
    public void close() {
        owner.shutdownNow();
    }

    private static final class NotCreatedYet extends RuntimeException {
        private static final long serialVersionUID = 1L;

        NotCreatedYet(String message) {
            super(message, null, false, false);
        }
    }
}
