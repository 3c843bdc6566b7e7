package com.example.vfio.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * KubeVirt v1.9.0's own code on a virt-launcher container's environment (e2e/kubevirt/cmd/kubevirt-hostdevices):
 * the units virt-controller requests for a VMI's gpus[] and hostDevices[], and the libvirt {@code <hostdev>}
 * entries virt-launcher makes from {@code PCI_RESOURCE_*} (gpu.CreateHostDevices, generic.CreateHostDevices).
 */
final class KubeVirtLauncher {
    private KubeVirtLauncher() {
    }

    static Path binary() {
        Path bin = ControlPlane.binDir().resolveSibling("harness-bin").resolve("kubevirt-hostdevices");
        if (!Files.isExecutable(bin)) {
            throw new IllegalStateException(bin + " does not exist: run e2e/k8s/build");
        }
        return bin;
    }

    /** A VMI's device lists: entry name to deviceName, in order. */
    record Vmi(List<Map.Entry<String, String>> gpus, List<Map.Entry<String, String>> hostDevices) {
        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("gpus", entries(gpus));
            m.put("hostDevices", entries(hostDevices));
            return m;
        }

        private static List<Map<String, String>> entries(List<Map.Entry<String, String>> list) {
            return list.stream().map(e -> Map.of("name", e.getKey(), "deviceName", e.getValue())).toList();
        }
    }

    /** One host device as virt-launcher made it. */
    record HostDev(String alias, String address, String type, String managed, String mode, String xml) {
    }

    /** What KubeVirt made of one list (or its error). */
    record Made(List<HostDev> devices, String error) {
    }

    record Result(Map<String, Long> requests, Made gpus, Made hostDevices) {
    }

    /** Runs the VMI against the container environment {@code env}. */
    static Result run(Vmi vmi, Map<String, String> env) {
        Map<String, Object> req = new LinkedHashMap<>(vmi.toJson());
        req.put("env", env);
        try {
            Process p = new ProcessBuilder(binary().toString()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            p.getOutputStream().write((DeviceManagerHarness.JSON.writeValueAsString(req) + "\n").getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException("kubevirt-hostdevices failed: " + out);
            }
            JsonNode a = DeviceManagerHarness.JSON.readTree(out);
            if (a.hasNonNull("error")) {
                throw new IllegalStateException("kubevirt-hostdevices: " + a.path("error").asText());
            }
            Map<String, Long> requests = new LinkedHashMap<>();
            a.path("requests").fields().forEachRemaining(e -> requests.put(e.getKey(), e.getValue().asLong()));
            return new Result(requests, made(a.path("gpus")), made(a.path("hostDevices")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static Made made(JsonNode n) {
        List<HostDev> devices = new ArrayList<>();
        n.path("devices").forEach(d -> devices.add(new HostDev(d.path("alias").asText(), d.path("address").asText(),
                d.path("type").asText(), d.path("managed").asText(), d.path("mode").asText(), d.path("xml").asText())));
        return new Made(devices, n.path("error").asText(""));
    }
}
