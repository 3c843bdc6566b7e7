package com.example.vfio.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The node daemon as it runs on a node: {@code java -jar vfio-node-all.jar serve ...} (the jar the reactor built,
 * system property {@code vfio.node.jar}), its output in a log file, stopped with SIGTERM (its shutdown hook removes
 * its sockets) and killed if it does not stop. A JVM that dies leaves no daemon behind.
 */
public final class VfioNodeProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private VfioNodeProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** {@code java -jar <jar> serve <args>}, with {@code KUBECONFIG} set when {@code kubeconfig} is not null. */
    public static VfioNodeProcess serve(Path kubeconfig, Path log, List<String> args) {
        return start(List.of(), kubeconfig, log, args);
    }

    /** The same, with {@code prefix} in front of {@code java} (e.g. {@code unshare -m ... --}). */
    public static VfioNodeProcess start(List<String> prefix, Path kubeconfig, Path log, List<String> args) {
        List<String> command = new ArrayList<>(prefix);
        command.addAll(javaCommand());
        command.add("serve");
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        if (kubeconfig != null) {
            pb.environment().put("KUBECONFIG", kubeconfig.toString());
        }
        try {
            VfioNodeProcess p = new VfioNodeProcess(pb.start(), log);
            Runtime.getRuntime().addShutdownHook(new Thread(p.process::destroyForcibly));
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the node daemon", e);
        }
    }

    /** The JVM and flags bin/vfio-node runs the daemon with, and the jar. */
    public static List<String> javaCommand() {
        Path jar = Path.of(System.getProperty("vfio.node.jar", "../../deviceplugin/target/vfio-node-all.jar"));
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " is missing: run the suite with e2e/cluster/run, which builds it");
        }
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-Xss512k", "-Xmx128m", "-jar", jar.toAbsolutePath().toString());
    }

    public boolean alive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    public Path log() {
        return log;
    }

    /** The daemon's output so far. */
    public String output() {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e.getMessage() + ")";
        }
    }

    /** The last lines of the output, for a failure message. */
    public String tail(int lines) {
        List<String> all = output().lines().toList();
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    /** kill -9: no shutdown hook, its sockets stay behind as a crashed daemon leaves them. */
    public void kill() {
        process.destroyForcibly();
        waitFor(Duration.ofSeconds(10));
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.toHandle().descendants().forEach(ProcessHandle::destroy);
            process.destroy();
            if (!waitFor(Duration.ofSeconds(20))) {
                process.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                waitFor(Duration.ofSeconds(10));
            }
        }
    }

    private boolean waitFor(Duration d) {
        try {
            return process.waitFor(d.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
