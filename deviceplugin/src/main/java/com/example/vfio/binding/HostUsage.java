package com.example.vfio.binding;

import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.Names;
import com.example.vfio.pci.PciAddress;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What the node itself is using its PCI devices for, read below the host root: processes holding
 * VFIO device nodes open, block devices backing mounted file systems and swap, network interfaces
 * carrying addresses. Each fact has one reading function; all paths read are under the root, the
 * paths compared against (a process's open files) are host paths.
 *
 * <p>An interface counts as carrying the node's traffic when its {@code operstate} is {@code up} and
 * it has an IPv4 route ({@code proc/net/route}) or a global IPv6 address ({@code proc/net/if_inet6});
 * a NIC enslaved to a bond or bridge counts when its master does.
 */
public final class HostUsage {
    private static final int MAX_FILE = 1 << 20;
    private static final int MAX_DEPTH = 4;

    private final HostRoot root;

    public HostUsage(HostRoot root) {
        this.root = root;
    }

    /** A process holding one of the given device nodes open. */
    public record Opener(String pid, String comm, String path) {
        public String describe() {
            return "process " + pid + " (" + comm + ") has " + path + " open";
        }
    }

    /** The open-file scan: who holds which node, and the processes whose files could not be read. */
    public record OpenFiles(List<Opener> openers, List<String> unreadablePids) {
        public OpenFiles {
            openers = List.copyOf(openers);
            unreadablePids = List.copyOf(unreadablePids);
        }
    }

    /**
     * Scans {@code proc/<pid>/fd/*} for links to the given host paths (e.g. {@code /dev/vfio/14},
     * {@code /dev/vfio/devices/vfio3}). Processes that exit during the scan are skipped; those whose
     * files cannot be read (not running as root) are listed, so a guard can refuse rather than guess.
     */
    public OpenFiles openersOf(Set<String> hostPaths) {
        List<Opener> openers = new ArrayList<>();
        List<String> unreadable = new ArrayList<>();
        if (hostPaths.isEmpty()) {
            return new OpenFiles(openers, unreadable);
        }
        for (String pid : names(root.proc())) {
            if (!pid.chars().allMatch(Character::isDigit)) {
                continue;
            }
            Path fdDir = root.proc().resolve(pid).resolve("fd");
            try (DirectoryStream<Path> fds = Files.newDirectoryStream(fdDir)) {
                Set<String> seen = new HashSet<>();
                for (Path fd : fds) {
                    String target;
                    try {
                        target = Files.readSymbolicLink(fd).toString();
                    } catch (IOException e) {
                        continue; // closed meanwhile
                    }
                    if (hostPaths.contains(target) && seen.add(target)) {
                        openers.add(new Opener(pid, comm(pid), target));
                    }
                }
            } catch (NoSuchFileException e) {
                // exited during the scan
            } catch (AccessDeniedException e) {
                unreadable.add(pid);
            } catch (IOException e) {
                unreadable.add(pid);
            }
        }
        return new OpenFiles(openers, unreadable);
    }

    private String comm(String pid) {
        try {
            return Names.isDriverName(pid) ? read(root.proc().resolve(pid).resolve("comm")).strip() : "?";
        } catch (IOException e) {
            return "?";
        }
    }

    /**
     * For every PCI device behind a mounted file system or active swap: the mount points (or
     * {@code swap}) it backs. A block device's PCI devices are the addresses on the path of its
     * {@code sys/class/block/<name>} link, followed through {@code slaves/} (device mapper, md).
     */
    public Map<PciAddress, List<String>> mountsByDevice() {
        Map<PciAddress, List<String>> byDevice = new LinkedHashMap<>();
        List<String[]> sources = new ArrayList<>();
        for (String line : lines(root.proc().resolve("mounts"))) {
            String[] f = line.split(" ");
            if (f.length >= 2 && f[0].startsWith("/dev/")) {
                sources.add(new String[] {f[0], unescape(f[1])});
            }
        }
        List<String> swaps = lines(root.proc().resolve("swaps"));
        for (int i = 1; i < swaps.size(); i++) {
            String[] f = swaps.get(i).trim().split("\\s+");
            if (f.length >= 2 && f[0].startsWith("/dev/") && f[1].equals("partition")) {
                sources.add(new String[] {f[0], "swap"});
            }
        }
        for (String[] source : sources) {
            String block = blockDeviceName(source[0]);
            if (block == null) {
                continue;
            }
            for (PciAddress address : pciDevicesOfBlock(block, 0)) {
                List<String> uses = byDevice.computeIfAbsent(address, a -> new ArrayList<>());
                if (!uses.contains(source[1])) {
                    uses.add(source[1]);
                }
            }
        }
        return byDevice;
    }

    /** {@code /dev/nvme0n1p2} → {@code nvme0n1p2}; {@code /dev/mapper/vg-root} → its {@code dm-N}. */
    private String blockDeviceName(String devPath) {
        String name = devPath.substring(devPath.lastIndexOf('/') + 1);
        if (devPath.startsWith("/dev/mapper/")) {
            try {
                Path target = Files.readSymbolicLink(root.resolve("dev/mapper").resolve(sanitize(name)));
                name = target.getFileName().toString();
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }
        return Names.isDriverName(name) ? name : null;
    }

    private Set<PciAddress> pciDevicesOfBlock(String block, int depth) {
        Set<PciAddress> found = new LinkedHashSet<>();
        Path link = root.resolve("sys/class/block").resolve(block);
        try {
            for (Path part : Files.readSymbolicLink(link)) {
                if (PciAddress.isValid(part.toString())) {
                    found.add(PciAddress.parse(part.toString()));
                }
            }
        } catch (IOException e) {
            return found;
        }
        if (depth < MAX_DEPTH) {
            for (String slave : names(link.resolve("slaves"))) {
                if (Names.isDriverName(slave)) {
                    found.addAll(pciDevicesOfBlock(slave, depth + 1));
                }
            }
        }
        return found;
    }

    /** For every PCI device behind an up network interface with an address: the interfaces. */
    public Map<PciAddress, List<String>> interfacesByDevice() {
        Set<String> withAddress = interfacesWithAddress();
        Map<PciAddress, List<String>> byDevice = new LinkedHashMap<>();
        Path net = root.resolve("sys/class/net");
        for (String ifname : names(net)) {
            if (!Names.isDriverName(ifname.replace('.', '_').replace(':', '_'))) {
                continue;
            }
            PciAddress address = pciDeviceOfInterface(net.resolve(ifname));
            if (address == null) {
                continue;
            }
            String carrier = carryingInterface(net, ifname, withAddress, 0);
            if (carrier != null) {
                byDevice.computeIfAbsent(address, a -> new ArrayList<>())
                        .add(carrier.equals(ifname) ? ifname : ifname + " (in " + carrier + ")");
            }
        }
        return byDevice;
    }

    /** The interface itself or the master it is enslaved to, when up with an address; else null. */
    private String carryingInterface(Path net, String ifname, Set<String> withAddress, int depth) {
        if (isUp(net.resolve(ifname)) && withAddress.contains(ifname)) {
            return ifname;
        }
        if (depth >= MAX_DEPTH) {
            return null;
        }
        try {
            Path master = Files.readSymbolicLink(net.resolve(ifname).resolve("master")).getFileName();
            return master == null ? null : carryingInterface(net, master.toString(), withAddress, depth + 1);
        } catch (IOException e) {
            return null;
        }
    }

    private static PciAddress pciDeviceOfInterface(Path ifDir) {
        try {
            Path name = Files.readSymbolicLink(ifDir.resolve("device")).getFileName();
            return name != null && PciAddress.isValid(name.toString()) ? PciAddress.parse(name.toString()) : null;
        } catch (IOException e) {
            return null;
        }
    }

    private static boolean isUp(Path ifDir) {
        try {
            return read(ifDir.resolve("operstate")).strip().equals("up");
        } catch (IOException e) {
            return false;
        }
    }

    /** Interfaces with an IPv4 route ({@code proc/net/route}) or a global IPv6 address ({@code proc/net/if_inet6}). */
    private Set<String> interfacesWithAddress() {
        Set<String> names = new HashSet<>();
        List<String> routes = lines(root.proc().resolve("net/route"));
        for (int i = 1; i < routes.size(); i++) {
            String[] f = routes.get(i).trim().split("\\s+");
            if (f.length > 1) {
                names.add(f[0]);
            }
        }
        for (String line : lines(root.proc().resolve("net/if_inet6"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 6 && f[3].equals("00")) {
                names.add(f[5]);
            }
        }
        return names;
    }

    // ---- helpers -----------------------------------------------------------------------------

    private static List<String> names(Path dir) {
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path entry : entries) {
                names.add(entry.getFileName().toString());
            }
        } catch (IOException e) {
            return List.of();
        }
        names.sort(null);
        return names;
    }

    private static List<String> lines(Path file) {
        try {
            return read(file).lines().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static String read(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return new String(in.readNBytes(MAX_FILE), StandardCharsets.UTF_8);
        }
    }

    /** {@code /proc/mounts} escapes spaces and the like as octal ({@code \040}). */
    static String unescape(String field) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length() && field.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static String sanitize(String name) {
        if (name.isEmpty() || name.contains("/") || name.equals("..") || name.equals(".")) {
            throw new IllegalArgumentException("not a device mapper name: " + name.toLowerCase(Locale.ROOT));
        }
        return name;
    }
}
