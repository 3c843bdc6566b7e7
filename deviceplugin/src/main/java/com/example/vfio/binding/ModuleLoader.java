package com.example.vfio.binding;

/**
 * Loads a kernel module ({@code modprobe}): {@code driver_override} alone loads nothing. The name is
 * validated by the caller and again by every implementation.
 */
@FunctionalInterface
public interface ModuleLoader {
    /** @throws ModuleLoadException with the loader's own words when the module cannot be loaded */
    void load(String module) throws ModuleLoadException;

    /** Thrown when a module cannot be loaded. */
    final class ModuleLoadException extends Exception {
        private static final long serialVersionUID = 1L;

        public ModuleLoadException(String message) {
            super(message, null, false, false);
        }
    }
}
