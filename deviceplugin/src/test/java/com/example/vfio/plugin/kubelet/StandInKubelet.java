package com.example.vfio.plugin.kubelet;

import com.example.vfio.proto.deviceplugin.v1beta1.AllocateRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.AllocateResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerAllocateRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerPreferredAllocationRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.Device;
import com.example.vfio.proto.deviceplugin.v1beta1.DevicePluginGrpc;
import com.example.vfio.proto.deviceplugin.v1beta1.DevicePluginOptions;
import com.example.vfio.proto.deviceplugin.v1beta1.Empty;
import com.example.vfio.proto.deviceplugin.v1beta1.ListAndWatchResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.PreferredAllocationRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.RegisterRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.RegistrationGrpc;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A stand-in for the kubelet's device manager, speaking the real v1beta1 protocol over real unix sockets:
 * it serves {@code Registration} on {@code <dir>/kubelet.sock}; on Register it dials the plugin's socket
 * back, calls GetDevicePluginOptions, opens ListAndWatch and records every update. Tests call Allocate
 * and GetPreferredAllocation through it, and {@link #restart()} behaves like a kubelet restart: every
 * socket in the directory is deleted and kubelet.sock is created anew.
 *
 * <p>Self-contained (only gRPC and the generated stubs) so other suites can reuse it.
 */
public final class StandInKubelet implements AutoCloseable {

    public static final String KUBELET_SOCKET = "kubelet.sock";
    private static final String CHECKPOINT = "kubelet_internal_checkpoint";

    private final Path dir;
    private final StandInPodResources podResources;
    private final EventLoopGroup loop;
    private final ExecutorService executor;
    private final Map<String, Plugin> plugins = new ConcurrentHashMap<>();
    private final List<RegisterRequest> registrations = new CopyOnWriteArrayList<>();
    private final List<String> rejections = new CopyOnWriteArrayList<>();
    private Server registration;

    /** One registered plugin: its channel and what its ListAndWatch stream sent. */
    public static final class Plugin {
        final String resource;
        final String endpoint;
        final ManagedChannel channel;
        final DevicePluginOptions options;
        final List<ListAndWatchResponse> updates = new CopyOnWriteArrayList<>();
        volatile boolean streamOpen = true;
        volatile Status streamEnd;

        Plugin(String resource, String endpoint, ManagedChannel channel, DevicePluginOptions options) {
            this.resource = resource;
            this.endpoint = endpoint;
            this.channel = channel;
            this.options = options;
        }
    }

    /** @param podResources where successful pod allocations are recorded (may be null) */
    public StandInKubelet(Path dir, StandInPodResources podResources) {
        this.dir = dir;
        this.podResources = podResources;
        this.loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        this.executor = Executors.newFixedThreadPool(2);
    }

    public Path dir() {
        return dir;
    }

    public Path socket() {
        return dir.resolve(KUBELET_SOCKET);
    }

    /** Starts serving kubelet.sock (the kubelet comes up). */
    public synchronized StandInKubelet start() {
        if (registration != null) {
            return this;
        }
        try {
            Files.createDirectories(dir);
            Files.deleteIfExists(socket());
            registration = NettyServerBuilder.forAddress(new DomainSocketAddress(socket().toString()))
                    .channelType(EpollServerDomainSocketChannel.class)
                    .bossEventLoopGroup(loop).workerEventLoopGroup(loop).executor(executor)
                    .addService(new RegistrationService())
                    .build().start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    /** The kubelet goes down: streams closed, kubelet.sock removed. */
    public synchronized void stop() {
        for (Plugin p : plugins.values()) {
            shutdown(p.channel);
        }
        plugins.clear();
        if (registration != null) {
            registration.shutdownNow();
            await(registration);
            registration = null;
        }
        try {
            Files.deleteIfExists(socket());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A kubelet restart: down, every socket in the directory deleted, up with a new kubelet.sock. */
    public synchronized void restart() {
        stop();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.toList()) {
                if (!Files.isDirectory(p) && !p.getFileName().toString().equals(CHECKPOINT)) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        start();
    }

    public List<RegisterRequest> registrations() {
        return List.copyOf(registrations);
    }

    public long registrations(String resource) {
        return registrations.stream().filter(r -> r.getResourceName().equals(resource)).count();
    }

    /** Register calls refused, with the reason. */
    public List<String> rejections() {
        return List.copyOf(rejections);
    }

    public boolean connected(String resource) {
        Plugin p = plugins.get(resource);
        return p != null && p.streamOpen;
    }

    public Optional<DevicePluginOptions> options(String resource) {
        return Optional.ofNullable(plugins.get(resource)).map(p -> p.options);
    }

    /** ListAndWatch messages received from the current registration of the resource. */
    public List<ListAndWatchResponse> updates(String resource) {
        Plugin p = plugins.get(resource);
        return p == null ? List.of() : List.copyOf(p.updates);
    }

    /** The device list of the last ListAndWatch message: ID to health. */
    public Map<String, String> devices(String resource) {
        Map<String, String> health = new LinkedHashMap<>();
        List<ListAndWatchResponse> u = updates(resource);
        if (!u.isEmpty()) {
            u.get(u.size() - 1).getDevicesList().forEach(d -> health.put(d.getID(), d.getHealth()));
        }
        return health;
    }

    public Optional<Device> device(String resource, String id) {
        List<ListAndWatchResponse> u = updates(resource);
        if (u.isEmpty()) {
            return Optional.empty();
        }
        return u.get(u.size() - 1).getDevicesList().stream().filter(d -> d.getID().equals(id)).findFirst();
    }

    public AllocateResponse allocate(String resource, List<String> ids) {
        return stub(resource).allocate(AllocateRequest.newBuilder()
                .addContainerRequests(ContainerAllocateRequest.newBuilder().addAllDevicesIds(ids)).build());
    }

    /** Allocate for a pod's container; on success the pod shows in PodResources like the kubelet records it. */
    public AllocateResponse allocateToPod(String pod, String resource, List<String> ids) {
        AllocateResponse r = allocate(resource, ids);
        if (podResources != null) {
            podResources.assign(pod, resource, ids);
        }
        return r;
    }

    public List<String> preferred(String resource, List<String> available, List<String> mustInclude, int size) {
        return stub(resource).getPreferredAllocation(PreferredAllocationRequest.newBuilder()
                        .addContainerRequests(ContainerPreferredAllocationRequest.newBuilder()
                                .addAllAvailableDeviceIDs(available).addAllMustIncludeDeviceIDs(mustInclude)
                                .setAllocationSize(size))
                        .build())
                .getContainerResponses(0).getDeviceIDsList();
    }

    private DevicePluginGrpc.DevicePluginBlockingStub stub(String resource) {
        Plugin p = plugins.get(resource);
        if (p == null) {
            throw new IllegalStateException("no plugin registered for " + resource);
        }
        return DevicePluginGrpc.newBlockingStub(p.channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        stop();
        executor.shutdownNow();
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    private final class RegistrationService extends RegistrationGrpc.RegistrationImplBase {
        @Override
        public void register(RegisterRequest req, StreamObserver<Empty> out) {
            String problem = validate(req);
            if (problem != null) {
                rejections.add(problem);
                out.onError(Status.INVALID_ARGUMENT.withDescription(problem).asRuntimeException());
                return;
            }
            Plugin connected = plugins.get(req.getResourceName());
            if (connected != null && connected.streamOpen && connected.endpoint.equals(req.getEndpoint())) {
                // as the kubelet's device manager (PluginConnected): one connection per plugin socket
                String why = "device plugin already connected: " + dir.resolve(req.getEndpoint());
                rejections.add(why);
                out.onError(Status.UNKNOWN.withDescription(why).asRuntimeException());
                return;
            }
            ManagedChannel ch = NettyChannelBuilder.forAddress(
                            new DomainSocketAddress(dir.resolve(req.getEndpoint()).toString()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).executor(executor)
                    .usePlaintext().build();
            DevicePluginOptions options;
            try {
                options = DevicePluginGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS)
                        .getDevicePluginOptions(Empty.getDefaultInstance());
            } catch (StatusRuntimeException e) {
                shutdown(ch);
                String why = "GetDevicePluginOptions of " + req.getResourceName() + " failed: " + e.getStatus();
                rejections.add(why);
                out.onError(Status.UNAVAILABLE.withDescription(why).asRuntimeException());
                return;
            }
            Plugin plugin = new Plugin(req.getResourceName(), req.getEndpoint(), ch, options);
            registrations.add(req);
            Plugin old = plugins.put(req.getResourceName(), plugin);
            if (old != null) {
                shutdown(old.channel);
            }
            // the stream outlives this Register call: it must not inherit the call's context (cancelled on return)
            Context.ROOT.run(() -> DevicePluginGrpc.newStub(ch).listAndWatch(Empty.getDefaultInstance(), new StreamObserver<>() {
                @Override
                public void onNext(ListAndWatchResponse value) {
                    plugin.updates.add(value);
                }

                @Override
                public void onError(Throwable t) {
                    plugin.streamOpen = false;
                    plugin.streamEnd = Status.fromThrowable(t);
                }

                @Override
                public void onCompleted() {
                    plugin.streamOpen = false;
                    plugin.streamEnd = Status.OK;
                }
            }));
            out.onNext(Empty.getDefaultInstance());
            out.onCompleted();
        }

        private String validate(RegisterRequest req) {
            if (!"v1beta1".equals(req.getVersion())) {
                return "unsupported version '" + req.getVersion() + "'";
            }
            String name = req.getResourceName();
            int slash = name.indexOf('/');
            if (slash <= 0 || slash == name.length() - 1 || name.startsWith("kubernetes.io/")) {
                return "invalid extended resource name '" + name + "'";
            }
            String endpoint = req.getEndpoint();
            if (endpoint.isEmpty() || endpoint.contains("/") || !Files.exists(dir.resolve(endpoint))) {
                return "endpoint '" + endpoint + "' is not a socket in " + dir;
            }
            return null;
        }
    }

    private static void shutdown(ManagedChannel ch) {
        ch.shutdownNow();
        try {
            ch.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void await(Server s) {
        try {
            s.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** IDs of the devices of the last ListAndWatch message with the given health. */
    public List<String> withHealth(String resource, String health) {
        List<String> ids = new ArrayList<>();
        devices(resource).forEach((id, h) -> {
            if (h.equals(health)) {
                ids.add(id);
            }
        });
        return ids;
    }
}
