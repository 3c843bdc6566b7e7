package com.example.vfio.e2e;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * How KubeVirt's virt-launcher finds a DRA GPU's PCI address (shared/design/KUBEVIRT.md, from KubeVirt's source): in
 * the container, the request's directory under /var/run/kubernetes.io/dra-device-attributes must hold exactly one
 * {@code *-metadata.json}; that file is a JSON stream of which only {@code metadata.resource.k8s.io/v1alpha1} objects
 * are read; the request must have exactly one device; its {@code resource.kubernetes.io/pciBusID} must be a full PCI
 * address; a device with an {@code mdevUUID} attribute would be taken for a vGPU. Each failure is KubeVirt's message.
 */
final class KubeVirtMetadataRules {
    static final String DIR = "/var/run/kubernetes.io/dra-device-attributes";
    private static final Pattern PCI = Pattern.compile("^([\\da-fA-F]{4}):([\\da-fA-F]{2}):([\\da-fA-F]{2})\\.([0-7]{1})$");
    private static final ObjectMapper JSON = new ObjectMapper();

    private KubeVirtMetadataRules() {
    }

    /**
     * The PCI address KubeVirt would hand the VM for a request of a claim the pod names directly.
     *
     * @param mounts the container's mounts: container path → the file it shows (as this test sees it)
     */
    static String pciAddress(Map<String, Path> mounts, String claimName, String requestName) throws IOException {
        String requestDir = DIR + "/resourceclaims/" + claimName + "/" + requestName + "/";
        List<String> files = mounts.keySet().stream().filter(p -> p.startsWith(requestDir))
                .filter(p -> !p.substring(requestDir.length()).contains("/") && p.endsWith("-metadata.json")).toList();
        if (files.isEmpty()) {
            throw new AssertionError("no files matching " + requestDir + "*-metadata.json");
        }
        if (files.size() != 1) {
            throw new AssertionError("found " + files.size() + " metadata files " + files
                    + ": KubeVirt needs exactly one driver per request");
        }
        Path file = mounts.get(files.get(0));
        List<JsonNode> v1alpha1 = new ArrayList<>();
        try (JsonParser parser = JSON.getFactory().createParser(Files.readAllBytes(file));
             MappingIterator<JsonNode> stream = JSON.readValues(parser, JsonNode.class)) {
            while (stream.hasNext()) {
                JsonNode o = stream.next();
                if ("metadata.resource.k8s.io/v1alpha1".equals(o.path("apiVersion").asText())
                        && "DeviceMetadata".equals(o.path("kind").asText())) {
                    v1alpha1.add(o);
                }
            }
        }
        for (JsonNode o : v1alpha1) {
            for (JsonNode request : o.path("requests")) {
                if (!requestName.equals(request.path("name").asText())) {
                    continue;
                }
                JsonNode devices = request.path("devices");
                if (devices.size() != 1) {
                    throw new AssertionError("request \"" + requestName + "\" has " + devices.size()
                            + " devices but KubeVirt only supports exactly one device per request");
                }
                JsonNode attributes = devices.get(0).path("attributes");
                if (attributes.has("mdevUUID") || attributes.has("resource.kubernetes.io/mdevUUID")) {
                    throw new AssertionError("the device carries an mdevUUID: KubeVirt would take it for a vGPU");
                }
                String address = attributes.path("resource.kubernetes.io/pciBusID").path("string").asText(null);
                if (address == null) {
                    throw new AssertionError("pciBusID not found for claim \"" + claimName + "\" request \"" + requestName + "\"");
                }
                if (!PCI.matcher(address).matches()) {
                    throw new AssertionError("failed to parse pci address " + address);
                }
                return address;
            }
        }
        throw new AssertionError("pciBusID not found for claim \"" + claimName + "\" request \"" + requestName
                + "\" (no v1alpha1 DeviceMetadata names the request)");
    }
}
