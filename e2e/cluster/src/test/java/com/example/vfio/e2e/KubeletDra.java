package com.example.vfio.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The kubelet's own DRA code (pkg/kubelet/cm/dra and its plugin watcher, in e2e/k8s/cmd/dra-harness) in a private
 * mount namespace of its own (e2e/cluster/dra-kubelet-ns): /var/lib/kubelet/plugins, /var/lib/kubelet/plugins_registry
 * and /var/run/cdi there are this test's directories. Commands go in on its stdin, answers come back as JSON lines;
 * {@link #startDaemon} runs the node daemon in the same namespace, with the kubelet's paths as on a node.
 */
public final class KubeletDra implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The kubelet's paths inside the namespace, and where they are outside. */
    public static final String PLUGINS = "/var/lib/kubelet/plugins";

    private final Path dir;
    private final Process harness;
    private final Writer in;
    private final BufferedReader out;

    private KubeletDra(Path dir, Process harness) {
        this.dir = dir;
        this.harness = harness;
        this.in = new OutputStreamWriter(harness.getOutputStream(), StandardCharsets.UTF_8);
        this.out = new BufferedReader(new InputStreamReader(harness.getInputStream(), StandardCharsets.UTF_8));
    }

    /** Starts the harness for node {@code nodeName}; its klog output goes to {@code dir/kubelet.log}. */
    public static KubeletDra start(Path dir, Path kubeconfig, String nodeName) throws IOException {
        Path script = Crds.repo().resolve("e2e/cluster/dra-kubelet-ns");
        Path binary = ControlPlane.binDir().resolveSibling("harness-bin").resolve("dra-harness");
        List<String> command = List.of("unshare", "-m", "--propagation", "private", "--", script.toString(),
                dir.toString(), binary.toString(), "--kubeconfig", kubeconfig.toString(), "--node-name", nodeName,
                "--state-dir", dir.resolve("kubelet-state").toString(), "-v", "4");
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.appendTo(
                dir.resolve("kubelet.log").toFile())).start();
        Runtime.getRuntime().addShutdownHook(new Thread(p::destroyForcibly));
        KubeletDra k = new KubeletDra(dir, p);
        JsonNode up = k.read();
        if (!up.path("ok").asBoolean()) {
            k.close();
            throw new IllegalStateException("the DRA harness did not start: " + up);
        }
        return k;
    }

    /** Sends one command and returns its answer ({@code ok}, {@code error}, ...). */
    public synchronized JsonNode command(String line) {
        try {
            in.write(line + "\n");
            in.flush();
            return read();
        } catch (IOException e) {
            throw new UncheckedIOException("the DRA harness went away (" + line + "): " + tail(), e);
        }
    }

    private JsonNode read() throws IOException {
        CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
            try {
                return out.readLine();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        try {
            String text = line.get(120, TimeUnit.SECONDS);
            if (text == null) {
                throw new IOException("the DRA harness exited: " + tail());
            }
            return JSON.readTree(text);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IOException("the DRA harness did not answer in 120 s: " + tail(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IOException(e.getCause());
        }
    }

    /** Runs {@code vfio-node serve <args>} inside the harness's mount namespace, its output in {@code dir/<name>.log}. */
    public ProductProcess startDaemon(Path kubeconfig, Path dir, String name, List<String> args) {
        List<String> serve = new java.util.ArrayList<>(List.of("serve"));
        serve.addAll(args);
        return ProductProcess.start(name, dir, List.of("nsenter", "-t", Long.toString(harness.pid()), "-m", "--"),
                ProductProcess.NODE_JVM_OPTIONS, ProductProcess.jar("vfio.node.jar"), serve,
                Map.of("KUBECONFIG", kubeconfig.toString()));
    }

    /** The daemon of {@code node} on the host {@code root}, as a test runs it: no binding, no metrics port, 1 s rescans. */
    public ProductProcess startDaemon(Path kubeconfig, Path dir, String name, Path root, String node) {
        return startDaemon(kubeconfig, dir, name, List.of("--root", root.toString(), "--node-name", node, "--no-binding",
                "--metrics-port", "0", "--rescan-interval", "1s"));
    }

    /** A path of the namespace (under /var/lib/kubelet/plugins or /var/run/cdi) as this test sees it. */
    public Path outside(String pathInNamespace) {
        if (pathInNamespace.startsWith(PLUGINS + "/")) {
            return dir.resolve("plugins").resolve(pathInNamespace.substring(PLUGINS.length() + 1));
        }
        if (pathInNamespace.startsWith("/var/run/cdi/")) {
            return dir.resolve("cdi").resolve(pathInNamespace.substring("/var/run/cdi/".length()));
        }
        throw new IllegalArgumentException(pathInNamespace + " is not one of the test's directories");
    }

    public Path dir() {
        return dir;
    }

    public String tail() {
        try {
            List<String> lines = Files.readAllLines(dir.resolve("kubelet.log"));
            return String.join("\n", new ArrayList<>(lines.subList(Math.max(0, lines.size() - 15), lines.size())));
        } catch (IOException e) {
            return "(no kubelet.log)";
        }
    }

    @Override
    public void close() {
        if (harness.isAlive()) {
            try {
                in.write("quit\n");
                in.flush();
            } catch (IOException ignored) {
                // gone
            }
            try {
                if (!harness.waitFor(20, TimeUnit.SECONDS)) {
                    harness.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
