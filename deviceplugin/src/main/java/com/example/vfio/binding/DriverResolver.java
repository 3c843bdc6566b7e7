package com.example.vfio.binding;

import com.example.vfio.api.Drivers;
import com.example.vfio.binding.ModuleLoader.ModuleLoadException;
import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.Names;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.viability.DriverChoice;
import com.example.vfio.viability.DriverChooser;
import com.example.vfio.viability.VfioDriverTest;
import java.util.List;

/**
 * Turns a policy's driver word into the module to load and the driver to bind. {@code auto} takes the
 * best {@code vfio_pci:} alias ({@link DriverChooser}), else vfio-pci; an explicit name may be given as
 * driver or module ({@code xe-vfio-pci} or {@code xe_vfio_pci}). Module and driver names differ
 * ({@code vfio_pci} registers {@code vfio-pci}), so the real driver name is read from
 * {@code sys/module/<module>/drivers/pci:<name>} once the module is loaded.
 */
public final class DriverResolver {
    private final PciSysfs sysfs;
    private final ModuleLoader modules;

    public DriverResolver(PciSysfs sysfs, ModuleLoader modules) {
        this.sysfs = sysfs;
        this.modules = modules;
    }

    /** The target as far as it is known without loading anything (for plans and dry runs). */
    public DriverTarget preview(PciDevice device, String desired, HostSnapshot snapshot) {
        if (Drivers.AUTO.equals(desired)) {
            DriverChoice choice = DriverChooser.of(snapshot).best(device);
            String driver = loadedDriverOf(choice.module(), choice.driver());
            return new DriverTarget(choice.module(), driver, choice.isFallback()
                    ? "auto: no vfio_pci alias matches " + (device.modalias() == null ? "(modalias unreadable)"
                            : device.vendorHex() + ":" + device.deviceHex()) + ", so plain vfio-pci"
                    : "auto: alias " + choice.matchedAlias());
        }
        Names.requireDriverName(desired);
        String module = Names.moduleForm(desired);
        String guess = VfioDriverTest.VFIO_PCI_MODULE.equals(module) ? VfioDriverTest.VFIO_PCI_DRIVER
                : snapshot.moduleDrivers().getOrDefault(module, desired);
        return new DriverTarget(module, loadedDriverOf(module, guess), "policy names " + desired);
    }

    /** Whether the device is on the target already (by driver or module name). */
    public static boolean isOn(PciDevice device, DriverTarget target) {
        String driver = device.driver();
        if (driver == null) {
            return false;
        }
        return driver.equals(target.driver()) || Names.moduleForm(driver).equals(target.module())
                || target.module().equals(device.driverModule());
    }

    /**
     * Loads the target's module (unless its driver is there already) and returns the target with the
     * driver name the module really registered.
     */
    public DriverTarget load(DriverTarget target) throws ModuleLoadException {
        Names.requireModuleName(target.module());
        if (!isLoaded(target)) {
            modules.load(target.module());
        }
        List<String> registered = sysfs.pciDriversOfModule(target.module());
        String driver;
        if (registered.contains(target.driver())) {
            driver = target.driver();
        } else if (!registered.isEmpty()) {
            driver = registered.get(0);
        } else if (sysfs.driverLoaded(target.driver())) {
            driver = target.driver(); // built into the kernel: no sys/module/<m>/drivers entry
        } else {
            throw new ModuleLoadException("module " + target.module() + " is loaded but registers no PCI driver"
                    + " (sys/module/" + target.module() + "/drivers has no pci: entry and sys/bus/pci/drivers/"
                    + target.driver() + " does not exist)");
        }
        return new DriverTarget(target.module(), driver, target.why());
    }

    private boolean isLoaded(DriverTarget target) {
        return !sysfs.pciDriversOfModule(target.module()).isEmpty() || sysfs.driverLoaded(target.driver());
    }

    private String loadedDriverOf(String module, String guess) {
        List<String> registered = sysfs.pciDriversOfModule(module);
        return registered.isEmpty() || registered.contains(guess) ? guess : registered.get(0);
    }
}
