package com.example.vfio.uevent;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;

/**
 * The kernel's uevents, from a {@code NETLINK_KOBJECT_UEVENT} socket bound to multicast group 1 (what the
 * kernel sends; udevd re-sends its processed events to group 2, which this socket does not join). The
 * only native code of the daemon, through JNA: {@code socket}, {@code setsockopt}, {@code bind},
 * {@code poll}, {@code recvfrom}, {@code close} of the C library. One thread receives; it also closes.
 */
final class NetlinkUeventSource implements UeventSource {
    private static final int AF_NETLINK = 16;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_KOBJECT_UEVENT = 15;
    private static final int KERNEL_GROUP = 1;
    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVBUF = 8;
    private static final int SO_RCVBUFFORCE = 33;
    private static final short POLLIN = 1;
    private static final int MSG_PEEK = 0x2;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int EINTR = 4;
    private static final int EAGAIN = 11;
    private static final int ENOBUFS = 105;
    /** A burst (a PF enabling 255 VFs: an add and a bind each, and their network devices) fits; udevd asks 128 MiB. */
    static final int RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;
    /** The kernel's UEVENT_BUFFER_SIZE is 2048 plus the header; a datagram is never longer than this. */
    private static final int DATAGRAM_BYTES = 8192;
    private static final int SOCKADDR_NL_BYTES = 12;

    /** The C library calls; errno comes back as {@link LastErrorException}. */
    interface LibC extends Library {
        int socket(int domain, int type, int protocol) throws LastErrorException;

        int setsockopt(int fd, int level, int name, int[] value, int length) throws LastErrorException;

        int bind(int fd, byte[] address, int length) throws LastErrorException;

        int poll(byte[] fds, NativeLong count, int timeoutMillis) throws LastErrorException;

        NativeLong recvfrom(int fd, byte[] buffer, NativeLong length, int flags, byte[] from, int[] fromLength)
                throws LastErrorException;

        int close(int fd) throws LastErrorException;
    }

    private final LibC libc;
    private final int fd;
    private final byte[] buffer = new byte[DATAGRAM_BYTES];
    private final byte[] from = new byte[SOCKADDR_NL_BYTES];
    private final int[] fromLength = new int[1];
    private final byte[] pollFd = new byte[8];
    private boolean closed;

    private NetlinkUeventSource(LibC libc, int fd) {
        this.libc = libc;
        this.fd = fd;
        ByteBuffer.wrap(pollFd).order(ByteOrder.nativeOrder()).putInt(fd).putShort(POLLIN);
    }

    /**
     * Opens and binds the socket.
     *
     * @throws IOException saying what failed: the native library, or the call and its errno
     */
    static NetlinkUeventSource open() throws IOException {
        LibC libc;
        try {
            libc = Native.load("c", LibC.class);
        } catch (LinkageError e) {
            throw new IOException("the native access library (JNA) cannot load here: " + e.getMessage(), e);
        }
        int fd;
        try {
            fd = libc.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
        } catch (LastErrorException e) {
            throw new IOException("socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT) failed: errno " + e.getErrorCode(), e);
        }
        try {
            int[] size = {RECEIVE_BUFFER_BYTES};
            try {
                libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4); // with CAP_NET_ADMIN: past rmem_max
            } catch (LastErrorException e) {
                libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4); // capped at net.core.rmem_max
            }
            byte[] address = new byte[SOCKADDR_NL_BYTES];
            ByteBuffer.wrap(address).order(ByteOrder.nativeOrder())
                    .putShort((short) AF_NETLINK).putShort((short) 0).putInt(0).putInt(KERNEL_GROUP);
            libc.bind(fd, address, address.length);
        } catch (LastErrorException e) {
            closeQuietly(libc, fd);
            throw new IOException("binding the uevent socket to the kernel's group failed: errno " + e.getErrorCode(), e);
        }
        NetlinkUeventSource source = new NetlinkUeventSource(libc, fd);
        source.warmUp();
        return source;
    }

    /**
     * JNA binds a C function at its first call, and the JVM loads the classes of a path when it first takes
     * it: one look at the socket that takes nothing off it (MSG_PEEK), so that the first event is not slower
     * than the rest (under the kernel lab's emulated CPU the first took a second longer without this).
     */
    private void warmUp() {
        try {
            fromLength[0] = from.length;
            libc.recvfrom(fd, buffer, new NativeLong(1), MSG_PEEK | MSG_DONTWAIT, from, fromLength);
        } catch (LastErrorException e) {
            // EAGAIN: nothing there yet, as expected
        }
    }

    @Override
    public byte[] receive(Duration timeout) throws IOException {
        if (closed) {
            throw new IOException("the uevent socket is closed");
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long left = Math.max(0, (deadline - System.nanoTime() + 999_999) / 1_000_000);
            try {
                pollFd[6] = 0;
                pollFd[7] = 0; // revents
                if (libc.poll(pollFd, new NativeLong(1), (int) Math.min(left, Integer.MAX_VALUE)) == 0) {
                    return null;
                }
                fromLength[0] = from.length;
                int n = libc.recvfrom(fd, buffer, new NativeLong(buffer.length), MSG_DONTWAIT, from, fromLength)
                        .intValue();
                // a sender other than the kernel (port id 0) is ignored, as udevd ignores it
                if (n > 0 && ByteBuffer.wrap(from).order(ByteOrder.nativeOrder()).getInt(4) == 0) {
                    return Arrays.copyOf(buffer, n);
                }
            } catch (LastErrorException e) {
                switch (e.getErrorCode()) {
                    case EINTR, EAGAIN -> { }
                    case ENOBUFS -> throw new EventsLost("the kernel dropped uevents: the socket's receive buffer was full");
                    default -> throw new IOException("receiving uevents failed: errno " + e.getErrorCode(), e);
                }
            }
            if (System.nanoTime() - deadline >= 0) {
                return null;
            }
        }
    }

    @Override
    public String describe() {
        return "the kernel's uevent socket (netlink, group 1)";
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            closeQuietly(libc, fd);
        }
    }

    private static void closeQuietly(LibC libc, int fd) {
        try {
            libc.close(fd);
        } catch (LastErrorException e) {
            // nothing left to do with it
        }
    }
}
