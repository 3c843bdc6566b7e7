package com.example.vfio.e2e;

import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

/** Clients that act as the chart's service accounts (impersonated), for RBAC checks. */
final class RealClusterClients {
    private RealClusterClients() {
    }

    /** The operator's service account of a release {@code vfio} in {@code namespace} (created when missing). */
    static KubernetesClient impersonatingOperator(KubernetesClient admin, String namespace) {
        admin.resource(new ServiceAccountBuilder().withNewMetadata().withName("vfio-vfio-passthrough-operator")
                .withNamespace(namespace).endMetadata().build()).createOr(c -> c.update());
        Config config = new io.fabric8.kubernetes.client.ConfigBuilder(admin.getConfiguration()).build();
        config.setImpersonateUsername("system:serviceaccount:" + namespace + ":vfio-vfio-passthrough-operator");
        config.setImpersonateGroups("system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated");
        return new KubernetesClientBuilder().withConfig(config).build();
    }
}
