package com.example.vfio.cli;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.binding.BindPlan;
import com.example.vfio.binding.BindingException;
import com.example.vfio.binding.BindingEngine;
import com.example.vfio.binding.BindingJournal;
import com.example.vfio.binding.BoundedSysfsWriter;
import com.example.vfio.binding.CommandModuleLoader;
import com.example.vfio.binding.DeviceHolders;
import com.example.vfio.binding.DeviceOutcome;
import com.example.vfio.binding.FileSysfsWriter;
import com.example.vfio.binding.ModuleLoader;
import com.example.vfio.binding.SysfsWriter;
import com.example.vfio.pci.HostReadException;
import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.planning.DeviceFacts;
import com.example.vfio.planning.NodePlan;
import com.example.vfio.planning.NodePlanner;
import com.example.vfio.planning.PolicyDocuments;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "apply", mixinStandardHelpOptions = true,
        description = {"Binds this node's devices the way the policies say, once: the node agent's binding engine"
                + " without a cluster. Prints what it changed (or, with --dry-run, would change) and why not.",
                "Exit status: 0 all done, 1 a device failed or was refused, 2 bad input."})
final class ApplyCommand implements Callable<Integer> {
    static final int MAX_POLICY_BYTES = 1 << 20;

    /** Where the writes and module loads go: the real kernel, or a simulated one in tests. */
    interface Kernel {
        SysfsWriter writer(Duration timeout);

        ModuleLoader modules(String command, Duration timeout);
    }

    static final Kernel REAL_KERNEL = new Kernel() {
        @Override
        public SysfsWriter writer(Duration timeout) {
            return new BoundedSysfsWriter(new FileSysfsWriter(), timeout);
        }

        @Override
        public ModuleLoader modules(String command, Duration timeout) {
            return CommandModuleLoader.parse(command, timeout);
        }
    };

    @Option(names = "--root", defaultValue = "/", paramLabel = "DIR",
            description = "Host root to read and bind under (default: ${DEFAULT-VALUE}).")
    Path root;

    @Option(names = "--policies", required = true, paramLabel = "FILE",
            description = "VfioBindingPolicy YAML documents, the text one would kubectl apply.")
    Path policies;

    @Option(names = "--dry-run", description = "Print the plan; change nothing (no modprobe, no journal).")
    boolean dryRun;

    @Option(names = "--json", description = "Print a JSON document instead of the plan for people.")
    boolean json;

    @Option(names = "--journal", paramLabel = "FILE", description = "The binding journal (default: ${DEFAULT-VALUE}).")
    Path journal = BindingJournal.DEFAULT_FILE;

    @Option(names = {"--modprobe-command", "--modprobe"}, paramLabel = "CMD", defaultValue = CommandModuleLoader.DEFAULT_COMMAND,
            description = "Command that loads a module, run without a shell with the module name appended,"
                    + " e.g. 'chroot /host modprobe' (default: ${DEFAULT-VALUE}).")
    String modprobeCommand;

    @Option(names = "--write-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "Longest wait for one sysfs write, e.g. an unbind while a VM holds the device"
                    + " (default: ${DEFAULT-VALUE}).")
    long writeTimeoutSeconds;

    @Option(names = "--node-name", paramLabel = "NAME",
            description = "Node name for the plan (default: $NODE_NAME, else the host's hostname).")
    String nodeName;

    @Option(names = {"--node-labels", "--node-label"}, paramLabel = "K=V", split = ",",
            description = "This node's labels, for policies with a nodeSelector (repeatable).")
    Map<String, String> nodeLabels = new LinkedHashMap<>();

    @Spec
    CommandSpec spec;

    private final Kernel kernel;
    private final DeviceHolders holders;
    private final Clock clock;

    ApplyCommand() {
        this(REAL_KERNEL, DeviceHolders.none(), Clock.systemUTC());
    }

    ApplyCommand(Kernel kernel, DeviceHolders holders, Clock clock) {
        this.kernel = kernel;
        this.holders = holders;
        this.clock = clock;
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<VfioBindingPolicy> parsed;
        try {
            parsed = PolicyDocuments.parse(readPolicies());
        } catch (PolicyDocuments.InvalidPolicyException e) {
            err.println("vfio-node: " + policies + ": " + e.getMessage());
            err.flush();
            return Main.EXIT_BAD_INPUT;
        }
        if (writeTimeoutSeconds < 1) {
            throw new HostReadException("--write-timeout must be at least 1 second, got " + writeTimeoutSeconds);
        }
        Duration timeout = Duration.ofSeconds(writeTimeoutSeconds);
        HostRoot host = new HostRoot(root);
        BindingJournal journalFile = BindingJournal.open(journal, clock);
        ModuleLoader modules;
        try {
            modules = kernel.modules(modprobeCommand, timeout);
        } catch (IllegalArgumentException e) {
            throw new HostReadException("--modprobe-command: " + e.getMessage());
        }
        BindingEngine engine = new BindingEngine(host, kernel.writer(timeout), modules, journalFile, holders, clock);
        List<DeviceOutcome> recovered = List.of();
        if (!dryRun) {
            ensureJournalWritable();
            // a step a crash interrupted is finished or rolled back before the host is read for the plan
            try {
                recovered = engine.recover();
            } catch (BindingException e) {
                err.println("vfio-node: " + e.getMessage());
                err.flush();
                return 1;
            }
        }

        HostSnapshot snapshot = new SysfsScanner(host).scan();
        HostAssessment assessment = new ViabilityAnalyzer().assess(snapshot);
        String node = nodeName != null ? nodeName : defaultNodeName(host);
        NodePlan nodePlan = NodePlanner.plan(node, nodeLabels, facts(snapshot, journalFile), parsed);
        BindPlan plan = engine.plan(assessment, nodePlan.devices());

        ApplyReport report;
        if (dryRun) {
            report = ApplyReport.planned(host.toString(), node, snapshot.kernelRelease(), parsed.size(), nodePlan, plan);
        } else {
            List<DeviceOutcome> outcomes = new ArrayList<>(recovered);
            try {
                outcomes.addAll(engine.apply(plan));
            } catch (BindingException e) {
                err.println("vfio-node: " + e.getMessage());
                err.flush();
                return 1;
            }
            report = ApplyReport.applied(host.toString(), node, snapshot.kernelRelease(), parsed.size(), nodePlan, plan,
                    recovered, outcomes, journalFile.file().toString());
        }
        out.print(json ? report.json() : report.text());
        out.flush();
        return report.anyProblem() ? 1 : 0;
    }

    private String readPolicies() {
        try (InputStream in = Files.newInputStream(policies)) {
            byte[] bytes = in.readNBytes(MAX_POLICY_BYTES + 1);
            if (bytes.length > MAX_POLICY_BYTES) {
                throw new HostReadException("--policies " + policies + " is larger than 1 MiB: not a policy file");
            }
            return new String(bytes, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new HostReadException("cannot read --policies " + policies + ": " + e);
        }
    }

    private void ensureJournalWritable() {
        Path dir = journal.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new HostReadException("cannot create the journal directory " + dir + " (" + e.getMessage()
                    + "); run as root or choose another place with --journal FILE");
        }
        if (!Files.isWritable(dir)) {
            throw new HostReadException("the journal directory " + dir + " is not writable; run as root or choose"
                    + " another place with --journal FILE");
        }
    }

    /**
     * The planner's view of each device. The driver is the host driver: the one the journal recorded
     * before this project rebound the device, else the current one, so {@code drivers: [nouveau]} keeps
     * matching a GPU after it moved to vfio-pci.
     */
    static List<DeviceFacts> facts(HostSnapshot snapshot, BindingJournal journal) {
        List<DeviceFacts> facts = new ArrayList<>();
        for (PciDevice d : snapshot.allDevices()) {
            PciAddress a = d.address();
            String driver = journal.entry(a).map(BindingJournal.Entry::originalDriver).orElse(d.driver());
            facts.add(new DeviceFacts(a.toString(), d.vendorHex(), d.deviceHex(), d.classHex(), driver, d.iommuGroup()));
        }
        return facts;
    }

    private static String defaultNodeName(HostRoot host) {
        String env = System.getenv("NODE_NAME");
        if (env != null && !env.isBlank()) {
            return env.strip();
        }
        try {
            String name = Files.readString(host.resolve("proc/sys/kernel/hostname"), StandardCharsets.UTF_8).strip();
            if (!name.isEmpty() && name.length() <= 253) {
                return name;
            }
        } catch (IOException e) {
            // fall through
        }
        return "localhost";
    }

    /** The desired devices the report needs by address. */
    static Map<String, DesiredDevice> byAddress(List<DesiredDevice> devices) {
        Map<String, DesiredDevice> map = new LinkedHashMap<>();
        devices.forEach(d -> map.put(d.getAddress(), d));
        return map;
    }
}
