package com.example.vfio.e2e;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.util.List;
import java.util.Map;

/**
 * The identities our components have in a cluster, made the way the cluster makes them: service accounts, and
 * tokens from the TokenRequest API bound to a Pod on a node, as the kubelet asks for a DaemonSet pod's projected
 * token. Such a token carries the user extra {@value #NODE_NAME_EXTRA} that the chart's admission policy reads.
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

    /**
     * A token of {@code serviceAccount} bound to a Pod object named {@code podName} on {@code node} (created here,
     * never run: no kubelet is needed for the API server to bind a token to it).
     */
    public static String nodeBoundToken(KubernetesClient admin, String namespace, String serviceAccount, String podName, String node) {
        namespace(admin, namespace);
        if (admin.serviceAccounts().inNamespace(namespace).withName(serviceAccount).get() == null) {
            admin.resource(new ServiceAccountBuilder().withNewMetadata().withName(serviceAccount).withNamespace(namespace)
                    .endMetadata().build()).create();
        }
        Pod pod = admin.pods().inNamespace(namespace).withName(podName).get();
        if (pod == null) {
            pod = admin.resource(new PodBuilder()
                    .withNewMetadata().withName(podName).withNamespace(namespace).endMetadata()
                    .withNewSpec().withNodeName(node).withServiceAccountName(serviceAccount)
                    .addNewContainer().withName("agent").withImage("vfio-node").endContainer()
                    .endSpec().build()).create();
        }
        TokenRequest request = new TokenRequestBuilder().withNewSpec()
                .withExpirationSeconds(3600L)
                .withNewBoundObjectRef().withApiVersion("v1").withKind("Pod").withName(podName).withUid(pod.getMetadata().getUid())
                .endBoundObjectRef()
                .endSpec().build();
        TokenRequest answer = admin.serviceAccounts().inNamespace(namespace).withName(serviceAccount).tokenRequest(request);
        return answer.getStatus().getToken();
    }

    /** A token of {@code serviceAccount} bound to nothing (what an operator Deployment's pod gets, minus the node). */
    public static String token(KubernetesClient admin, String namespace, String serviceAccount) {
        namespace(admin, namespace);
        if (admin.serviceAccounts().inNamespace(namespace).withName(serviceAccount).get() == null) {
            admin.resource(new ServiceAccountBuilder().withNewMetadata().withName(serviceAccount).withNamespace(namespace)
                    .endMetadata().build()).create();
        }
        TokenRequest answer = admin.serviceAccounts().inNamespace(namespace).withName(serviceAccount)
                .tokenRequest(new TokenRequestBuilder().withNewSpec().withExpirationSeconds(3600L).endSpec().build());
        return answer.getStatus().getToken();
    }
}
