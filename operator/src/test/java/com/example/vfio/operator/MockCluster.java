package com.example.vfio.operator;

import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioNodeState;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Queue;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * The fabric8 mock API server in CRUD mode with the checked-in CRDs (crds/*.yml at the repository root) applied,
 * and the operator running against it with plain patches (the mock answers server-side apply with 415).
 */
final class MockCluster implements AutoCloseable {
    static final Path CRD_DIR = Path.of(System.getProperty("crds.dir", "../crds"));

    final KubernetesMockServer server;
    final KubernetesClient client;
    private VfioOperator operator;

    MockCluster() {
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(), expectations,
                new KubernetesMixedDispatcher(expectations), false);
        server.init();
        client = server.createClient();
        for (String file : List.of("vfiobindingpolicies.vfio.example.com-v1.yml", "vfionodestates.vfio.example.com-v1.yml")) {
            try (InputStream in = Files.newInputStream(CRD_DIR.resolve(file))) {
                CustomResourceDefinition crd = client.apiextensions().v1().customResourceDefinitions().load(in).item();
                client.resource(crd).create();
            } catch (IOException e) {
                throw new IllegalStateException("cannot read the generated CRD " + CRD_DIR.resolve(file).toAbsolutePath(), e);
            }
        }
    }

    MockCluster startOperator(OperatorSettings settings) {
        operator = new VfioOperator(client, settings, Clock.systemUTC());
        operator.start();
        return this;
    }

    MockCluster startOperator() {
        return startOperator(OperatorSettings.defaults().withServerSideApply(false).withHealthPort(-1)
                .withReleaseRecheck(java.time.Duration.ofMillis(500)));
    }

    VfioOperator operator() {
        return operator;
    }

    Node addNode(String name, Map<String, String> labels) {
        return client.resource(new NodeBuilder().withNewMetadata().withName(name).withUid(UUID.randomUUID().toString())
                .withLabels(labels).endMetadata().build()).create();
    }

    void deleteNode(String name) {
        client.nodes().withName(name).delete();
    }

    void relabel(String node, Map<String, String> labels) {
        client.nodes().withName(node).edit(n -> {
            n.getMetadata().setLabels(labels);
            return n;
        });
    }

    VfioBindingPolicy apply(VfioBindingPolicy policy) {
        return client.resource(policy).create();
    }

    void deletePolicy(String name) {
        client.resources(VfioBindingPolicy.class).withName(name).delete();
    }

    Optional<VfioNodeState> nodeState(String name) {
        return Optional.ofNullable(client.resources(VfioNodeState.class).withName(name).get());
    }

    Optional<VfioBindingPolicy> policy(String name) {
        return Optional.ofNullable(client.resources(VfioBindingPolicy.class).withName(name).get());
    }

    /** Events about the named object, oldest first. */
    List<Event> eventsAbout(String name) {
        return client.v1().events().inNamespace("default").list().getItems().stream()
                .filter(e -> name.equals(e.getInvolvedObject().getName()))
                .sorted(Comparator.comparing(Event::getMetadata, Comparator.comparing(m -> m.getName())))
                .toList();
    }

    @Override
    public void close() {
        if (operator != null) {
            operator.stop();
        }
        client.close();
        server.destroy();
    }
}
