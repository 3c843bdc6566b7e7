package com.example.vfio.binding;

import com.example.vfio.pci.Names;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code modprobe <module>} through a configurable command, e.g. {@code chroot /host modprobe} so
 * a container uses the host's modprobe and modules. The command is split on whitespace into an
 * argument vector and run directly, never through a shell; the module name is validated and passed as
 * one last argument.
 */
public final class CommandModuleLoader implements ModuleLoader {
    public static final String DEFAULT_COMMAND = "modprobe";
    private static final int MAX_OUTPUT = 4096;

    private final List<String> command;
    private final Duration timeout;

    public CommandModuleLoader(List<String> command, Duration timeout) {
        if (command.isEmpty() || command.stream().anyMatch(String::isBlank)) {
            throw new IllegalArgumentException("the modprobe command is empty");
        }
        this.command = List.copyOf(command);
        this.timeout = timeout;
    }

    /** {@code "chroot /host modprobe"} → {@code [chroot, /host, modprobe]}. */
    public static CommandModuleLoader parse(String commandLine, Duration timeout) {
        List<String> words = List.of(commandLine.trim().split("\\s+"));
        if (commandLine.isBlank()) {
            throw new IllegalArgumentException("the modprobe command is empty");
        }
        return new CommandModuleLoader(words, timeout);
    }

    public List<String> command() {
        return command;
    }

    @Override
    public void load(String module) throws ModuleLoadException {
        Names.requireModuleName(module);
        if (module.startsWith("-")) {
            throw new ModuleLoadException("refusing module name '" + module + "': it would be read as an option");
        }
        List<String> argv = new ArrayList<>(command);
        argv.add(module);
        Process process;
        try {
            process = new ProcessBuilder(argv).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE)
                    .start();
            process.getOutputStream().close();
        } catch (IOException e) {
            throw new ModuleLoadException("cannot run " + String.join(" ", argv) + ": " + e.getMessage());
        }
        OutputReader reader = new OutputReader(process.getInputStream());
        reader.start();
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new ModuleLoadException(String.join(" ", argv) + " did not finish within " + timeout.toSeconds()
                        + " s");
            }
            reader.join(1000);
            String output = reader.output();
            if (process.exitValue() != 0) {
                throw new ModuleLoadException(String.join(" ", argv) + " failed (exit " + process.exitValue() + ")"
                        + (output.isBlank() ? "" : ": " + output.strip()));
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new ModuleLoadException("interrupted while running " + String.join(" ", argv));
        }
    }

    /** Drains the command's output (so it never blocks on a full pipe), keeping the first bytes. */
    private static final class OutputReader extends Thread {
        private final InputStream in;
        private volatile String output = "";

        OutputReader(InputStream in) {
            super("modprobe-output");
            setDaemon(true);
            this.in = in;
        }

        @Override
        public void run() {
            try (in) {
                output = new String(in.readNBytes(MAX_OUTPUT), StandardCharsets.UTF_8);
                in.transferTo(java.io.OutputStream.nullOutputStream());
            } catch (IOException e) {
                output = output + " (output unreadable: " + e.getMessage() + ")";
            }
        }

        String output() {
            return output;
        }
    }
}
