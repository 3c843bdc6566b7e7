package com.example.vfio.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Starts the operator and the node agent as the chart runs them: the chart's JVM options and environment, the
 * chart's ServiceAccount with a pod-bound token ({@link PodIdentity}), the production jars. What differs from a
 * pod is only what a pod gets from its node: the host root, the kubelet's directories, and free ports.
 */
final class Components {
    private Components() {
    }

    /** {@code java -jar vfio-operator.jar} as the pod of the chart's Deployment that {@code identity} stands for. */
    static ProductProcess operator(ChartRelease chart, PodIdentity identity, Path dir) {
        String podName = identity.podName();
        Map<String, String> env = new LinkedHashMap<>(chart.env(ChartRelease.OPERATOR, podName, null));
        env.put("KUBECONFIG", identity.kubeconfig().toString());
        // the chart's health port, 8080, would clash between two operators on one machine
        env.put("HEALTH_PORT", "0");
        return ProductProcess.start(podName, dir, chart.jvmOptions(ChartRelease.OPERATOR), ProductProcess.jar("vfio.operator.jar"), List.of(), env);
    }

    /** What a node agent's pod gets from its node. */
    record NodeHost(String nodeName, Path root, Path pluginDir, Path podResourcesSocket, Path journalDir) {
    }

    /**
     * {@code vfio-node serve} in cluster mode as the DaemonSet pod {@code identity} stands for, on {@code host.nodeName()}.
     * Binding is on as in the chart's default, with a modprobe that always fails: no module of this machine's kernel
     * is ever loaded (the fake hosts' devices are on their drivers already, or are refused before any write).
     *
     * @param extraArgs e.g. {@code --no-binding}, {@code --rescan-interval 1s}
     */
    static ProductProcess nodeAgent(ChartRelease chart, PodIdentity identity, NodeHost host, Path dir, List<String> extraArgs) {
        String podName = identity.podName();
        Map<String, String> env = new LinkedHashMap<>(chart.env(ChartRelease.NODE, podName, host.nodeName()));
        env.put("KUBECONFIG", identity.kubeconfig().toString());
        List<String> args = new ArrayList<>(List.of("serve", "--root", host.root().toString(),
                "--plugin-dir", host.pluginDir().toString(), "--pod-resources-socket", host.podResourcesSocket().toString(),
                "--node-name", host.nodeName(), "--metrics-port", "0"));
        if (!extraArgs.contains("--no-binding")) {
            args.addAll(List.of("--journal-dir", host.journalDir().toString(), "--modprobe-command", "/bin/false"));
        }
        args.addAll(extraArgs);
        return ProductProcess.start(podName, dir, chart.jvmOptions(ChartRelease.NODE), ProductProcess.jar("vfio.node.jar"), args, env);
    }

    /** The PCI functions of a fake host: what the agent's status should count. */
    static int pciFunctions(Path root) throws IOException {
        try (Stream<Path> s = Files.list(root.resolve("sys/bus/pci/devices"))) {
            return (int) s.count();
        }
    }

    /** Closes each of {@code parts} (null ones skipped), in order, whatever the others do. */
    static void closeAll(AutoCloseable... parts) {
        for (AutoCloseable c : parts) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                System.err.println("closing " + c + ": " + e);
            }
        }
    }
}
