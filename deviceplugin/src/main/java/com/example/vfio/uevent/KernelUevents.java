package com.example.vfio.uevent;

import com.example.vfio.pci.HostRoot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Whether the daemon can hear the kernel's uevents for the host it reads, and the socket when it can.
 * Three things must hold:
 * <ul>
 * <li>the root's {@code sys} is the running kernel's sysfs ({@code /}, or the host's /sys mounted at
 * {@code /host/sys} in the DaemonSet): a directory laid out like a host gets no events;</li>
 * <li>the process is in the initial user namespace: the kernel sends device uevents into every network
 * namespace owned by that user namespace and into no other (lib/kobject_uevent.c, since Linux 4.18), so a
 * pod's own network namespace hears them, one of a pod with {@code hostUsers: false} does not;</li>
 * <li>the socket opens and binds.</li>
 * </ul>
 */
public final class KernelUevents {
    static final Path OWN_UID_MAP = Path.of("/proc/self/uid_map");

    private KernelUevents() {
    }

    /** The socket, or why the daemon cannot listen (it then rescans often instead). */
    public record Outcome(UeventSource source, String notListening) {
        public static Outcome listening(UeventSource source) {
            return new Outcome(source, null);
        }

        public static Outcome notListening(String why) {
            return new Outcome(null, why);
        }
    }

    /** How serve gets its uevents: {@link #open} in production; the benchmark hands over a queue. */
    @FunctionalInterface
    public interface Opener {
        Outcome open(HostRoot root);
    }

    public static Outcome open(HostRoot root) {
        String notHost = notTheRunningHost(root);
        if (notHost != null) {
            return Outcome.notListening(notHost);
        }
        String userNamespace = userNamespaceProblem(readUidMap(OWN_UID_MAP));
        if (userNamespace != null) {
            return Outcome.notListening(userNamespace);
        }
        try {
            return Outcome.listening(NetlinkUeventSource.open());
        } catch (IOException | RuntimeException e) {
            return Outcome.notListening(e.getMessage());
        }
    }

    /** Null when {@code <root>/sys} is a sysfs mount, else why the root's uevents cannot be heard. */
    static String notTheRunningHost(HostRoot root) {
        Path sys = root.root().resolve("sys");
        try {
            String type = Files.getFileStore(sys).type();
            return type.equals("sysfs") ? null : root + " is not the running host (" + sys + " is " + type
                    + ", not sysfs): the kernel announces no changes of it";
        } catch (IOException e) {
            return "cannot tell whether " + sys + " is the running kernel's sysfs: " + e.getMessage();
        }
    }

    /**
     * Null when {@code uidMap} (the process's {@code /proc/self/uid_map}) is that of the initial user
     * namespace ({@code 0 0 4294967295}) or unknown, else why uevents do not arrive here.
     */
    static String userNamespaceProblem(String uidMap) {
        String map = uidMap == null ? null : uidMap.strip().replaceAll("\\s+", " ");
        if (map == null || map.equals("0 0 4294967295")) {
            return null;
        }
        return "the daemon runs in a user namespace of its own (uid_map: " + map
                + "): the kernel sends device uevents only into network namespaces of the initial user namespace"
                + " (a pod with hostUsers: false gets none)";
    }

    private static String readUidMap(Path file) {
        try {
            return Files.readString(file);
        } catch (NoSuchFileException e) {
            return null; // a kernel without user namespaces: there is only the initial one
        } catch (IOException e) {
            return null;
        }
    }
}
