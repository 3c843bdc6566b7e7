package com.example.vfio.e2e;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The real kubectl (built with the control plane) as the cluster admin, the way an admin applies and describes objects. */
final class Kubectl {
    private final ControlPlane plane;
    private final Path kubeconfig;

    Kubectl(ControlPlane plane, Path dir) {
        this.plane = plane;
        this.kubeconfig = plane.writeKubeconfig(dir.resolve("admin.kubeconfig"));
    }

    /** {@code kubectl ARGS} with {@code stdin}; its output, or an AssertionError with it when it exits non-zero. */
    String run(String stdin, String... args) {
        List<String> command = new ArrayList<>(List.of(plane.kubectl().toString(), "--kubeconfig", kubeconfig.toString()));
        command.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            try (OutputStream in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("kubectl " + String.join(" ", args) + " did not finish: " + out);
            }
            if (p.exitValue() != 0) {
                throw new AssertionError("kubectl " + String.join(" ", args) + " exited " + p.exitValue() + ": " + out.strip());
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** {@code kubectl apply --server-side -f -}: what an admin applying a policy file does. */
    String apply(String yaml) {
        return run(yaml, "apply", "--server-side", "-f", "-");
    }

    String describe(String kind, String name) {
        return run(null, "describe", kind, name);
    }
}
