package com.example.vfio.viability;

import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.ModuleAliases;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.pci.VfioAlias;
import java.util.Map;

/**
 * Picks the best VFIO driver for a device the way libvirt's {@code virPCIDeviceFindBestVFIOVariant}
 * does: the device's modalias, as {@code vfio_pci:v...}, against every {@code vfio_pci:} alias; the
 * match with the fewest wildcards wins, file order breaks ties, vfio-pci when nothing matches.
 */
public final class DriverChooser {
    private final ModuleAliases aliases;
    private final Map<String, String> moduleDrivers;

    public DriverChooser(ModuleAliases aliases, Map<String, String> moduleDrivers) {
        this.aliases = aliases;
        this.moduleDrivers = Map.copyOf(moduleDrivers);
    }

    public static DriverChooser of(HostSnapshot snapshot) {
        return new DriverChooser(snapshot.aliases(), snapshot.moduleDrivers());
    }

    public DriverChoice best(PciDevice device) {
        return best(device.modalias());
    }

    /** @param modalias {@code pci:v...} as sysfs prints it; null (unreadable) falls back to vfio-pci */
    public DriverChoice best(String modalias) {
        VfioAlias winner = null;
        if (modalias != null && modalias.startsWith("pci:")) {
            String key = modalias.substring("pci:".length());
            for (VfioAlias alias : aliases.vfioAliases()) {
                if ((winner == null || alias.wildcards() < winner.wildcards())
                        && AliasPattern.matches(alias.pattern(), key)) {
                    winner = alias;
                }
            }
        }
        if (winner == null) {
            return new DriverChoice(VfioDriverTest.VFIO_PCI_MODULE, VfioDriverTest.VFIO_PCI_DRIVER, null);
        }
        String driver = moduleDrivers.getOrDefault(winner.module(),
                VfioDriverTest.VFIO_PCI_MODULE.equals(winner.module()) ? VfioDriverTest.VFIO_PCI_DRIVER : winner.module());
        return new DriverChoice(winner.module(), driver, "vfio_pci:" + winner.pattern());
    }
}
