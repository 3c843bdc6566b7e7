package com.example.vfio.cli;

import com.example.vfio.pci.HostReadException;
import com.example.vfio.uevent.KernelUevents;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code bin/vfio-node}: the node daemon and its one-shot commands. */
@Command(name = "vfio-node", mixinStandardHelpOptions = true, version = "vfio-node 0.1.0",
        description = "Finds, checks, binds and publishes PCI devices for VMs through VFIO.",
        subcommands = {InspectCommand.class, ApplyCommand.class, ServeCommand.class})
public final class Main {
    /** Exit status for input the command cannot use (bad root, bad policy file): no stack trace. */
    static final int EXIT_BAD_INPUT = 2;

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /**
     * The CLI with serve's uevents from {@code uevents} instead of the kernel's socket: the benchmark feeds
     * its synthetic host's events this way (production never does).
     */
    public static int execute(KernelUevents.Opener uevents, String... args) {
        return commandLine(new CommandLine.IFactory() {
            @Override
            public <K> K create(Class<K> type) throws Exception {
                return type == ServeCommand.class ? type.cast(new ServeCommand(uevents))
                        : CommandLine.defaultFactory().create(type);
            }
        }).execute(args);
    }

    static CommandLine commandLine() {
        return commandLine(CommandLine.defaultFactory());
    }

    /** With a factory, tests can hand the commands a simulated kernel. */
    static CommandLine commandLine(CommandLine.IFactory factory) {
        CommandLine cli = new CommandLine(new Main(), factory);
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
