package com.example.vfio.operator;

import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioNodeState;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;

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
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * The fabric8 mock API server in CRUD mode with the checked-in CRDs (crds/*.yml at the repository root) applied,
 * and the operator running against it with plain patches (the mock answers server-side apply with 415). The client
 * uses the JDK HTTP client, as the operator's jar does. Public for the bench module's FanOutProbe (operator test-jar).
 */
public final class MockCluster implements AutoCloseable {
    /** The mock logs every request through java.util.logging; held here so the level sticks. */
    private static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

    static {
        MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
    }

    static final Path CRD_DIR = Path.of(System.getProperty("crds.dir", "../crds"));

    public final KubernetesMockServer server;
    public final KubernetesClient client;
    private final Map<String, LongAdder> responses = new ConcurrentHashMap<>();
    private VfioOperator operator;

    public MockCluster() {
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        KubernetesMixedDispatcher dispatcher = new KubernetesMixedDispatcher(expectations) {
            @Override
            public MockResponse dispatch(RecordedRequest request) {
                MockResponse response = super.dispatch(request);
                responses.computeIfAbsent(tally(request, response.code()), k -> new LongAdder()).increment();
                return response;
            }
        };
        server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(), expectations,
                dispatcher, false);
        server.init();
        // The mock has no authorizer (everything is allowed); say so to JOSDK's leader-election permission check.
        server.expect().post().withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
                .andReturn(201, new SelfSubjectRulesReviewBuilder().withNewStatus().withIncomplete(false)
                        .addNewResourceRule().withApiGroups("*").withResources("*").withVerbs("*").endResourceRule()
                        .endStatus().build())
                .always();
        client = server.createClient(new JdkHttpClientFactory());
        for (String file : List.of("vfiobindingpolicies.vfio.example.com-v1.yml", "vfionodestates.vfio.example.com-v1.yml")) {
            try (InputStream in = Files.newInputStream(CRD_DIR.resolve(file))) {
                CustomResourceDefinition crd = client.apiextensions().v1().customResourceDefinitions().load(in).item();
                client.resource(crd).create();
            } catch (IOException e) {
                throw new IllegalStateException("cannot read the generated CRD " + CRD_DIR.resolve(file).toAbsolutePath(), e);
            }
        }
    }

    /**
     * Responses the API server gave so far, counted by "METHOD resource[/subresource] code" (WATCH for a watch
     * request), e.g. {@code PATCH vfionodestates/status 200}.
     */
    public Map<String, Long> responses() {
        Map<String, Long> counts = new TreeMap<>();
        responses.forEach((k, v) -> counts.put(k, v.sum()));
        return counts;
    }

    static String tally(RecordedRequest request, int code) {
        String path = request.getPath() == null ? "" : request.getPath();
        int q = path.indexOf('?');
        String query = q < 0 ? "" : path.substring(q + 1);
        String[] parts = (q < 0 ? path : path.substring(0, q)).replaceFirst("^/+", "").split("/");
        int i = parts.length > 0 && parts[0].equals("api") ? 2 : 3; // /api/v1/... or /apis/group/version/...
        if (parts.length > i + 1 && parts[i].equals("namespaces")) {
            i += 2;
        }
        String resource = parts.length > i ? parts[i] + (parts.length > i + 2 ? "/" + parts[i + 2] : "") : path;
        String method = "GET".equals(request.getMethod()) && query.contains("watch=true") ? "WATCH" : request.getMethod();
        return method + " " + resource + " " + code;
    }

    public MockCluster startOperator(OperatorSettings settings) {
        operator = new VfioOperator(client, settings, Clock.systemUTC(), new OperatorMetrics());
        operator.start();
        return this;
    }

    public MockCluster startOperator() {
        return startOperator(OperatorSettings.defaults().withServerSideApply(false).withHealthPort(-1)
                .withReleaseRecheck(java.time.Duration.ofMillis(500)));
    }

    VfioOperator operator() {
        return operator;
    }

    public Node addNode(String name, Map<String, String> labels) {
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

    public VfioBindingPolicy apply(VfioBindingPolicy policy) {
        return client.resource(policy).create();
    }

    void deletePolicy(String name) {
        client.resources(VfioBindingPolicy.class).withName(name).delete();
    }

    public Optional<VfioNodeState> nodeState(String name) {
        return Optional.ofNullable(client.resources(VfioNodeState.class).withName(name).get());
    }

    public Optional<VfioBindingPolicy> policy(String name) {
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
