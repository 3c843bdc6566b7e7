package com.example.vfio.e2e;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Runs a container the chart renders as a local process: its command and args (the image's paths mapped to the
 * files built here), its env (fieldRefs resolved as the kubelet would), and a kubeconfig in place of the in-cluster
 * service account mount.
 */
public final class ChartContainer {
    private ChartContainer() {
    }

    /**
     * @param fields     fieldRef paths to their values, e.g. {@code metadata.namespace}
     * @param imagePaths paths inside the image to files here, e.g. {@code /opt/vfio/operator.jar}
     * @param envOverrides what a local process must have differently (a port a pod has to itself)
     */
    public static Process launch(Container container, Map<String, String> fields, Map<String, String> imagePaths,
                                 Map<String, String> envOverrides, Path kubeconfig, Path log) {
        List<String> command = new ArrayList<>();
        for (String part : concat(container.getCommand(), container.getArgs())) {
            command.add(imagePaths.getOrDefault(part, part.equals("java") ? javaBinary() : part));
        }
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().keySet().removeIf(k -> k.startsWith("KUBERNETES_") || k.equals("KUBECONFIG"));
        for (EnvVar env : container.getEnv()) {
            pb.environment().put(env.getName(), value(env, fields));
        }
        pb.environment().putAll(envOverrides);
        pb.environment().put("KUBECONFIG", kubeconfig.toString());
        try {
            return pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
    }

    private static String value(EnvVar env, Map<String, String> fields) {
        if (env.getValueFrom() == null) {
            return env.getValue() == null ? "" : env.getValue();
        }
        if (env.getValueFrom().getFieldRef() != null) {
            String path = env.getValueFrom().getFieldRef().getFieldPath();
            String value = fields.get(path);
            if (value == null) {
                throw new IllegalArgumentException("env " + env.getName() + " reads field " + path + ", which the test did not give");
            }
            return value;
        }
        throw new IllegalArgumentException("env " + env.getName() + ": only values and fieldRefs are resolved here");
    }

    private static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a == null ? List.of() : a);
        all.addAll(b == null ? List.of() : b);
        return all;
    }

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
