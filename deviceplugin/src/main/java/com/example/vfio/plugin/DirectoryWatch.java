package com.example.vfio.plugin;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Calls back when entries of some directories are created, deleted or modified (inotify through the JDK
 * WatchService). A directory that does not exist yet, or is deleted, is picked up again once it exists.
 */
public final class DirectoryWatch implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DirectoryWatch.class);

    private final List<Path> dirs;
    private final Runnable onChange;
    private final long retryMillis;
    private final WatchService service;
    private final Map<Path, WatchKey> keys = new HashMap<>();
    private final Thread thread;

    public DirectoryWatch(List<Path> dirs, Runnable onChange, Duration retry, String threadName) throws IOException {
        this.dirs = List.copyOf(dirs);
        this.onChange = onChange;
        this.retryMillis = Math.max(1, retry.toMillis());
        this.service = FileSystems.getDefault().newWatchService();
        this.thread = new Thread(this::run, threadName);
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        try {
            while (true) {
                boolean missing = registerMissing();
                WatchKey key = service.poll(retryMillis, TimeUnit.MILLISECONDS);
                if (key == null) {
                    continue;
                }
                boolean changed = false;
                while (key != null) {
                    changed |= !key.pollEvents().isEmpty();
                    if (!key.reset()) {
                        keys.values().remove(key);
                        changed = true;
                    }
                    key = service.poll();
                }
                if (changed || missing) {
                    onChange.run();
                }
            }
        } catch (ClosedWatchServiceException | InterruptedException e) {
            // closed
        } catch (RuntimeException e) {
            LOG.error("directory watch of {} stopped: {}", dirs, e.toString());
        }
    }

    /** Registers the directories that exist now; true when one of them appeared since the last time. */
    private boolean registerMissing() {
        boolean appeared = false;
        for (Path d : dirs) {
            WatchKey k = keys.get(d);
            if (k != null && k.isValid()) {
                continue;
            }
            if (Files.isDirectory(d)) {
                try {
                    keys.put(d, d.register(service, StandardWatchEventKinds.ENTRY_CREATE,
                            StandardWatchEventKinds.ENTRY_DELETE, StandardWatchEventKinds.ENTRY_MODIFY));
                    appeared = true;
                } catch (IOException e) {
                    LOG.debug("cannot watch {} yet: {}", d, e.getMessage());
                }
            }
        }
        return appeared;
    }

    @Override
    public void close() {
        try {
            service.close();
        } catch (IOException e) {
            LOG.debug("closing watch service: {}", e.getMessage());
        }
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
