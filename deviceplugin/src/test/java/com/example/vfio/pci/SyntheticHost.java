package com.example.vfio.pci;

import java.nio.file.Path;
import java.util.Random;

/**
 * A big SR-IOV host for the benchmarks and the real-cluster suite, laid out by {@link FakeHost}: ConnectX-7 physical functions
 * (15b3:1021 on mlx5_core), each with up to 255 VFs (15b3:101e), the way a node with several NICs
 * carved into VFs for VMs looks. Deterministic: the same count gives the same tree.
 *
 * <p>VF {@code j} of every PF, by {@code j % 8}:
 * <ul>
 * <li>0..3: alone in its IOMMU group; on mlx5_core, vfio-pci, mlx5_vfio_pci, unbound in turn</li>
 * <li>4, 5: one 2-device group, mlx5_core + vfio-pci (blocked: the host driver uses DMA)</li>
 * <li>6, 7: one 2-device group, mlx5_vfio_pci + unbound (viable)</li>
 * </ul>
 * VFIO-bound VFs have {@code vfio-dev/vfioN} and {@code /dev/vfio/devices/vfioN}; their groups have
 * {@code /dev/vfio/<group>}. modules.alias is about the size of a distribution kernel's (27,000 lines,
 * 1.3 MB) with the real variant drivers' {@code vfio_pci:} aliases among them.
 */
public final class SyntheticHost {
    public static final int VFS_PER_PF = 255;
    public static final String KERNEL = "6.12.0-bench";
    private static final int PF_DEVICE = 0x1021;
    private static final int VF_DEVICE = 0x101e;
    private static final int MELLANOX = 0x15b3;

    private SyntheticHost() {
    }

    /** Number of physical functions a host of {@code functions} functions has (each carries up to 255 VFs). */
    public static int physicalFunctions(int functions) {
        return (functions + VFS_PER_PF) / (VFS_PER_PF + 1);
    }

    /** Writes a host of exactly {@code functions} PCI functions under {@code dir} (replacing what is there). */
    public static FakeHost write(Path dir, int functions) {
        FakeHost host = describe(dir, functions);
        host.write();
        return host;
    }

    /** The host of {@link #write}, described but not yet written. */
    public static FakeHost describe(Path dir, int functions) {
        if (functions < 2 || functions > 64 * (VFS_PER_PF + 1)) {
            throw new IllegalArgumentException("functions must be between 2 and " + 64 * (VFS_PER_PF + 1) + ": " + functions);
        }
        FakeHost host = FakeHost.at(dir).kernel(KERNEL).iommufd(true);
        host.driver("vfio-pci", "vfio_pci");
        int pfs = physicalFunctions(functions);
        int vfsLeft = functions - pfs;
        int group = 0;
        int cdev = 0;
        for (int k = 0; k < pfs; k++) {
            int vfs = vfsLeft / (pfs - k);
            vfsLeft -= vfs;
            int pfBus = 1 + 2 * k;
            String pf = address(pfBus, 0, 0);
            String[] vfAddresses = new String[vfs];
            for (int j = 0; j < vfs; j++) {
                vfAddresses[j] = address(pfBus + 1, j / 8, j % 8);
            }
            host.device(pf).ids(MELLANOX, PF_DEVICE).subsystem(MELLANOX, 0x0025).cls(0x020000).numa(k % 2)
                    .group(Integer.toString(group++)).driver("mlx5_core", "mlx5_core")
                    .sriov(VFS_PER_PF, vfAddresses);
            String pairGroup = null;
            for (int j = 0; j < vfs; j++) {
                int slot = j % 8;
                String id;
                if (slot < 4) {
                    id = Integer.toString(group++);
                } else if (slot == 4 || slot == 6) {
                    pairGroup = Integer.toString(group++);
                    id = pairGroup;
                } else {
                    id = pairGroup;
                }
                FakeHost.Dev vf = host.device(vfAddresses[j]).ids(MELLANOX, VF_DEVICE).subsystem(MELLANOX, 0x0025)
                        .cls(0x020000).numa(k % 2).group(id).physfn(pf);
                String driver = switch (slot) {
                    case 0, 4 -> "mlx5_core";
                    case 1, 5 -> "vfio-pci";
                    case 2, 6 -> "mlx5_vfio_pci";
                    default -> null;
                };
                if (driver == null) {
                    continue;
                }
                vf.driver(driver, driver.equals("vfio-pci") ? "vfio_pci" : driver);
                if (!driver.equals("mlx5_core")) {
                    String node = "vfio" + cdev++;
                    vf.vfioDev(node);
                    host.cdev(node).devVfio(id);
                }
            }
        }
        modulesAlias(host);
        return host;
    }

    private static String address(int bus, int slot, int function) {
        return String.format("0000:%02x:%02x.%d", bus, slot, function);
    }

    /**
     * A modules.alias the size of a distribution kernel's: pci, usb, of, acpi and other aliases of made-up
     * ids for a few hundred modules, and the {@code vfio_pci:} aliases the kernel's variant drivers declare.
     */
    private static void modulesAlias(FakeHost host) {
        Random random = new Random(8);
        for (int i = 0; i < 9500; i++) {
            host.alias(String.format("pci:v%08Xd%08Xsv*sd*bc*sc*i*", random.nextInt(0x10000), random.nextInt(0x10000)),
                    "pcidrv" + random.nextInt(400));
            if (i % 50 == 0) {
                host.alias(String.format("pci:v*d*sv*sd*bc%02Xsc%02Xi*", random.nextInt(0x20), random.nextInt(0x10)),
                        "pciclass" + random.nextInt(40));
            }
        }
        for (int i = 0; i < 8600; i++) {
            host.alias(String.format("usb:v%04Xp%04Xd*dc*dsc*dp*ic*isc*ip*in*", random.nextInt(0x10000),
                    random.nextInt(0x10000)), "usbdrv" + random.nextInt(300));
        }
        for (int i = 0; i < 2000; i++) {
            host.alias("of:N*T*Cvendor" + random.nextInt(500) + ",device" + i + "C*", "ofdrv" + random.nextInt(200));
        }
        for (int i = 0; i < 6800; i++) {
            host.alias("acpi*:ABCD" + String.format("%04X", i) + ":*", "acpidrv" + random.nextInt(200));
        }
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        for (int id : new int[] {0x101e, 0x1024, 0x1026, 0x1028}) {
            host.alias(String.format("vfio_pci:v000015B3d%08Xsv*sd*bc*sc*i*", id), "mlx5_vfio_pci");
        }
        for (int id : new int[] {0xa256, 0xa258, 0xa25a}) {
            host.alias(String.format("vfio_pci:v000019E5d%08Xsv*sd*bc*sc*i*", id), "hisi_acc_vfio_pci");
        }
        host.alias("vfio_pci:v00001DD8d00001003sv*sd*bc*sc*i*", "pds_vfio_pci");
        for (int id : new int[] {0x2342, 0x2345, 0x2348, 0x2941}) {
            host.alias(String.format("vfio_pci:v000010DEd%08Xsv*sd*bc*sc*i*", id), "nvgrace_gpu_vfio_pci");
        }
        host.alias("vfio_pci:v00001AF4d00001041sv*sd*bc*sc*i*", "virtio_vfio_pci");
        host.alias("vfio_pci:v00001AF4d0000105Asv*sd*bc*sc*i*", "virtio_vfio_pci");
        for (int id : new int[] {0x4941, 0x4943, 0x4945}) {
            host.alias(String.format("vfio_pci:v00008086d%08Xsv*sd*bc*sc*i*", id), "qat_vfio_pci");
        }
    }
}
