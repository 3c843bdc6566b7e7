package com.example.vfio.plugin;

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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps every plugin server served and registered with the current kubelet. Waits for {@code kubelet.sock}
 * (node boot); when the kubelet restarts (our socket deleted, or {@code kubelet.sock} recreated: another
 * inode or ctime) it serves again and re-registers. Woken by inotify on the plugin directory, with a
 * periodic check as a safety net. All serving and registering happens on its one thread.
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
    private boolean waitingLogged;

    public KubeletWatcher(DevicePluginManager manager, PluginMetrics metrics, Duration period) throws IOException {
        this.manager = manager;
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
                s.register(kubeletSocket);
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
