package com.example.vfio.binding;

import com.example.vfio.pci.PciAddress;
import java.nio.file.Path;

/**
 * The one way binding changes the host: a single write of a value to a sysfs attribute on behalf of
 * one device. The real chain is {@link BoundedSysfsWriter} over {@link FileSysfsWriter}; tests put a
 * simulated kernel underneath.
 */
@FunctionalInterface
public interface SysfsWriter {
    /**
     * @param device the device the write is about (for messages and to keep writes to one device in order)
     * @param file   the attribute, already confined to {@code sys/bus/pci/} of the host root
     * @param value  what to write, e.g. {@code vfio-pci}, {@code "\n"} or the device's address
     */
    void write(PciAddress device, Path file, String value) throws SysfsWriteException;
}
