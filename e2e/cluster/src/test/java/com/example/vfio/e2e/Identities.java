package com.example.vfio.e2e;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.util.List;
import java.util.Map;

/**
 * Who our components are to the API server, for impersonation: a service account's user name and groups, and the
 * user extra {@value #NODE_NAME_EXTRA} that a token bound to a Pod on a node carries (the chart's admission policy
 * reads it). Real tokens for our processes: {@link PodIdentity}.
 */
public final class Identities {
    public static final String NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";

    private Identities() {
    }

    public static void namespace(KubernetesClient client, String name) {
        client.resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build())
                .fieldManager("vfio-e2e").serverSideApply();
    }

    public static String user(String namespace, String serviceAccount) {
        return "system:serviceaccount:" + namespace + ":" + serviceAccount;
    }

    /** What impersonating a service account must carry so that RBAC sees what it sees for the real token. */
    public static List<String> groups(String namespace) {
        return List.of("system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated");
    }

    /** Extra of a token bound to a pod on {@code node}. */
    public static Map<String, List<String>> onNode(String node) {
        return Map.of(NODE_NAME_EXTRA, List.of(node));
    }
}
