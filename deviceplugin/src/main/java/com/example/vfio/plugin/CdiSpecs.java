package com.example.vfio.plugin;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * CDI spec files in one directory (e.g. {@code /var/run/cdi}), so CDI-aware runtimes can resolve the CDI names the
 * daemon hands out: one file per device plugin resource ({@code vfio.example.com-<name>.json}), and the files the DRA
 * driver writes per prepared claim. Files are replaced atomically and only when their content changes.
 */
public final class CdiSpecs {

    private static final Logger LOG = LoggerFactory.getLogger(CdiSpecs.class);
    static final String CDI_VERSION = "0.6.0";

    /** A bind mount into the container ({@code options} such as {@code ro}, {@code bind}). */
    public record Mount(String hostPath, String containerPath, List<String> options) {
        public Mount {
            Objects.requireNonNull(hostPath, "hostPath");
            Objects.requireNonNull(containerPath, "containerPath");
            options = List.copyOf(options);
        }
    }

    /**
     * What a CDI device (or the whole spec) adds to a container.
     *
     * @param deviceNodes host path = container path
     * @param permissions the cgroup permissions of the device nodes ({@code rwm}); null: the runtime's default
     * @param env         variables, in order
     */
    public record Edits(List<String> deviceNodes, String permissions, Map<String, String> env, List<Mount> mounts) {
        public Edits {
            deviceNodes = List.copyOf(deviceNodes);
            env = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(env));
            mounts = List.copyOf(mounts);
        }

        public static Edits nodes(List<String> deviceNodes) {
            return new Edits(deviceNodes, null, Map.of(), List.of());
        }
    }

    /** One device of a spec: its name (what follows {@code kind=} in a CDI name) and its edits. */
    public record Device(String name, Edits edits) {
        public Device {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(edits, "edits");
        }
    }

    private final Path dir;
    private final Map<String, String> written = new ConcurrentHashMap<>();

    public CdiSpecs(Path dir) {
        this.dir = dir;
    }

    public Path dir() {
        return dir;
    }

    public Path file(String resourceShortName) {
        return dir.resolve(fileName(resourceShortName));
    }

    private static String fileName(String resourceShortName) {
        return PublishedResource.DOMAIN + "-" + PublishedResource.requireValidName(resourceShortName) + ".json";
    }

    /** The spec of a device plugin resource: one CDI device per unit. */
    public void write(PublishedResource r) {
        try {
            writeFile(fileName(r.name()), render(r));
        } catch (IOException e) {
            LOG.warn("cannot write CDI spec {}: {}", file(r.name()), e.getMessage());
        }
    }

    public void remove(String resourceShortName) {
        try {
            removeFile(fileName(resourceShortName));
        } catch (IOException e) {
            LOG.warn("cannot remove CDI spec {}: {}", file(resourceShortName), e.getMessage());
        }
    }

    /**
     * Writes {@code <dir>/<fileName>} atomically unless it already holds {@code json} (as this instance wrote it).
     *
     * @param fileName a plain file name, never a path
     */
    public void writeFile(String fileName, String json) throws IOException {
        Path target = checked(fileName);
        if (json.equals(written.get(fileName)) && Files.exists(target)) {
            return;
        }
        AtomicFiles.writeString(target, json);
        written.put(fileName, json);
    }

    public void removeFile(String fileName) throws IOException {
        written.remove(fileName);
        Files.deleteIfExists(checked(fileName));
    }

    private Path checked(String fileName) {
        if (fileName.isEmpty() || fileName.contains("/") || fileName.startsWith(".")) {
            throw new IllegalArgumentException("not a CDI spec file name: '" + fileName + "'");
        }
        return dir.resolve(fileName);
    }

    static String render(PublishedResource r) {
        List<Device> devices = new ArrayList<>();
        for (PublishedDevice d : r.devices()) {
            List<String> nodes = new ArrayList<>();
            nodes.add("/dev/vfio/" + d.iommuGroup());
            if (r.hostNodes().iommufd()) {
                d.cdevs().forEach(c -> nodes.add("/dev/vfio/devices/" + c));
            }
            devices.add(new Device(ContainerAllocation.cdiDeviceName(d.id()), Edits.nodes(nodes)));
        }
        List<String> common = new ArrayList<>(List.of("/dev/vfio/vfio"));
        if (r.hostNodes().iommufd()) {
            common.add("/dev/iommu");
        }
        return render(r.resourceName(), devices, Edits.nodes(common));
    }

    /**
     * A CDI spec: {@code kind} ({@code vendor/class}), its devices, and the edits every one of them brings along.
     *
     * @param common null: none
     */
    public static String render(String kind, List<Device> devices, Edits common) {
        StringBuilder out = new StringBuilder();
        out.append("{\n  \"cdiVersion\": \"").append(CDI_VERSION).append("\",\n");
        out.append("  \"kind\": ").append(quote(kind)).append(",\n");
        out.append("  \"devices\": [");
        String sep = "\n";
        for (Device d : devices) {
            out.append(sep).append("    {\"name\": ").append(quote(d.name()))
                    .append(", \"containerEdits\": ").append(edits(d.edits())).append('}');
            sep = ",\n";
        }
        out.append("\n  ]");
        if (common != null) {
            out.append(",\n  \"containerEdits\": ").append(edits(common));
        }
        return out.append("\n}\n").toString();
    }

    private static String edits(Edits e) {
        List<String> parts = new ArrayList<>();
        if (!e.deviceNodes().isEmpty()) {
            StringBuilder b = new StringBuilder("\"deviceNodes\": [");
            for (int i = 0; i < e.deviceNodes().size(); i++) {
                b.append(i == 0 ? "" : ", ").append("{\"path\": ").append(quote(e.deviceNodes().get(i)));
                if (e.permissions() != null) {
                    b.append(", \"permissions\": ").append(quote(e.permissions()));
                }
                b.append('}');
            }
            parts.add(b.append(']').toString());
        }
        if (!e.env().isEmpty()) {
            List<String> env = e.env().entrySet().stream().map(v -> quote(v.getKey() + "=" + v.getValue())).toList();
            parts.add("\"env\": [" + String.join(", ", env) + "]");
        }
        if (!e.mounts().isEmpty()) {
            List<String> mounts = e.mounts().stream().map(m -> "{\"hostPath\": " + quote(m.hostPath())
                    + ", \"containerPath\": " + quote(m.containerPath()) + ", \"options\": ["
                    + String.join(", ", m.options().stream().map(CdiSpecs::quote).toList()) + "]}").toList();
            parts.add("\"mounts\": [" + String.join(", ", mounts) + "]");
        }
        return "{" + String.join(", ", parts) + "}";
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
