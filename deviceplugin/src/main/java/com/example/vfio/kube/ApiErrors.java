package com.example.vfio.kube;

import io.fabric8.kubernetes.client.KubernetesClientException;

/** A failed API server call in words for a log line. */
public final class ApiErrors {
    private ApiErrors() {
    }

    /** {@code HTTP 403 <the server's message>}, or the cause of a call that never got an answer. */
    public static String describe(KubernetesClientException e) {
        if (e.getCode() > 0) {
            return "HTTP " + e.getCode() + " " + (e.getStatus() != null ? e.getStatus().getMessage() : e.getMessage());
        }
        Throwable root = e;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        return root == e ? e.getMessage() : e.getMessage() + " (" + root + ")";
    }
}
