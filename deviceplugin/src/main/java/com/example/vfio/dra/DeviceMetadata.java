package com.example.vfio.dra;

import com.example.vfio.plugin.AtomicFiles;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The KEP-5304 device metadata of a prepared claim, the way k8s.io/dynamic-resource-allocation/kubeletplugin writes
 * it: per request, a file holding a JSON stream of {@code DeviceMetadata} objects, {@code metadata.resource.k8s.io/v1beta1}
 * first (what Kubernetes 1.37 asks drivers for), then {@code v1alpha1} (the only one KubeVirt decodes), under
 * {@code <plugins>/vfio.example.com/dra-device-metadata/<namespace>_<claim>/<request>/metadata.json}; the container
 * sees it read-only at {@code /var/run/kubernetes.io/dra-device-attributes/resourceclaims/<claim>/<request>/vfio.example.com-metadata.json}
 * ({@code resourceclaimtemplates/<podClaimName>/...} for a claim made from a template).
 */
public final class DeviceMetadata {
    static final List<String> VERSIONS = List.of("metadata.resource.k8s.io/v1beta1", "metadata.resource.k8s.io/v1alpha1");
    static final String CONTAINER_DIR = "/var/run/kubernetes.io/dra-device-attributes";
    /** kubeletplugin's name for the annotation the resourceclaim controller puts on claims made from a template. */
    static final String POD_CLAIM_NAME_ANNOTATION = "resource.kubernetes.io/pod-claim-name";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One device of a request: its name in the pool and the attributes the container may read. */
    public record Entry(String device, Map<String, Object> attributes) {
    }

    private final Path root;
    private final String pool;

    /** @param driverDir {@code <plugins>/vfio.example.com} */
    public DeviceMetadata(Path driverDir, String pool) {
        this.root = driverDir.resolve("dra-device-metadata");
        this.pool = pool;
    }

    /** The directory of one claim's files. */
    public Path claimDir(String namespace, String claim) {
        return root.resolve(namespace + "_" + claim);
    }

    public Path file(String namespace, String claim, String baseRequest) {
        return claimDir(namespace, claim).resolve(baseRequest).resolve("metadata.json");
    }

    /** Where the container sees the file of a request. */
    public static String containerPath(String claim, String podClaimName, String baseRequest) {
        return podClaimName != null && !podClaimName.isEmpty()
                ? CONTAINER_DIR + "/resourceclaimtemplates/" + podClaimName + "/" + baseRequest + "/" + DraNames.DRIVER
                        + "-metadata.json"
                : CONTAINER_DIR + "/resourceclaims/" + claim + "/" + baseRequest + "/" + DraNames.DRIVER + "-metadata.json";
    }

    /**
     * Writes the file of one request (atomically) and returns its path.
     *
     * @param request the request as the allocation names it (a prioritized list's {@code <req>/<sub>} stays so)
     */
    public Path write(String namespace, String claim, String uid, String podClaimName, String request,
                      List<Entry> devices) throws IOException {
        String baseRequest = request.contains("/") ? request.substring(0, request.indexOf('/')) : request;
        Path file = file(namespace, claim, baseRequest);
        StringBuilder stream = new StringBuilder();
        for (String version : VERSIONS) {
            stream.append(JSON.writeValueAsString(object(version, namespace, claim, uid, podClaimName, request, devices)))
                    .append('\n');
        }
        AtomicFiles.writeString(file, stream.toString());
        return file;
    }

    private ObjectNode object(String version, String namespace, String claim, String uid, String podClaimName,
                              String request, List<Entry> devices) {
        ObjectNode o = JSON.createObjectNode();
        o.put("kind", "DeviceMetadata");
        o.put("apiVersion", version);
        ObjectNode meta = o.putObject("metadata");
        meta.put("name", claim);
        meta.put("namespace", namespace);
        meta.put("uid", uid);
        meta.put("generation", 1);
        if (podClaimName != null && !podClaimName.isEmpty()) {
            o.put("podClaimName", podClaimName);
        }
        ObjectNode r = o.putArray("requests").addObject();
        r.put("name", request);
        ArrayNode list = r.putArray("devices");
        for (Entry e : devices) {
            ObjectNode d = list.addObject();
            d.put("driver", DraNames.DRIVER);
            d.put("pool", pool);
            d.put("name", e.device());
            ObjectNode attributes = d.putObject("attributes");
            e.attributes().forEach((name, value) -> {
                ObjectNode v = attributes.putObject(name);
                if (value instanceof String s) {
                    v.put("string", s);
                } else if (value instanceof Long l) {
                    v.put("int", l);
                } else {
                    v.put("bool", (Boolean) value);
                }
            });
        }
        return o;
    }

    /** Removes a claim's files (a claim never prepared here: nothing). */
    public void remove(Path claimDir) throws IOException {
        if (!claimDir.startsWith(root) || !Files.exists(claimDir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(claimDir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** The claim directories on disk, for cleaning up those no prepared claim names. */
    public List<Path> claimDirs() throws IOException {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(root)) {
            return list.filter(Files::isDirectory).sorted().toList();
        }
    }
}
