package com.example.vfio.e2e;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * JUnit extension that hands a test the one control plane of this JVM ({@code ControlPlane} parameter): started on
 * first use, shared by every class of the suite, closed when the suite ends. Tests keep out of each other's way by
 * the names they create (their own nodes, policies, namespaces). The fault suite starts a private one instead.
 */
public final class RealCluster implements ParameterResolver {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(RealCluster.class);

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return parameter.getParameter().getType() == ControlPlane.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        return context.getRoot().getStore(NAMESPACE)
                .getOrComputeIfAbsent(Shared.class, k -> new Shared(startShared()), Shared.class).plane();
    }

    private static ControlPlane startShared() {
        try {
            Path dir = workDir("shared-control-plane");
            ControlPlane plane = ControlPlane.start(dir, List.of());
            System.out.println("control plane: " + plane.versions() + " at " + plane.serverUrl() + " (logs in " + dir + ")");
            return plane;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A fresh directory for one test's files under the suite's work dir (target/e2e): removed first if a run left it. */
    public static Path workDir(String name) throws IOException {
        Path dir = Path.of(System.getProperty("vfio.e2e.dir", System.getProperty("java.io.tmpdir") + "/vfio-e2e")).resolve(name);
        if (Files.exists(dir)) {
            try (var paths = Files.walk(dir)) {
                for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        return Files.createDirectories(dir);
    }

    private record Shared(ControlPlane plane) implements ExtensionContext.Store.CloseableResource {
        @Override
        public void close() {
            plane.close();
        }
    }
}
