package com.example.vfio.plugin;

import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps every plugin server served and registered with the current kubelet. Waits for {@code kubelet.sock}
 * (node boot); when the kubelet restarts (our socket deleted, or {@code kubelet.sock} recreated: another
 * inode or ctime) it serves again and re-registers. Woken by inotify on the plugin directory, with a
 * periodic check as a safety net. All serving and registering happens on its one thread.
 *
 * <p>The first registration waits until the holds of running pods are known (PodResources answered once),
 * for at most {@code holdsWait} after {@code kubelet.sock} appeared: the kubelet hands out what ListAndWatch
 * calls Healthy at once, and without those holds the group siblings of a running VM's device would be
 * Healthy (seen with the kubelet's own device manager: a daemon restarted while the kubelet was down
 * registered as soon as {@code kubelet.sock} came back, seconds before its next PodResources poll). A kubelet
 * whose PodResources API never answers still gets the devices after that wait; the locks then cover only
 * this daemon's own allocations.
 */
public final class KubeletWatcher implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KubeletWatcher.class);
    public static final String KUBELET_SOCKET = "kubelet.sock";

    private final DevicePluginManager manager;
    private final Path kubeletSocket;
    private final PluginMetrics metrics;
    private final ScheduledExecutorService thread;
    private final AtomicBoolean pending = new AtomicBoolean();
    private final Map<String, Object> registeredWith = new HashMap<>();
    private final Map<String, String> lastFailure = new HashMap<>();
    private final DirectoryWatch watch;
    private final BooleanSupplier holdsKnown;
    private final long holdsWaitNanos;
    private boolean waitingLogged;
    private long waitingForHoldsSince;
    private boolean registeredBlind;

    /**
     * @param holdsKnown true once the IOMMU group holds of running pods are known (may ask PodResources;
     *                   called on this watcher's thread)
     * @param holdsWait  how long the first registration waits for them once the kubelet is up
     */
    public KubeletWatcher(DevicePluginManager manager, PluginMetrics metrics, Duration period,
                          BooleanSupplier holdsKnown, Duration holdsWait) throws IOException {
        this.manager = manager;
        this.holdsKnown = holdsKnown;
        this.holdsWaitNanos = holdsWait.toNanos();
        this.kubeletSocket = manager.pluginDir().resolve(KUBELET_SOCKET);
        this.metrics = metrics;
        Files.createDirectories(manager.pluginDir());
        ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, UnixSockets.daemonThreads("vfio-kubelet"));
        t.setRemoveOnCancelPolicy(true);
        this.thread = t;
        manager.onServersChanged(this::wake);
        thread.scheduleWithFixedDelay(this::check, 0, period.toMillis(), TimeUnit.MILLISECONDS);
        this.watch = new DirectoryWatch(List.of(manager.pluginDir()), this::wake, period, "vfio-plugin-dir-watch");
    }

    /** Asks for a check soon (coalesced). */
    public void wake() {
        if (pending.compareAndSet(false, true)) {
            try {
                thread.execute(this::check);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                pending.set(false);
            }
        }
    }

    private void check() {
        pending.set(false);
        try {
            checkOnce();
        } catch (RuntimeException e) {
            metrics.error("kubelet_watch");
            LOG.error("checking the kubelet registration failed: {}", e.toString());
        }
    }

    private void checkOnce() {
        Object kubelet = fileKey(kubeletSocket);
        if (kubelet == null) {
            if (!waitingLogged) {
                LOG.info("waiting for the kubelet: {} does not exist", kubeletSocket);
                waitingLogged = true;
            }
            registeredWith.clear();
            return;
        }
        waitingLogged = false;
        if (!registeredBlind && !manager.servers().isEmpty() && !holdsKnown.getAsBoolean()) {
            long now = System.nanoTime();
            if (waitingForHoldsSince == 0) {
                waitingForHoldsSince = now;
                LOG.info("the kubelet is up; registering once its PodResources API has said which devices running"
                        + " pods hold (their IOMMU groups must stay locked), at most {} s from now",
                        TimeUnit.NANOSECONDS.toSeconds(holdsWaitNanos));
            }
            if (now - waitingForHoldsSince < holdsWaitNanos) {
                return;
            }
            registeredBlind = true;
            LOG.warn("the kubelet's PodResources API has not answered: registering without knowing which devices"
                    + " running pods hold; the group siblings of their devices are offered until it answers");
        }
        // asking PodResources may have taken seconds, long enough for a restarting kubelet to replace its socket:
        // remember the kubelet we register with now, not the one seen before
        kubelet = fileKey(kubeletSocket);
        if (kubelet == null) {
            registeredWith.clear();
            return;
        }
        for (DevicePluginServer s : manager.servers()) {
            boolean socketGone = !s.socketPresent();
            boolean kubeletChanged = !Objects.equals(kubelet, registeredWith.get(s.name()));
            if (!socketGone && !kubeletChanged) {
                continue;
            }
            try {
                if (socketGone) {
                    if (registeredWith.containsKey(s.name())) {
                        LOG.info("{}: socket {} was removed (kubelet restart?): serving again",
                                s.resourceName(), s.socket().getFileName());
                    }
                    s.start();
                } else if (registeredWith.containsKey(s.name())) {
                    LOG.info("{}: kubelet.sock was recreated (kubelet restart): registering again", s.resourceName());
                }
                registeredWith.remove(s.name());
                try {
                    s.register(kubeletSocket);
                } catch (StatusRuntimeException e) {
                    // the kubelet's device manager refuses a second Register for a socket it is connected to
                    // ("device plugin already connected"): the server it is connected to is this one, unchanged
                    if (socketGone || !alreadyConnected(e)) {
                        throw e;
                    }
                    LOG.info("{}: the kubelet is already connected to {}: registered", s.resourceName(),
                            s.socket().getFileName());
                }
                registeredWith.put(s.name(), kubelet);
                lastFailure.remove(s.name());
            } catch (IOException | RuntimeException e) {
                metrics.error("register");
                String why = e.getMessage();
                if (!Objects.equals(why, lastFailure.put(s.name(), why))) {
                    LOG.warn("{}: registration with the kubelet failed, will retry: {}", s.resourceName(), why);
                }
            }
        }
        registeredWith.keySet().retainAll(manager.servers().stream().map(DevicePluginServer::name).toList());
    }

    private static boolean alreadyConnected(StatusRuntimeException e) {
        String description = e.getStatus().getDescription();
        return description != null && description.contains("device plugin already connected");
    }

    public static Object fileKey(Path p) {
        try {
            return Files.readAttributes(p, "unix:ino,ctime", LinkOption.NOFOLLOW_LINKS).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }

    @Override
    public void close() {
        watch.close();
        thread.shutdownNow();
        try {
            thread.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
