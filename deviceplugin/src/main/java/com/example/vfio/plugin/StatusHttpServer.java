package com.example.vfio.plugin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.exporter.httpserver.MetricsHandler;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/**
 * {@code /healthz} and {@code /metrics} on the JDK's HTTP server. {@code /metrics} is the Prometheus client's own
 * handler: text format 0.0.4, or OpenMetrics when the Accept header asks for it.
 */
public final class StatusHttpServer implements AutoCloseable {

    /** The daemon's liveness: null when healthy, else why not. */
    public interface Liveness extends Supplier<String> {
    }

    private final HttpServer http;
    private final ExecutorService executor;

    public StatusHttpServer(InetSocketAddress address, PluginMetrics metrics, Liveness liveness) throws IOException {
        this.http = HttpServer.create(address, 8);
        this.executor = Executors.newSingleThreadExecutor(UnixSockets.daemonThreads("vfio-http"));
        http.setExecutor(executor);
        http.createContext("/healthz", ex -> {
            String problem = liveness.get();
            reply(ex, problem == null ? 200 : 503, "text/plain; charset=utf-8", problem == null ? "ok\n" : problem + "\n");
        });
        http.createContext("/metrics", new MetricsHandler(metrics.registry()));
        http.start();
    }

    public int port() {
        return http.getAddress().getPort();
    }

    private static void reply(HttpExchange ex, int code, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        if ("HEAD".equals(ex.getRequestMethod())) {
            ex.sendResponseHeaders(code, -1);
            ex.close();
            return;
        }
        ex.sendResponseHeaders(code, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
    }
}
