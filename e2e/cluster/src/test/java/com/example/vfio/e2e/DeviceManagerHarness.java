package com.example.vfio.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The kubelet's own device manager, topology manager and PodResources server (Kubernetes v1.37.2), run by
 * e2e/k8s/cmd/devicemanager-harness in a private mount namespace ({@code unshare -m --propagation private}),
 * driven over JSON lines. Its {@code state} directory holds {@code device-plugins/} (kubelet.sock, the plugin's
 * socket, the checkpoint) and {@code pod-resources/kubelet.sock}: the plugin under test uses those paths.
 * {@link #restart()} is a kubelet restart: the process is killed and started again on the same directory.
 */
final class DeviceManagerHarness implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final long CALL_TIMEOUT_SECONDS = 60;

    private final Path state;
    private final Path log;
    private final List<String> flags;
    private Process process;
    private BufferedWriter in;
    private BlockingQueue<String> lines;
    private JsonNode ready;
    private int ids;

    private DeviceManagerHarness(Path state, Path log, List<String> flags) {
        this.state = state;
        this.log = log;
        this.flags = List.copyOf(flags);
    }

    /** The harness binary e2e/k8s/build made next to the Kubernetes binaries. */
    static Path binary() {
        Path harness = ControlPlane.binDir().resolveSibling("harness-bin").resolve("devicemanager-harness");
        if (!Files.isExecutable(harness)) {
            throw new IllegalStateException(harness + " does not exist: run e2e/k8s/build");
        }
        return harness;
    }

    /**
     * Starts the kubelet code on {@code state} (created if needed; its socket paths must stay short), logging to
     * {@code log}, with kubelet flags such as --topology-manager-policy.
     */
    static DeviceManagerHarness start(Path state, Path log, String... flags) {
        DeviceManagerHarness h = new DeviceManagerHarness(state, log, List.of(flags));
        h.launch();
        return h;
    }

    Path pluginDir() {
        return state.resolve("device-plugins");
    }

    Path podResourcesSocket() {
        return state.resolve("pod-resources/kubelet.sock");
    }

    Path log() {
        return log;
    }

    /** The harness's first line: {@code checkpoint} ("present"/"absent") and the pods admitted again after a restart. */
    JsonNode ready() {
        return ready;
    }

    private void launch() {
        List<String> command = new ArrayList<>(List.of("unshare", "-m", "--propagation", "private",
                binary().toString(), "--state", state.toString(), "-v=4"));
        command.addAll(flags);
        try {
            Files.createDirectories(state);
            process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the device manager harness", e);
        }
        in = new BufferedWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8));
        BlockingQueue<String> queue = new LinkedBlockingQueue<>();
        lines = queue;
        Process p = process;
        Thread reader = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = out.readLine()) != null; ) {
                    queue.add(line);
                }
            } catch (IOException ignored) {
                // the process went away
            }
        }, "harness-stdout");
        reader.setDaemon(true);
        reader.start();
        ready = next("the ready line");
        if (!"ready".equals(ready.path("event").asText())) {
            throw new IllegalStateException("the harness did not start: " + ready);
        }
    }

    private JsonNode next(String what) {
        try {
            String line = lines.poll(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (line == null) {
                throw new IllegalStateException("the device manager harness sent no " + what + " within "
                        + CALL_TIMEOUT_SECONDS + " s (alive: " + process.isAlive() + "; log " + log + ")");
            }
            return JSON.readTree(line);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One request; throws when the harness answers ok=false. */
    synchronized JsonNode call(Map<String, Object> request) {
        Map<String, Object> req = new LinkedHashMap<>(request);
        req.put("id", ++ids);
        try {
            in.write(JSON.writeValueAsString(req));
            in.newLine();
            in.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("the device manager harness is gone (log " + log + ")", e);
        }
        JsonNode resp = next("answer to " + req.get("op"));
        if (!resp.path("ok").asBoolean()) {
            throw new IllegalStateException("harness " + req.get("op") + ": " + resp.path("error").asText());
        }
        return resp;
    }

    /** Admits the pods in order, as one batch of pod additions: their admission results. */
    List<Admission> admit(Pod... pods) {
        List<Map<String, Object>> specs = new ArrayList<>();
        for (Pod p : pods) {
            specs.add(p.toJson());
        }
        List<Admission> out = new ArrayList<>();
        call(Map.of("op", "admit", "pods", specs)).path("results").forEach(r -> out.add(new Admission(r)));
        return out;
    }

    Admission admit(Pod pod) {
        return admit(new Pod[] {pod}).get(0);
    }

    void delete(String pod) {
        call(Map.of("op", "delete", "pod", pod));
    }

    /** GetCapacity as the node status reports it, with the healthy devices and their NUMA nodes. */
    Capacity capacity() {
        return new Capacity(call(Map.of("op", "capacity")));
    }

    /** PodResources List over the socket: pod name to device IDs per resource (all containers). */
    Map<String, Map<String, List<String>>> podResources() {
        Map<String, Map<String, List<String>>> pods = new TreeMap<>();
        for (JsonNode p : call(Map.of("op", "podresources", "method", "List")).path("podResources")) {
            Map<String, TreeSet<String>> byResource = new TreeMap<>();
            for (JsonNode c : p.path("containers")) {
                for (JsonNode d : c.path("devices")) {
                    d.path("deviceIds").forEach(id -> byResource.computeIfAbsent(d.path("resourceName").asText(),
                            k -> new TreeSet<>()).add(id.asText()));
                }
            }
            Map<String, List<String>> devices = new TreeMap<>();
            byResource.forEach((k, v) -> devices.put(k, List.copyOf(v)));
            pods.put(p.path("name").asText(), devices);
        }
        return pods;
    }

    JsonNode podResourcesRaw(String method) {
        return call(Map.of("op", "podresources", "method", method));
    }

    /** A kubelet restart: killed (it never cleans up), then started again on the same state directory. */
    JsonNode restart() {
        kill();
        launch();
        return ready;
    }

    /** The kubelet dies: its sockets stay behind as files nobody answers on. */
    void kill() {
        if (process != null) {
            process.destroyForcibly();
            try {
                process.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            process = null;
        }
    }

    @Override
    public void close() {
        kill();
    }

    /** A pod for the node: containers with extended-resource limits. */
    record Pod(String name, List<Container> initContainers, List<Container> containers) {
        static Pod of(String name, String resource, int count) {
            return new Pod(name, List.of(), List.of(new Container("main", Map.of(resource, count), null)));
        }

        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", name);
            m.put("initContainers", initContainers.stream().map(Container::toJson).toList());
            m.put("containers", containers.stream().map(Container::toJson).toList());
            return m;
        }
    }

    record Container(String name, Map<String, Integer> limits, String restartPolicy) {
        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", name);
            m.put("limits", limits);
            if (restartPolicy != null) {
                m.put("restartPolicy", restartPolicy);
            }
            return m;
        }
    }

    /** One pod's admission as the kubelet decided it. */
    static final class Admission {
        final JsonNode json;

        Admission(JsonNode json) {
            this.json = json;
        }

        boolean admitted() {
            return json.path("admitted").asBoolean();
        }

        String reason() {
            return json.path("reason").asText();
        }

        /** The pod status message the kubelet writes on rejection ("Pod was rejected: ..."). */
        String statusMessage() {
            return json.path("status").path("message").asText();
        }

        /** Device IDs of the resource the device manager recorded for the container, sorted. */
        List<String> devices(String container, String resource) {
            List<String> ids = new ArrayList<>();
            json.path("devices").path(container).path(resource).forEach(n -> ids.add(n.asText()));
            return ids;
        }

        /** What the container runtime receives for the container (CRI devices, mounts, envs, CDI devices). */
        JsonNode runtime(String container) {
            return json.path("runtime").path(container);
        }

        /** The Topology Manager's NUMA affinity for the container (empty: none). */
        List<Integer> numaAffinity(String container) {
            List<Integer> nodes = new ArrayList<>();
            json.path("affinity").path(container).path("numaNodes").forEach(n -> nodes.add(n.asInt()));
            return nodes;
        }

        /** The device manager's healthy devices of the resource just before this pod's admission. */
        List<String> healthyBefore(String resource) {
            List<String> ids = new ArrayList<>();
            json.path("before").path(resource).fieldNames().forEachRemaining(ids::add);
            return ids.stream().sorted().toList();
        }

        @Override
        public String toString() {
            return json.toString();
        }
    }

    /** GetCapacity's answer and GetAllocatableDevices. */
    static final class Capacity {
        final JsonNode json;

        Capacity(JsonNode json) {
            this.json = json;
        }

        long capacity(String resource) {
            return json.path("capacity").path(resource).asLong(0);
        }

        long allocatable(String resource) {
            return json.path("allocatable").path(resource).asLong(0);
        }

        boolean known(String resource) {
            return json.path("capacity").has(resource);
        }

        /** Healthy device IDs to their NUMA nodes (sorted by ID). */
        Map<String, List<Integer>> healthy(String resource) {
            Map<String, List<Integer>> out = new TreeMap<>();
            json.path("healthy").path(resource).fields().forEachRemaining(e -> {
                List<Integer> numa = new ArrayList<>();
                e.getValue().forEach(n -> numa.add(n.asInt()));
                out.put(e.getKey(), numa);
            });
            return out;
        }

        @Override
        public String toString() {
            return json.toString();
        }
    }
}
