package com.example.vfio.binding;

/** A sysfs write the kernel refused, or one that did not finish in time. */
public final class SysfsWriteException extends Exception {
    private static final long serialVersionUID = 1L;

    /** How the write failed, in the kernel's terms where it has one. */
    public enum Errno {
        /** Device or resource busy: e.g. vfio-pci and a PF with VFs, a host driver in a group user space owns. */
        EBUSY,
        /** No such device: the device vanished, or is not bound to the driver an unbind named. */
        ENODEV,
        /** Invalid argument: e.g. vfio-pci and a bridge. */
        EINVAL,
        /** Any other I/O error. */
        EIO,
        /** The write did not return within the time limit (an unbind waiting for a VM to let go). */
        TIMEOUT
    }

    private final Errno errno;

    public SysfsWriteException(Errno errno, String message) {
        super(message, null, false, false);
        this.errno = errno;
    }

    public Errno errno() {
        return errno;
    }
}
