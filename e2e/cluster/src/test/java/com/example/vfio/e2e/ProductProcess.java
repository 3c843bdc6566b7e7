package com.example.vfio.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * One of our jars as its own process, the way the chart runs it: {@code java <the chart's JVM options> -jar JAR ARGS}
 * with the environment given (nothing of the test JVM's Kubernetes settings leaks in), output in {@code <name>.log}.
 * A process the test forgets, or a test JVM that dies, leaves nothing running: a shutdown hook kills what is left.
 */
final class ProductProcess implements AutoCloseable {
    private static final List<ProductProcess> RUNNING = new CopyOnWriteArrayList<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> RUNNING.forEach(p -> p.process.destroyForcibly()), "kill-product-processes"));
    }

    private final String name;
    private final Path log;
    private final Process process;

    private ProductProcess(String name, Path log, Process process) {
        this.name = name;
        this.log = log;
        this.process = process;
    }

    /** The jar a system property names (the suite's pom sets {@code vfio.operator.jar} and {@code vfio.node.jar}). */
    static Path jar(String property) {
        Path jar = Path.of(System.getProperty(property, ""));
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(property + " names no jar (" + jar + "): run the suite with e2e/cluster/run, which builds it");
        }
        return jar;
    }

    /** The JVM options of a test's node daemon that is not run from the chart: the launcher's (bin/vfio-node). */
    static final List<String> NODE_JVM_OPTIONS = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Xmx128m");

    static ProductProcess start(String name, Path dir, List<String> jvmOptions, Path jar, List<String> args, Map<String, String> env) {
        return start(name, dir, List.of(), jvmOptions, jar, args, env);
    }

    /** The same, with {@code prefix} in front of {@code java} (e.g. {@code nsenter -t PID -m --}). */
    static ProductProcess start(String name, Path dir, List<String> prefix, List<String> jvmOptions, Path jar, List<String> args,
            Map<String, String> env) {
        List<String> command = new ArrayList<>(prefix);
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.add("-jar");
        command.add(jar.toString());
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        Path log = dir.resolve(name + ".log");
        builder.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Map<String, String> environment = builder.environment();
        environment.keySet().removeIf(k -> k.startsWith("KUBERNETES_") || k.equals("KUBECONFIG") || k.equals("NODE_NAME")
                || k.equals("POD_NAME") || k.equals("HOSTNAME"));
        environment.putAll(env);
        try {
            ProductProcess p = new ProductProcess(name, log, builder.start());
            RUNNING.add(p);
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name, e);
        }
    }

    String name() {
        return name;
    }

    long pid() {
        return process.pid();
    }

    boolean alive() {
        return process.isAlive();
    }

    Path logFile() {
        return log;
    }

    String log() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Waits until the log has a line containing {@code text}; fails at once, with the log's end, if the process exits. */
    void awaitLog(String text, Duration atMost) {
        await().atMost(atMost).pollInterval(Duration.ofMillis(200)).until(() -> {
            if (!process.isAlive() && !log().contains(text)) {
                throw new AssertionError(name + " exited (" + process.exitValue() + ") before logging '" + text + "': " + tail());
            }
            return log().contains(text);
        });
    }

    /** The last lines of the log, for a failure message. */
    String tail() {
        List<String> lines = log().lines().toList();
        return String.join(" | ", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
    }

    /** The last {@code n} lines of the log, one a line. */
    String tail(int n) {
        List<String> lines = log().lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
    }

    /** kill -9: no shutdown hook runs, nothing is released, the Lease is not given back. */
    void kill() {
        process.destroyForcibly();
        waitFor(Duration.ofSeconds(30));
        RUNNING.remove(this);
    }

    /** SIGTERM, as the kubelet stops a pod; kill -9 if it has not exited within 30 s. */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            if (!waitFor(Duration.ofSeconds(30))) {
                process.destroyForcibly();
                waitFor(Duration.ofSeconds(10));
            }
        }
        RUNNING.remove(this);
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
