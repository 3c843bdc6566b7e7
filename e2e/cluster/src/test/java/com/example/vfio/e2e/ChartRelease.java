package com.example.vfio.e2e;

import com.example.vfio.chart.ChartUnderTest;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The chart rendered with real Helm (helm-java) for one release, and what the suites take from it to run our
 * processes the way the chart does: each component's ServiceAccount and RBAC (applied to the server as they are),
 * its JVM options and its environment. Nothing of the chart's RBAC is copied into the tests.
 */
final class ChartRelease {
    static final String OPERATOR = "operator";
    static final String NODE = "node";
    private static final Set<String> RBAC_KINDS = Set.of("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding");

    private final String release;
    private final String namespace;
    private final List<HasMetadata> objects;

    private ChartRelease(String release, String namespace, List<HasMetadata> objects) {
        this.release = release;
        this.namespace = namespace;
        this.objects = List.copyOf(objects);
    }

    /** {@code helm template RELEASE charts/vfio-passthrough -n NAMESPACE --set k=v ...} */
    static ChartRelease render(String release, String namespace, Map<String, String> sets) {
        ChartUnderTest.Render render = ChartUnderTest.render().release(release).namespace(namespace);
        sets.forEach(render::set);
        return new ChartRelease(release, namespace, render.objects().all());
    }

    String namespace() {
        return namespace;
    }

    String release() {
        return release;
    }

    /** The component's ServiceAccount and RBAC objects as rendered (label app.kubernetes.io/component). */
    List<HasMetadata> rbac(String component) {
        return objects.stream().filter(o -> RBAC_KINDS.contains(o.getKind()))
                .filter(o -> component.equals(o.getMetadata().getLabels().get("app.kubernetes.io/component"))).toList();
    }

    /** Creates the release namespace and applies every component's ServiceAccount and RBAC (server-side apply, idempotent). */
    ChartRelease installRbac(KubernetesClient admin) {
        admin.resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build())
                .fieldManager("helm").forceConflicts().serverSideApply();
        for (String component : List.of(OPERATOR, NODE)) {
            for (HasMetadata object : rbac(component)) {
                admin.resource(object).fieldManager("helm").forceConflicts().serverSideApply();
            }
        }
        return this;
    }

    /** Deletes what {@link #installRbac} created (the namespace takes its ServiceAccounts, Roles, Pods and Lease). */
    void uninstall(KubernetesClient admin) {
        for (String component : List.of(OPERATOR, NODE)) {
            for (HasMetadata object : rbac(component)) {
                if (object.getMetadata().getNamespace() == null) {
                    admin.resource(object).delete();
                }
            }
        }
        admin.namespaces().withName(namespace).delete();
    }

    String serviceAccount(String component) {
        return rbac(component).stream().filter(o -> o instanceof ServiceAccount).findFirst()
                .orElseThrow(() -> new IllegalStateException("the chart renders no ServiceAccount for the " + component))
                .getMetadata().getName();
    }

    /** The pod template of the operator's Deployment or the node agent's DaemonSet. */
    PodSpec podSpec(String component) {
        for (HasMetadata o : objects) {
            if (component.equals(OPERATOR) && o instanceof Deployment d) {
                return d.getSpec().getTemplate().getSpec();
            }
            if (component.equals(NODE) && o instanceof DaemonSet d) {
                return d.getSpec().getTemplate().getSpec();
            }
        }
        throw new IllegalStateException("the chart renders no workload for the " + component);
    }

    Container container(String component) {
        return podSpec(component).getContainers().get(0);
    }

    /** The chart's JVM options for the component: its container's arguments before {@code -jar}. */
    List<String> jvmOptions(String component) {
        List<String> args = container(component).getArgs();
        int jar = args.indexOf("-jar");
        if (jar < 0) {
            throw new IllegalStateException("the " + component + " container runs no -jar: " + args);
        }
        return List.copyOf(args.subList(0, jar));
    }

    /**
     * The component's environment as the kubelet would resolve it for the pod {@code podName} on {@code nodeName}: plain
     * values, and the downward-API fields the chart uses (metadata.namespace, metadata.name, spec.nodeName).
     */
    Map<String, String> env(String component, String podName, String nodeName) {
        Map<String, String> env = new LinkedHashMap<>();
        List<EnvVar> vars = container(component).getEnv() == null ? List.of() : container(component).getEnv();
        for (EnvVar v : vars) {
            if (v.getValue() != null) {
                env.put(v.getName(), v.getValue());
                continue;
            }
            String field = v.getValueFrom() == null || v.getValueFrom().getFieldRef() == null ? null : v.getValueFrom().getFieldRef().getFieldPath();
            String value = switch (field == null ? "" : field) {
                case "metadata.namespace" -> namespace;
                case "metadata.name" -> podName;
                case "spec.nodeName" -> nodeName;
                default -> throw new IllegalStateException("the chart sets " + v.getName() + " from " + v.getValueFrom() + ", which the suite cannot resolve");
            };
            if (value != null) {
                env.put(v.getName(), value);
            }
        }
        return env;
    }
}
