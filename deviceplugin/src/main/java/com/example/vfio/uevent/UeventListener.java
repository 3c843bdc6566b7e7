package com.example.vfio.uevent;

import com.example.vfio.pci.PciAddress;
import java.io.IOException;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;

/**
 * Turns uevents into what the scanner must read again, on one thread of its own ({@code vfio-uevents}).
 * Kept: {@code pci} events (add, remove, bind, unbind, change: the device they name), {@code vfio-dev}
 * events (a VFIO cdev of a device: that device), and events of the /dev/vfio nodes, PCI drivers and
 * modules (the host-wide facts); everything else (network, block, USB devices, ...) is ignored.
 *
 * <p>Events come in bursts (a PF enabling 255 VFs sends an add and a bind for each, a bind several events):
 * after the first event that matters, the listener keeps collecting until the source has been quiet for
 * {@link #QUIET}, or, once {@link #MAX_DELAY} has passed since that first event, until nothing more is waiting;
 * then it hands over one batch.
 */
public final class UeventListener implements AutoCloseable {
    /** How long one receive waits while nothing happens: the longest a close waits for the thread. */
    static final Duration IDLE = Duration.ofSeconds(1);
    static final Duration QUIET = Duration.ofMillis(10);
    static final Duration MAX_DELAY = Duration.ofMillis(100);
    /** A stream of events that never pauses is still handed over in batches of at most this many. */
    static final int MAX_BATCH_EVENTS = 10_000;

    /** Where the batches go; called on the listener's thread. */
    public interface HostChanges {
        /** The devices the events named; empty when only host-wide facts (/dev/vfio, drivers) changed. */
        void devicesChanged(Set<PciAddress> devices, int events);

        /** Events were lost: what changed is unknown, so everything is read again. */
        void unknownChanges(String why);

        /** No events will come any more. */
        void stopped(String why);
    }

    private final UeventSource source;
    private final HostChanges sink;
    private final Thread thread;
    private volatile boolean running = true;
    private boolean started;

    public UeventListener(UeventSource source, HostChanges sink) {
        this.source = source;
        this.sink = sink;
        this.thread = new Thread(this::run, "vfio-uevents");
        thread.setDaemon(true);
    }

    public synchronized UeventListener start() {
        started = true;
        thread.start();
        return this;
    }

    public String describe() {
        return source.describe();
    }

    /** Parsed once as the thread starts, so that the first real event finds its classes loaded. */
    private static final byte[] WARM_UP = ("bind@/devices/pci0000:00/0000:00:00.0\0ACTION=bind\0"
            + "DEVPATH=/devices/pci0000:00/0000:00:00.0\0SUBSYSTEM=pci\0DRIVER=none\0PCI_SLOT_NAME=0000:00:00.0\0"
            + "SEQNUM=0\0").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);

    private void run() {
        try {
            new Batch().add(WARM_UP);
            while (running) {
                Batch batch = new Batch();
                try {
                    if (!batch.add(source.receive(IDLE))) {
                        continue;
                    }
                    // past the deadline only what has already arrived is taken, so a burst that came at once is
                    // one batch however slow this thread is
                    long deadline = System.nanoTime() + MAX_DELAY.toNanos();
                    while (running && batch.events < MAX_BATCH_EVENTS) {
                        long left = deadline - System.nanoTime();
                        byte[] next = source.receive(left <= 0 ? Duration.ZERO
                                : left < QUIET.toNanos() ? Duration.ofNanos(left) : QUIET);
                        if (next == null) {
                            break;
                        }
                        batch.add(next);
                    }
                } catch (UeventSource.EventsLost e) {
                    if (running) {
                        sink.unknownChanges(e.getMessage());
                    }
                    continue;
                }
                if (running) {
                    sink.devicesChanged(Set.copyOf(batch.devices), batch.events);
                }
            }
        } catch (IOException | RuntimeException e) {
            if (running) {
                sink.stopped(e.getMessage() == null ? e.toString() : e.getMessage());
            }
        } finally {
            source.close();
        }
    }

    /** The events of one burst that matter, and the devices they name. */
    private static final class Batch {
        final Set<PciAddress> devices = new TreeSet<>();
        int events;

        /** True when the datagram is an event that matters. */
        boolean add(byte[] datagram) {
            Uevent event = datagram == null ? null : Uevent.parse(datagram);
            if (event == null) {
                return false;
            }
            PciAddress device = event.pciFunction();
            if (device == null && !event.changesHostWideFacts()) {
                return false;
            }
            events++;
            if (device != null) {
                devices.add(device);
            }
            return true;
        }
    }

    /** Stops the thread (within {@link #IDLE}) and closes the source. */
    @Override
    public synchronized void close() {
        running = false;
        if (!started) {
            source.close();
            return;
        }
        thread.interrupt();
        try {
            thread.join(IDLE.toMillis() * 3);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
