package com.example.vfio.pci;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Lays out a host under a directory the way the kernel does: {@code sys/bus/pci/devices/<addr>} as
 * relative links into {@code sys/devices}, attribute files, {@code config} bytes, driver and module
 * links, IOMMU group membership, {@code /dev/vfio} nodes, the kernel release and module aliases.
 * Describe the host, then {@link #write()}; change it and write again to simulate the kernel.
 *
 * <pre>
 * FakeHost host = FakeHost.at(dir).kernel("6.12.0");
 * host.device("0000:41:00.0").ids(0x10de, 0x2342).cls(0x030200).group("14").driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
 * host.devVfio("14");
 * host.write();
 * </pre>
 */
public final class FakeHost {
    private final Path root;
    private String kernel = "6.12.0-test";
    private final Map<String, Dev> devices = new LinkedHashMap<>();
    private final List<String> aliasLines = new ArrayList<>();
    private final List<String> builtinAliases = new ArrayList<>();
    private final Map<String, String> driverModules = new LinkedHashMap<>();
    private final Set<String> devVfio = new LinkedHashSet<>();
    private final Set<String> cdevs = new LinkedHashSet<>();
    private boolean container = true;
    private boolean iommufd;
    private boolean writeModulesAlias = true;
    private final List<String[]> procFds = new ArrayList<>();
    private final List<String> mountLines = new ArrayList<>();
    private final List<String> swapDevices = new ArrayList<>();
    private final Map<String, String> blockDevices = new LinkedHashMap<>();
    private final Map<String, String[]> netInterfaces = new LinkedHashMap<>();
    private final List<String> ipv4Routes = new ArrayList<>();
    private final List<String> ipv6Addresses = new ArrayList<>();

    private FakeHost(Path root) {
        this.root = root;
    }

    public static FakeHost at(Path root) {
        return new FakeHost(root);
    }

    public Path path() {
        return root;
    }

    public HostRoot root() {
        return new HostRoot(root);
    }

    public FakeHost kernel(String release) {
        this.kernel = release;
        return this;
    }

    public String kernel() {
        return kernel;
    }

    /** A device; calling again with the same address returns it for changes. */
    public Dev device(String address) {
        return devices.computeIfAbsent(address, Dev::new);
    }

    public FakeHost remove(String address) {
        devices.remove(address);
        return this;
    }

    /** Declares a driver that can exist without devices (loaded module), e.g. vfio-pci before any bind. */
    public FakeHost driver(String driver, String module) {
        driverModules.put(driver, module);
        return this;
    }

    /** A {@code modules.alias} line, e.g. {@code alias("vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*", "mlx5_vfio_pci")}. */
    public FakeHost alias(String pattern, String module) {
        aliasLines.add("alias " + pattern + " " + module);
        return this;
    }

    /** A raw line in modules.alias (junk included). */
    public FakeHost aliasLine(String line) {
        aliasLines.add(line);
        return this;
    }

    public FakeHost builtinAlias(String module, String pattern) {
        builtinAliases.add(module + ".alias=" + pattern);
        return this;
    }

    public FakeHost noModulesAlias() {
        writeModulesAlias = false;
        return this;
    }

    /** {@code /dev/vfio/<group>} exists. */
    public FakeHost devVfio(String group) {
        devVfio.add(group);
        return this;
    }

    public FakeHost noDevVfio(String group) {
        devVfio.remove(group);
        return this;
    }

    /** {@code /dev/vfio/noiommu-<group>}. */
    public FakeHost noIommuNode(String group) {
        devVfio.add("noiommu-" + group);
        return this;
    }

    public FakeHost noContainerNode() {
        container = false;
        return this;
    }

    public FakeHost iommufd(boolean present) {
        iommufd = present;
        return this;
    }

    /** {@code /dev/vfio/devices/vfioN}. */
    public FakeHost cdev(String name) {
        cdevs.add(name);
        return this;
    }

    /**
     * A process with an open file: {@code proc/<pid>/comm} and {@code proc/<pid>/fd/<fd>} linking to
     * {@code target}, a host path such as {@code /dev/vfio/14}.
     */
    public FakeHost processWithOpenFile(int pid, String comm, int fd, String target) {
        procFds.add(new String[] {Integer.toString(pid), comm, Integer.toString(fd), target});
        return this;
    }

    /** A line of {@code proc/mounts}: {@code source} mounted on {@code mountPoint}. */
    public FakeHost mount(String source, String mountPoint, String fsType) {
        mountLines.add(source + " " + mountPoint.replace(" ", "\\040") + " " + fsType + " rw,relatime 0 0");
        return this;
    }

    /** An active swap partition in {@code proc/swaps}. */
    public FakeHost swap(String source) {
        swapDevices.add(source);
        return this;
    }

    /** A block device {@code sys/class/block/<name>} of the PCI device at {@code address} (an NVMe namespace or partition). */
    public FakeHost blockDevice(String name, String address) {
        blockDevices.put(name, address);
        return this;
    }

    /** A network interface {@code sys/class/net/<name>} of the PCI device at {@code address}, with its operstate. */
    public FakeHost netInterface(String name, String address, String operstate) {
        netInterfaces.put(name, new String[] {address, operstate, null});
        return this;
    }

    /** A virtual interface (bond, bridge) without a PCI device. */
    public FakeHost virtualInterface(String name, String operstate) {
        netInterfaces.put(name, new String[] {null, operstate, null});
        return this;
    }

    /** {@code sys/class/net/<name>/master}: the interface is enslaved to a bond or bridge. */
    public FakeHost enslave(String name, String master) {
        netInterfaces.get(name)[2] = master;
        return this;
    }

    /** An IPv4 route on the interface in {@code proc/net/route} (it has an IPv4 address). */
    public FakeHost ipv4Route(String ifname) {
        ipv4Routes.add(ifname);
        return this;
    }

    /** An IPv6 address in {@code proc/net/if_inet6}; {@code global} false makes it link-local. */
    public FakeHost ipv6Address(String ifname, boolean global) {
        ipv6Addresses.add((global ? "20010db8000000000000000000000001" : "fe800000000000000000000000000001")
                + " 02 40 " + (global ? "00" : "20") + " 80 " + ifname);
        return this;
    }

    /** Writes the whole tree, replacing what an earlier write left. */
    public FakeHost write() {
        try {
            deleteTree(root.resolve("sys"));
            deleteTree(root.resolve("dev"));
            deleteTree(root.resolve("proc"));
            deleteTree(root.resolve("lib"));
            Path sys = Files.createDirectories(root.resolve("sys"));
            Path busDevices = Files.createDirectories(sys.resolve("bus/pci/devices"));
            Path drivers = Files.createDirectories(sys.resolve("bus/pci/drivers"));
            Files.writeString(sys.resolve("bus/pci/drivers_probe"), "");
            Files.createDirectories(sys.resolve("kernel/iommu_groups"));
            Files.createDirectories(sys.resolve("module"));

            Map<String, String> allDrivers = new LinkedHashMap<>(driverModules);
            for (Dev dev : devices.values()) {
                if (dev.driver != null) {
                    allDrivers.putIfAbsent(dev.driver, dev.module);
                }
            }
            for (Map.Entry<String, String> d : allDrivers.entrySet()) {
                Path dir = Files.createDirectories(drivers.resolve(d.getKey()));
                for (String f : List.of("bind", "unbind", "new_id", "remove_id", "uevent")) {
                    Files.writeString(dir.resolve(f), "");
                }
                if (d.getValue() != null) {
                    Path module = Files.createDirectories(sys.resolve("module").resolve(d.getValue()).resolve("drivers"));
                    Files.createSymbolicLink(dir.resolve("module"), Path.of("../../../../module/" + d.getValue()));
                    Files.createSymbolicLink(module.resolve("pci:" + d.getKey()),
                            Path.of("../../../bus/pci/drivers/" + d.getKey()));
                }
            }
            for (Dev dev : devices.values()) {
                dev.writeTo(sys, busDevices, drivers);
            }

            Path vfio = Files.createDirectories(root.resolve("dev/vfio"));
            if (container) {
                Files.writeString(vfio.resolve("vfio"), "");
            }
            for (String node : devVfio) {
                Files.writeString(vfio.resolve(node), "");
            }
            if (!cdevs.isEmpty()) {
                Path devices = Files.createDirectories(vfio.resolve("devices"));
                for (String cdev : cdevs) {
                    Files.writeString(devices.resolve(cdev), "");
                }
            }
            if (iommufd) {
                Files.writeString(root.resolve("dev/iommu"), "");
            }
            Path osrelease = Files.createDirectories(root.resolve("proc/sys/kernel")).resolve("osrelease");
            Files.writeString(osrelease, kernel + "\n");
            Path modules = Files.createDirectories(root.resolve("lib/modules").resolve(kernel));
            if (writeModulesAlias) {
                StringBuilder text = new StringBuilder("# Aliases extracted from modules themselves.\n");
                aliasLines.forEach(l -> text.append(l).append('\n'));
                Files.writeString(modules.resolve("modules.alias"), text.toString(), StandardCharsets.UTF_8);
            }
            if (!builtinAliases.isEmpty()) {
                StringBuilder text = new StringBuilder();
                builtinAliases.forEach(l -> text.append(l).append('\0'));
                Files.writeString(modules.resolve("modules.builtin.modinfo"), text.toString(), StandardCharsets.ISO_8859_1);
            }
            writeNodeUsage(sys);
            return this;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Processes' open files, mounts, block devices and network interfaces, when any were described. */
    private void writeNodeUsage(Path sys) throws IOException {
        Path proc = root.resolve("proc");
        for (String[] f : procFds) {
            Path pidDir = Files.createDirectories(proc.resolve(f[0]).resolve("fd"));
            Files.writeString(proc.resolve(f[0]).resolve("comm"), f[1] + "\n");
            Files.createSymbolicLink(pidDir.resolve(f[2]), Path.of(f[3]));
        }
        if (!mountLines.isEmpty()) {
            Files.writeString(proc.resolve("mounts"), String.join("\n", mountLines) + "\n");
        }
        if (!swapDevices.isEmpty()) {
            StringBuilder swaps = new StringBuilder("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
            swapDevices.forEach(d -> swaps.append(d).append("\t\t\t\tpartition\t8388604\t\t0\t\t-2\n"));
            Files.writeString(proc.resolve("swaps"), swaps.toString());
        }
        if (!blockDevices.isEmpty()) {
            Path block = Files.createDirectories(sys.resolve("class/block"));
            for (Map.Entry<String, String> b : blockDevices.entrySet()) {
                String rel = "devices/pci0000:00/" + b.getValue() + "/nvme/nvme0/" + b.getKey();
                Path dir = Files.createDirectories(sys.resolve(rel));
                Files.writeString(dir.resolve("dev"), "259:" + (block.toFile().list().length) + "\n");
                Files.createSymbolicLink(block.resolve(b.getKey()), Path.of("../../" + rel));
            }
        }
        if (!netInterfaces.isEmpty()) {
            Path net = Files.createDirectories(sys.resolve("class/net"));
            for (Map.Entry<String, String[]> n : netInterfaces.entrySet()) {
                String[] f = n.getValue();
                String rel = f[0] == null ? "devices/virtual/net/" + n.getKey()
                        : "devices/pci0000:00/" + f[0] + "/net/" + n.getKey();
                Path dir = Files.createDirectories(sys.resolve(rel));
                Files.writeString(dir.resolve("operstate"), f[1] + "\n");
                if (f[0] != null) {
                    Files.createSymbolicLink(dir.resolve("device"), Path.of("../../../" + f[0]));
                }
                if (f[2] != null) {
                    Files.createSymbolicLink(dir.resolve("master"),
                            Path.of(f[0] == null ? "../" + f[2] : "../../../../virtual/net/" + f[2]));
                }
                Files.createSymbolicLink(net.resolve(n.getKey()), Path.of("../../" + rel));
            }
        }
        if (!ipv4Routes.isEmpty() || !ipv6Addresses.isEmpty()) {
            Path net = Files.createDirectories(proc.resolve("net"));
            StringBuilder route = new StringBuilder(
                    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n");
            ipv4Routes.forEach(i -> route.append(i).append("\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"));
            Files.writeString(net.resolve("route"), route.toString());
            Files.writeString(net.resolve("if_inet6"), ipv6Addresses.isEmpty() ? "" : String.join("\n", ipv6Addresses) + "\n");
        }
    }

    /**
     * Every file, link and (with {@code withDirectories}) directory below {@code base}: relative path →
     * content in hex, {@code "-> target"} for a link, {@code "dir"}. Two equal maps are byte-identical trees.
     */
    public static Map<String, String> contentsOf(Path base, boolean withDirectories) {
        Map<String, String> entries = new java.util.TreeMap<>();
        try (var walk = Files.walk(base)) {
            for (Path p : walk.toList()) {
                String rel = base.relativize(p).toString();
                if (Files.isSymbolicLink(p)) {
                    entries.put(rel, "-> " + Files.readSymbolicLink(p));
                } else if (Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    entries.put(rel, java.util.HexFormat.of().formatHex(Files.readAllBytes(p)));
                } else if (withDirectories) {
                    entries.put(rel, "dir");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return entries;
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /** One PCI function. */
    public final class Dev {
        final String address;
        int vendor = 0x8086;
        int device = 0x1234;
        int subVendor = 0;
        int subDevice = 0;
        int classCode = 0x020000;
        int numa = -1;
        int headerType = PciDevice.HEADER_ENDPOINT;
        String driver;
        String module;
        String override;
        String group;
        String rootComplex = "pci0000:00";
        boolean bootVga;
        final List<String> vfioDevs = new ArrayList<>();
        String physfn;
        final List<String> virtfns = new ArrayList<>();
        int totalVfs;
        final Map<String, String> overrides = new LinkedHashMap<>();
        final Map<String, String> links = new LinkedHashMap<>();
        final Set<String> omitted = new LinkedHashSet<>();

        Dev(String address) {
            this.address = address;
        }

        public FakeHost host() {
            return FakeHost.this;
        }

        public Dev ids(int vendor, int device) {
            this.vendor = vendor;
            this.device = device;
            return this;
        }

        public Dev subsystem(int vendor, int device) {
            this.subVendor = vendor;
            this.subDevice = device;
            return this;
        }

        public Dev cls(int classCode) {
            this.classCode = classCode;
            return this;
        }

        public Dev numa(int node) {
            this.numa = node;
            return this;
        }

        /** The PCIe root complex it sits under ({@code sys/devices/<root>/<address>}), {@code pci0000:00} by default. */
        public Dev rootComplex(String root) {
            this.rootComplex = root;
            return this;
        }

        public Dev bridge() {
            this.headerType = PciDevice.HEADER_BRIDGE;
            this.classCode = 0x060400;
            return this;
        }

        public Dev group(String group) {
            this.group = group;
            return this;
        }

        /** Bound to {@code driver} of {@code module} (null: built in, no module link). */
        public Dev driver(String driver, String module) {
            this.driver = driver;
            this.module = module;
            return this;
        }

        public Dev unbound() {
            this.driver = null;
            this.module = null;
            this.vfioDevs.clear();
            return this;
        }

        public Dev override(String driverOverride) {
            this.override = driverOverride;
            return this;
        }

        public Dev vfioDev(String name) {
            vfioDevs.add(name);
            return this;
        }

        public Dev noVfioDev() {
            vfioDevs.clear();
            return this;
        }

        public Dev bootVga() {
            this.bootVga = true;
            return this;
        }

        public Dev sriov(int totalVfs, String... vfs) {
            this.totalVfs = totalVfs;
            virtfns.clear();
            virtfns.addAll(List.of(vfs));
            return this;
        }

        public Dev physfn(String pf) {
            this.physfn = pf;
            return this;
        }

        /** Replaces an attribute file's content verbatim (malformed input). */
        public Dev file(String name, String content) {
            overrides.put(name, content);
            return this;
        }

        /** Leaves an attribute file out. */
        public Dev omit(String name) {
            omitted.add(name);
            return this;
        }

        /** A raw symlink in the device directory (e.g. a dangling driver link). */
        public Dev link(String name, String target) {
            links.put(name, target);
            return this;
        }

        public String driver() {
            return driver;
        }

        public String group() {
            return group;
        }

        public String modalias() {
            return String.format("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", vendor, device, subVendor, subDevice,
                    (classCode >> 16) & 0xff, (classCode >> 8) & 0xff, classCode & 0xff);
        }

        void writeTo(Path sys, Path busDevices, Path drivers) throws IOException {
            Path dir = Files.createDirectories(sys.resolve("devices").resolve(rootComplex).resolve(address));
            Map<String, String> files = new LinkedHashMap<>();
            files.put("vendor", String.format("0x%04x", vendor));
            files.put("device", String.format("0x%04x", device));
            files.put("subsystem_vendor", String.format("0x%04x", subVendor));
            files.put("subsystem_device", String.format("0x%04x", subDevice));
            files.put("class", String.format("0x%06x", classCode));
            files.put("modalias", modalias());
            files.put("numa_node", Integer.toString(numa));
            files.put("driver_override", override == null ? "(null)" : override);
            files.put("enable", "1");
            if (bootVga) {
                files.put("boot_vga", "1");
            }
            if (totalVfs > 0) {
                files.put("sriov_totalvfs", Integer.toString(totalVfs));
                files.put("sriov_numvfs", Integer.toString(virtfns.size()));
                files.put("sriov_drivers_autoprobe", "1");
            }
            files.putAll(overrides);
            for (Map.Entry<String, String> f : files.entrySet()) {
                if (!omitted.contains(f.getKey())) {
                    Files.writeString(dir.resolve(f.getKey()), f.getValue() + "\n", StandardCharsets.UTF_8);
                }
            }
            if (!omitted.contains("config")) {
                byte[] config = new byte[64];
                config[0] = (byte) vendor;
                config[1] = (byte) (vendor >> 8);
                config[2] = (byte) device;
                config[3] = (byte) (device >> 8);
                config[0x09] = (byte) classCode;
                config[0x0A] = (byte) (classCode >> 8);
                config[0x0B] = (byte) (classCode >> 16);
                config[0x0E] = (byte) headerType;
                Files.write(dir.resolve("config"), config);
            }
            Files.createSymbolicLink(busDevices.resolve(address), Path.of("../../../devices/" + rootComplex + "/" + address));
            if (driver != null && !links.containsKey("driver")) {
                Files.createSymbolicLink(dir.resolve("driver"), Path.of("../../../bus/pci/drivers/" + driver));
                Files.createSymbolicLink(drivers.resolve(driver).resolve(address),
                        Path.of("../../../../devices/" + rootComplex + "/" + address));
            }
            if (group != null) {
                Path members = Files.createDirectories(sys.resolve("kernel/iommu_groups").resolve(group).resolve("devices"));
                Files.createSymbolicLink(members.resolve(address), Path.of("../../../../devices/" + rootComplex + "/" + address));
                Files.createSymbolicLink(dir.resolve("iommu_group"), Path.of("../../../kernel/iommu_groups/" + group));
            }
            for (String vfioDev : vfioDevs) {
                Path cdev = Files.createDirectories(dir.resolve("vfio-dev").resolve(vfioDev));
                Files.writeString(cdev.resolve("dev"), "511:" + vfioDev.replaceAll("\\D", "") + "\n");
            }
            if (physfn != null) {
                Files.createSymbolicLink(dir.resolve("physfn"), Path.of("../" + physfn));
            }
            for (int i = 0; i < virtfns.size(); i++) {
                Files.createSymbolicLink(dir.resolve("virtfn" + i), Path.of("../" + virtfns.get(i)));
            }
            for (Map.Entry<String, String> l : links.entrySet()) {
                Files.createSymbolicLink(dir.resolve(l.getKey()), Path.of(l.getValue()));
            }
        }
    }
}
