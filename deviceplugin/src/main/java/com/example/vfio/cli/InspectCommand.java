package com.example.vfio.cli;

import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Reports every PCI function: driver, VFIO, IOMMU group, whether a VM can take it, and why not.")
final class InspectCommand implements Callable<Integer> {
    @Option(names = "--root", defaultValue = "/", paramLabel = "DIR",
            description = "Host root to read sysfs, /dev and /lib/modules under (default: ${DEFAULT-VALUE}).")
    Path root;

    @Option(names = "--json", description = "Print the JSON document instead of the table.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        HostAssessment assessment = new ViabilityAnalyzer().assess(new SysfsScanner(new HostRoot(root)).scan());
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? InspectReport.json(assessment) : InspectReport.table(assessment));
        out.flush();
        return 0;
    }
}
