package com.example.vfio.viability;

import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.Names;
import com.example.vfio.pci.PciDevice;
import java.util.Map;
import java.util.Set;

/**
 * Is a device bound to a VFIO driver: vfio-pci or any variant (mlx5_vfio_pci, nvgrace_gpu_vfio_pci, ...)?
 * The kernel's evidence, in order: a {@code vfio-dev/} entry (6.1+, covers every variant); the driver
 * named {@code vfio-pci}; the driver's module declaring {@code vfio_pci:} aliases. Never the substring
 * "vfio" in a name, never {@code /dev/vfio/<group>} existing.
 */
public final class VfioDriverTest {
    public static final String VFIO_PCI_DRIVER = "vfio-pci";
    public static final String VFIO_PCI_MODULE = "vfio_pci";

    private final Set<String> vfioModules;
    private final Map<String, String> moduleDrivers;

    public VfioDriverTest(Set<String> vfioModules, Map<String, String> moduleDrivers) {
        this.vfioModules = Set.copyOf(vfioModules);
        this.moduleDrivers = Map.copyOf(moduleDrivers);
    }

    public static VfioDriverTest of(HostSnapshot snapshot) {
        return new VfioDriverTest(snapshot.aliases().vfioModules(), snapshot.moduleDrivers());
    }

    public boolean isVfioDriver(PciDevice device) {
        if (device.driver() == null) {
            return false;
        }
        if (!device.vfioDevs().isEmpty()) {
            return true;
        }
        return isVfioDriverName(device.driver(), device.driverModule());
    }

    /**
     * Whether a driver, known by name and (when the link exists) module, is a VFIO driver. A driver
     * without a module link is looked up among the loaded VFIO modules' registered drivers.
     */
    public boolean isVfioDriverName(String driver, String module) {
        if (VFIO_PCI_DRIVER.equals(driver)) {
            return true;
        }
        if (module != null) {
            return vfioModules.contains(module);
        }
        for (Map.Entry<String, String> entry : moduleDrivers.entrySet()) {
            if (entry.getValue().equals(driver) && vfioModules.contains(entry.getKey())) {
                return true;
            }
        }
        // a built-in variant without sys/module entry registers the driver under its module's name
        return Names.isDriverName(driver) && vfioModules.contains(Names.moduleForm(driver))
                && !moduleDrivers.containsKey(Names.moduleForm(driver));
    }
}
