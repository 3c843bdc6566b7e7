package com.example.vfio.plugin.kubelet;

import com.example.vfio.proto.podresources.v1.AllocatableResourcesRequest;
import com.example.vfio.proto.podresources.v1.AllocatableResourcesResponse;
import com.example.vfio.proto.podresources.v1.ContainerDevices;
import com.example.vfio.proto.podresources.v1.ContainerResources;
import com.example.vfio.proto.podresources.v1.GetPodResourcesRequest;
import com.example.vfio.proto.podresources.v1.GetPodResourcesResponse;
import com.example.vfio.proto.podresources.v1.ListPodResourcesRequest;
import com.example.vfio.proto.podresources.v1.ListPodResourcesResponse;
import com.example.vfio.proto.podresources.v1.PodResources;
import com.example.vfio.proto.podresources.v1.PodResourcesListerGrpc;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A stand-in for the kubelet's PodResources API ({@code v1.PodResourcesLister}) on a real unix socket.
 * Pods are assigned devices by the tests (or by {@link StandInKubelet#allocateToPod}) and removed when
 * they end. Each pod has one container, {@code main}.
 */
public final class StandInPodResources implements AutoCloseable {

    private final Path socket;
    private final EventLoopGroup loop = new EpollEventLoopGroup(1);
    private final ExecutorService executor = Executors.newFixedThreadPool(1);
    private final Map<String, Map<String, List<String>>> pods = new ConcurrentHashMap<>();
    private final AtomicInteger listCalls = new AtomicInteger();
    private Server server;

    public StandInPodResources(Path socket) {
        this.socket = socket;
    }

    public Path socket() {
        return socket;
    }

    public synchronized StandInPodResources start() {
        if (server == null) {
            try {
                Files.createDirectories(socket.getParent());
                Files.deleteIfExists(socket);
                server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                        .channelType(EpollServerDomainSocketChannel.class)
                        .bossEventLoopGroup(loop).workerEventLoopGroup(loop).executor(executor)
                        .addService(new Lister()).build().start();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return this;
    }

    /** The API goes away (socket removed). */
    public synchronized void stop() {
        if (server != null) {
            server.shutdownNow();
            try {
                server.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            server = null;
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public void assign(String pod, String resource, List<String> deviceIds) {
        pods.computeIfAbsent(pod, p -> new ConcurrentHashMap<>()).put(resource, List.copyOf(deviceIds));
    }

    /** The pod ended: its devices are free in the kubelet's eyes. */
    public void remove(String pod) {
        pods.remove(pod);
    }

    public int listCalls() {
        return listCalls.get();
    }

    private PodResources pod(String name, Map<String, List<String>> devices) {
        ContainerResources.Builder c = ContainerResources.newBuilder().setName("main");
        devices.forEach((res, ids) -> c.addDevices(ContainerDevices.newBuilder().setResourceName(res)
                .addAllDeviceIds(ids)));
        return PodResources.newBuilder().setName(name).setNamespace("default").addContainers(c).build();
    }

    @Override
    public void close() {
        stop();
        executor.shutdownNow();
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    private final class Lister extends PodResourcesListerGrpc.PodResourcesListerImplBase {
        @Override
        public void list(ListPodResourcesRequest request, StreamObserver<ListPodResourcesResponse> out) {
            listCalls.incrementAndGet();
            ListPodResourcesResponse.Builder b = ListPodResourcesResponse.newBuilder();
            pods.forEach((name, devices) -> b.addPodResources(pod(name, devices)));
            out.onNext(b.build());
            out.onCompleted();
        }

        @Override
        public void getAllocatableResources(AllocatableResourcesRequest request,
                                            StreamObserver<AllocatableResourcesResponse> out) {
            out.onError(Status.UNIMPLEMENTED.withDescription("not needed by the plugin").asRuntimeException());
        }

        @Override
        public void get(GetPodResourcesRequest request, StreamObserver<GetPodResourcesResponse> out) {
            Map<String, List<String>> devices = pods.get(request.getPodName());
            if (devices == null) {
                out.onError(Status.NOT_FOUND.withDescription("pod " + request.getPodName()).asRuntimeException());
                return;
            }
            out.onNext(GetPodResourcesResponse.newBuilder().setPodResources(pod(request.getPodName(), devices))
                    .build());
            out.onCompleted();
        }
    }
}
