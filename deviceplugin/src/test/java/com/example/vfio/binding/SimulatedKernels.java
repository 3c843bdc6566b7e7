package com.example.vfio.binding;

import com.example.vfio.pci.FakeHost;

/** Lets the tests of other packages (the node agent's) bind on the binding tests' simulated kernel. */
public final class SimulatedKernels {
    private SimulatedKernels() {
    }

    /** The kernel's two faces to the binding engine. */
    public record Kernel(SysfsWriter writer, ModuleLoader modules) {
    }

    /**
     * A simulated kernel over a written fake host; {@code variants} are VFIO variant modules it can load,
     * as {@code module, driver} pairs (vfio_pci is always there).
     */
    public static Kernel over(FakeHost host, String... variants) {
        SimulatedKernel kernel = new SimulatedKernel(host);
        for (int i = 0; i + 1 < variants.length; i += 2) {
            kernel.module(variants[i], variants[i + 1], true);
        }
        return new Kernel(kernel, kernel);
    }
}
