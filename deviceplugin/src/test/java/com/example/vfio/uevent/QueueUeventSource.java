package com.example.vfio.uevent;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Uevent datagrams from a queue: what tests and the benchmark's synthetic host hand the daemon instead of
 * the kernel's socket. {@link #lose()} and {@link #fail(String)} queue what the socket can report.
 */
public final class QueueUeventSource implements UeventSource {
    private static final byte[] LOST = new byte[0];
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private volatile boolean closed;

    public QueueUeventSource send(byte[] datagram) {
        queue.add(datagram.clone());
        return this;
    }

    public QueueUeventSource send(Uevent event) {
        return send(event.toBytes());
    }

    /** The next receive reports lost events (ENOBUFS). */
    public QueueUeventSource lose() {
        queue.add(LOST);
        return this;
    }

    /** The next receive fails, as a socket that broke. */
    public QueueUeventSource fail(String why) {
        queue.add(new IOException(why));
        return this;
    }

    public boolean closed() {
        return closed;
    }

    @Override
    public byte[] receive(Duration timeout) throws IOException {
        Object next;
        try {
            next = queue.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
        if (next == LOST) {
            throw new EventsLost("the kernel dropped uevents (queued by the test)");
        }
        if (next instanceof IOException e) {
            throw e;
        }
        return (byte[]) next;
    }

    @Override
    public String describe() {
        return "a queue of uevents (test seam)";
    }

    @Override
    public void close() {
        closed = true;
    }
}
