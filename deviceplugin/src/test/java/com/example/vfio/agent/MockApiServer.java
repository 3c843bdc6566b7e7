package com.example.vfio.agent;

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
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.TimeUnit;

/**
 * fabric8's mock API server in CRUD mode with the generated CRDs of the repository ({@code crds/*.yml})
 * applied, so the status subresource, cluster scope and field selectors behave as the CRDs say. It can be
 * stopped and started again on the same port, as an API server that goes away and comes back (empty).
 */
public final class MockApiServer implements AutoCloseable {
    static final Path CRD_DIR = Path.of(System.getProperty("crds.dir", "../crds"));
    static final List<String> CRDS = List.of("vfiobindingpolicies.vfio.example.com-v1.yml",
            "vfionodestates.vfio.example.com-v1.yml");

    private KubernetesMockServer server;
    private KubernetesClient admin;
    private int port;

    /** Starts on a free port. */
    public MockApiServer start() {
        return start(0);
    }

    private MockApiServer start(int wantedPort) {
        Map<ServerRequest, Queue<ServerResponse>> expectations = new HashMap<>();
        server = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(), expectations,
                new KubernetesMixedDispatcher(expectations), false);
        try {
            server.init(InetAddress.getByName("localhost"), wantedPort);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        port = server.getPort();
        admin = server.createClient();
        for (String file : CRDS) {
            try (InputStream in = Files.newInputStream(CRD_DIR.resolve(file))) {
                CustomResourceDefinition crd = admin.apiextensions().v1().customResourceDefinitions().load(in).item();
                admin.resource(crd).create();
            } catch (IOException e) {
                throw new IllegalStateException("cannot read the generated CRD " + CRD_DIR.resolve(file).toAbsolutePath(),
                        e);
            }
        }
        return this;
    }

    /** The API server goes away: connections are refused until {@link #restart()}. */
    public void stop() {
        if (server != null) {
            admin.close();
            server.destroy();
            server = null;
        }
    }

    /** Comes back on the same port, with the CRDs and no objects (as after losing its storage). */
    public MockApiServer restart() {
        return start(port);
    }

    /** A client of the operator's or an admin's: it may write anything. */
    public KubernetesClient admin() {
        return admin;
    }

    /** A new client for the node agent (it keeps working across {@link #stop()} / {@link #restart()}). */
    public String url() {
        return "http://localhost:" + port;
    }

    public KubernetesClient newClient() {
        return server.createClient();
    }

    /** The next status write of the named VfioNodeState is answered 409 Conflict, as after a concurrent write. */
    public void conflictOnNextStatusWrite(String name) {
        server.expect().put().withPath("/apis/vfio.example.com/v1alpha1/vfionodestates/" + name + "/status")
                .andReturn(409, new io.fabric8.kubernetes.api.model.StatusBuilder().withCode(409).withReason("Conflict")
                        .withMessage("Operation cannot be fulfilled: the object has been modified").build())
                .once();
    }

    /** Method and path of every request recorded since the last call, oldest first. */
    public List<String> takeRequests() throws InterruptedException {
        List<String> out = new java.util.ArrayList<>();
        for (var r = server.takeRequest(1, TimeUnit.MILLISECONDS); r != null;
                r = server.takeRequest(1, TimeUnit.MILLISECONDS)) {
            out.add(r.getMethod() + " " + r.getPath());
        }
        return out;
    }

    /** Requests the server answered so far. */
    public int requestCount() {
        return server.getRequestCount();
    }

    @Override
    public void close() {
        stop();
    }
}
