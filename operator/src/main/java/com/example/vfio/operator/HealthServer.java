package com.example.vfio.operator;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * /healthz and /readyz for the kubelet's probes and /metrics for Prometheus (the client's own handler: text format
 * 0.0.4, or OpenMetrics when the Accept header asks for it), on the JDK's own HTTP server.
 */
final class HealthServer implements AutoCloseable {
    /** null when healthy/ready, else why not. */
    private final Supplier<String> liveProblem;
    private final Supplier<String> readyProblem;
    private final HttpServer server;

    HealthServer(int port, Supplier<String> liveProblem, Supplier<String> readyProblem, PrometheusRegistry metrics)
            throws IOException {
        this.liveProblem = liveProblem;
        this.readyProblem = readyProblem;
        this.server = HttpServer.create(new InetSocketAddress(port), 16);
        server.createContext("/healthz", ex -> answer(ex, this.liveProblem.get()));
        server.createContext("/readyz", ex -> answer(ex, this.readyProblem.get()));
        server.createContext("/metrics", new MetricsHandler(metrics));
        server.setExecutor(null);
    }

    HealthServer start() {
        server.start();
        return this;
    }

    int port() {
        return server.getAddress().getPort();
    }

    private static void answer(HttpExchange exchange, String problem) throws IOException {
        String path = exchange.getRequestURI().getPath();
        if (!path.equals("/healthz") && !path.equals("/readyz")) {
            exchange.sendResponseHeaders(404, -1);
            exchange.close();
            return;
        }
        byte[] body = (problem == null ? "ok\n" : problem + "\n").getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(problem == null ? 200 : 503, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
