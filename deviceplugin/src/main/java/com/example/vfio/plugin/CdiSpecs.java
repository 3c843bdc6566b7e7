package com.example.vfio.plugin;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes one CDI spec file per resource ({@code <dir>/vfio.example.com-<name>.json}) so CDI-aware runtimes
 * can resolve the names Allocate returns in {@code cdi_devices}. Files are replaced atomically and only
 * when their content changes.
 */
public final class CdiSpecs {

    private static final Logger LOG = LoggerFactory.getLogger(CdiSpecs.class);
    static final String CDI_VERSION = "0.6.0";

    private final Path dir;
    private final Map<String, String> written = new ConcurrentHashMap<>();

    public CdiSpecs(Path dir) {
        this.dir = dir;
    }

    public Path file(String resourceShortName) {
        return dir.resolve(PublishedResource.DOMAIN + "-" + PublishedResource.requireValidName(resourceShortName)
                + ".json");
    }

    public void write(PublishedResource r) {
        String json = render(r);
        if (json.equals(written.get(r.name()))) {
            return;
        }
        Path target = file(r.name());
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, ".vfio-", ".tmp");
            Files.writeString(tmp, json, StandardCharsets.UTF_8);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            written.put(r.name(), json);
        } catch (IOException e) {
            LOG.warn("cannot write CDI spec {}: {}", target, e.getMessage());
        }
    }

    public void remove(String resourceShortName) {
        written.remove(resourceShortName);
        try {
            Files.deleteIfExists(file(resourceShortName));
        } catch (IOException e) {
            LOG.warn("cannot remove CDI spec {}: {}", file(resourceShortName), e.getMessage());
        }
    }

    static String render(PublishedResource r) {
        StringBuilder out = new StringBuilder();
        out.append("{\n  \"cdiVersion\": \"").append(CDI_VERSION).append("\",\n");
        out.append("  \"kind\": ").append(quote(r.resourceName())).append(",\n");
        out.append("  \"devices\": [");
        String sep = "\n";
        for (PublishedDevice d : r.devices()) {
            List<String> nodes = new ArrayList<>();
            nodes.add("/dev/vfio/" + d.iommuGroup());
            if (r.hostNodes().iommufd()) {
                d.cdevs().forEach(c -> nodes.add("/dev/vfio/devices/" + c));
            }
            out.append(sep).append("    {\"name\": ").append(quote(ContainerAllocation.cdiDeviceName(d.id())))
                    .append(", \"containerEdits\": {\"deviceNodes\": ").append(nodeList(nodes)).append("}}");
            sep = ",\n";
        }
        out.append("\n  ],\n");
        List<String> common = new ArrayList<>(List.of("/dev/vfio/vfio"));
        if (r.hostNodes().iommufd()) {
            common.add("/dev/iommu");
        }
        out.append("  \"containerEdits\": {\"deviceNodes\": ").append(nodeList(common)).append("}\n}\n");
        return out.toString();
    }

    private static String nodeList(List<String> paths) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < paths.size(); i++) {
            b.append(i == 0 ? "" : ", ").append("{\"path\": ").append(quote(paths.get(i))).append('}');
        }
        return b.append(']').toString();
    }

    private static String quote(String s) {
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
