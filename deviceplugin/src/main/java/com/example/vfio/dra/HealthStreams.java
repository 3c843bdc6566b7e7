package com.example.vfio.dra;

import com.example.vfio.plugin.UnixSockets;
import com.example.vfio.proto.drahealth.v1.DRAResourceHealthGrpc;
import com.example.vfio.proto.drahealth.v1.DeviceHealth;
import com.example.vfio.proto.drahealth.v1.DeviceIdentifier;
import com.example.vfio.proto.drahealth.v1.HealthStatus;
import com.example.vfio.proto.drahealth.v1.NodeWatchResourcesRequest;
import com.example.vfio.proto.drahealth.v1.NodeWatchResourcesResponse;
import io.grpc.BindableService;
import com.example.vfio.plugin.ResponseStream;
import io.grpc.stub.StreamObserver;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The DRA health streams ({@code v1.DRAResourceHealth} and {@code v1alpha1.DRAResourceHealth}, the same messages):
 * every published device with HEALTHY or UNHEALTHY and the reason, sent when it changes and again every
 * {@link #RESEND} (the kubelet shows a device as Unknown when it was not reported for {@link #TIMEOUT}). The kubelet
 * shows it in the pods' {@code status.containerStatuses[].allocatedResourcesStatus}.
 */
public final class HealthStreams implements AutoCloseable {
    static final Duration TIMEOUT = Duration.ofSeconds(30);
    static final Duration RESEND = Duration.ofSeconds(10);

    private final String pool;
    private final Clock clock;
    /** Each open stream, and the API version its messages go out in. */
    private final Map<ResponseStream<Object>, Function<NodeWatchResourcesResponse, Object>> streams =
            new ConcurrentHashMap<>();
    private final ScheduledExecutorService resend;
    private volatile List<DraDevice> devices = List.of();

    public HealthStreams(String pool, Clock clock) {
        this.pool = pool;
        this.clock = clock;
        this.resend = Executors.newSingleThreadScheduledExecutor(UnixSockets.daemonThreads("vfio-dra-health"));
        resend.scheduleWithFixedDelay(this::resendAll, RESEND.toMillis(), RESEND.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The published devices of a new pool: sent at once if their health changed. */
    public synchronized void update(List<DraDevice> now) {
        boolean changed = !health(now).equals(health(devices));
        devices = List.copyOf(now);
        if (changed) {
            resendAll();
        }
    }

    private static List<String> health(List<DraDevice> devices) {
        return devices.stream().map(d -> d.name() + " " + d.unit().healthy() + " " + d.unit().reason()).toList();
    }

    private synchronized void resendAll() {
        NodeWatchResourcesResponse m = message(devices);
        streams.forEach((s, version) -> s.send(version.apply(m)));
    }

    NodeWatchResourcesResponse message(List<DraDevice> list) {
        long now = clock.instant().getEpochSecond();
        NodeWatchResourcesResponse.Builder b = NodeWatchResourcesResponse.newBuilder();
        for (DraDevice d : list) {
            b.addDevices(DeviceHealth.newBuilder()
                    .setDevice(DeviceIdentifier.newBuilder().setPoolName(pool).setDeviceName(d.name()))
                    .setHealth(d.unit().healthy() ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY)
                    .setLastUpdatedTime(now).setHealthCheckTimeoutSeconds(TIMEOUT.toSeconds())
                    .setMessage(d.unit().healthy() ? "" : d.unit().reason()));
        }
        return b.build();
    }

    BindableService v1() {
        return new DRAResourceHealthGrpc.DRAResourceHealthImplBase() {
            @Override
            public void nodeWatchResources(NodeWatchResourcesRequest request,
                                           StreamObserver<NodeWatchResourcesResponse> out) {
                open(out, m -> m);
            }
        };
    }

    BindableService v1alpha1() {
        return new com.example.vfio.proto.drahealth.v1alpha1.DRAResourceHealthGrpc.DRAResourceHealthImplBase() {
            @Override
            public void nodeWatchResources(com.example.vfio.proto.drahealth.v1alpha1.NodeWatchResourcesRequest request,
                    StreamObserver<com.example.vfio.proto.drahealth.v1alpha1.NodeWatchResourcesResponse> out) {
                open(out, HealthStreams::toV1alpha1);
            }
        };
    }

    private static Object toV1alpha1(NodeWatchResourcesResponse m) {
        try {
            // the same messages, field for field: v1 was v1alpha1 made stable
            return com.example.vfio.proto.drahealth.v1alpha1.NodeWatchResourcesResponse.parseFrom(m.toByteString());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }

    private synchronized void open(StreamObserver<?> out, Function<NodeWatchResourcesResponse, Object> version) {
        ResponseStream<Object> s = new ResponseStream<>(out, streams::remove);
        s.onCancel(() -> streams.remove(s));
        streams.put(s, version);
        s.send(version.apply(message(devices)));
    }

    @Override
    public void close() {
        resend.shutdownNow();
        streams.keySet().forEach(ResponseStream::complete);
        streams.clear();
    }
}
