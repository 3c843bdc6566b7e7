package com.example.vfio.binding;

import com.example.vfio.pci.DriverLink;
import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.InvalidNameException;
import com.example.vfio.pci.Names;
import com.example.vfio.pci.PciAddress;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The sysfs facts and writes binding needs for one device, each behind one function (libvirt
 * virpci.c style), read fresh at the moment of use rather than from a snapshot. Every write goes
 * through the {@link SysfsWriter} and only to one of three attributes, all under
 * {@code sys/bus/pci/} of the host root: {@code devices/<addr>/driver_override},
 * {@code drivers/<name>/unbind} and {@code drivers_probe}.
 */
public final class PciSysfs {
    /** The value that clears {@code driver_override}. */
    static final String CLEAR = "\n";

    private final HostRoot root;
    private final SysfsWriter writer;
    private final Path pciBus;
    private Path realRoot;

    public PciSysfs(HostRoot root, SysfsWriter writer) {
        this.root = root;
        this.writer = writer;
        this.pciBus = root.resolve("sys/bus/pci");
    }

    public HostRoot root() {
        return root;
    }

    // ---- facts -------------------------------------------------------------------------------

    public boolean exists(PciAddress address) {
        return Files.isDirectory(root.pciDevice(address));
    }

    /**
     * The bound driver's name ({@code driver} link), empty when unbound. A link that does not lead to
     * {@code sys/bus/pci/drivers/<name>} of the root ({@link DriverLink}) names no driver: an error, so that
     * nothing is ever written on the strength of it.
     */
    public Optional<String> driverOf(PciAddress address) {
        Path link = root.pciDevice(address).resolve("driver");
        try {
            Path target = Files.readSymbolicLink(link);
            if (realRoot == null) {
                realRoot = root.root().toRealPath();
            }
            String name = DriverLink.driverName(realRoot, link.getParent().toRealPath(), target);
            if (name == null) {
                throw new BindingException(address + ": " + DriverLink.problem(target, root.root()));
            }
            return Optional.of(name);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new BindingException(address + ": cannot read its driver link: " + e.getMessage());
        }
    }

    /** {@code driver_override}, empty when unset ({@code (null)}). */
    public Optional<String> overrideOf(PciAddress address) {
        Path file = root.pciDevice(address).resolve("driver_override");
        try (InputStream in = Files.newInputStream(file)) {
            String text = new String(in.readNBytes(4096), StandardCharsets.ISO_8859_1).strip();
            return text.isEmpty() || text.equals("(null)") ? Optional.empty() : Optional.of(text);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new BindingException(address + ": cannot read " + file + ": " + e.getMessage());
        }
    }

    /** The entries of {@code vfio-dev/}: present while any VFIO driver (6.1+) holds the device. */
    public List<String> vfioDevsOf(PciAddress address) {
        List<String> names = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(root.pciDevice(address).resolve("vfio-dev"))) {
            for (Path entry : entries) {
                names.add(entry.getFileName().toString());
            }
        } catch (IOException e) {
            return List.of();
        }
        names.sort(null);
        return names;
    }

    /** The device's IOMMU group number, empty without one. */
    public Optional<String> groupOf(PciAddress address) {
        try {
            Path name = Files.readSymbolicLink(root.pciDevice(address).resolve("iommu_group")).getFileName();
            return name != null && Names.isGroupId(name.toString()) ? Optional.of(name.toString()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The module of a loaded driver ({@code drivers/<name>/module} link), empty when built in or not loaded. */
    public Optional<String> moduleOfDriver(String driver) {
        try {
            Path name = Files.readSymbolicLink(root.pciDriver(driver).resolve("module")).getFileName();
            return name == null ? Optional.empty() : Optional.of(name.toString());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    public boolean driverLoaded(String driver) {
        return Files.isDirectory(root.pciDriver(driver));
    }

    /** The PCI drivers a loaded module registers: {@code sys/module/<m>/drivers/pci:<name>}. */
    public List<String> pciDriversOfModule(String module) {
        List<String> drivers = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(root.module(module).resolve("drivers"))) {
            for (Path entry : entries) {
                String name = entry.getFileName().toString();
                if (name.startsWith("pci:") && Names.isDriverName(name.substring(4))) {
                    drivers.add(name.substring(4));
                }
            }
        } catch (IOException e) {
            return List.of();
        }
        drivers.sort(null);
        return drivers;
    }

    /** The device's state as binding sees it. */
    public DriverState stateOf(PciAddress address) {
        return new DriverState(driverOf(address).orElse(null), overrideOf(address).orElse(null));
    }

    // ---- writes ------------------------------------------------------------------------------

    /** Writes a driver name to {@code driver_override}, or clears it when {@code driver} is null. */
    public void writeOverride(PciAddress address, String driver) throws SysfsWriteException {
        String value = driver == null ? CLEAR : Names.requireDriverName(driver);
        write(address, root.pciDevice(address).resolve("driver_override"), value);
    }

    /** Writes the address to {@code drivers/<driver>/unbind}. */
    public void unbind(PciAddress address, String driver) throws SysfsWriteException {
        write(address, root.pciDriver(driver).resolve("unbind"), address.toString());
    }

    /** Writes the address to {@code drivers_probe}: the kernel binds the override's driver, or the native one. */
    public void probe(PciAddress address) throws SysfsWriteException {
        write(address, root.driversProbe(), address.toString());
    }

    private void write(PciAddress address, Path file, String value) throws SysfsWriteException {
        Path normalized = file.normalize();
        if (!normalized.startsWith(pciBus) || normalized.getNameCount() <= pciBus.getNameCount()) {
            throw new InvalidNameException("refusing to write " + normalized + ": outside " + pciBus);
        }
        writer.write(address, normalized, value);
    }
}
