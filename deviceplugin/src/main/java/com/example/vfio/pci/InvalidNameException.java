package com.example.vfio.pci;

/** A PCI address, driver or module name that fails validation and so may never become part of a path. */
public final class InvalidNameException extends HostReadException {
    private static final long serialVersionUID = 1L;

    public InvalidNameException(String message) {
        super(message);
    }
}
