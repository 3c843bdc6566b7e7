package com.example.vfio.dra;

import com.example.vfio.plugin.DirectoryWatch;
import com.example.vfio.plugin.KubeletWatcher;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.UnixSockets;
import com.example.vfio.proto.pluginregistration.v1.InfoRequest;
import com.example.vfio.proto.pluginregistration.v1.PluginInfo;
import com.example.vfio.proto.pluginregistration.v1.RegistrationGrpc;
import com.example.vfio.proto.pluginregistration.v1.RegistrationStatus;
import com.example.vfio.proto.pluginregistration.v1.RegistrationStatusResponse;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The driver's two sockets and its registration with the kubelet's plugin watcher, the way
 * k8s.io/dynamic-resource-allocation/kubeletplugin does it: the DRA services on {@code <plugins>/vfio.example.com/dra.sock}
 * (served first), then {@code pluginregistration.Registration} on {@code <plugins_registry>/vfio.example.com-reg.sock},
 * which the kubelet finds by watching that directory. Its GetInfo names the endpoint and the services in order of
 * preference ({@code v1.DRAPlugin}, {@code v1beta1.DRAPlugin}, {@code v1.DRAResourceHealth},
 * {@code v1alpha1.DRAResourceHealth}).
 *
 * <p>A kubelet that restarts walks the registry directory again and calls GetInfo on the socket it finds: nothing to
 * do here but keep serving. What this class does follow is its own socket files: one that is deleted or replaced (by
 * an admin, or a cleanup) is served again, and that creation is what the plugin watcher reacts to. A stale file left
 * by a daemon that died is replaced at start. (A kubelet that started while no daemon served the file retries its
 * registration with exponential backoff of up to about two minutes: that is how soon it finds us again.)
 */
public final class KubeletRegistration implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KubeletRegistration.class);
    public static final String PLUGIN_TYPE = "DRAPlugin";
    /** The services this driver offers, most preferred first; the kubelet takes the first of each kind it knows. */
    public static final List<String> SERVICES = List.of("v1.DRAPlugin", "v1beta1.DRAPlugin", "v1.DRAResourceHealth",
            "v1alpha1.DRAResourceHealth");

    /**
     * Where the sockets go.
     *
     * @param registryDir the kubelet's plugin registry ({@code /var/lib/kubelet/plugins_registry})
     * @param pluginsDir  the kubelet's plugin directory ({@code /var/lib/kubelet/plugins}); ours is {@code vfio.example.com}
     *                    in it; the path must be the same in the daemon's container and on the host
     */
    public record Paths(Path registryDir, Path pluginsDir) {
        public Paths {
            Objects.requireNonNull(registryDir, "registryDir");
            Objects.requireNonNull(pluginsDir, "pluginsDir");
        }

        public Path registrationSocket() {
            return registryDir.resolve(DraNames.DRIVER + "-reg.sock");
        }

        /** The driver's own directory: the DRA socket, and the device metadata it writes. */
        public Path driverDir() {
            return pluginsDir.resolve(DraNames.DRIVER);
        }

        public Path draSocket() {
            return driverDir().resolve("dra.sock");
        }
    }

    private final Paths paths;
    private final UnixSockets sockets;
    private final List<BindableService> draServices;
    private final PluginMetrics metrics;
    private final Duration period;
    private final AtomicLong registrations = new AtomicLong();
    private final AtomicBoolean pending = new AtomicBoolean();
    private final ScheduledThreadPoolExecutor thread;
    private Served dra;
    private Served registration;
    private DirectoryWatch watch;
    private boolean closed;

    private record Served(Path socket, Server server, Object key) {
        boolean present() {
            return Objects.equals(key, KubeletWatcher.fileKey(socket));
        }
    }

    public KubeletRegistration(Paths paths, UnixSockets sockets, List<BindableService> draServices,
                               PluginMetrics metrics, Duration period) {
        this.paths = paths;
        this.sockets = sockets;
        this.draServices = List.copyOf(draServices);
        this.metrics = metrics;
        this.period = period;
        this.thread = new ScheduledThreadPoolExecutor(1, UnixSockets.daemonThreads("vfio-dra-registration"));
        thread.setRemoveOnCancelPolicy(true);
    }

    public Paths paths() {
        return paths;
    }

    /** Serves both sockets now, then keeps them in place. */
    public synchronized KubeletRegistration start() throws IOException {
        Files.createDirectories(paths.driverDir());
        Files.createDirectories(paths.registryDir());
        check();
        watch = new DirectoryWatch(List.of(paths.registryDir(), paths.driverDir()), this::wake, period,
                "vfio-dra-dir-watch");
        thread.scheduleWithFixedDelay(this::checkQuietly, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
        LOG.info("DRA driver {} serves {} and registers through {}", DraNames.DRIVER, paths.draSocket(),
                paths.registrationSocket());
        return this;
    }

    /** How often the kubelet told us we are registered. */
    public long registrations() {
        return registrations.get();
    }

    private void wake() {
        if (pending.compareAndSet(false, true)) {
            try {
                thread.execute(this::checkQuietly);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                pending.set(false);
            }
        }
    }

    private void checkQuietly() {
        pending.set(false);
        try {
            check();
        } catch (IOException | RuntimeException e) {
            metrics.error("dra_registration");
            LOG.error("serving the DRA driver's sockets failed (will retry): {}", e.toString());
        }
    }

    private synchronized void check() throws IOException {
        if (closed) {
            return;
        }
        boolean draServed = false;
        if (dra == null || !dra.present()) {
            if (dra != null) {
                LOG.warn("{} was removed or replaced: serving it again", paths.draSocket());
            }
            dra = serve(dra, paths.draSocket(), draServices.toArray(BindableService[]::new));
            draServed = true;
        }
        // after the DRA socket: the kubelet dials the endpoint once it has read GetInfo
        if (draServed || registration == null || !registration.present()) {
            if (registration != null && !draServed) {
                LOG.warn("{} was removed or replaced: serving it again, the kubelet registers the driver anew",
                        paths.registrationSocket());
            }
            registration = serve(registration, paths.registrationSocket(), new Registration());
        }
    }

    private Served serve(Served before, Path socket, BindableService... services) throws IOException {
        if (before != null) {
            UnixSockets.shutdown(before.server());
        }
        Files.createDirectories(socket.getParent());
        Files.deleteIfExists(socket); // ours by name: a stale one a dead daemon left, or the one we served
        Server server = sockets.serve(socket, services);
        return new Served(socket, server, KubeletWatcher.fileKey(socket));
    }

    @Override
    public void close() {
        if (watch != null) {
            watch.close();
        }
        thread.shutdownNow();
        try {
            thread.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            closed = true;
            // the registration socket first: the kubelet stops using the driver before its endpoint goes
            for (Served s : new Served[] {registration, dra}) {
                if (s == null) {
                    continue;
                }
                UnixSockets.shutdown(s.server());
                try {
                    if (s.present()) {
                        Files.deleteIfExists(s.socket());
                    }
                } catch (IOException e) {
                    LOG.warn("cannot remove {}: {}", s.socket(), e.getMessage());
                }
            }
        }
    }

    private final class Registration extends RegistrationGrpc.RegistrationImplBase {
        @Override
        public void getInfo(InfoRequest request, StreamObserver<PluginInfo> out) {
            out.onNext(PluginInfo.newBuilder().setType(PLUGIN_TYPE).setName(DraNames.DRIVER)
                    .setEndpoint(paths.draSocket().toString()).addAllSupportedVersions(SERVICES).build());
            out.onCompleted();
        }

        @Override
        public void notifyRegistrationStatus(RegistrationStatus status, StreamObserver<RegistrationStatusResponse> out) {
            if (status.getPluginRegistered()) {
                long n = registrations.incrementAndGet();
                metrics.registration(DraNames.DRIVER + " (DRA)");
                LOG.info("the kubelet registered DRA driver {} (endpoint {}){}", DraNames.DRIVER, paths.draSocket(),
                        n > 1 ? " again" : "");
            } else {
                metrics.error("dra_registration");
                LOG.warn("the kubelet refused to register DRA driver {}: {}", DraNames.DRIVER, status.getError());
            }
            out.onNext(RegistrationStatusResponse.getDefaultInstance());
            out.onCompleted();
        }
    }
}
