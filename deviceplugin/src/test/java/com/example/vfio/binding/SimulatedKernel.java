package com.example.vfio.binding;

import com.example.vfio.binding.SysfsWriteException.Errno;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.PciAddress;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

/**
 * The kernel's side of binding, applied to a {@link FakeHost} tree: writes to {@code driver_override},
 * {@code drivers/<d>/unbind} and {@code drivers_probe} take effect the way the PCI core applies them,
 * and {@code modprobe} "loads" a driver into the tree. Refusals behave as on a real kernel:
 * {@code unbind} of a device not on that driver and {@code drivers_probe} of a vanished device answer
 * ENODEV; a driver whose probe fails (vfio-pci and a bridge: -EINVAL, a PF with VFs: -EBUSY, no IOMMU
 * group: -EINVAL) leaves the device driverless while {@code drivers_probe} still reports success, with
 * the error in {@link #dmesg()}. Tests can add failures (one write answering an errno, an unbind that
 * hangs until released, a probe that silently binds nothing) and crashes ({@link SimulatedCrash} right
 * after a write took effect, as if the daemon died there).
 */
final class SimulatedKernel implements SysfsWriter, ModuleLoader {
    /** The daemon dies right after a write reached the kernel. */
    static final class SimulatedCrash extends Error {
        private static final long serialVersionUID = 1L;

        SimulatedCrash(String message) {
            super(message);
        }
    }

    private final Path root;
    private final Set<String> vfioDrivers = new HashSet<>(Set.of("vfio-pci"));
    private final Map<String, String> nativeDrivers = new HashMap<>();
    private final Map<String, String[]> availableModules = new LinkedHashMap<>();
    private final Map<String, Errno> failNext = new HashMap<>();
    private final Set<String> crashAfter = new HashSet<>();
    private final Set<String> bindsNothing = new HashSet<>();
    private final Map<String, CountDownLatch> hangingUnbinds = new HashMap<>();
    private final List<String> writes = new ArrayList<>();
    private final List<String> modprobes = new ArrayList<>();
    private final List<String> dmesg = new ArrayList<>();

    /**
     * Over a written host: drivers of devices with {@code vfio-dev/} are VFIO drivers; the drivers of
     * the other bound devices are those devices' native drivers.
     */
    SimulatedKernel(FakeHost host) {
        this.root = host.path().toAbsolutePath().normalize();
        module("vfio_pci", "vfio-pci", true);
        for (String address : list(root.resolve("sys/bus/pci/devices"))) {
            String driver = driverOf(address);
            if (driver == null) {
                continue;
            }
            if (list(root.resolve("sys/bus/pci/devices").resolve(address).resolve("vfio-dev")).isEmpty()) {
                nativeDrivers.put(address, driver);
            } else {
                vfioDrivers.add(driver);
            }
        }
    }

    // ---- configuration -------------------------------------------------------------------------

    /** A module modprobe can load, registering {@code driver}; {@code vfio}: it is a VFIO (variant) driver. */
    SimulatedKernel module(String module, String driver, boolean vfio) {
        availableModules.put(module, new String[] {driver});
        if (vfio) {
            vfioDrivers.add(driver);
        }
        return this;
    }

    /** Marks an already loaded driver as a VFIO driver (creates vfio-dev on bind). */
    SimulatedKernel vfioDriver(String driver) {
        vfioDrivers.add(driver);
        return this;
    }

    /** The driver the kernel binds to the device when no override is set. */
    SimulatedKernel nativeDriver(String address, String driver) {
        nativeDrivers.put(address, driver);
        return this;
    }

    /** The next write of {@code attribute} (override, unbind, probe) for the device fails with errno. */
    SimulatedKernel failNext(String address, String attribute, Errno errno) {
        failNext.put(address + " " + attribute, errno);
        return this;
    }

    /** The daemon "dies" right after this write took effect. */
    SimulatedKernel crashAfter(String address, String attribute) {
        crashAfter.add(address + " " + attribute);
        return this;
    }

    /** drivers_probe returns success and binds nothing. */
    SimulatedKernel probeBindsNothing(String address) {
        bindsNothing.add(address);
        return this;
    }

    SimulatedKernel probeWorks(String address) {
        bindsNothing.remove(address);
        return this;
    }

    /** Unbinds of the device block until {@link #releaseUnbind} (a VM still holds it). */
    SimulatedKernel hangUnbind(String address) {
        hangingUnbinds.put(address, new CountDownLatch(1));
        return this;
    }

    void releaseUnbind(String address) {
        CountDownLatch latch = hangingUnbinds.remove(address);
        if (latch != null) {
            latch.countDown();
        }
    }

    /** The device disappears (hot unplug). */
    void vanish(String address) {
        try {
            Path link = root.resolve("sys/bus/pci/devices").resolve(address);
            Path dir = link.toRealPath();
            String driver = driverOf(address);
            if (driver != null) {
                Files.deleteIfExists(root.resolve("sys/bus/pci/drivers").resolve(driver).resolve(address));
            }
            Files.delete(link);
            deleteTree(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    synchronized List<String> writes() {
        return List.copyOf(writes);
    }

    synchronized List<String> modprobes() {
        return List.copyOf(modprobes);
    }

    synchronized List<String> dmesg() {
        return List.copyOf(dmesg);
    }

    // ---- the kernel's side of the writes ---------------------------------------------------------

    @Override
    public void write(PciAddress device, Path file, String value) throws SysfsWriteException {
        Path bus = root.resolve("sys/bus/pci");
        Path normalized = file.toAbsolutePath().normalize();
        if (!normalized.startsWith(bus)) {
            throw new AssertionError("write outside sys/bus/pci: " + file);
        }
        String rel = bus.relativize(normalized).toString();
        String address;
        String attribute;
        String[] parts = rel.split("/");
        if (parts.length == 3 && parts[0].equals("devices") && parts[2].equals("driver_override")) {
            address = parts[1];
            attribute = "override";
        } else if (parts.length == 3 && parts[0].equals("drivers") && parts[2].equals("unbind")) {
            address = value.strip();
            attribute = "unbind";
        } else if (rel.equals("drivers_probe")) {
            address = value.strip();
            attribute = "probe";
        } else {
            throw new AssertionError("binding never writes " + rel);
        }
        if (!address.equals(device.toString())) {
            throw new AssertionError("write about " + device + " names " + address + ": " + rel);
        }
        CountDownLatch hang;
        synchronized (this) {
            writes.add(attribute + " " + address + (attribute.equals("override") ? " " + printable(value)
                    : attribute.equals("unbind") ? " " + parts[1] : ""));
            Errno errno = failNext.remove(address + " " + attribute);
            if (errno != null) {
                throw new SysfsWriteException(errno, "simulated " + errno + " writing " + rel);
            }
            hang = attribute.equals("unbind") ? hangingUnbinds.get(address) : null;
        }
        if (hang != null) {
            try {
                hang.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SysfsWriteException(Errno.EIO, "interrupted");
            }
        }
        synchronized (this) {
            switch (attribute) {
                case "override" -> writeOverride(address, value);
                case "unbind" -> unbindFrom(address, parts[1]);
                default -> probe(address);
            }
            if (crashAfter.remove(address + " " + attribute)) {
                throw new SimulatedCrash("the daemon died right after the " + attribute + " write for " + address);
            }
        }
    }

    private void writeOverride(String address, String value) throws SysfsWriteException {
        Path dir = deviceDir(address);
        String stored = value.equals("\n") || value.isEmpty() ? "(null)" : value.strip();
        io(() -> Files.writeString(dir.resolve("driver_override"), stored + "\n"));
    }

    private void unbindFrom(String address, String driver) throws SysfsWriteException {
        deviceDir(address);
        if (!driver.equals(driverOf(address))) {
            throw new SysfsWriteException(Errno.ENODEV, "unbind: " + address + " is not bound to " + driver);
        }
        detach(address, driver);
    }

    private void probe(String address) throws SysfsWriteException {
        Path dir = deviceDir(address);
        if (driverOf(address) != null) {
            return;
        }
        String override = read(dir.resolve("driver_override"));
        String candidate = override == null || override.equals("(null)") ? nativeDrivers.get(address) : override;
        if (candidate == null || !Files.isDirectory(root.resolve("sys/bus/pci/drivers").resolve(candidate))) {
            return;
        }
        if (bindsNothing.contains(address)) {
            return;
        }
        if (vfioDrivers.contains(candidate)) {
            String header = headerType(dir);
            if (header.equals("bridge")) {
                dmesg.add(candidate + " " + address + ": probe with driver " + candidate + " failed with error -22");
                return;
            }
            if (!Files.exists(dir.resolve("iommu_group"), LinkOption.NOFOLLOW_LINKS)) {
                dmesg.add(candidate + " " + address + ": probe with driver " + candidate + " failed with error -22");
                return;
            }
            String numVfs = read(dir.resolve("sriov_numvfs"));
            if (numVfs != null && !numVfs.equals("0")) {
                dmesg.add(candidate + " " + address + ": Cannot bind to PF with SR-IOV enabled; probe failed with"
                        + " error -16");
                return;
            }
        }
        attach(address, candidate);
    }

    // ---- modprobe ------------------------------------------------------------------------------

    @Override
    public synchronized void load(String module) throws ModuleLoadException {
        modprobes.add(module);
        String[] m = availableModules.get(module);
        if (m == null) {
            throw new ModuleLoadException("modprobe: FATAL: Module " + module + " not found in directory"
                    + " /lib/modules/6.12.0-test");
        }
        String driver = m[0];
        try {
            Path dir = Files.createDirectories(root.resolve("sys/bus/pci/drivers").resolve(driver));
            for (String f : List.of("bind", "unbind", "new_id", "remove_id", "uevent")) {
                if (!Files.exists(dir.resolve(f))) {
                    Files.writeString(dir.resolve(f), "");
                }
            }
            Path moduleDrivers = Files.createDirectories(root.resolve("sys/module").resolve(module).resolve("drivers"));
            if (!Files.exists(dir.resolve("module"), LinkOption.NOFOLLOW_LINKS)) {
                Files.createSymbolicLink(dir.resolve("module"), Path.of("../../../../module/" + module));
            }
            if (!Files.exists(moduleDrivers.resolve("pci:" + driver), LinkOption.NOFOLLOW_LINKS)) {
                Files.createSymbolicLink(moduleDrivers.resolve("pci:" + driver),
                        Path.of("../../../bus/pci/drivers/" + driver));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- the tree ------------------------------------------------------------------------------

    private void attach(String address, String driver) {
        try {
            Path dir = root.resolve("sys/bus/pci/devices").resolve(address).toRealPath();
            Files.createSymbolicLink(dir.resolve("driver"), Path.of("../../../bus/pci/drivers/" + driver));
            Files.createSymbolicLink(root.resolve("sys/bus/pci/drivers").resolve(driver).resolve(address),
                    Path.of("../../../../devices/pci0000:00/" + address));
            if (vfioDrivers.contains(driver)) {
                String cdev = "vfio" + nextVfioIndex();
                Path vfioDev = Files.createDirectories(dir.resolve("vfio-dev").resolve(cdev));
                Files.writeString(vfioDev.resolve("dev"), "511:" + cdev.substring(4) + "\n");
                String group = groupOf(dir);
                Files.createDirectories(root.resolve("dev/vfio"));
                if (group != null && !Files.exists(root.resolve("dev/vfio").resolve(group))) {
                    Files.writeString(root.resolve("dev/vfio").resolve(group), "");
                }
                if (Files.isDirectory(root.resolve("dev/vfio/devices"))) {
                    Files.writeString(root.resolve("dev/vfio/devices").resolve(cdev), "");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void detach(String address, String driver) {
        try {
            Path dir = root.resolve("sys/bus/pci/devices").resolve(address).toRealPath();
            Files.delete(dir.resolve("driver"));
            Files.deleteIfExists(root.resolve("sys/bus/pci/drivers").resolve(driver).resolve(address));
            for (String cdev : list(dir.resolve("vfio-dev"))) {
                Files.deleteIfExists(root.resolve("dev/vfio/devices").resolve(cdev));
            }
            deleteTree(dir.resolve("vfio-dev"));
            String group = groupOf(dir);
            if (group != null && !groupHasVfioMember(group)) {
                Files.deleteIfExists(root.resolve("dev/vfio").resolve(group));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private boolean groupHasVfioMember(String group) {
        for (String member : list(root.resolve("sys/kernel/iommu_groups").resolve(group).resolve("devices"))) {
            if (!list(root.resolve("sys/bus/pci/devices").resolve(member).resolve("vfio-dev")).isEmpty()) {
                return true;
            }
        }
        return false;
    }

    private int nextVfioIndex() {
        int next = 0;
        for (String address : list(root.resolve("sys/bus/pci/devices"))) {
            for (String cdev : list(root.resolve("sys/bus/pci/devices").resolve(address).resolve("vfio-dev"))) {
                next = Math.max(next, Integer.parseInt(cdev.substring(4)) + 1);
            }
        }
        return next;
    }

    private Path deviceDir(String address) throws SysfsWriteException {
        Path dir = root.resolve("sys/bus/pci/devices").resolve(address);
        if (!Files.isDirectory(dir)) {
            throw new SysfsWriteException(Errno.ENODEV, address + ": no such device");
        }
        return dir;
    }

    String driverOf(String address) {
        try {
            return Files.readSymbolicLink(root.resolve("sys/bus/pci/devices").resolve(address).resolve("driver"))
                    .getFileName().toString();
        } catch (IOException e) {
            return null;
        }
    }

    private static String groupOf(Path dir) {
        try {
            return Files.readSymbolicLink(dir.resolve("iommu_group")).getFileName().toString();
        } catch (IOException e) {
            return null;
        }
    }

    private static String headerType(Path dir) {
        try (InputStream in = Files.newInputStream(dir.resolve("config"))) {
            byte[] head = in.readNBytes(0x0F);
            return head.length == 0x0F && (head[0x0E] & 0x7F) != 0 ? "bridge" : "endpoint";
        } catch (IOException e) {
            return "endpoint";
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<String> list(Path dir) {
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            entries.forEach(e -> names.add(e.getFileName().toString()));
        } catch (IOException e) {
            return List.of();
        }
        names.sort(null);
        return names;
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    private interface IoAction {
        void run() throws IOException;
    }

    private static void io(IoAction action) {
        try {
            action.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String printable(String value) {
        return value.equals("\n") ? "\\n" : value;
    }
}
