package com.example.vfio.pci;

import java.nio.file.Path;

/**
 * The sample host shipped in {@code examples/sample-host}: a GPU server with the cases an admin meets.
 * Regenerate it with {@code mvn -pl deviceplugin -am test-compile} and then
 * {@code java -cp ... com.example.vfio.pci.SampleHost examples/sample-host} (SampleHostTest says how
 * when the checked-in tree differs).
 */
public final class SampleHost {
    private SampleHost() {
    }

    public static FakeHost describe(FakeHost host) {
        host.kernel("6.12.48-amd64");
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        host.alias("pci:v000010DEd*sv*sd*bc03sc*i*", "nouveau");
        host.alias("vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*", "mlx5_vfio_pci");
        host.alias("vfio_pci:v000010DEd00002342sv*sd*bc*sc*i*", "nvgrace_gpu_vfio_pci");
        host.alias("vfio_pci:v00008086d00004941sv*sd*bc*sc*i*", "qat_vfio_pci");
        host.alias("pci:v00008086d00000A54sv*sd*bc*sc*i*", "nvme");
        host.driver("vfio-pci", "vfio_pci");

        host.device("0000:00:00.0").ids(0x8086, 0x09a2).cls(0x060000).group("0").numa(0);
        host.device("0000:00:01.0").ids(0x8086, 0x347a).bridge().group("1").numa(0).driver("pcieport", null);
        host.device("0000:02:00.0").ids(0x1a03, 0x2000).cls(0x030000).group("2").numa(0).bootVga().driver("ast", "ast");

        // GPU on vfio-pci whose HDMI audio function is still on the host's sound driver
        host.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).subsystem(0x10de, 0x16c1).numa(0).group("14")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).cls(0x040300).numa(0).group("14")
                .driver("snd_hda_intel", "snd_hda_intel");
        host.devVfio("14");

        // GPU and audio both on vfio-pci: ready
        host.device("0000:42:00.0").ids(0x10de, 0x2330).cls(0x030200).subsystem(0x10de, 0x16c1).numa(1).group("15")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio1");
        host.device("0000:42:00.1").ids(0x10de, 0x22a3).cls(0x040300).numa(1).group("15")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio2");
        host.devVfio("15");

        // Grace Hopper GPU on its vendor variant driver: refused by plugins that want the name vfio-pci
        host.device("0000:43:00.0").ids(0x10de, 0x2342).cls(0x030200).numa(1).group("16")
                .driver("nvgrace_gpu_vfio_pci", "nvgrace_gpu_vfio_pci").vfioDev("vfio3");
        host.devVfio("16");

        // GPU still on the host driver
        host.device("0000:44:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(1).group("17").driver("nouveau", "nouveau");

        // ConnectX-7 PF with two VFs: one on the mlx5 variant driver, one still on mlx5_core
        host.device("0000:81:00.0").ids(0x15b3, 0x1021).cls(0x020000).numa(1).group("30")
                .driver("mlx5_core", "mlx5_core").sriov(8, "0000:81:00.2", "0000:81:00.3");
        host.device("0000:81:00.2").ids(0x15b3, 0x101e).cls(0x020000).numa(1).group("31").physfn("0000:81:00.0")
                .driver("mlx5_vfio_pci", "mlx5_vfio_pci").vfioDev("vfio4");
        host.devVfio("31");
        host.device("0000:81:00.3").ids(0x15b3, 0x101e).cls(0x020000).numa(1).group("32").physfn("0000:81:00.0")
                .driver("mlx5_core", "mlx5_core");

        // the node's own disk
        host.device("0000:82:00.0").ids(0x8086, 0x0a54).cls(0x010802).numa(0).group("40").driver("nvme", "nvme");

        // a QAT VF nobody has bound yet: auto would pick its variant driver
        host.device("0000:83:00.0").ids(0x8086, 0x4941).cls(0x0b4000).numa(0).group("41");

        // a conventional PCI bridge with two devices behind it share one group
        host.device("0000:90:00.0").ids(0x1b36, 0x000e).bridge().numa(0).group("50");
        host.device("0000:91:01.0").ids(0x8086, 0x100e).cls(0x020000).numa(0).group("50").driver("e1000", "e1000");
        host.device("0000:91:02.0").ids(0x1b36, 0x0005).cls(0x00ff00).numa(0).group("50")
                .driver("vfio-pci", "vfio_pci").vfioDev("vfio5");
        host.devVfio("50");

        // what the node itself runs on: its root disk and its network (binding refuses them)
        host.blockDevice("nvme0n1", "0000:82:00.0").blockDevice("nvme0n1p1", "0000:82:00.0")
                .blockDevice("nvme0n1p2", "0000:82:00.0");
        host.mount("/dev/nvme0n1p2", "/", "ext4").mount("/dev/nvme0n1p1", "/boot/efi", "vfat");
        host.netInterface("eno1", "0000:91:01.0", "up").ipv4Route("eno1");
        return host;
    }

    public static void main(String[] args) {
        Path target = Path.of(args.length > 0 ? args[0] : "examples/sample-host");
        describe(FakeHost.at(target)).write();
        System.out.println("wrote the sample host to " + target.toAbsolutePath());
    }
}
