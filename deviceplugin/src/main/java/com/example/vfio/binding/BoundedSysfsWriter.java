package com.example.vfio.binding;

import com.example.vfio.binding.SysfsWriteException.Errno;
import com.example.vfio.pci.PciAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Gives every sysfs write a time limit. A write runs on its own daemon thread; when it does not
 * return in time (an unbind blocks in the kernel until the VM using the device lets go) the caller
 * gets {@link Errno#TIMEOUT} naming the device, and the thread is left to finish whenever the kernel
 * lets it. Until it has, further writes for that device are refused at once: the kernel holds the
 * device lock, so they would only block as well.
 */
public final class BoundedSysfsWriter implements SysfsWriter {
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    private final SysfsWriter delegate;
    private final Duration timeout;
    private final Map<PciAddress, Blocked> blocked = new ConcurrentHashMap<>();

    private record Blocked(FutureTask<Void> task, Path file, String value) {
    }

    public BoundedSysfsWriter(SysfsWriter delegate, Duration timeout) {
        this.delegate = Objects.requireNonNull(delegate);
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("the sysfs write timeout must be positive, got " + timeout);
        }
        this.timeout = timeout;
    }

    @Override
    public void write(PciAddress device, Path file, String value) throws SysfsWriteException {
        Blocked earlier = blocked.get(device);
        if (earlier != null) {
            if (!earlier.task().isDone()) {
                throw new SysfsWriteException(Errno.TIMEOUT, "an earlier write to " + earlier.file() + " for " + device
                        + " is still blocked in the kernel: a VM probably still holds it; nothing more is written for"
                        + " it until that write returns");
            }
            blocked.remove(device, earlier);
        }
        FutureTask<Void> task = new FutureTask<>(() -> {
            delegate.write(device, file, value);
            return null;
        });
        Thread thread = new Thread(task, "sysfs-write-" + device);
        thread.setDaemon(true);
        thread.start();
        try {
            task.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            blocked.put(device, new Blocked(task, file, value));
            throw new SysfsWriteException(Errno.TIMEOUT, "writing '" + FileSysfsWriter.printable(value) + "' to " + file
                    + " did not return within " + timeout.toMillis() + " ms: a VM probably still holds " + device
                    + "; the write completes when it lets go");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof SysfsWriteException refused) {
                throw refused;
            }
            if (e.getCause() instanceof RuntimeException unexpected) {
                throw unexpected;
            }
            if (e.getCause() instanceof Error error) {
                throw error;
            }
            throw new SysfsWriteException(Errno.EIO, "writing to " + file + " for " + device + " failed: " + e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            blocked.put(device, new Blocked(task, file, value));
            throw new SysfsWriteException(Errno.TIMEOUT, "interrupted while writing to " + file + " for " + device);
        }
    }

    /** Whether a write for the device is still blocked in the kernel. */
    public boolean isBlocked(PciAddress device) {
        Blocked earlier = blocked.get(device);
        return earlier != null && !earlier.task().isDone();
    }
}
