package com.example.vfio.cli;

import com.example.vfio.pci.HostReadException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code bin/vfio-node}: the node daemon and its one-shot commands. */
@Command(name = "vfio-node", mixinStandardHelpOptions = true, version = "vfio-node 0.1.0",
        description = "Finds, checks, binds and publishes PCI devices for VMs through VFIO.",
        subcommands = {InspectCommand.class, ServeCommand.class})
public final class Main {
    /** Exit status for input the command cannot use (bad root, bad policy file): no stack trace. */
    static final int EXIT_BAD_INPUT = 2;

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (ex instanceof HostReadException) {
                commandLine.getErr().println("vfio-node: " + ex.getMessage());
                return EXIT_BAD_INPUT;
            }
            throw ex;
        });
        return cli;
    }
}
