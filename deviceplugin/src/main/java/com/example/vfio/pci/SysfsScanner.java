package com.example.vfio.pci;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.LinkOption;
import java.nio.file.NotLinkException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Reads the host's PCI devices, drivers, IOMMU groups, VFIO device nodes and module aliases below a
 * {@link HostRoot} into one immutable {@link HostSnapshot}. Each sysfs fact has one reading function
 * here. Whatever cannot be read is said in the snapshot's notes or the device's problems; only a
 * root that is not a host at all is an error.
 */
public final class SysfsScanner {
    private static final java.util.regex.Pattern PCIE_ROOT = java.util.regex.Pattern.compile("pci[0-9a-f]{4,8}:[0-9a-f]{2}");
    /** sysfs attributes are at most one page. */
    static final int MAX_ATTRIBUTE_BYTES = 4096;
    /** A real modules.alias is about 2 MiB; far more is not a modules.alias. */
    static final long MAX_ALIAS_FILE_BYTES = 64L * 1024 * 1024;
    private static final Pattern MODALIAS = Pattern.compile(
            "pci:v[0-9A-Fa-f]{8}d[0-9A-Fa-f]{8}sv[0-9A-Fa-f]{8}sd[0-9A-Fa-f]{8}bc[0-9A-Fa-f]{2}sc[0-9A-Fa-f]{2}i[0-9A-Fa-f]{2}");
    private static final String VFIO_PCI_MODULE = "vfio_pci";

    /**
     * Files most devices lack (boot_vga: VGA only; sriov_totalvfs: PFs only; physfn: VFs only). Each is probed with access(2) before it is opened: an open that fails costs Java
     * an exception with its stack trace, and at thousands of VFs those exceptions were most of the scan's
     * own (non-kernel) time. Files nearly every device has are simply opened.
     */
    private static final Set<String> USUALLY_ABSENT = Set.of("boot_vga", "sriov_totalvfs", "physfn");

    /**
     * What a rescan reuses is read again anyway after this long (a root may rewrite numa_node); each device
     * gets its own time between this and twice this, so a big host's refreshes spread over many rescans.
     */
    static final long REFRESH_AFTER_NANOS = 300_000_000_000L;

    private final HostRoot root;
    private final Map<String, KnownDevice> known = new HashMap<>();
    private final Map<Path, ParsedAliases> parsedAliases = new HashMap<>();
    private GroupsReading lastGroups;
    private HostSnapshot lastSnapshot;
    /** What the last scans skipped, by device name, in name order. */
    private TreeMap<String, String> deviceNotes = new TreeMap<>();

    public SysfsScanner(HostRoot root) {
        this.root = root;
    }

    /**
     * Synchronized because a rescan reuses what the scan before it read: two scans at once would each
     * judge the other's half-written readings.
     */
    public synchronized HostSnapshot scan() {
        Path rootDir = checkedRoot();
        Path devicesDir = root.pciDevices();
        HostWide host = hostWide();
        TreeMap<String, String> notesByDevice = new TreeMap<>(); // by name: in address order, however listed
        ScanOfDevices scan = new ScanOfDevices(rootDir, System.nanoTime());
        List<String> names = names(devicesDir);
        List<PciDevice> devices = new ArrayList<>(names.size());
        int unchanged = 0;
        try {
            for (String name : names) {
                KnownDevice last = known.get(name);
                if (last == null && !PciAddress.isValid(name)) {
                    notesByDevice.put(name, devicesDir + "/" + Names.quote(name) + " is not a PCI address: skipped");
                    continue;
                }
                PciAddress address = last == null ? PciAddress.parse(name) : last.address();
                PciDevice device = readDevice(scan, name, address, last, false, notesByDevice);
                if (device != null) {
                    devices.add(device);
                    unchanged += last != null && device == last.device() ? 1 : 0;
                }
            }
            // each device read is in known, so more entries there than devices means some were unplugged
            if (known.size() != devices.size() && known.keySet().retainAll(new HashSet<>(names))) {
                scan.devicesChanged = true;
            }
            deviceNotes = notesByDevice;
            GroupsReading groups = iommuGroups(scan.devicesChanged, scan.now);
            HostSnapshot last = lastSnapshot;
            // every device the same object as in the last snapshot (each came back from its known reading)
            boolean sameDevices = last != null && unchanged == devices.size() && devices.size() == last.devices().size();
            TreeMap<PciAddress, PciDevice> byAddress = new TreeMap<>();
            devices.forEach(d -> byAddress.put(d.address(), d));
            return snapshot(rootDir, host, sameDevices, byAddress, groups);
        } catch (RuntimeException e) {
            lastSnapshot = null; // the known readings may be ahead of it now: the next scan builds a new one
            throw e;
        }
    }

    /**
     * A rescan that reads again only the named devices, the members of their IOMMU groups and the host-wide
     * facts (kernel release, module aliases, /dev/vfio, the loaded VFIO modules), and takes every other device
     * from the last snapshot as it was: for a change the kernel announced (a uevent names the device it is
     * about). A named device that is gone from {@code bus/pci/devices} is gone from the snapshot; one that is
     * new is read whole, with its group. Without a last snapshot this is {@link #scan()}.
     */
    public synchronized HostSnapshot rescan(Collection<PciAddress> named) {
        HostSnapshot last = lastSnapshot;
        if (last == null || lastGroups == null) {
            return scan();
        }
        Path rootDir = checkedRoot();
        HostWide host = hostWide();
        ScanOfDevices scan = new ScanOfDevices(rootDir, System.nanoTime());
        Set<PciAddress> forced = new HashSet<>(named);
        Set<PciAddress> toRead = new TreeSet<>(forced);
        Set<String> touchedGroups = new HashSet<>();
        for (PciAddress address : forced) {
            PciDevice before = last.devices().get(address);
            if (before != null && before.iommuGroup() != null) {
                touchedGroups.add(before.iommuGroup());
                last.group(before.iommuGroup()).ifPresent(g -> toRead.addAll(g.members()));
            }
        }
        TreeMap<String, String> notesByDevice = new TreeMap<>(deviceNotes);
        TreeMap<PciAddress, PciDevice> byAddress = new TreeMap<>(last.devices());
        boolean sameDevices = true;
        try {
            for (PciAddress address : toRead) {
                String name = address.toString();
                KnownDevice known = this.known.get(name);
                PciDevice before = byAddress.get(address);
                notesByDevice.remove(name);
                PciDevice device = Files.exists(root.pciDevice(address), LinkOption.NOFOLLOW_LINKS)
                        ? readDevice(scan, name, address, known, forced.contains(address), notesByDevice) : null;
                if (device == null) {
                    this.known.remove(name);
                    byAddress.remove(address);
                } else {
                    byAddress.put(address, device);
                    if (device.iommuGroup() != null) {
                        touchedGroups.add(device.iommuGroup());
                    }
                }
                sameDevices &= device == before;
            }
            deviceNotes = notesByDevice;
            GroupsReading groups = iommuGroupsOf(touchedGroups);
            return snapshot(rootDir, host, sameDevices, byAddress, groups);
        } catch (RuntimeException e) {
            lastSnapshot = null;
            throw e;
        }
    }

    private Path checkedRoot() {
        Path rootDir = root.root();
        if (!Files.isDirectory(rootDir)) {
            throw new HostReadException("host root " + rootDir + " does not exist or is not a directory (check --root)");
        }
        Path devicesDir = root.pciDevices();
        if (!Files.isDirectory(devicesDir)) {
            throw new HostReadException(devicesDir + " does not exist: " + rootDir
                    + " does not look like a host root with sysfs mounted (check --root)");
        }
        return rootDir;
    }

    /** What a scan reads of the host as a whole, before its devices. */
    private record HostWide(String release, ModuleAliases aliases, DeviceNodes deviceNodes, List<String> notes) {
    }

    private HostWide hostWide() {
        List<String> notes = new ArrayList<>();
        String release = kernelRelease(notes);
        ModuleAliases aliases = moduleAliases(release, notes);
        return new HostWide(release, aliases, deviceNodes(), notes);
    }

    /**
     * One device into {@code known}, or null (with a note under its name) when it is skipped: its link leads
     * outside the root, it vanished while being read, or it cannot be read. {@code force}: every file read
     * again, not only what changes at run time.
     */
    private PciDevice readDevice(ScanOfDevices scan, String name, PciAddress address, KnownDevice last,
            boolean force, Map<String, String> notesByDevice) {
        Path dir = root.pciDevices().resolve(name);
        try {
            PciDevice device = scan.read(name, address, dir, last, force);
            if (device == null) {
                notesByDevice.put(name, address + ": its sysfs link points outside " + scan.rootDir + ": skipped");
            }
            return device;
        } catch (DeviceVanished | NoSuchFileException e) {
            notesByDevice.put(name, address + " disappeared during the scan (hot unplug?): skipped");
        } catch (IOException e) {
            notesByDevice.put(name, address + ": cannot read " + dir + ": " + e.getMessage() + ": skipped");
        }
        scan.forget(name);
        return null;
    }

    /** The snapshot of what was read: the last one itself when nothing in it changed. */
    private HostSnapshot snapshot(Path rootDir, HostWide host, boolean sameDevices,
            TreeMap<PciAddress, PciDevice> byAddress, GroupsReading groups) {
        List<String> notes = new ArrayList<>(host.notes());
        notes.addAll(groups.notes());
        notes.addAll(deviceNotes.values());
        Map<String, String> moduleDrivers = moduleDrivers(host.aliases(), notes);
        DeviceNodes deviceNodes = host.deviceNodes();
        boolean iommuEnabled = groups.groups().keySet().stream().anyMatch(id -> !deviceNodes.noIommuGroups().contains(id));
        notes.addAll(host.aliases().problems());
        HostSnapshot last = lastSnapshot;
        if (sameDevices && last != null && groups.groups() == last.groups() && host.aliases().equals(last.aliases())
                && Objects.equals(host.release(), last.kernelRelease()) && deviceNodes.equals(last.deviceNodes())
                && moduleDrivers.equals(last.moduleDrivers()) && notes.equals(last.notes())) {
            return last;
        }
        lastSnapshot = new HostSnapshot(rootDir.toString(), host.release(), iommuEnabled, byAddress, groups.groups(),
                deviceNodes, host.aliases(), moduleDrivers, notes);
        return lastSnapshot;
    }

    // ---- one device ------------------------------------------------------------------------

    /**
     * One pass over the devices: what it shares between devices (the attribute buffer, each driver's module
     * and presence) and whether any device is new, gone or replaced since the last scan.
     */
    private final class ScanOfDevices {
        final Path rootDir;
        final long now;
        final ByteBuffer buffer = ByteBuffer.allocate(MAX_ATTRIBUTE_BYTES + 1);
        final Map<String, String> driverModules = new HashMap<>();
        final Map<String, Boolean> driverRegistered = new HashMap<>();
        Path realRoot;
        boolean devicesChanged;

        ScanOfDevices(Path rootDir, long now) {
            this.rootDir = rootDir;
            this.now = now;
        }

        /**
         * The device, or null when its sysfs link leads outside the root. A device that reads as it did
         * last time is handed back as the same object. {@code force}: read every file, as for a new device.
         */
        PciDevice read(String name, PciAddress address, Path dir, KnownDevice before, boolean force)
                throws IOException, DeviceVanished {
            DirectoryIdentity identity = DirectoryIdentity.of(dir);
            KnownDevice last = before;
            if (last == null || !last.identity().equals(identity)) {
                devicesChanged = true;
                last = null;
            } else if (force || now - last.refreshAt() > 0 || groupMayFollow(last)) {
                last = null;
            }
            Path realDir = last == null ? dir.toRealPath() : last.realDir();
            if (last == null && !realDir.startsWith(realRoot())) {
                known.remove(name);
                return null;
            }
            DeviceFiles files = new DeviceFiles(address, realDir, new ArrayList<>(), buffer);
            KnownDevice reading = last == null ? readAll(address, identity, realDir, files) : readChanging(last, files);
            if (before != null && before.fixed().iommuGroup() == null && reading.fixed().iommuGroup() != null) {
                devicesChanged = true; // its group's members may have been listed without it
            }
            DriverFacts driver = reading.driver();
            boolean registered = driver.name() == null || registered(driver);
            if (reading == last && registered == last.registered()) {
                return last.device();
            }
            FixedFacts fixed = reading.fixed();
            List<String> problems = new ArrayList<>(fixed.problems());
            problems.addAll(driver.problems());
            problems.addAll(reading.vfs().problems());
            problems.addAll(files.problems);
            if (!registered) {
                problems.add("driver link points to " + driver.link() + ", which does not exist (driver being unloaded?)");
            }
            String driverModule = driver.name() == null ? null
                    : driverModules.computeIfAbsent(driver.name(), SysfsScanner.this::moduleOfDriver);
            PciDevice device = new PciDevice(address, fixed.vendor(), fixed.device(), fixed.subsystemVendor(),
                    fixed.subsystemDevice(), fixed.classCode(), fixed.modalias(), fixed.numaNode(), fixed.headerType(),
                    driver.name(), driver.unknown(), driverModule, driver.override(), fixed.bootVga(), fixed.physfn(),
                    reading.vfs().virtfns(), reading.vfs().numVfs(), fixed.totalVfs(), reading.vfioDevs(),
                    fixed.iommuGroup(), fixed.pcieRoot(), problems);
            if (before != null && device.equals(before.device())) {
                device = before.device();
            }
            known.put(name, reading.withDevice(device, registered));
            return device;
        }

        /**
         * The kernel links a new device into sys/bus/pci/devices before it gives it its IOMMU group: a device
         * read in between has no group yet. On a host with IOMMU groups such a device is read whole again at
         * every scan while it has none, so a rescan comes to what a first scan says.
         */
        private boolean groupMayFollow(KnownDevice last) {
            return last.fixed().iommuGroup() == null && lastGroups != null && !lastGroups.ids().isEmpty();
        }

        void forget(String name) {
            known.remove(name);
            devicesChanged = true;
        }

        private Path realRoot() throws IOException {
            if (realRoot == null) {
                realRoot = rootDir.toRealPath();
            }
            return realRoot;
        }

        /**
         * The PCIe root complex the device hangs off, as KEP-4381's {@code resource.kubernetes.io/pcieRoot} names it
         * (k8s.io/dynamic-resource-allocation/deviceattribute): the first directory of the device's real path below
         * {@code sys/devices}, {@code pci<domain>:<bus>} such as {@code pci0000:00}; null when the path has another form.
         */
        private String pcieRoot(Path realDir) {
            if (realRoot == null) {
                return null; // read() resolves the root before it reads a new directory
            }
            Path devices = realRoot.resolve("sys/devices");
            if (!realDir.startsWith(devices) || realDir.getNameCount() <= devices.getNameCount() + 1) {
                return null;
            }
            String first = realDir.getName(devices.getNameCount()).toString();
            return PCIE_ROOT.matcher(first).matches() ? first : null;
        }

        /** Every file of the device: its first scan, a new directory at its address, or a refresh. */
        private KnownDevice readAll(PciAddress address, DirectoryIdentity identity, Path realDir, DeviceFiles files)
                throws DeviceVanished, IOException {
            int vendor = files.hex("vendor", 4, true);
            int device = files.hex("device", 4, true);
            int subsystemVendor = files.hex("subsystem_vendor", 4, false);
            int subsystemDevice = files.hex("subsystem_device", 4, false);
            int classCode = files.hex("class", 6, true);
            String modalias = modalias(files);
            int numaNode = numaNode(files);
            int headerType = headerType(files.dir);
            boolean bootVga = "1".equals(files.text("boot_vga", false));
            PciAddress physfn = files.linkedAddress("physfn");
            int totalVfs = files.decimal("sriov_totalvfs", 0);
            String group = iommuGroupOf(files);
            FixedFacts fixed = new FixedFacts(vendor, device, subsystemVendor, subsystemDevice, classCode, modalias,
                    numaNode, headerType, bootVga, physfn, totalVfs, group, pcieRoot(realDir), files.takeProblems());
            VfFacts vfs = totalVfs > 0 ? virtualFunctions(files, files.decimal("sriov_numvfs", 0)) : VfFacts.NONE;
            List<String> vfioDevs = vfioDevs(files.dir);
            DriverFacts driver = driverFacts(files, files.link("driver"), List.of());
            if (!Files.exists(files.dir)) {
                throw new DeviceVanished();
            }
            return new KnownDevice(address, identity, realDir, now + refreshDelay(address), fixed, driver, vfs, vfioDevs,
                    null, true);
        }

        /**
         * What changes at run time, and only that: the driver link, driver_override when that link changed,
         * the vfio-dev entry, and the VF links when sriov_numvfs changed. A driver bound since the last scan
         * is a new link; on the same link vfio-dev stays as it was (a VFIO driver makes its entry at bind),
         * so it is only looked at again after a change or to see the one entry it had is still the same.
         * Returns {@code last} itself when nothing changed.
         */
        private KnownDevice readChanging(KnownDevice last, DeviceFiles files) throws DeviceVanished, IOException {
            Path link = last.driver().link() == null ? linkIfThere(files, "driver") : files.link("driver");
            List<String> linkProblems = files.takeProblems();
            boolean sameLink = Objects.equals(link, last.driver().link());
            DriverFacts driver = sameLink ? last.driver() : driverFacts(files, link, linkProblems);
            List<String> vfioDevs = last.vfioDevs();
            if (!sameLink || !vfioDevs.isEmpty() && !stillTheVfioDev(vfioDevs, files.dir)) {
                vfioDevs = vfioDevs(files.dir);
            }
            VfFacts vfs = last.vfs();
            if (last.fixed().totalVfs() > 0) {
                int numVfs = files.decimal("sriov_numvfs", 0);
                if (numVfs != vfs.numVfs() || !files.problems.isEmpty()) {
                    vfs = virtualFunctions(files, numVfs);
                }
            }
            if (vfioDevs.isEmpty() && !last.vfioDevs().isEmpty() && !Files.exists(files.dir)) {
                throw new DeviceVanished(); // its vfio-dev entry went with the whole directory
            }
            if (sameLink && vfioDevs.equals(last.vfioDevs()) && vfs == last.vfs()) {
                return last;
            }
            return new KnownDevice(last.address(), last.identity(), last.realDir(), last.refreshAt(), last.fixed(),
                    driver, vfs, vfioDevs, last.device(), last.registered());
        }

        /**
         * The link's target, asking first whether there is anything there: a device that had no driver
         * usually still has none, and a failed readlink costs Java two exceptions. When there is nothing,
         * whether the device itself is still there. The link itself is asked for, not what it leads to, so a
         * link to nothing reads as it does on a first scan.
         */
        private Path linkIfThere(DeviceFiles files, String name) throws DeviceVanished {
            if (Files.exists(files.dir.resolve(name), LinkOption.NOFOLLOW_LINKS)) {
                return files.link(name);
            }
            if (!Files.exists(files.dir)) {
                throw new DeviceVanished();
            }
            return null;
        }

        /**
         * The driver the link names, only when it leads to {@code sys/bus/pci/drivers/<name>} of this root
         * ({@link DriverLink}); any other link is a problem of the device, whose driver is then unknown. Decided
         * from the link and the device's real directory alone, so a rescan that finds the same link keeps the
         * verdict of the scan that first read it.
         */
        private DriverFacts driverFacts(DeviceFiles files, Path link, List<String> linkProblems)
                throws DeviceVanished, IOException {
            String override = files.text("driver_override", false);
            if ("(null)".equals(override) || (override != null && override.isEmpty())) {
                override = null;
            }
            String name = null;
            if (link != null) {
                name = DriverLink.driverName(realRoot(), files.dir, link);
                if (name == null) {
                    files.problem(DriverLink.problem(link, rootDir));
                }
            }
            List<String> problems = new ArrayList<>(linkProblems);
            problems.addAll(files.takeProblems());
            return new DriverFacts(link, name, link != null && name == null, override, List.copyOf(problems));
        }

        private VfFacts virtualFunctions(DeviceFiles files, int numVfs) throws DeviceVanished {
            List<PciAddress> virtfns = new ArrayList<>();
            for (int i = 0; i < numVfs; i++) {
                PciAddress vf = files.linkedAddress("virtfn" + i);
                if (vf != null) {
                    virtfns.add(vf);
                }
            }
            return new VfFacts(numVfs, virtfns, files.takeProblems());
        }

        /**
         * Whether the driver the link names is there, or is being unloaded. A named driver's link leads to
         * {@code sys/bus/pci/drivers/<name>}: that directory is looked at once per driver and scan, not once
         * per device.
         */
        private boolean registered(DriverFacts driver) {
            return driverRegistered.computeIfAbsent(driver.name(), n -> Files.exists(root.pciDriver(n)));
        }
    }

    /** Between {@link #REFRESH_AFTER_NANOS} and twice that, the same for a device every time. */
    private static long refreshDelay(PciAddress address) {
        return REFRESH_AFTER_NANOS + Math.floorMod(address.hashCode() * 0x9E3779B9L, REFRESH_AFTER_NANOS);
    }

    /**
     * Which device a bus link stands for: the link's own inode (and file system) and modification time.
     * The kernel makes the link with the device and removes it with the device, so a device unplugged and
     * plugged again, or a link turned elsewhere, is a new link. Not following the link keeps this the
     * cheapest call of a rescan.
     */
    private record DirectoryIdentity(Object fileKey, long modifiedNanos) {
        static DirectoryIdentity of(Path busLink) throws IOException {
            BasicFileAttributes attributes = Files.readAttributes(busLink, BasicFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS);
            return new DirectoryIdentity(attributes.fileKey(), attributes.lastModifiedTime().to(TimeUnit.NANOSECONDS));
        }

        @Override
        public boolean equals(Object o) { // written out, like PciAddress's: compared for every device of every rescan
            return o instanceof DirectoryIdentity other && modifiedNanos == other.modifiedNanos
                    && Objects.equals(fileKey, other.fileKey);
        }

        @Override
        public int hashCode() {
            return Objects.hashCode(fileKey) * 31 + Long.hashCode(modifiedNanos);
        }
    }

    /**
     * A device as the last scan read it, and the device it made. A rescan reuses its facts while the link
     * is the same one and {@code refreshAt} has not passed, and reads the rest through {@code realDir},
     * the directory's real path: it was checked to be inside the root for this very link, and each read
     * saves the kernel following the bus link.
     */
    private record KnownDevice(PciAddress address, DirectoryIdentity identity, Path realDir, long refreshAt,
            FixedFacts fixed, DriverFacts driver, VfFacts vfs, List<String> vfioDevs, PciDevice device,
            boolean registered) {
        /** With the device made from it, and whether its driver was registered then (the device says so). */
        KnownDevice withDevice(PciDevice made, boolean wasRegistered) {
            return made == device && wasRegistered == registered ? this
                    : new KnownDevice(address, identity, realDir, refreshAt, fixed, driver, vfs, vfioDevs, made,
                            wasRegistered);
        }
    }

    /**
     * What sysfs fixes when it creates a device's directory (ids, class, modalias, NUMA node, header type,
     * boot_vga, physfn, sriov_totalvfs, the IOMMU group) and the problems reading them found: most of a
     * first scan's system calls, none of a rescan's.
     */
    private record FixedFacts(int vendor, int device, int subsystemVendor, int subsystemDevice, int classCode,
            String modalias, int numaNode, int headerType, boolean bootVga, PciAddress physfn, int totalVfs,
            String iommuGroup, String pcieRoot, List<String> problems) {
    }

    /**
     * The driver link as read, the driver it names (null: no link, or one that does not lead to a driver of
     * this root, which makes the driver {@code unknown}), and driver_override as it was when the link was last
     * seen to change.
     */
    private record DriverFacts(Path link, String name, boolean unknown, String override, List<String> problems) {
    }

    /** sriov_numvfs and the virtfn links it makes: the same VFs for the same number. */
    private record VfFacts(int numVfs, List<PciAddress> virtfns, List<String> problems) {
        static final VfFacts NONE = new VfFacts(0, List.of(), List.of());
    }

    private static String modalias(DeviceFiles files) throws DeviceVanished {
        String modalias = files.text("modalias", true);
        if (modalias == null) {
            return null;
        }
        if (!MODALIAS.matcher(modalias).matches()) {
            files.problem("modalias " + Names.quote(modalias) + " is not a full PCI modalias (truncated?)");
            return null;
        }
        return modalias;
    }

    private static int numaNode(DeviceFiles files) throws DeviceVanished {
        String text = files.text("numa_node", false);
        if (text == null) {
            return -1;
        }
        try {
            int node = Integer.parseInt(text);
            return node < -1 ? -1 : node;
        } catch (NumberFormatException e) {
            files.problem("numa_node holds " + Names.quote(text) + ", not a number");
            return -1;
        }
    }

    /** Byte 0x0E of config space, bit 7 masked off (multi-function flag). */
    private static int headerType(Path dir) {
        try (InputStream in = Files.newInputStream(dir.resolve("config"))) {
            byte[] head = in.readNBytes(0x0F);
            return head.length == 0x0F ? head[0x0E] & 0x7F : -1;
        } catch (IOException e) {
            return -1;
        }
    }

    private String moduleOfDriver(String driver) {
        try {
            return lastName(Files.readSymbolicLink(root.pciDriver(driver).resolve("module")));
        } catch (IOException | InvalidNameException e) {
            return null; // built into the kernel, or the driver is going away
        }
    }

    /**
     * Whether the one entry vfio-dev/ had is still there. A VFIO driver gives its device exactly one (the
     * {@code vfioN} of its cdev), so while that name is there it is all vfio-dev/ holds; a device bound
     * again under another number fails this and is listed. One access(2) instead of a listing's five calls.
     */
    private static boolean stillTheVfioDev(List<String> last, Path dir) {
        return last.size() == 1 && Files.exists(dir.resolve("vfio-dev").resolve(last.get(0)));
    }

    /** The entries of vfio-dev/: one listing, which fails without an exception when there is none. */
    private static List<String> vfioDevs(Path dir) {
        String[] names = dir.resolve("vfio-dev").toFile().list();
        if (names == null) {
            return List.of();
        }
        Arrays.sort(names);
        return Arrays.asList(names);
    }

    private static String iommuGroupOf(DeviceFiles files) throws DeviceVanished {
        Path target = files.link("iommu_group");
        if (target == null) {
            return null;
        }
        String id = lastName(target);
        if (!Names.isGroupId(id)) {
            files.problem("iommu_group link points to " + Names.quote(target.toString()) + ", not a group");
            return null;
        }
        return id;
    }

    // ---- host-wide facts -------------------------------------------------------------------

    private String kernelRelease(List<String> notes) {
        Path file = root.osRelease();
        try {
            String release = readSmall(file).trim();
            root.kernelModules(release);
            return release;
        } catch (NoSuchFileException e) {
            notes.add(file + " is missing: kernel release unknown, module aliases not read");
        } catch (IOException | HostReadException e) {
            notes.add("cannot read the kernel release from " + file + ": " + e.getMessage());
        }
        return null;
    }

    private ModuleAliases moduleAliases(String release, List<String> notes) {
        if (release == null) {
            return ModuleAliases.none();
        }
        Path dir = root.kernelModules(release);
        Path aliasFile = dir.resolve("modules.alias");
        ModuleAliases aliases = ModuleAliases.none();
        BasicFileAttributes aliasAttributes = aliasFileAttributes(aliasFile, notes, true);
        if (aliasAttributes != null) {
            try {
                aliases = parsedOnce(aliasFile, aliasAttributes, () -> {
                    try (BufferedReader reader = Files.newBufferedReader(aliasFile, StandardCharsets.ISO_8859_1)) {
                        return ModuleAliases.parse(reader, aliasFile.toString());
                    }
                });
            } catch (IOException e) {
                notes.add("cannot read " + aliasFile + ": " + e.getMessage());
            }
        }
        Path builtin = dir.resolve("modules.builtin.modinfo");
        BasicFileAttributes builtinAttributes = aliasFileAttributes(builtin, notes, false);
        if (builtinAttributes != null) {
            try {
                aliases = aliases.followedBy(parsedOnce(builtin, builtinAttributes,
                        () -> ModuleAliases.parseBuiltinModinfo(Files.readAllBytes(builtin), builtin.toString())));
            } catch (IOException e) {
                notes.add("cannot read " + builtin + ": " + e.getMessage());
            }
        }
        return aliases;
    }

    /** An alias file as parsed, with what identified its content then. */
    private record ParsedAliases(Object fileKey, FileTime modified, long size, ModuleAliases aliases) {
    }

    @FunctionalInterface
    private interface AliasParser {
        ModuleAliases parse() throws IOException;
    }

    /**
     * The file's aliases, parsed again only when its inode, size or modification time changed. The daemon
     * rescans every few seconds with one scanner, and modules.alias (27,000 lines on a distribution kernel)
     * changes only when modules are installed: parsing it was most of a small host's scan.
     */
    private ModuleAliases parsedOnce(Path file, BasicFileAttributes attributes, AliasParser parser)
            throws IOException {
        ParsedAliases last = parsedAliases.get(file);
        if (last != null && Objects.equals(last.fileKey(), attributes.fileKey())
                && last.modified().equals(attributes.lastModifiedTime()) && last.size() == attributes.size()) {
            return last.aliases();
        }
        ModuleAliases parsed = parser.parse();
        parsedAliases.put(file, new ParsedAliases(attributes.fileKey(), attributes.lastModifiedTime(),
                attributes.size(), parsed));
        return parsed;
    }

    /** The file's attributes when it can be used as an alias file, else null with a note saying why. */
    private static BasicFileAttributes aliasFileAttributes(Path file, List<String> notes, boolean required) {
        try {
            BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
            long size = attributes.size();
            if (size > MAX_ALIAS_FILE_BYTES) {
                notes.add(file + " is " + size / (1024 * 1024) + " MiB, far more than a module alias list: ignored");
                return null;
            }
            return attributes;
        } catch (NoSuchFileException e) {
            if (required) {
                notes.add(file + " is missing: VFIO variant drivers are recognised only while a device is bound"
                        + " (vfio-dev), and 'auto' falls back to vfio-pci");
            }
            return null;
        } catch (IOException e) {
            notes.add("cannot read " + file + ": " + e.getMessage());
            return null;
        }
    }

    /**
     * The IOMMU groups as one scan read them, and the notes that reading made, by group directory name.
     */
    private record GroupsReading(List<String> ids, Map<String, IommuGroup> groups, Map<String, List<String>> notesById,
            long refreshAt) {
        List<String> notes() {
            if (notesById.isEmpty()) {
                return List.of();
            }
            List<String> notes = new ArrayList<>();
            ids.forEach(id -> notes.addAll(notesById.getOrDefault(id, List.of())));
            return notes;
        }
    }

    /**
     * The groups and their members. The kernel puts a device in its group when it adds the device and
     * takes it out when it removes it, so while no device came, went or was replaced, and no group came or
     * went, the members are those the last scan listed: a host with 4,096 functions has thousands of
     * groups, and listing each one's devices was a third of a rescan.
     */
    private GroupsReading iommuGroups(boolean devicesChanged, long now) {
        Path dir = root.iommuGroups();
        List<String> ids = Files.isDirectory(dir) ? sortedNames(dir) : List.of();
        GroupsReading last = lastGroups;
        if (!devicesChanged && last != null && last.ids().equals(ids) && now - last.refreshAt() < 0) {
            return last;
        }
        Map<String, IommuGroup> groups = new HashMap<>();
        Map<String, List<String>> notes = new HashMap<>();
        for (String id : ids) {
            readGroup(dir, id, groups, notes);
        }
        lastGroups = new GroupsReading(ids, Map.copyOf(groups), Map.copyOf(notes), now + REFRESH_AFTER_NANOS);
        return lastGroups;
    }

    /**
     * The groups after a change to some devices: the members of {@code touched} (the groups those devices
     * were and are in) and of groups that are new are listed again; the other groups are the last reading's.
     */
    private GroupsReading iommuGroupsOf(Set<String> touched) {
        Path dir = root.iommuGroups();
        List<String> ids = Files.isDirectory(dir) ? sortedNames(dir) : List.of();
        GroupsReading last = lastGroups;
        Map<String, IommuGroup> groups = new HashMap<>();
        Map<String, List<String>> notes = new HashMap<>();
        boolean same = ids.equals(last.ids());
        for (String id : ids) {
            IommuGroup before = last.groups().get(id);
            if (before != null && !touched.contains(id)) {
                groups.put(id, before);
                continue;
            }
            if (before == null && last.notesById().containsKey(id) && !touched.contains(id)) {
                notes.put(id, last.notesById().get(id)); // a directory that is not a group, as before
                continue;
            }
            readGroup(dir, id, groups, notes);
            same &= Objects.equals(groups.get(id), before) && Objects.equals(notes.get(id), last.notesById().get(id));
        }
        if (same) {
            return last;
        }
        lastGroups = new GroupsReading(ids, Map.copyOf(groups), Map.copyOf(notes), last.refreshAt());
        return lastGroups;
    }

    private static void readGroup(Path dir, String id, Map<String, IommuGroup> groups, Map<String, List<String>> notes) {
        if (!Names.isGroupId(id)) {
            notes.put(id, List.of(dir + "/" + Names.quote(id) + " is not an IOMMU group number: skipped"));
            return;
        }
        List<PciAddress> members = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        for (String member : sortedNames(dir.resolve(id).resolve("devices"))) {
            if (PciAddress.isValid(member)) {
                members.add(PciAddress.parse(member));
            } else {
                problems.add("IOMMU group " + id + " lists " + Names.quote(member) + ", not a PCI address: skipped");
            }
        }
        members.sort(null);
        groups.put(id, new IommuGroup(id, members));
        if (!problems.isEmpty()) {
            notes.put(id, List.copyOf(problems));
        }
    }

    private DeviceNodes deviceNodes() {
        Path dir = root.devVfio();
        boolean container = false;
        Set<String> groups = new TreeSet<>();
        Set<String> noIommu = new TreeSet<>();
        for (String name : sortedNames(dir)) {
            if (name.equals("vfio")) {
                container = true;
            } else if (Names.isGroupId(name)) {
                groups.add(name);
            } else if (name.startsWith("noiommu-") && Names.isGroupId(name.substring("noiommu-".length()))) {
                noIommu.add(name.substring("noiommu-".length()));
            }
        }
        Set<String> cdevs = new TreeSet<>();
        for (String name : sortedNames(dir.resolve("devices"))) {
            if (name.matches("vfio[0-9]{1,9}")) {
                cdevs.add(name);
            }
        }
        return new DeviceNodes(container, groups, noIommu, Files.exists(root.devIommu()), cdevs);
    }

    /** For each loaded VFIO module, the PCI driver it registers: {@code sys/module/<m>/drivers/pci:<name>}. */
    private Map<String, String> moduleDrivers(ModuleAliases aliases, List<String> notes) {
        Set<String> modules = new LinkedHashSet<>(aliases.vfioModules());
        modules.add(VFIO_PCI_MODULE);
        Map<String, String> drivers = new HashMap<>();
        for (String module : modules) {
            for (String entry : sortedNames(root.module(module).resolve("drivers"))) {
                if (entry.startsWith("pci:") && Names.isDriverName(entry.substring(4))) {
                    drivers.put(module, entry.substring(4));
                    break;
                }
            }
        }
        return drivers;
    }

    // ---- helpers ---------------------------------------------------------------------------

    /**
     * The names in a directory, sorted. {@link java.io.File#list()} gives the names without making a
     * {@link Path} per entry (a third of the scan's own time went there); when it fails it does not say
     * why, so the directory stream is asked again for the error.
     */
    private static List<String> sortedNames(Path dir) {
        List<String> names = new ArrayList<>(names(dir));
        names.sort(null);
        return names;
    }

    /** The names in a directory, in the order the file system lists them. */
    private static List<String> names(Path dir) {
        String[] listed = dir.toFile().list();
        if (listed != null) {
            return Arrays.asList(listed);
        }
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path entry : entries) {
                names.add(entry.getFileName().toString());
            }
        } catch (NoSuchFileException | NotDirectoryException e) {
            return List.of();
        } catch (IOException e) {
            throw new HostReadException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        return names;
    }

    static String lastName(Path linkTarget) {
        Path name = linkTarget.getFileName();
        return name == null ? "" : name.toString();
    }

    /**
     * One read(2), not a read loop: sysfs hands over a whole attribute (at most a page) on the first
     * read, and a regular file (test trees) all it holds up to the buffer's size. The loop's extra read
     * to see end-of-file would cost a system call per attribute, tens of thousands per scan of a big host.
     */
    static String readSmall(Path file) throws IOException {
        return readSmall(file, ByteBuffer.allocate(MAX_ATTRIBUTE_BYTES + 1));
    }

    /** {@link #readSmall(Path)} into a buffer the caller reuses (one per scan: 40,000 reads, no garbage). */
    static String readSmall(Path file, ByteBuffer buffer) throws IOException {
        buffer.clear();
        try (SeekableByteChannel channel = Files.newByteChannel(file)) {
            channel.read(buffer);
            if (buffer.position() > MAX_ATTRIBUTE_BYTES) {
                throw new IOException("more than " + MAX_ATTRIBUTE_BYTES + " bytes, larger than any sysfs attribute");
            }
            return new String(buffer.array(), 0, buffer.position(), StandardCharsets.ISO_8859_1);
        }
    }

    /** Thrown when a device's directory is gone half-way through reading it. */
    private static final class DeviceVanished extends Exception {
        private static final long serialVersionUID = 1L;

        DeviceVanished() {
            super(null, null, false, false);
        }
    }

    /** The attribute files of one device; every read either yields a value or records a problem. */
    private static final class DeviceFiles {
        final PciAddress address;
        final Path dir;
        final List<String> problems;
        private final ByteBuffer buffer;

        DeviceFiles(PciAddress address, Path dir, List<String> problems, ByteBuffer buffer) {
            this.address = address;
            this.dir = dir;
            this.problems = problems;
            this.buffer = buffer;
        }

        /**
         * False only when {@code name} is one of {@link #USUALLY_ABSENT} and access(2) does not find it
         * (for a link: its target); true means "open it and see".
         */
        boolean mayExist(String name) {
            return !USUALLY_ABSENT.contains(name) || Files.exists(dir.resolve(name));
        }

        void problem(String text) {
            problems.add(text);
        }

        /** The problems found since the last call, for the facts just read. */
        List<String> takeProblems() {
            if (problems.isEmpty()) {
                return List.of();
            }
            List<String> taken = List.copyOf(problems);
            problems.clear();
            return taken;
        }

        /** The trimmed content, or null when absent (a problem when required). */
        String text(String name, boolean required) throws DeviceVanished {
            if (!mayExist(name)) {
                if (required) {
                    problem(name + " is missing");
                }
                return null;
            }
            try {
                return readSmall(dir.resolve(name), buffer).strip();
            } catch (NoSuchFileException e) {
                if (!Files.exists(dir)) {
                    throw new DeviceVanished();
                }
                if (required) {
                    problem(name + " is missing");
                }
                return null;
            } catch (IOException e) {
                if (!Files.exists(dir)) {
                    throw new DeviceVanished();
                }
                problem("cannot read " + name + ": " + e.getMessage());
                return null;
            }
        }

        int hex(String name, int digits, boolean required) throws DeviceVanished {
            String text = text(name, required);
            if (text == null) {
                return -1;
            }
            String body = text.startsWith("0x") || text.startsWith("0X") ? text.substring(2) : text;
            if (body.isEmpty() || body.length() > digits || !body.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
                problem(name + " holds " + Names.quote(text) + ", not a " + digits + "-digit hex number");
                return -1;
            }
            return Integer.parseInt(body, 16);
        }

        int decimal(String name, int absent) throws DeviceVanished {
            String text = text(name, false);
            if (text == null) {
                return absent;
            }
            try {
                return Integer.parseInt(text);
            } catch (NumberFormatException e) {
                problem(name + " holds " + Names.quote(text) + ", not a number");
                return absent;
            }
        }

        /** The target of a symlink, or null when there is none. */
        Path link(String name) throws DeviceVanished {
            if (!mayExist(name)) {
                return null;
            }
            try {
                return Files.readSymbolicLink(dir.resolve(name));
            } catch (NoSuchFileException e) {
                if (!Files.exists(dir)) {
                    throw new DeviceVanished();
                }
                return null;
            } catch (NotLinkException e) {
                problem(name + " is not a symbolic link");
                return null;
            } catch (IOException e) {
                problem("cannot read link " + name + ": " + e.getMessage());
                return null;
            }
        }

        PciAddress linkedAddress(String name) throws DeviceVanished {
            Path target = link(name);
            if (target == null) {
                return null;
            }
            String last = lastName(target);
            if (!PciAddress.isValid(last)) {
                problem(name + " link points to " + Names.quote(target.toString()) + ", not a PCI device");
                return null;
            }
            return PciAddress.parse(last);
        }
    }

}
