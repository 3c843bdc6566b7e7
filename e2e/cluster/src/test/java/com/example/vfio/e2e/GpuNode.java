package com.example.vfio.e2e;

import com.example.vfio.binding.SimulatedKernel;
import com.example.vfio.binding.SysfsWriteException;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.PciAddress;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The GPU server the kubelet checks run against, laid out by the deviceplugin test fixture {@link FakeHost}:
 *
 * <pre>
 * group  address       what                 NUMA  cdev
 * 14     0000:41:00.0  GPU (3D, 0302)       0     vfio0    two GPUs sharing one IOMMU group
 *        0000:41:00.1  GPU (3D, 0302)       0     vfio1
 * 15     0000:42:00.0  GPU (VGA, 0300)      0     vfio2    a GPU with its HDMI audio function
 *        0000:42:00.1  audio (0403)         0     vfio3
 * 16     0000:43:00.0  GPU (3D, 0302)       0     vfio4    its audio function on vfio-pci too (a companion)
 *        0000:43:00.1  audio (0403)         0     vfio5
 * 17     0000:44:00.0  GPU (VGA, 0300)      1     vfio6    another GPU with audio
 *        0000:44:00.1  audio (0403)         1     vfio7
 * 40-42  0000:c1:00.0, 0000:c2:00.0, 0000:c3:00.0: GPUs (0302) alone in their groups, NUMA 1, vfio8-vfio10
 * </pre>
 * Every function is on vfio-pci with its {@code vfio-dev/} entry; {@code /dev/vfio/<group>} exist.
 */
final class GpuNode {
    static final String GPU = "vfio.example.com/gpu";
    /** Group of each address. */
    static final Map<String, String> GROUP_OF = new TreeMap<>(Map.ofEntries(
            Map.entry("0000:41:00.0", "14"), Map.entry("0000:41:00.1", "14"),
            Map.entry("0000:42:00.0", "15"), Map.entry("0000:42:00.1", "15"),
            Map.entry("0000:43:00.0", "16"), Map.entry("0000:43:00.1", "16"),
            Map.entry("0000:44:00.0", "17"), Map.entry("0000:44:00.1", "17"),
            Map.entry("0000:c1:00.0", "40"), Map.entry("0000:c2:00.0", "41"), Map.entry("0000:c3:00.0", "42")));
    /** The 3D controllers: the GPUs a plain Device policy publishes. */
    static final List<String> GPUS_3D = List.of("0000:41:00.0", "0000:41:00.1", "0000:43:00.0", "0000:c1:00.0",
            "0000:c2:00.0", "0000:c3:00.0");

    final Path dir;
    final FakeHost host;
    /** Changes the written tree in place, file by file, the way the kernel does (no rewrite of the whole tree). */
    private final SimulatedKernel kernel;

    private GpuNode(Path dir, boolean iommufd) {
        this.dir = dir;
        host = FakeHost.at(dir.resolve("host")).kernel("6.12.0").iommufd(iommufd);
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        int cdev = 0;
        for (Map.Entry<String, String> e : GROUP_OF.entrySet()) {
            String address = e.getKey();
            boolean audio = address.endsWith(".1") && !address.startsWith("0000:41");
            boolean vga = address.equals("0000:42:00.0") || address.equals("0000:44:00.0");
            int numa = address.startsWith("0000:44") || address.startsWith("0000:c") ? 1 : 0;
            String name = "vfio" + cdev++;
            host.device(address).ids(0x10de, audio ? 0x22a3 : 0x2330).cls(audio ? 0x040300 : vga ? 0x030000 : 0x030200)
                    .numa(numa).group(e.getValue()).driver("vfio-pci", "vfio_pci").vfioDev(name);
            host.devVfio(e.getValue());
            if (iommufd) {
                host.cdev(name);
            }
        }
        host.driver("snd_hda_intel", "snd_hda_intel").driver("nvidia", "nvidia");
        host.write();
        kernel = new SimulatedKernel(host);
    }

    /** Rebinds a device as an admin would: driver_override, unbind from vfio-pci, drivers_probe. */
    void rebind(String address, String driver) {
        PciAddress a = PciAddress.parse(address);
        Path bus = host.path().resolve("sys/bus/pci");
        try {
            kernel.write(a, bus.resolve("devices").resolve(address).resolve("driver_override"), driver);
            kernel.write(a, bus.resolve("drivers/vfio-pci/unbind"), address);
            kernel.write(a, bus.resolve("drivers_probe"), address);
        } catch (SysfsWriteException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The device is hot-unplugged: gone from sysfs, and its group (it was alone in it) with /dev/vfio/<group>. */
    void unplug(String address) {
        kernel.vanish(address);
        String group = GROUP_OF.get(address);
        try {
            Path groupDir = host.path().resolve("sys/kernel/iommu_groups").resolve(group);
            Files.deleteIfExists(groupDir.resolve("devices").resolve(address));
            Files.deleteIfExists(groupDir.resolve("devices"));
            Files.deleteIfExists(groupDir);
            Files.deleteIfExists(host.path().resolve("dev/vfio").resolve(group));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static GpuNode at(Path dir, boolean iommufd) {
        return new GpuNode(dir, iommufd);
    }

    Path root() {
        return host.path();
    }

    /**
     * A policies file: {@code resource} (Device units) over {@code devices}, and, when {@code groupResource} is
     * not null, {@code groupResource} with {@code allocationUnit: Group} over {@code groupDevices}.
     */
    Path policies(String resource, List<String> devices, String groupResource, List<String> groupDevices) {
        StringBuilder yaml = new StringBuilder(policy("devices", resource, devices, "Device"));
        if (groupResource != null) {
            yaml.append("---\n").append(policy("groups", groupResource, groupDevices, "Group"));
        }
        Path file = dir.resolve("policies.yaml");
        try {
            Files.writeString(file, yaml);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    Path policies(List<String> devices) {
        return policies("gpu", devices, null, null);
    }

    private static String policy(String name, String resource, List<String> devices, String unit) {
        return """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata:
                  name: %s
                spec:
                  selector:
                    addresses: [%s]
                  driver: vfio-pci
                  resourceName: %s
                  managed: false
                  allocationUnit: %s
                """.formatted(name, String.join(", ", devices.stream().map(a -> "\"" + a + "\"").toList()), resource,
                unit);
    }
}
