import com.example.vfio.proto.deviceplugin.v1beta1.AllocateRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.AllocateResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerAllocateRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerAllocateResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.Device;
import com.example.vfio.proto.deviceplugin.v1beta1.DevicePluginGrpc;
import com.example.vfio.proto.deviceplugin.v1beta1.DeviceSpec;
import com.example.vfio.proto.deviceplugin.v1beta1.Empty;
import com.example.vfio.proto.deviceplugin.v1beta1.ListAndWatchResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.RegisterRequest;
import com.example.vfio.proto.deviceplugin.v1beta1.RegistrationGrpc;
import com.example.vfio.proto.podresources.v1.AllocatableResourcesRequest;
import com.example.vfio.proto.podresources.v1.AllocatableResourcesResponse;
import com.example.vfio.proto.podresources.v1.ListPodResourcesRequest;
import com.example.vfio.proto.podresources.v1.ListPodResourcesResponse;
import com.example.vfio.proto.podresources.v1.PodResourcesListerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The kubelet's side of the device plugin protocol, just enough for the kernel lab: serves
 * Registration on {@code <plugin-dir>/kubelet.sock} and an empty PodResourcesLister, waits for the
 * plugin of one resource to register, watches its devices until the requested one is Healthy,
 * calls Allocate for it and prints what came back, one fact per line:
 *
 * <pre>
 * registered resource=vfio.example.com/edu endpoint=... version=v1beta1
 * device id=0000:01:00.0 health=Healthy t=1796355000123456
 * allocate-device host=/dev/vfio/8 container=/dev/vfio/8 permissions=rw
 * allocate-env PCI_RESOURCE_VFIO_EXAMPLE_COM_EDU=0000:01:00.0
 * done
 * </pre>
 *
 * {@code t} is when the ListAndWatch message arrived, in microseconds since the epoch (the clock of the
 * guest's {@code date +%s%N}). Without {@code --allocate} it only watches: every ListAndWatch message is
 * printed until {@code --stop-file} exists or the timeout passes (exit 0 then).
 *
 * Compiled by e2e/kernel-lab/run against the daemon's shaded jar (which carries grpc and the
 * generated kubelet API), run in the guest with {@code java -cp <jar>:<classes> KubeletStandIn}.
 * Exit 0 after Allocate, 1 on any failure or when --timeout seconds pass.
 */
public final class KubeletStandIn {
    public static void main(String[] args) throws Exception {
        Map<String, String> opt = options(args);
        Path pluginDir = Path.of(opt.get("--plugin-dir"));
        String podResources = opt.get("--pod-resources-socket");
        String resource = opt.get("--resource");
        String device = opt.get("--allocate");
        Path stopFile = opt.containsKey("--stop-file") ? Path.of(opt.get("--stop-file")) : null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(opt.getOrDefault("--timeout", "120")));

        EventLoopGroup loop = new EpollEventLoopGroup(2);
        CompletableFuture<RegisterRequest> registered = new CompletableFuture<>();
        Path kubeletSocket = pluginDir.resolve("kubelet.sock");
        Files.deleteIfExists(kubeletSocket);
        Files.deleteIfExists(Path.of(podResources));
        Server registration = server(kubeletSocket.toString(), loop)
                .addService(new RegistrationGrpc.RegistrationImplBase() {
                    @Override
                    public void register(RegisterRequest request, StreamObserver<Empty> response) {
                        System.out.printf("registered resource=%s endpoint=%s version=%s%n",
                                request.getResourceName(), request.getEndpoint(), request.getVersion());
                        response.onNext(Empty.getDefaultInstance());
                        response.onCompleted();
                        if (request.getResourceName().equals(resource)) {
                            registered.complete(request);
                        }
                    }
                }).build().start();
        Server lister = server(podResources, loop)
                .addService(new PodResourcesListerGrpc.PodResourcesListerImplBase() {
                    @Override
                    public void list(ListPodResourcesRequest request, StreamObserver<ListPodResourcesResponse> response) {
                        response.onNext(ListPodResourcesResponse.getDefaultInstance());
                        response.onCompleted();
                    }

                    @Override
                    public void getAllocatableResources(AllocatableResourcesRequest request,
                            StreamObserver<AllocatableResourcesResponse> response) {
                        response.onNext(AllocatableResourcesResponse.getDefaultInstance());
                        response.onCompleted();
                    }
                }).build().start();
        int status = 1;
        ManagedChannel channel = null;
        try {
            RegisterRequest request = registered.get(remaining(deadline), TimeUnit.NANOSECONDS);
            channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(pluginDir.resolve(request.getEndpoint()).toString()))
                    .channelType(EpollDomainSocketChannel.class).eventLoopGroup(loop).usePlaintext().build();

            CompletableFuture<Void> healthy = new CompletableFuture<>();
            DevicePluginGrpc.newStub(channel).listAndWatch(Empty.getDefaultInstance(), new StreamObserver<>() {
                @Override
                public void onNext(ListAndWatchResponse update) {
                    long micros = ChronoUnit.MICROS.between(Instant.EPOCH, Instant.now());
                    for (Device d : update.getDevicesList()) {
                        System.out.printf("device id=%s health=%s t=%d%n", d.getID(), d.getHealth(), micros);
                        if (d.getID().equals(device) && d.getHealth().equals("Healthy")) {
                            healthy.complete(null);
                        }
                    }
                    System.out.flush();
                }

                @Override
                public void onError(Throwable t) {
                    healthy.completeExceptionally(t);
                }

                @Override
                public void onCompleted() {
                    healthy.completeExceptionally(new IllegalStateException("ListAndWatch ended"));
                }
            });
            if (device == null) { // watching only
                while (!Files.exists(stopFile) && System.nanoTime() < deadline && !healthy.isCompletedExceptionally()) {
                    Thread.sleep(100);
                }
                System.out.println(healthy.isCompletedExceptionally() ? "ListAndWatch ended" : "done");
                status = healthy.isCompletedExceptionally() ? 1 : 0;
            } else {
                healthy.get(remaining(deadline), TimeUnit.NANOSECONDS);
                AllocateResponse allocation = DevicePluginGrpc.newBlockingStub(channel)
                        .withDeadlineAfter(remaining(deadline), TimeUnit.NANOSECONDS)
                        .allocate(AllocateRequest.newBuilder()
                                .addContainerRequests(ContainerAllocateRequest.newBuilder().addDevicesIds(device))
                                .build());
                for (ContainerAllocateResponse container : allocation.getContainerResponsesList()) {
                    for (DeviceSpec spec : container.getDevicesList()) {
                        System.out.printf("allocate-device host=%s container=%s permissions=%s%n",
                                spec.getHostPath(), spec.getContainerPath(), spec.getPermissions());
                    }
                    new TreeMap<>(container.getEnvsMap()).forEach((k, v) -> System.out.printf("allocate-env %s=%s%n", k, v));
                }
                System.out.println("done");
                status = 0;
            }
        } catch (TimeoutException e) {
            System.err.println("kubelet stand-in: timed out waiting for " + (registered.isDone() ? device + " to be Healthy or allocated" : resource + " to register"));
        } catch (Exception e) {
            System.err.println("kubelet stand-in: " + e);
        } finally {
            System.out.flush();
            if (channel != null) {
                channel.shutdownNow();
            }
            registration.shutdownNow();
            lister.shutdownNow();
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        System.exit(status);
    }

    private static NettyServerBuilder server(String socket, EventLoopGroup loop) {
        return NettyServerBuilder.forAddress(new DomainSocketAddress(socket))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(loop).workerEventLoopGroup(loop);
    }

    private static long remaining(long deadline) throws TimeoutException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new TimeoutException();
        }
        return left;
    }

    private static Map<String, String> options(String[] args) {
        Map<String, String> opt = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opt.put(args[i], args[i + 1]);
        }
        if (!opt.containsKey("--allocate") && !opt.containsKey("--stop-file")) {
            System.err.println("kubelet stand-in: --allocate DEVICE or --stop-file FILE (watch only)");
            System.exit(2);
        }
        for (String required : new String[] {"--plugin-dir", "--pod-resources-socket", "--resource"}) {
            if (!opt.containsKey(required)) {
                System.err.println("kubelet stand-in: missing " + required);
                System.exit(2);
            }
        }
        return opt;
    }
}
