package com.example.vfio.viability;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.SysfsScanner;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ViabilityTest {
    @TempDir
    Path dir;

    private HostAssessment assess(FakeHost host) {
        return new ViabilityAnalyzer().assess(new SysfsScanner(host.write().root()).scan());
    }

    private static PciAddress at(String address) {
        return PciAddress.parse(address);
    }

    private FakeHost gpuWithAudio(String audioDriver, String audioModule) {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).group("14").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio0");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).cls(0x040300).group("14");
        if (audioDriver != null) {
            host.device("0000:41:00.1").driver(audioDriver, audioModule);
        }
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        host.devVfio("14");
        return host;
    }

    @Test
    @DisplayName("audio function on snd_hda_intel blocks the GPU's group, and the reason names it")
    void audioFunctionOnHostDriverBlocksTheGpusGroup() {
        HostAssessment result = assess(gpuWithAudio("snd_hda_intel", "snd_hda_intel"));

        GroupVerdict group = result.groups().get("14");
        assertThat(group.viable()).isFalse();
        assertThat(group.blockers()).containsExactly(new Blocker(at("0000:41:00.1"), "snd_hda_intel"));
        DeviceVerdict gpu = result.verdict(at("0000:41:00.0"));
        assertThat(gpu.vfioDriver()).isTrue();
        assertThat(gpu.viable()).isFalse();
        assertThat(gpu.reasons()).anySatisfy(r -> assertThat(r).startsWith(
                "group 14 is not viable: 0000:41:00.1 is bound to snd_hda_intel (a host driver that uses DMA)"));
    }

    @Test
    @DisplayName("GPU and its audio function both on vfio-pci make a viable group")
    void bothFunctionsOnVfioPciAreViable() {
        FakeHost host = gpuWithAudio("vfio-pci", "vfio_pci");
        host.device("0000:41:00.1").vfioDev("vfio1");
        HostAssessment result = assess(host);

        assertThat(result.groups().get("14").viable()).isTrue();
        assertThat(result.verdict(at("0000:41:00.0")).viable()).isTrue();
        assertThat(result.verdict(at("0000:41:00.0")).reasons()).isEmpty();
        assertThat(result.verdict(at("0000:41:00.1")).viable()).isTrue();
    }

    @Test
    @DisplayName("the group node existing says nothing: a sibling on e1000 still makes the group not viable")
    void groupNodePresentWhileSiblingBlocks() {
        FakeHost host = gpuWithAudio("e1000", "e1000");
        HostAssessment result = assess(host);

        assertThat(result.snapshot().deviceNodes().groups()).contains("14");
        assertThat(result.groups().get("14").viable()).isFalse();
        assertThat(result.verdict(at("0000:41:00.0")).viable()).isFalse();
        assertThat(result.verdict(at("0000:41:00.0")).reasons())
                .anySatisfy(r -> assertThat(r).contains("0000:41:00.1 is bound to e1000"));
    }

    @Test
    @DisplayName("a variant driver with vfio-dev is a VFIO driver even when modules.alias does not know it")
    void variantRecognisedByVfioDev() {
        FakeHost host = FakeHost.at(dir).noModulesAlias();
        host.device("0000:43:00.0").ids(0x10de, 0x2342).cls(0x030200).group("16")
                .driver("nvgrace_gpu_vfio_pci", "nvgrace_gpu_vfio_pci").vfioDev("vfio3");
        host.devVfio("16");
        HostAssessment result = assess(host);

        assertThat(result.verdict(at("0000:43:00.0")).vfioDriver()).isTrue();
        assertThat(result.verdict(at("0000:43:00.0")).viable()).isTrue();
    }

    @Test
    @DisplayName("a variant driver without vfio-dev (pre-6.1 kernel) is recognised by its module's vfio_pci aliases")
    void variantRecognisedByModuleAliasWithoutVfioDev() {
        FakeHost host = FakeHost.at(dir);
        host.alias("vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*", "mlx5_vfio_pci");
        host.device("0000:81:00.2").ids(0x15b3, 0x101e).group("31").driver("mlx5_vfio_pci", "mlx5_vfio_pci");
        host.devVfio("31");
        HostAssessment result = assess(host);

        assertThat(result.verdict(at("0000:81:00.2")).vfioDriver()).isTrue();
        assertThat(result.verdict(at("0000:81:00.2")).viable()).isTrue();
    }

    @Test
    @DisplayName("module and driver names differ: xe_vfio_pci registers xe-vfio-pci and is still a VFIO driver")
    void variantWhoseDriverNameDiffersFromItsModule() {
        FakeHost host = FakeHost.at(dir);
        host.alias("vfio_pci:v00008086d0000E20Bsv*sd*bc*sc*i*", "xe_vfio_pci");
        host.device("0000:03:00.0").ids(0x8086, 0xe20b).cls(0x030000).group("7").driver("xe-vfio-pci", "xe_vfio_pci");
        host.devVfio("7");
        HostAssessment result = assess(host);

        assertThat(result.verdict(at("0000:03:00.0")).vfioDriver()).isTrue();
        assertThat(result.verdict(at("0000:03:00.0")).recommended())
                .isEqualTo(new DriverChoice("xe_vfio_pci", "xe-vfio-pci", "vfio_pci:v00008086d0000E20Bsv*sd*bc*sc*i*"));
    }

    @Test
    @DisplayName("a driver whose name contains vfio but has no vfio_pci aliases is a host driver that blocks")
    void vfioInTheNameIsNotEvidence() {
        FakeHost host = FakeHost.at(dir);
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        host.alias("pci:v00001234d00005678sv*sd*bc*sc*i*", "vfio_monitor");
        host.device("0000:05:00.0").ids(0x1234, 0x5678).group("9").driver("vfio_monitor", "vfio_monitor");
        host.device("0000:05:00.1").group("9").driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.devVfio("9");
        HostAssessment result = assess(host);

        assertThat(result.verdict(at("0000:05:00.0")).vfioDriver()).isFalse();
        assertThat(result.groups().get("9").blockers()).containsExactly(new Blocker(at("0000:05:00.0"), "vfio_monitor"));
    }

    @Test
    @DisplayName("a driverless PCI bridge and a root port on pcieport do not block their group")
    void bridgesAndPcieportInGroup() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:00:1c.0").bridge().group("5").driver("pcieport", null);
        host.device("0000:06:00.0").bridge().group("5");
        host.device("0000:07:00.0").group("5").driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.devVfio("5");
        HostAssessment result = assess(host);

        assertThat(result.groups().get("5").viable()).isTrue();
        assertThat(result.verdict(at("0000:07:00.0")).viable()).isTrue();
        assertThat(result.verdict(at("0000:06:00.0")).viable()).isFalse();
        assertThat(result.verdict(at("0000:06:00.0")).reasons())
                .anySatisfy(r -> assertThat(r).startsWith("is a PCI bridge: never handed to a VM (vfio-pci refuses bridges)"));
    }

    @Test
    @DisplayName("companions on pci-stub or on no driver keep the group viable")
    void pciStubAndDriverlessCompanions() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:08:00.0").group("12").driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.device("0000:08:00.1").group("12").driver("pci-stub", "pci_stub");
        host.device("0000:08:00.2").group("12");
        host.devVfio("12");
        HostAssessment result = assess(host);

        assertThat(result.groups().get("12").viable()).isTrue();
        assertThat(result.verdict(at("0000:08:00.0")).viable()).isTrue();
    }

    @Test
    @DisplayName("a companion on pci-pf-stub blocks the group: it does not set driver_managed_dma")
    void pciPfStubBlocks() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:08:00.0").group("12").driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.device("0000:08:00.1").group("12").driver("pci-pf-stub", "pci_pf_stub");
        host.devVfio("12");
        HostAssessment result = assess(host);

        assertThat(result.groups().get("12").viable()).isFalse();
        assertThat(result.groups().get("12").blockers()).containsExactly(new Blocker(at("0000:08:00.1"), "pci-pf-stub"));
    }

    @Test
    @DisplayName("with the IOMMU off nothing is viable, and the reason says how to turn it on")
    void noIommu() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).driver("vfio-pci", "vfio_pci");
        HostAssessment result = assess(host);

        assertThat(result.snapshot().iommuEnabled()).isFalse();
        assertThat(result.verdict(at("0000:41:00.0")).viable()).isFalse();
        assertThat(result.verdict(at("0000:41:00.0")).reasons())
                .contains("no IOMMU group: enable the IOMMU (intel_iommu=on / amd_iommu=on)");
    }

    @Test
    @DisplayName("a group in no-IOMMU mode is never offered to a VM")
    void noIommuModeGroup() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").group("22").driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        host.noIommuNode("22");
        HostAssessment result = assess(host);

        assertThat(result.groups().get("22").viable()).isFalse();
        assertThat(result.verdict(at("0000:41:00.0")).viable()).isFalse();
        assertThat(result.verdict(at("0000:41:00.0")).reasons())
                .anySatisfy(r -> assertThat(r).startsWith("group 22 uses no-IOMMU mode"));
    }

    @Test
    @DisplayName("a vfio device in a viable group is not ready while /dev/vfio/<group> is missing")
    void missingGroupNode() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:41:00.0").group("14").driver("vfio-pci", "vfio_pci").vfioDev("vfio0");
        HostAssessment result = assess(host);

        assertThat(result.groups().get("14").viable()).isTrue();
        assertThat(result.verdict(at("0000:41:00.0")).viable()).isFalse();
        assertThat(result.verdict(at("0000:41:00.0")).reasons())
                .anySatisfy(r -> assertThat(r).startsWith("/dev/vfio/14 does not exist"));
    }

    @Test
    @DisplayName("a built-in variant driver (no module link) is recognised through modules.builtin.modinfo")
    void builtInVariant() {
        FakeHost host = FakeHost.at(dir);
        host.builtinAlias("pds_vfio_pci", "vfio_pci:v00001DD8d00001003sv*sd*bc*sc*i*");
        host.device("0000:09:00.0").ids(0x1dd8, 0x1003).group("3").driver("pds_vfio_pci", null);
        host.devVfio("3");
        HostAssessment result = assess(host);

        assertThat(result.verdict(at("0000:09:00.0")).vfioDriver()).isTrue();
        assertThat(result.verdict(at("0000:09:00.0")).recommended().module()).isEqualTo("pds_vfio_pci");
    }

    @Test
    @DisplayName("a PF with VFs enabled says why vfio-pci would refuse it")
    void pfWithVfs() {
        FakeHost host = FakeHost.at(dir);
        host.device("0000:81:00.0").ids(0x15b3, 0x1021).group("30").driver("mlx5_core", "mlx5_core")
                .sriov(8, "0000:81:00.2");
        host.device("0000:81:00.2").ids(0x15b3, 0x101e).group("31").physfn("0000:81:00.0");
        HostAssessment result = assess(host);

        assertThat(result.verdict(at("0000:81:00.0")).reasons())
                .anySatisfy(r -> assertThat(r).contains("has 1 SR-IOV VFs enabled"));
        assertThat(result.snapshot().device(at("0000:81:00.2")).orElseThrow().physfn()).isEqualTo(at("0000:81:00.0"));
    }
}
