package com.example.vfio.e2e;

import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** The project's checked-in CRDs (crds/*.yml), as the suites install them. */
public final class Crds {
    public static final List<String> NAMES = List.of("vfiobindingpolicies.vfio.example.com", "vfionodestates.vfio.example.com");

    private Crds() {
    }

    /** The repository's root (system property {@code vfio.repo}). */
    public static Path repo() {
        return Path.of(System.getProperty("vfio.repo", "../..")).toAbsolutePath().normalize();
    }

    public static List<Path> files() {
        try (Stream<Path> s = Files.list(repo().resolve("crds"))) {
            return s.filter(p -> p.toString().endsWith(".yml")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Applies both CRDs (server-side apply, idempotent) and waits until the server serves them. */
    public static void install(KubernetesClient client) {
        for (Path file : files()) {
            CustomResourceDefinition crd = Serialization.unmarshal(read(file), CustomResourceDefinition.class);
            client.resource(crd).fieldManager("vfio-e2e").forceConflicts().serverSideApply();
        }
        for (String name : NAMES) {
            client.apiextensions().v1().customResourceDefinitions().withName(name)
                    .waitUntilCondition(Crds::established, 60, TimeUnit.SECONDS);
        }
    }

    /**
     * A CRD the server has just created has a status (its stored versions) but no conditions yet: those come
     * from its controllers a moment later.
     */
    static boolean established(CustomResourceDefinition crd) {
        return crd != null && crd.getStatus() != null && crd.getStatus().getConditions() != null
                && crd.getStatus().getConditions().stream()
                        .anyMatch(c -> c.getType().equals("Established") && c.getStatus().equals("True"));
    }

    static long celRuleCount() {
        Pattern rule = Pattern.compile("^\\s+rule: ", Pattern.MULTILINE);
        return files().stream().mapToLong(f -> rule.matcher(read(f)).results().count()).sum();
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
