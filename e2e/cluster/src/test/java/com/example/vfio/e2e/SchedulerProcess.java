package com.example.vfio.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The real kube-scheduler (the binary e2e/k8s/build made) against the test API server: its default profile, so the
 * DynamicResources plugin and its structured allocator decide, no leader election, no HTTPS port.
 */
public final class SchedulerProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private SchedulerProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    public static SchedulerProcess start(ControlPlane cluster, Path dir) {
        try {
            Path kubeconfig = cluster.writeKubeconfig(dir.resolve("scheduler.kubeconfig"));
            Path config = Files.writeString(dir.resolve("scheduler.yaml"), """
                    apiVersion: kubescheduler.config.k8s.io/v1
                    kind: KubeSchedulerConfiguration
                    clientConnection:
                      kubeconfig: %s
                    leaderElection:
                      leaderElect: false
                    """.formatted(kubeconfig));
            Path log = dir.resolve("kube-scheduler.log");
            Process p = new ProcessBuilder(List.of(ControlPlane.binDir().resolve("kube-scheduler").toString(),
                    "--config", config.toString(), "--secure-port", "0", "-v", "4"))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            Runtime.getRuntime().addShutdownHook(new Thread(p::destroyForcibly));
            return new SchedulerProcess(p, log);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start kube-scheduler", e);
        }
    }

    public boolean alive() {
        return process.isAlive();
    }

    /** The scheduler's log lines about one pod, for a failure message. */
    public String about(String podName) {
        try {
            List<String> lines = Files.readAllLines(log).stream().filter(l -> l.contains(podName)).toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
        } catch (IOException e) {
            return "(no scheduler log)";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
