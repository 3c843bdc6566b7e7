package com.example.vfio.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * {@code vfio-node serve} from the real jar as its own process, standalone ({@code --policies}), against a host
 * root, a kubelet's plugin directory and PodResources socket. Logs (with GetPreferredAllocation's debug line)
 * go to {@code <log>}; {@link #restart()} stops it (SIGTERM, its shutdown hook runs) and starts it again.
 */
final class NodeDaemonProcess implements AutoCloseable {
    private final List<String> command;
    private final Path log;
    private Process process;

    private NodeDaemonProcess(List<String> command, Path log) {
        this.command = command;
        this.log = log;
    }

    static Path jar() {
        Path jar = Path.of(System.getProperty("vfio.node.jar", "deviceplugin/target/vfio-node-all.jar"));
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " does not exist: build the deviceplugin module (e2e/cluster/run does)");
        }
        return jar;
    }

    /**
     * @param root          the host root (a FakeHost directory)
     * @param policies      VfioBindingPolicy documents
     * @param kubeletState  the harness's state directory (device-plugins/, pod-resources/)
     */
    static NodeDaemonProcess start(Path root, Path policies, Path kubeletState, Duration rescanInterval, Path log) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx128m",
                "-Dorg.slf4j.simpleLogger.log.com.example.vfio.plugin.DevicePluginServer=debug",
                "-jar", jar().toString(), "serve", "--root", root.toString(), "--policies", policies.toString(),
                "--node-name", "harness-node",
                "--plugin-dir", kubeletState.resolve("device-plugins").toString(),
                "--pod-resources-socket", kubeletState.resolve("pod-resources/kubelet.sock").toString(),
                "--metrics-port", "0", "--rescan-interval", rescanInterval.toMillis() + "ms"));
        NodeDaemonProcess d = new NodeDaemonProcess(command, log);
        d.launch();
        return d;
    }

    private void launch() {
        try {
            Files.writeString(log, "---- " + String.join(" ", command) + "\n", StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
            process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start vfio-node serve", e);
        }
    }

    Path log() {
        return log;
    }

    /** The log lines of every run so far. */
    List<String> logLines() {
        try {
            return Files.readAllLines(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Log lines containing {@code text}. */
    List<String> logged(String text) {
        return logLines().stream().filter(l -> l.contains(text)).toList();
    }

    void awaitLogged(String text, Duration within) {
        await().atMost(within).pollInterval(Duration.ofMillis(50))
                .until(() -> !logged(text).isEmpty());
    }

    /** The daemon stops as on a node (SIGTERM): it removes its sockets and closes its streams. */
    void stop() {
        if (process != null) {
            process.destroy();
            try {
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            process = null;
        }
    }

    void startAgain() {
        if (process != null) {
            throw new IllegalStateException("still running");
        }
        launch();
    }

    void restart() {
        stop();
        launch();
    }

    @Override
    public void close() {
        stop();
    }
}
