package com.example.vfio.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.pci.FakeHost;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class InspectCommandTest {
    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {
    }

    static Run run(String... args) {
        CommandLine cli = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    private FakeHost gpuHost() {
        FakeHost host = FakeHost.at(dir).kernel("6.12.48-amd64");
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        host.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).numa(0).group("14").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio0");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).cls(0x040300).numa(0).group("14")
                .driver("snd_hda_intel", "snd_hda_intel");
        host.device("0000:42:00.0").ids(0x10de, 0x2330).cls(0x030200).group("15").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio1");
        host.device("0000:00:1f.0").ids(0x8086, 0x7a04).cls(0x060100);
        host.devVfio("14").devVfio("15");
        return host.write();
    }

    @Test
    @DisplayName("inspect --json prints the documented document with every key")
    void jsonDocument() throws Exception {
        gpuHost();
        Run run = run("inspect", "--root", dir.toString(), "--json");

        assertThat(run.exit()).isZero();
        JsonNode doc = new ObjectMapper().readTree(run.out());
        assertThat(doc.get("kernelRelease").asText()).isEqualTo("6.12.48-amd64");
        JsonNode gpu = doc.get("devices").get(1);
        assertThat(gpu.get("address").asText()).isEqualTo("0000:41:00.0");
        assertThat(gpu.get("vendor").asText()).isEqualTo("10de");
        assertThat(gpu.get("device").asText()).isEqualTo("2330");
        assertThat(gpu.get("class").asText()).isEqualTo("030200");
        assertThat(gpu.get("driver").asText()).isEqualTo("vfio-pci");
        assertThat(gpu.get("vfioDriver").asBoolean()).isTrue();
        assertThat(gpu.get("iommuGroup").asText()).isEqualTo("14");
        assertThat(gpu.get("numaNode").asInt()).isZero();
        assertThat(gpu.get("viable").asBoolean()).isFalse();
        assertThat(gpu.get("reasons").get(0).asText()).startsWith(
                "group 14 is not viable: 0000:41:00.1 is bound to snd_hda_intel (a host driver that uses DMA)");
        assertThat(gpu.get("recommendedDriver").asText()).isEqualTo("vfio-pci");

        JsonNode unbound = doc.get("devices").get(0);
        assertThat(unbound.get("address").asText()).isEqualTo("0000:00:1f.0");
        assertThat(unbound.get("driver").isNull()).isTrue();
        assertThat(unbound.get("iommuGroup").isNull()).isTrue();
        assertThat(unbound.get("numaNode").asInt()).isEqualTo(-1);
        assertThat(unbound.get("recommendedDriver").isNull()).as("a bridge is never bound").isTrue();

        JsonNode group14 = doc.get("groups").get(0);
        assertThat(group14.get("id").asText()).isEqualTo("14");
        assertThat(group14.get("viable").asBoolean()).isFalse();
        assertThat(group14.get("devices").toString()).isEqualTo("[\"0000:41:00.0\",\"0000:41:00.1\"]");
        assertThat(group14.get("blockers").toString())
                .isEqualTo("[{\"address\":\"0000:41:00.1\",\"driver\":\"snd_hda_intel\"}]");
        assertThat(doc.get("groups").get(1).get("viable").asBoolean()).isTrue();
        assertThat(doc.get("devices").get(3).get("viable").asBoolean()).isTrue();
    }

    @Test
    @DisplayName("the table shows one row per device grouped by IOMMU group, with reasons under the rows")
    void table() {
        gpuHost();
        Run run = run("inspect", "--root", dir.toString());

        assertThat(run.exit()).isZero();
        assertThat(run.out()).contains("kernel 6.12.48-amd64, IOMMU on")
                .contains("4 PCI functions in 2 IOMMU groups; 1 is ready for a VM")
                .containsPattern("14 +0000:41:00.0 +10de:2330 +030200 +vfio-pci +yes +0 +no +vfio-pci")
                .containsPattern("\\n +0000:41:00.1 +10de:22a3 +040300 +snd_hda_intel +no")
                .contains("! group 14 is not viable: 0000:41:00.1 is bound to snd_hda_intel")
                .containsPattern("15 +0000:42:00.0 .* yes +vfio-pci")
                .containsPattern("none +0000:00:1f.0")
                .contains("- no IOMMU group");
        assertThat(run.out()).containsOnlyOnce("group 14 is not viable");
        assertThat(run.out().indexOf("0000:41:00.0")).isLessThan(run.out().indexOf("0000:42:00.0"));
        assertThat(run.out().indexOf("0000:42:00.0")).isLessThan(run.out().indexOf("0000:00:1f.0"));
    }

    @Test
    @DisplayName("a root that does not exist gives one clear line and exit status 2, no stack trace")
    void missingRoot() {
        Run run = run("inspect", "--root", dir.resolve("no-such-host").toString());

        assertThat(run.exit()).isEqualTo(2);
        assertThat(run.err()).startsWith("vfio-node: host root ").contains("does not exist").doesNotContain("at com.");
        assertThat(run.out()).isEmpty();
    }

    @Test
    @DisplayName("scan notes are shown under the table")
    void notesShown() {
        FakeHost host = FakeHost.at(dir).noModulesAlias();
        host.device("0000:41:00.0").file("class", "0xnothex");
        host.write();
        Run run = run("inspect", "--root", dir.toString());

        assertThat(run.out()).contains("Notes:").contains("modules.alias is missing")
                .contains("- sysfs: class holds '0xnothex', not a 6-digit hex number");
    }

    @Test
    @DisplayName("a device whose driver link leads to /etc is shown with an unknown driver, not viable, naming the link, and blocks its group")
    void driverLinkToEtc() throws Exception {
        FakeHost host = FakeHost.at(dir).kernel("6.12.48-amd64");
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci").driver("vfio-pci", "vfio_pci");
        host.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).group("14").vfioDev("vfio0").link("driver", "/etc");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).cls(0x040300).group("14").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio1");
        host.devVfio("14");
        host.write();

        Run table = run("inspect", "--root", dir.toString());
        Run json = run("inspect", "--root", dir.toString(), "--json");

        assertThat(table.exit()).isZero();
        assertThat(table.out()).containsPattern("14 +0000:41:00.0 +10de:2330 +030200 +\\? +no +- +no +vfio-pci")
                .contains("- sysfs: driver link points to '/etc', not to a driver in " + dir.toAbsolutePath()
                        + "/sys/bus/pci/drivers: which driver holds the device is unknown")
                .containsPattern("0000:41:00.1 +10de:22a3 +040300 +vfio-pci +yes +- +no")
                .contains("! group 14 is not viable: 0000:41:00.0 is bound to a driver its sysfs link does not name");
        JsonNode doc = new ObjectMapper().readTree(json.out());
        JsonNode device = doc.get("devices").get(0);
        assertThat(device.get("address").asText()).isEqualTo("0000:41:00.0");
        assertThat(device.get("driver").isNull()).isTrue();
        assertThat(device.get("vfioDriver").asBoolean()).isFalse();
        assertThat(device.get("viable").asBoolean()).isFalse();
        assertThat(device.get("reasons").toString()).contains("driver link points to '/etc'");
        assertThat(doc.get("devices").get(1).get("viable").asBoolean()).isFalse();
        JsonNode group = doc.get("groups").get(0);
        assertThat(group.get("viable").asBoolean()).isFalse();
        assertThat(group.get("blockers").toString()).isEqualTo("[{\"address\":\"0000:41:00.0\",\"driver\":null}]");
    }
}
