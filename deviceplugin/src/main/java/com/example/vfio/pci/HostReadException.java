package com.example.vfio.pci;

/**
 * The one error type for host input the daemon cannot use: an unreadable root, a malformed sysfs
 * file, a hostile name. Its message is meant for the admin: it names the file or value and what is
 * wrong with it.
 */
public class HostReadException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public HostReadException(String message) {
        super(message);
    }

    public HostReadException(String message, Throwable cause) {
        super(message, cause);
    }
}
