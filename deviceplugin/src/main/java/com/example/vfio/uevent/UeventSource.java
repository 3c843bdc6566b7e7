package com.example.vfio.uevent;

import java.io.IOException;
import java.time.Duration;

/**
 * Where uevent datagrams come from: the kernel's netlink socket ({@link NetlinkUeventSource}) in
 * production, a queue in tests and in the benchmark's synthetic host. The daemon takes one by
 * constructor; only {@link KernelUevents} opens the kernel's.
 */
public interface UeventSource extends AutoCloseable {

    /**
     * The next datagram, or null when none arrived within {@code timeout}.
     *
     * @throws EventsLost when the kernel dropped events because the socket's buffer was full
     * @throws IOException when the source cannot be read any more
     */
    byte[] receive(Duration timeout) throws IOException;

    /** What it listens to, for the log. */
    String describe();

    @Override
    void close();

    /** The kernel dropped events (ENOBUFS): what changed is not known, only that something did. */
    final class EventsLost extends IOException {
        private static final long serialVersionUID = 1L;

        public EventsLost(String message) {
            super(message);
        }
    }
}
