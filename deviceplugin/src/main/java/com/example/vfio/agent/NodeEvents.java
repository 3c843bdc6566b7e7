package com.example.vfio.agent;

import com.example.vfio.api.VfioNodeState;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * core/v1 Events about this node's VfioNodeState, where {@code kubectl describe vfionodestate <node>} lists them:
 * what binding did to a device. The caller only hands an event over; one thread of its own writes them, at most
 * {@value #PENDING} waiting (more are dropped, with a log line), so a slow or absent API server never holds up the
 * agent. The object is cluster-scoped, so its events live in "default": the API server refuses them elsewhere.
 */
public final class NodeEvents implements AutoCloseable {
    public static final String NORMAL = "Normal";
    public static final String WARNING = "Warning";
    private static final Logger LOG = LoggerFactory.getLogger(NodeEvents.class);
    private static final int PENDING = 64;
    private static final int MAX_MESSAGE = 1024;

    private final KubernetesClient client;
    private final String nodeName;
    private final Clock clock;
    private final ThreadPoolExecutor writer;
    private final AtomicLong sequence = new AtomicLong();

    public NodeEvents(KubernetesClient client, String nodeName, Clock clock) {
        this.client = Objects.requireNonNull(client);
        this.nodeName = Objects.requireNonNull(nodeName);
        this.clock = Objects.requireNonNull(clock);
        this.writer = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(PENDING), r -> {
            Thread t = new Thread(r, "vfio-node-events");
            t.setDaemon(true);
            return t;
        });
    }

    /** @param uid the VfioNodeState's uid (events name the object they are about by uid too) */
    public void record(String uid, String type, String reason, String message) {
        Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
        String text = message.length() > MAX_MESSAGE ? message.substring(0, MAX_MESSAGE - 3) + "..." : message;
        String name = nodeName + "." + Long.toHexString(clock.millis()) + Long.toHexString(sequence.incrementAndGet());
        try {
            writer.execute(() -> write(name, uid, type, reason, text, now));
        } catch (RejectedExecutionException e) {
            LOG.warn("event {} {} about VfioNodeState {} dropped: {} events are waiting for the API server", type, reason,
                    nodeName, PENDING);
        }
    }

    private void write(String name, String uid, String type, String reason, String message, Instant time) {
        try {
            client.v1().events().inNamespace("default").resource(new EventBuilder()
                    .withNewMetadata().withName(name).withNamespace("default").endMetadata()
                    .withNewInvolvedObject().withApiVersion(HasMetadata.getApiVersion(VfioNodeState.class))
                    .withKind(HasMetadata.getKind(VfioNodeState.class))
                    .withName(nodeName).withUid(uid).endInvolvedObject()
                    .withType(type).withReason(reason).withMessage(message)
                    .withNewSource().withComponent(ClusterNode.FIELD_MANAGER).withHost(nodeName).endSource()
                    .withReportingComponent(ClusterNode.FIELD_MANAGER).withReportingInstance(nodeName)
                    .withFirstTimestamp(time.toString()).withLastTimestamp(time.toString()).withCount(1)
                    .build()).create();
        } catch (KubernetesClientException e) {
            LOG.warn("could not record event {} {} about VfioNodeState {}: {}", type, reason, nodeName, e.getMessage());
        }
    }

    @Override
    public void close() {
        writer.shutdownNow();
    }
}
