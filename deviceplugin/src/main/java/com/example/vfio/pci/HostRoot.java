package com.example.vfio.pci;

import java.nio.file.Path;

/**
 * The root prefix every host path goes through ({@code --root}, {@code /} in production, a directory
 * laid out like a host in tests and demos). Only this class turns names into paths, and it validates
 * every name first, so no path built from a device, driver or module name can leave the root.
 */
public final class HostRoot {
    private final Path root;

    public HostRoot(Path root) {
        this.root = root.toAbsolutePath().normalize();
    }

    public Path root() {
        return root;
    }

    /** A fixed path below the root, e.g. {@code sys/bus/pci/devices}; refuses anything that climbs out. */
    public Path resolve(String relative) {
        Path resolved = root.resolve(relative).normalize();
        if (!resolved.startsWith(root) || Path.of(relative).isAbsolute()) {
            throw new InvalidNameException("path leaves the host root " + root + ": " + Names.quote(relative));
        }
        return resolved;
    }

    public Path pciDevices() {
        return root.resolve("sys/bus/pci/devices");
    }

    public Path pciDevice(PciAddress address) {
        return pciDevices().resolve(address.toString());
    }

    public Path pciDrivers() {
        return root.resolve("sys/bus/pci/drivers");
    }

    public Path pciDriver(String driverName) {
        return pciDrivers().resolve(Names.requireDriverName(driverName));
    }

    public Path driversProbe() {
        return root.resolve("sys/bus/pci/drivers_probe");
    }

    public Path iommuGroups() {
        return root.resolve("sys/kernel/iommu_groups");
    }

    public Path module(String moduleName) {
        return root.resolve("sys/module").resolve(Names.requireModuleName(moduleName));
    }

    public Path devVfio() {
        return root.resolve("dev/vfio");
    }

    public Path devIommu() {
        return root.resolve("dev/iommu");
    }

    public Path proc() {
        return root.resolve("proc");
    }

    public Path osRelease() {
        return root.resolve("proc/sys/kernel/osrelease");
    }

    /** {@code lib/modules/<release>}; the release comes from the host and is validated like a name. */
    public Path kernelModules(String release) {
        if (release == null || !release.matches("[A-Za-z0-9._+~-]{1,128}") || release.startsWith(".")) {
            throw new InvalidNameException("not a kernel release: " + Names.quote(release));
        }
        return root.resolve("lib/modules").resolve(release);
    }

    @Override
    public String toString() {
        return root.toString();
    }
}
