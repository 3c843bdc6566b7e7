package com.example.vfio.dra;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.PublishWith;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.plugin.DeviceHealth;
import com.example.vfio.plugin.PublishedResource;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** Hosts for the DRA driver's tests, laid out the way the kernel does (FakeHost). */
public final class DraHosts {
    public static final String GPU_A = "0000:41:00.0";
    public static final String GPU_A_SIBLING = "0000:41:00.1";
    public static final String GPU_B = "0000:c1:00.0";
    public static final String GPU_GRACE = "0000:c3:00.0";
    public static final String GPU_HOST_DRIVER = "0000:c2:00.0";

    private DraHosts() {
    }

    /**
     * Two GPUs sharing IOMMU group 14 on NUMA node 0 under root complex pci0000:40, one GPU alone in group 40 and a
     * Grace GPU on the variant nvgrace_gpu_vfio_pci in group 42, both on node 1 under pci0000:c0, and one GPU in
     * group 41 still on nvidia.
     */
    public static FakeHost gpuServer(Path dir) {
        FakeHost h = FakeHost.at(dir).kernel("6.12.0");
        h.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        h.alias("vfio_pci:v000010DEd00002342sv*sd*bc*sc*i*", "nvgrace_gpu_vfio_pci");
        h.device(GPU_A).ids(0x10de, 0x2330).cls(0x030200).numa(0).group("14").rootComplex("pci0000:40")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        h.device(GPU_A_SIBLING).ids(0x10de, 0x2330).cls(0x030200).numa(0).group("14").rootComplex("pci0000:40")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio1");
        h.devVfio("14");
        h.device(GPU_B).ids(0x10de, 0x2330).cls(0x030200).numa(1).group("40").rootComplex("pci0000:c0")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio2");
        h.devVfio("40");
        h.device(GPU_HOST_DRIVER).ids(0x10de, 0x2330).cls(0x030200).numa(1).group("41").rootComplex("pci0000:c0")
                .driver("nvidia", "nvidia");
        h.device(GPU_GRACE).ids(0x10de, 0x2342).cls(0x030200).numa(1).group("42").rootComplex("pci0000:c0")
                .driver("nvgrace_gpu_vfio_pci", "nvgrace_gpu_vfio_pci").vfioDev("vfio3");
        h.devVfio("42");
        return h.write();
    }

    public static HostAssessment assess(FakeHost host) {
        return new ViabilityAnalyzer().assess(new SysfsScanner(host.root()).scan());
    }

    public static PublishedResource resource(HostAssessment a, String name, AllocationUnit unit, String... addresses) {
        return DeviceHealth.hostView(a, name, PublishWith.DRA, unit,
                Arrays.stream(addresses).map(PciAddress::parse).toList());
    }

    public static PublishedResource gpus(HostAssessment a) {
        return resource(a, "gpu", AllocationUnit.Device, GPU_A, GPU_A_SIBLING, GPU_B, GPU_HOST_DRIVER, GPU_GRACE);
    }

    public static List<DraDevice> devices(HostAssessment a, PublishedResource... resources) {
        return Arrays.stream(resources).flatMap(r -> DraDevices.of(a, r, java.util.Map.of()).stream()).toList();
    }
}
