package com.example.vfio.binding;

/**
 * The VFIO driver a device is to be bound to.
 *
 * @param module the module that provides it (loaded before binding), e.g. {@code mlx5_vfio_pci}
 * @param driver the PCI driver name it registers, e.g. {@code vfio-pci}; before the module is loaded
 *               the best guess (the module name), settled by {@link DriverResolver#load}
 * @param why    how it was chosen, for the admin: {@code auto: alias vfio_pci:v000010DEd00002342...}
 */
public record DriverTarget(String module, String driver, String why) {
}
