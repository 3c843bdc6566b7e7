package com.example.vfio.plugin;

import com.example.vfio.proto.deviceplugin.v1beta1.AllocateRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.AllocateResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerAllocateRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerPreferredAllocationRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerPreferredAllocationResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.Device;
import com.example.vfio.proto.deviceplugin.v1beta1.DevicePluginGrpc;
import com.example.vfio.proto.deviceplugin.v1beta1.DevicePluginOptions;
import com.example.vfio.proto.deviceplugin.v1beta1.Empty;
import com.example.vfio.proto.deviceplugin.v1beta1.ListAndWatchResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.NUMANode;
import com.example.vfio.proto.deviceplugin.v1beta1.PreStartContainerRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.PreStartContainerResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.PreferredAllocationRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.PreferredAllocationResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.RegisterRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.RegistrationGrpc;
import com.example.vfio.proto.deviceplugin.v1beta1.TopologyInfo;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device plugin of one extended resource: its gRPC server on {@code <plugin-dir>/vfio-<name>.sock},
 * its registration with the kubelet, and the ListAndWatch streams, which get a message only when what the
 * kubelet sees changes.
 */
public final class DevicePluginServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DevicePluginServer.class);
    static final DevicePluginOptions OPTIONS = DevicePluginOptions.newBuilder()
            .setPreStartRequired(false).setGetPreferredAllocationAvailable(true).build();
    static final long REGISTER_TIMEOUT_SECONDS = 5;

    /** Asks PodResources right now whether stale holds can be released (the on-demand poll). */
    public interface HoldRecheck {
        void recheckNow();
    }

    private final String name;
    private final Path socket;
    private final UnixSockets sockets;
    private final GroupAllocations allocations;
    private final HoldRecheck recheck;
    private final PluginMetrics metrics;
    private final CdiSpecs cdi;
    private final Object publishLock = new Object();
    private final Set<ResponseStream<ListAndWatchResponse>> streams = new CopyOnWriteArraySet<>();

    private volatile PublishedResource host;
    private PublishedResource visible;
    private ListAndWatchResponse lastSent;
    private Server server;
    private Object socketKey;
    private boolean closed;

    public DevicePluginServer(PublishedResource initial, Path pluginDir, UnixSockets sockets,
                              GroupAllocations allocations, HoldRecheck recheck, PluginMetrics metrics, CdiSpecs cdi) {
        this.name = initial.name();
        this.socket = pluginDir.resolve(socketFileName(initial.name()));
        this.sockets = sockets;
        this.allocations = allocations;
        this.recheck = recheck;
        this.metrics = metrics;
        this.cdi = cdi;
        publish(initial);
    }

    public static String socketFileName(String resourceShortName) {
        return "vfio-" + PublishedResource.requireValidName(resourceShortName) + ".sock";
    }

    public String name() {
        return name;
    }

    public String resourceName() {
        return PublishedResource.DOMAIN + "/" + name;
    }

    public Path socket() {
        return socket;
    }

    /** Serves on the socket, replacing a stale file of that name. */
    public synchronized void start() throws IOException {
        if (closed) {
            return; // withdrawn while the kubelet watcher was about to serve it
        }
        stopServer();
        Files.deleteIfExists(socket);
        server = sockets.serve(socket, new Service());
        socketKey = KubeletWatcher.fileKey(socket);
    }

    /** True while our own socket file is still in place (a kubelet restart deletes it). */
    public synchronized boolean socketPresent() {
        return server != null && socketKey != null && Objects.equals(socketKey, KubeletWatcher.fileKey(socket));
    }

    /** Registers with the kubelet; the server must already be serving. */
    public void register(Path kubeletSocket) {
        synchronized (this) {
            if (closed) {
                return;
            }
        }
        RegisterRequest req = RegisterRequest.newBuilder().setVersion("v1beta1")
                .setEndpoint(socket.getFileName().toString()).setResourceName(resourceName())
                .setOptions(OPTIONS).build();
        ManagedChannel ch = sockets.dial(kubeletSocket);
        try {
            RegistrationGrpc.newBlockingStub(ch).withDeadlineAfter(REGISTER_TIMEOUT_SECONDS, TimeUnit.SECONDS)
                    .register(req);
            metrics.registration(resourceName());
            LOG.info("registered {} with the kubelet (endpoint {}, {} device(s))", resourceName(),
                    socket.getFileName(), host.devices().size());
        } finally {
            UnixSockets.shutdown(ch);
        }
    }

    /** Takes a new host view of the resource (from a rescan); the same view again changes nothing. */
    public void publish(PublishedResource hostView) {
        if (!hostView.name().equals(name)) {
            throw new IllegalArgumentException("resource " + hostView.name() + " published on the server of " + name);
        }
        if (hostView.equals(host)) {
            return;
        }
        host = hostView;
        republish();
        if (cdi != null) {
            cdi.write(hostView);
        }
    }

    /** Recomputes what the kubelet sees (after a hold was taken or released) and sends it if it changed. */
    public void republish() {
        synchronized (publishLock) {
            PublishedResource next = GroupLockOverlay.apply(host, allocations.holds());
            logTransitions(visible, next);
            visible = next;
            long healthy = next.devices().stream().filter(PublishedDevice::healthy).count();
            metrics.devices(resourceName(), healthy, next.devices().size() - healthy);
            ListAndWatchResponse wire = toWire(next);
            if (!wire.equals(lastSent)) {
                lastSent = wire;
                for (ResponseStream<ListAndWatchResponse> s : streams) {
                    s.send(wire);
                }
            }
        }
    }

    /** The last host view (holds not applied). */
    public PublishedResource hostView() {
        return host;
    }

    /** What ListAndWatch currently reports (holds applied). */
    public PublishedResource visible() {
        synchronized (publishLock) {
            return visible;
        }
    }

    /** Stops serving: ends the ListAndWatch streams and removes our socket file. */
    @Override
    public synchronized void close() {
        closed = true;
        stopServer();
        if (cdi != null) {
            cdi.remove(name);
        }
    }

    private void stopServer() {
        for (ResponseStream<ListAndWatchResponse> s : streams) {
            s.complete();
        }
        streams.clear();
        if (server != null) {
            UnixSockets.shutdown(server);
            server = null;
            try {
                if (socketKey != null && socketKey.equals(KubeletWatcher.fileKey(socket))) {
                    Files.deleteIfExists(socket);
                }
            } catch (IOException e) {
                LOG.warn("cannot remove {}: {}", socket, e.getMessage());
            }
            socketKey = null;
        }
    }

    static ListAndWatchResponse toWire(PublishedResource r) {
        ListAndWatchResponse.Builder b = ListAndWatchResponse.newBuilder();
        for (PublishedDevice d : r.devices()) {
            Device.Builder dev = Device.newBuilder().setID(d.id()).setHealth(d.healthy() ? "Healthy" : "Unhealthy");
            if (d.numaNode() >= 0) {
                dev.setTopology(TopologyInfo.newBuilder().addNodes(NUMANode.newBuilder().setID(d.numaNode())));
            }
            b.addDevices(dev);
        }
        return b.build();
    }

    private void logTransitions(PublishedResource before, PublishedResource after) {
        Map<String, PublishedDevice> old = new LinkedHashMap<>();
        if (before != null) {
            before.devices().forEach(d -> old.put(d.id(), d));
        }
        for (PublishedDevice d : after.devices()) {
            PublishedDevice was = old.remove(d.id());
            if (was == null) {
                if (d.healthy()) {
                    LOG.info("{} {}: Healthy", resourceName(), d.id());
                } else {
                    LOG.info("{} {}: Unhealthy: {}", resourceName(), d.id(), d.reason());
                }
            } else if (was.healthy() && !d.healthy()) {
                LOG.warn("{} {} became Unhealthy: {}", resourceName(), d.id(), d.reason());
            } else if (!was.healthy() && d.healthy()) {
                LOG.info("{} {} became Healthy", resourceName(), d.id());
            } else if (!d.healthy() && !was.reason().equals(d.reason())) {
                LOG.info("{} {} still Unhealthy: {}", resourceName(), d.id(), d.reason());
            }
        }
        for (PublishedDevice gone : old.values()) {
            LOG.warn("{} {} is no longer selected for this resource: withdrawn", resourceName(), gone.id());
        }
    }

    private AllocateResponse allocate(AllocateRequest request) {
        PublishedResource view = host;
        List<List<PublishedDevice>> perContainer = new ArrayList<>();
        List<GroupAllocations.Claim> claims = new ArrayList<>();
        Set<String> groupsSeen = new HashSet<>();
        Set<String> idsSeen = new HashSet<>();
        for (ContainerAllocateRequest c : request.getContainerRequestsList()) {
            List<PublishedDevice> units = new ArrayList<>();
            Set<String> groupsHere = new HashSet<>();
            for (String id : c.getDevicesIdsList()) {
                if (!idsSeen.add(id)) {
                    throw refuse(Status.INVALID_ARGUMENT, id + ": requested twice");
                }
                PublishedDevice d = view.device(id).orElseThrow(() -> refuse(Status.NOT_FOUND,
                        id + ": unknown device for " + resourceName()));
                if (!d.healthy()) {
                    throw refuse(Status.FAILED_PRECONDITION, id + ": unhealthy: " + d.reason());
                }
                if (groupsSeen.contains(d.iommuGroup()) && !groupsHere.contains(d.iommuGroup())) {
                    throw refuse(Status.FAILED_PRECONDITION, id + ": IOMMU group " + d.iommuGroup()
                            + " would be split between containers");
                }
                groupsHere.add(d.iommuGroup());
                units.add(d);
                claims.add(new GroupAllocations.Claim(d.id(), d.iommuGroup(), d.addresses()));
            }
            groupsSeen.addAll(groupsHere);
            perContainer.add(units);
        }
        try {
            allocations.acquire(resourceName(), claims);
        } catch (GroupAllocations.RefusedException first) {
            // a hold may outlive its pod until the next poll: ask PodResources now, then try once more
            recheck.recheckNow();
            try {
                allocations.acquire(resourceName(), claims);
            } catch (GroupAllocations.RefusedException again) {
                throw refuse(Status.FAILED_PRECONDITION, again.getMessage());
            }
        }
        AllocateResponse.Builder resp = AllocateResponse.newBuilder();
        for (List<PublishedDevice> units : perContainer) {
            resp.addContainerResponses(ContainerAllocation.build(resourceName(), units, view.hostNodes()));
            metrics.allocation(resourceName());
            LOG.info("allocated {} of {} (IOMMU group {})",
                    String.join(",", units.stream().flatMap(u -> u.addresses().stream()).toList()), resourceName(),
                    String.join(",", units.stream().map(PublishedDevice::iommuGroup).distinct().toList()));
        }
        return resp.build();
    }

    private static List<String> sorted(List<String> ids) {
        return ids.stream().sorted().toList();
    }

    private StatusRuntimeException refuse(Status status, String message) {
        metrics.error("allocate_refused");
        LOG.warn("refused Allocate for {}: {}", resourceName(), message);
        return status.withDescription(message).asRuntimeException();
    }

    private final class Service extends DevicePluginGrpc.DevicePluginImplBase {
        @Override
        public void getDevicePluginOptions(Empty request, StreamObserver<DevicePluginOptions> out) {
            out.onNext(OPTIONS);
            out.onCompleted();
        }

        @Override
        public void listAndWatch(Empty request, StreamObserver<ListAndWatchResponse> out) {
            ResponseStream<ListAndWatchResponse> s = new ResponseStream<>(out, streams::remove);
            s.onCancel(() -> streams.remove(s));
            synchronized (publishLock) {
                // holds taken up since the last republish (recovered just before registering) count already
                republish();
                streams.add(s);
                s.send(toWire(visible));
            }
        }

        @Override
        public void getPreferredAllocation(PreferredAllocationRequest request,
                                           StreamObserver<PreferredAllocationResponse> out) {
            List<PublishedDevice> known = host.devices();
            PreferredAllocationResponse.Builder resp = PreferredAllocationResponse.newBuilder();
            for (ContainerPreferredAllocationRequest c : request.getContainerRequestsList()) {
                List<String> chosen = PreferredAllocation.choose(known, c.getAvailableDeviceIDsList(),
                        c.getMustIncludeDeviceIDsList(), c.getAllocationSize());
                // which devices the kubelet offered (after its Topology Manager) and what we preferred: the
                // answer to "why did this pod get these devices"
                if (LOG.isDebugEnabled()) {
                    LOG.debug("GetPreferredAllocation {}: size {}, available {}, must include {} -> {}",
                            resourceName(), c.getAllocationSize(), sorted(c.getAvailableDeviceIDsList()),
                            sorted(c.getMustIncludeDeviceIDsList()), chosen);
                }
                resp.addContainerResponses(ContainerPreferredAllocationResponse.newBuilder().addAllDeviceIDs(chosen));
            }
            out.onNext(resp.build());
            out.onCompleted();
        }

        @Override
        public void allocate(AllocateRequest request, StreamObserver<AllocateResponse> out) {
            AllocateResponse resp;
            long t0 = System.nanoTime();
            try {
                resp = DevicePluginServer.this.allocate(request);
            } catch (StatusRuntimeException e) {
                metrics.allocateTook(resourceName(), System.nanoTime() - t0);
                out.onError(e);
                return;
            }
            metrics.allocateTook(resourceName(), System.nanoTime() - t0);
            out.onNext(resp);
            out.onCompleted();
        }

        @Override
        public void preStartContainer(PreStartContainerRequest request, StreamObserver<PreStartContainerResponse> out) {
            out.onNext(PreStartContainerResponse.getDefaultInstance());
            out.onCompleted();
        }
    }
}
