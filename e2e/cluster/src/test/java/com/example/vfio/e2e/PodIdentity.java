package com.example.vfio.e2e;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.authentication.SelfSubjectReview;
import io.fabric8.kubernetes.api.model.authentication.SelfSubjectReviewBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.authentication.UserInfo;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

import java.nio.file.Path;

/**
 * The identity a pod of one of our components has in production: the chart's ServiceAccount, and a token the
 * TokenRequest API issues bound to a Pod object of that component (created here, never run: there is no kubelet),
 * as the kubelet's projected token is. When the Pod has {@code spec.nodeName}, the token carries the node
 * ({@code authentication.kubernetes.io/node-name} in the user's extra), which is what the chart's admission policy
 * checks. The token goes into a kubeconfig the process reads through {@code KUBECONFIG}.
 */
final class PodIdentity {
    private static final long TOKEN_SECONDS = 3 * 3600;

    private final String podName;
    private final String username;
    private final Path kubeconfig;

    private PodIdentity(String podName, String username, Path kubeconfig) {
        this.podName = podName;
        this.username = username;
        this.kubeconfig = kubeconfig;
    }

    /** @param nodeName the node the pod is bound to; null for the operator's pods (any node) */
    static PodIdentity create(ControlPlane plane, ChartRelease chart, String component, String podName, String nodeName, Path dir) {
        KubernetesClient admin = plane.admin();
        String sa = chart.serviceAccount(component);
        Pod pod = admin.resource(new PodBuilder()
                .withNewMetadata().withName(podName).withNamespace(chart.namespace())
                .addToLabels("app.kubernetes.io/component", component).endMetadata()
                .withNewSpec().withServiceAccountName(sa).withNodeName(nodeName).withAutomountServiceAccountToken(false)
                .addNewContainer().withName(chart.container(component).getName()).withImage(chart.container(component).getImage()).endContainer()
                .endSpec().build()).create();
        TokenRequest issued = admin.serviceAccounts().inNamespace(chart.namespace()).withName(sa).tokenRequest(new TokenRequestBuilder()
                .withNewSpec().withExpirationSeconds(TOKEN_SECONDS)
                .withNewBoundObjectRef().withApiVersion("v1").withKind("Pod").withName(podName).withUid(pod.getMetadata().getUid()).endBoundObjectRef()
                .endSpec().build());
        String token = issued.getStatus().getToken();
        Path kubeconfig = plane.writeTokenKubeconfig(dir.resolve(podName + ".kubeconfig"), token);
        return new PodIdentity(podName, "system:serviceaccount:" + chart.namespace() + ":" + sa, kubeconfig);
    }

    String podName() {
        return podName;
    }

    /** {@code system:serviceaccount:<namespace>:<name>} */
    String username() {
        return username;
    }

    Path kubeconfig() {
        return kubeconfig;
    }

    /** A client that authenticates with the token, as the process does. */
    KubernetesClient client() {
        try {
            return new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(java.nio.file.Files.readString(kubeconfig))).build();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Who the API server says the token is (SelfSubjectReview): user, groups and the extra the token carries. */
    UserInfo whoAmI() {
        try (KubernetesClient client = client()) {
            SelfSubjectReview review = client.resource(new SelfSubjectReviewBuilder().build()).create();
            return review.getStatus().getUserInfo();
        }
    }
}
