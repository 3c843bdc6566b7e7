package com.example.vfio.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The requests one user made, as the apiserver's audit log ({@link ControlPlane#auditLog()}) recorded them, oldest first. */
final class AuditLog {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * One request. {@code code} is the response's (0 while a watch is still open). {@code query} is the decoded
     * query string, e.g. {@code fieldSelector=metadata.name=node-a&watch=true}.
     */
    record Request(String auditId, String verb, String apiGroup, String resource, String subresource, String namespace,
                   String name, String path, String query, int code, String userAgent) {
        /** {@code verb resource[/subresource]} */
        String what() {
            return verb + " " + resource + (subresource == null ? "" : "/" + subresource);
        }

        @Override
        public String toString() {
            return what() + (name == null ? "" : " " + name) + (query.isEmpty() ? "" : "?" + query) + " -> " + code;
        }
    }

    private AuditLog() {
    }

    /** Every request of {@code username} so far, one entry per request (its last stage). */
    static List<Request> of(ControlPlane plane, String username) {
        Path file = plane.auditLog();
        Map<String, Request> byId = new LinkedHashMap<>();
        List<String> lines;
        try {
            lines = Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (String line : lines) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode event;
            try {
                event = JSON.readTree(line);
            } catch (IOException e) {
                continue; // the line being written right now
            }
            if (!username.equals(event.path("user").path("username").asText())) {
                continue;
            }
            JsonNode ref = event.path("objectRef");
            String uri = event.path("requestURI").asText();
            int q = uri.indexOf('?');
            byId.put(event.path("auditID").asText(), new Request(event.path("auditID").asText(), event.path("verb").asText(),
                    text(ref, "apiGroup"), text(ref, "resource"), text(ref, "subresource"), text(ref, "namespace"), text(ref, "name"),
                    q < 0 ? uri : uri.substring(0, q), q < 0 ? "" : URLDecoder.decode(uri.substring(q + 1), StandardCharsets.UTF_8),
                    event.path("responseStatus").path("code").asInt(0), event.path("userAgent").asText()));
        }
        return List.copyOf(byId.values());
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() || v.asText().isEmpty() ? null : v.asText();
    }
}
