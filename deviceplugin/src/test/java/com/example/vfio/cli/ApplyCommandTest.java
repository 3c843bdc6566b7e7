package com.example.vfio.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.binding.DeviceHolders;
import com.example.vfio.binding.ModuleLoader;
import com.example.vfio.binding.SimulatedKernel;
import com.example.vfio.binding.SysfsWriter;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.SampleHost;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ApplyCommandTest {
    static final Path SHIPPED_HOST = Path.of("..", "examples", "sample-host");
    static final Path SHIPPED_POLICIES = Path.of("..", "examples", "policies", "sample-host.yaml");

    @TempDir
    Path dir;

    Path host;
    Path journal;

    record Run(int exit, String out, String err) {
    }

    @BeforeEach
    void copySampleHost() {
        host = dir.resolve("host");
        copyTree(SHIPPED_HOST, host);
        journal = dir.resolve("state/journal.json");
    }

    /** Runs the CLI with the real kernel chain (file writes, the modprobe command). */
    private Run run(String... args) {
        return run(Main.commandLine(), args);
    }

    /** Runs the CLI with {@code apply} talking to a simulated kernel over the copied host. */
    private Run runSimulated(SimulatedKernel kernel, String... args) {
        ApplyCommand.Kernel simulated = new ApplyCommand.Kernel() {
            @Override
            public SysfsWriter writer(Duration timeout) {
                return kernel;
            }

            @Override
            public ModuleLoader modules(String command, Duration timeout) {
                return kernel;
            }
        };
        Clock clock = Clock.fixed(Instant.parse("2026-11-24T07:00:00Z"), ZoneOffset.UTC);
        CommandLine.IFactory factory = new CommandLine.IFactory() {
            @Override
            public <K> K create(Class<K> cls) throws Exception {
                if (cls == ApplyCommand.class) {
                    return cls.cast(new ApplyCommand(simulated, DeviceHolders.none(), clock));
                }
                return CommandLine.defaultFactory().create(cls);
            }
        };
        return run(Main.commandLine(factory), args);
    }

    private static Run run(CommandLine cli, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    private SimulatedKernel sampleKernel() {
        return new SimulatedKernel(SampleHost.describe(FakeHost.at(host)))
                .module("qat_vfio_pci", "qat_vfio_pci", true)
                .module("mlx5_vfio_pci", "mlx5_vfio_pci", true);
    }

    @Test
    @DisplayName("a dry run on the sample host prints a plan a person understands and changes nothing")
    void dryRunPlan() {
        Map<String, String> before = FakeHost.contentsOf(dir, true);

        Run run = run("apply", "--root", host.toString(), "--policies", SHIPPED_POLICIES.toString(), "--dry-run",
                "--journal", journal.toString(), "--node-name", "gpu-node-1");

        assertThat(run.err()).isEmpty();
        assertThat(run.out()).startsWith("vfio-node apply: node gpu-node-1, host " + host.toAbsolutePath()
                + ", kernel 6.12.48-amd64, 5 policies\nDry run: nothing is changed");
        assertThat(run.out()).contains(
                "would bind  0000:44:00.0  nouveau → vfio-pci  (auto: alias vfio_pci:v*d*sv*sd*bc*sc*i*)  [policy gpus]",
                "would bind  0000:41:00.1  snd_hda_intel → vfio-pci  (companion of 0000:41:00.0: IOMMU group 14 is"
                        + " viable only when all of it is on VFIO drivers)  [policy gpus]",
                "would bind  0000:81:00.3  mlx5_core → mlx5_vfio_pci  (auto: alias"
                        + " vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*)  [policy connectx-vfs]",
                "would bind  0000:83:00.0  (no driver) → qat_vfio_pci",
                "unchanged   0000:43:00.0  nvgrace_gpu_vfio_pci  (already on nvgrace_gpu_vfio_pci; auto: alias"
                        + " vfio_pci:v000010DEd00002342sv*sd*bc*sc*i*)  [policy gpus]",
                "REFUSED     0000:02:00.0: boot VGA device (the node's console); set force: true to bind it anyway"
                        + "  [policy console-gpu]",
                "REFUSED     0000:91:01.0: backs the node's network interface eno1 (up, with an address); set force:"
                        + " true to bind it anyway  [policy emulated-nics]",
                "Plan: 4 to bind, 0 to give back, 5 unchanged, 2 refused.");
        assertThat(run.exit()).isEqualTo(1);
        assertThat(FakeHost.contentsOf(dir, true)).isEqualTo(before);
        assertThat(journal).doesNotExist();
    }

    @Test
    @DisplayName("--dry-run --json gives every device's action, drivers and reason")
    void dryRunJson() throws IOException {
        Run run = run("apply", "--root", host.toString(), "--policies", SHIPPED_POLICIES.toString(), "--dry-run",
                "--json", "--journal", journal.toString(), "--node-name", "gpu-node-1");

        JsonNode doc = new ObjectMapper().readTree(run.out());
        assertThat(doc.get("node").asText()).isEqualTo("gpu-node-1");
        assertThat(doc.get("dryRun").asBoolean()).isTrue();
        JsonNode gpu = find(doc, "0000:44:00.0");
        assertThat(gpu.get("policy").asText()).isEqualTo("gpus");
        assertThat(gpu.get("desiredDriver").asText()).isEqualTo("auto");
        assertThat(gpu.get("action").asText()).isEqualTo("bind");
        assertThat(gpu.get("state").asText()).isEqualTo("Pending");
        assertThat(gpu.get("fromDriver").asText()).isEqualTo("nouveau");
        assertThat(gpu.get("toDriver").asText()).isEqualTo("vfio-pci");
        JsonNode vga = find(doc, "0000:02:00.0");
        assertThat(vga.get("state").asText()).isEqualTo("Refused");
        assertThat(vga.get("message").asText()).startsWith("boot VGA device");
        assertThat(doc.get("summary").asText()).isEqualTo("Plan: 4 to bind, 0 to give back, 5 unchanged, 2 refused.");
        assertThat(run.exit()).isEqualTo(1);
    }

    @Test
    @DisplayName("apply binds through the kernel, journals the original drivers, and reports each device")
    void applyBinds() throws IOException {
        Path policies = dir.resolve("gpus.yaml");
        Files.writeString(policies, """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata:
                  name: gpus
                spec:
                  selector: {vendors: ["10de"], classes: ["0302"]}
                  resourceName: gpu
                  companions: Bind
                ---
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata:
                  name: qat
                spec:
                  selector: {devices: ["4941"]}
                  resourceName: qat
                """);
        SimulatedKernel kernel = sampleKernel();

        Run run = runSimulated(kernel, "apply", "--root", host.toString(), "--policies", policies.toString(),
                "--journal", journal.toString(), "--node-name", "gpu-node-1");

        assertThat(run.err()).isEmpty();
        assertThat(run.out()).contains("Journal: " + journal.toAbsolutePath(),
                "bound       0000:41:00.1  snd_hda_intel → vfio-pci  (bound to vfio-pci (was snd_hda_intel); companion",
                "bound       0000:44:00.0  nouveau → vfio-pci",
                "bound       0000:83:00.0  (no driver) → qat_vfio_pci",
                "Result: 3 bound, 0 given back, 0 recovered, 4 unchanged, 0 failed, 0 refused.");
        assertThat(run.exit()).isZero();
        assertThat(kernel.modprobes()).containsExactly("qat_vfio_pci");
        assertThat(kernel.driverOf("0000:41:00.1")).isEqualTo("vfio-pci");
        assertThat(Files.readString(journal)).contains("\"0000:41:00.1\"", "\"originalDriver\" : \"snd_hda_intel\"");

        Run inspect = run("inspect", "--root", host.toString(), "--json");
        Map<String, Boolean> viable = new TreeMap<>();
        new ObjectMapper().readTree(inspect.out()).get("groups")
                .forEach(g -> viable.put(g.get("id").asText(), g.get("viable").asBoolean()));
        assertThat(viable).containsEntry("14", true).containsEntry("17", true).containsEntry("41", true);

        Run again = runSimulated(kernel, "apply", "--root", host.toString(), "--policies", policies.toString(),
                "--journal", journal.toString(), "--node-name", "gpu-node-1");
        assertThat(again.out()).contains("Result: 0 bound, 0 given back, 0 recovered, 7 unchanged, 0 failed,"
                + " 0 refused.");
    }

    @Test
    @DisplayName("the first-policy guide's policy, its driver line changed from auto to host, gives the GPU and its audio companion back")
    void givingDevicesBackIsOneEdit() throws IOException {
        FakeHost node = FakeHost.at(dir.resolve("gpu-node-1")).kernel("6.12.48-amd64");
        node.driver("vfio-pci", "vfio_pci");
        node.device("0000:00:01.0").ids(0x8086, 0x347a).bridge().group("14").driver("pcieport", null);
        node.device("0000:01:00.0").ids(0x10de, 0x2230).cls(0x030000).group("14").driver("nouveau", "nouveau");
        node.device("0000:01:00.1").ids(0x10de, 0x1aef).cls(0x040300).group("14").driver("snd_hda_intel", "snd_hda_intel");
        node.write();
        SimulatedKernel kernel = new SimulatedKernel(node);
        String guide = Files.readString(Path.of("..", "docs", "first-policy.md"));
        String block = guide.substring(guide.indexOf("`gpu-policy.yaml`:"));
        String policy = block.substring(block.indexOf("```yaml\n") + 8, block.indexOf("```", block.indexOf("```yaml\n") + 8));
        assertThat(policy).contains("\n  driver: auto\n", "\n  companions: Bind\n");
        Path file = dir.resolve("gpu-policy.yaml");
        Files.writeString(file, policy);
        String[] apply = {"apply", "--root", node.path().toString(), "--policies", file.toString(), "--journal",
                journal.toString(), "--node-name", "gpu-node-1", "--node-labels", "vfio.example.com/passthrough=true"};

        Run bind = runSimulated(kernel, apply);
        assertThat(bind.exit()).as(bind.out() + bind.err()).isZero();
        assertThat(kernel.driverOf("0000:01:00.0")).isEqualTo("vfio-pci");
        assertThat(kernel.driverOf("0000:01:00.1")).isEqualTo("vfio-pci");

        Files.writeString(file, policy.replace("\n  driver: auto\n", "\n  driver: host\n"));
        Run back = runSimulated(kernel, apply);

        assertThat(back.err()).isEmpty();
        assertThat(back.exit()).as(back.out()).isZero();
        assertThat(back.out()).contains("given back  0000:01:00.0  vfio-pci → nouveau",
                "given back  0000:01:00.1  vfio-pci → snd_hda_intel", "[policy nvidia-gpus]",
                "Result: 0 bound, 2 given back, 0 recovered, 0 unchanged, 0 failed, 0 refused.");
        assertThat(kernel.driverOf("0000:01:00.0")).isEqualTo("nouveau");
        assertThat(kernel.driverOf("0000:01:00.1")).isEqualTo("snd_hda_intel");
        assertThat(kernel.driverOf("0000:00:01.0")).as("the bridge is never a companion").isEqualTo("pcieport");
        assertThat(Files.readString(journal)).doesNotContain("0000:01:00");

        Run again = runSimulated(kernel, apply);
        assertThat(again.out()).contains("Result: 0 bound, 0 given back, 0 recovered, 2 unchanged, 0 failed, 0 refused.");
    }

    @Test
    @DisplayName("the policy's drivers selector keeps matching a GPU after it moved to vfio-pci, through the journal")
    void hostDriverFromJournal() throws IOException {
        Path policies = dir.resolve("nouveau.yaml");
        Files.writeString(policies, """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata: {name: nouveau-gpus}
                spec:
                  selector: {drivers: [nouveau]}
                  driver: vfio-pci
                  resourceName: gpu
                """);
        SimulatedKernel kernel = sampleKernel();
        runSimulated(kernel, "apply", "--root", host.toString(), "--policies", policies.toString(), "--journal",
                journal.toString());

        Run again = runSimulated(kernel, "apply", "--root", host.toString(), "--policies", policies.toString(),
                "--journal", journal.toString());

        assertThat(again.out()).contains("unchanged   0000:44:00.0  vfio-pci  (already on vfio-pci; policy names"
                + " vfio-pci)  [policy nouveau-gpus]");
    }

    @Test
    @DisplayName("after a crash between unbind and probe, the next apply finishes the step first and says so")
    void applyRecoversAfterCrash() throws IOException {
        Path policies = dir.resolve("gpus.yaml");
        Files.writeString(policies, """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata: {name: gpus}
                spec:
                  selector: {addresses: ["0000:44:00.0"]}
                  driver: vfio-pci
                  resourceName: gpu
                """);
        SimulatedKernel kernel = sampleKernel().crashAfter("0000:44:00.0", "unbind");
        String[] args = {"apply", "--root", host.toString(), "--policies", policies.toString(), "--journal",
                journal.toString()};
        assertThatThrownBy(() -> runSimulated(kernel, args)).isInstanceOf(SimulatedKernel.SimulatedCrash.class);
        assertThat(kernel.driverOf("0000:44:00.0")).isNull();

        Run run = runSimulated(kernel, args);

        assertThat(run.out()).contains("recovered   0000:44:00.0  nouveau → vfio-pci  (a bind step was interrupted at"
                + " unbind (started 2026-11-24T07:00:00Z); finished it: now on vfio-pci (override vfio-pci)",
                "unchanged   0000:44:00.0  vfio-pci  (already on vfio-pci; policy names vfio-pci)  [policy gpus]",
                "Result: 0 bound, 0 given back, 1 recovered, 1 unchanged, 0 failed, 0 refused.");
        assertThat(run.exit()).isZero();
    }

    @Test
    @DisplayName("--node-labels decides which policies apply to this node")
    void nodeLabels() throws IOException {
        Path policies = dir.resolve("zoned.yaml");
        Files.writeString(policies, """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata: {name: gpu-nodes}
                spec:
                  nodeSelector: {matchLabels: {vfio.example.com/gpu: "true"}}
                  selector: {addresses: ["0000:44:00.0"]}
                  resourceName: gpu
                """);
        String[] base = {"apply", "--root", host.toString(), "--policies", policies.toString(), "--dry-run",
                "--journal", journal.toString(), "--node-name", "n1"};

        Run unlabelled = run(base);
        String[] labelled = java.util.Arrays.copyOf(base, base.length + 2);
        labelled[base.length] = "--node-labels";
        labelled[base.length + 1] = "zone=a,vfio.example.com/gpu=true";
        Run matching = run(labelled);

        assertThat(unlabelled.out()).contains("No device is selected by a policy on this node.",
                "Policies that select nothing on this node: gpu-nodes (nodeSelector does not match n1)");
        assertThat(unlabelled.exit()).isZero();
        assertThat(matching.out()).contains("would bind  0000:44:00.0  nouveau → vfio-pci");
    }

    @Test
    @DisplayName("an invalid policy file is bad input: exit 2, naming the document and the field")
    void invalidPolicy() throws IOException {
        Path policies = dir.resolve("bad.yaml");
        Files.writeString(policies, """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata: {name: fine}
                spec: {selector: {vendors: ["10de"]}, resourceName: gpu}
                ---
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata: {name: broken}
                spec: {selector: {vendors: ["10de"]}, driver: "../../etc", resourceName: gpu}
                """);
        Map<String, String> before = FakeHost.contentsOf(dir, true);

        Run run = run("apply", "--root", host.toString(), "--policies", policies.toString(), "--journal",
                journal.toString());

        assertThat(run.exit()).isEqualTo(2);
        assertThat(run.err()).startsWith("vfio-node: " + policies + ": document 2 (broken): spec.driver: '../../etc'");
        assertThat(run.out()).isEmpty();
        assertThat(FakeHost.contentsOf(dir, true)).isEqualTo(before);
    }

    @Test
    @DisplayName("a missing policy file or a corrupt journal is bad input: exit 2 with the file named")
    void missingInputs() throws IOException {
        Run missing = run("apply", "--root", host.toString(), "--policies", dir.resolve("nope.yaml").toString(),
                "--journal", journal.toString());
        assertThat(missing.exit()).isEqualTo(2);
        assertThat(missing.err()).contains("cannot read --policies " + dir.resolve("nope.yaml"));

        Files.createDirectories(journal.getParent());
        Files.writeString(journal, "{\"version\": 1, \"devices\": {\"0000:41:00.1\": ");
        Run corrupt = run("apply", "--root", host.toString(), "--policies", SHIPPED_POLICIES.toString(), "--journal",
                journal.toString());
        assertThat(corrupt.exit()).isEqualTo(2);
        assertThat(corrupt.err()).contains("the binding journal " + journal.toAbsolutePath() + " is not a journal");
    }

    @Test
    @DisplayName("with the real writer and a modprobe that loads nothing, apply fails safely and says why")
    void realChainOnATreeThatIsNotAKernel() throws IOException {
        Path policies = dir.resolve("qat.yaml");
        Files.writeString(policies, """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioBindingPolicy
                metadata: {name: qat}
                spec: {selector: {devices: ["4941"]}, resourceName: qat}
                """);

        Run run = run("apply", "--root", host.toString(), "--policies", policies.toString(), "--journal",
                journal.toString(), "--modprobe-command", "true");

        assertThat(run.out()).contains("FAILED      0000:83:00.0: cannot load the driver: module qat_vfio_pci is loaded"
                + " but registers no PCI driver");
        assertThat(run.exit()).isEqualTo(1);
    }

    private static JsonNode find(JsonNode doc, String address) {
        for (JsonNode d : doc.get("devices")) {
            if (d.get("address").asText().equals(address)) {
                return d;
            }
        }
        throw new AssertionError("no device " + address + " in " + doc);
    }

    /** Copies a host tree, links as links. */
    static void copyTree(Path from, Path to) {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isSymbolicLink(p)) {
                    Files.createSymbolicLink(target, Files.readSymbolicLink(p));
                } else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

}
