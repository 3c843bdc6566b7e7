package com.example.vfio.viability;

/**
 * The VFIO driver {@code driver: auto} binds a device to.
 *
 * @param module       the module to load, e.g. {@code mlx5_vfio_pci}, or {@code vfio_pci} as fallback
 * @param driver       the PCI driver name the module registers (known once it is loaded; until then the module name)
 * @param matchedAlias the {@code vfio_pci:} pattern that chose it, null for the fallback
 */
public record DriverChoice(String module, String driver, String matchedAlias) {
    public boolean isFallback() {
        return matchedAlias == null;
    }
}
