package com.example.vfio.operator;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Clock;
import java.util.concurrent.CountDownLatch;

/**
 * {@code java -jar vfio-operator.jar}: kubeconfig or in-cluster config as the fabric8 client finds it; settings from
 * the environment (see {@link OperatorSettings}).
 */
public final class OperatorMain {
    private static final Logger LOG = LoggerFactory.getLogger(OperatorMain.class);

    private OperatorMain() {
    }

    /**
     * The kubeconfig or in-cluster config fabric8 finds, with our user agent: the API server names the field manager
     * of every write without an explicit one (create, update) after it, so managedFields and the audit log say
     * vfio-operator rather than fabric8-kubernetes-client.
     */
    static Config clientConfig() {
        Config config = Config.autoConfigure(null);
        String version = OperatorMain.class.getPackage().getImplementationVersion();
        config.setUserAgent(OperatorSettings.FIELD_MANAGER + "/" + (version == null ? "dev" : version));
        return config;
    }

    public static void main(String[] args) throws InterruptedException {
        OperatorSettings settings;
        try {
            settings = OperatorSettings.fromEnvironment(System.getenv());
        } catch (IllegalArgumentException e) {
            System.err.println("vfio-operator: " + e.getMessage());
            System.exit(2);
            return;
        }
        KubernetesClient client = new KubernetesClientBuilder().withConfig(clientConfig()).build();
        OperatorMetrics metrics = new OperatorMetrics().withJvmMetrics();
        VfioOperator operator = new VfioOperator(client, settings, Clock.systemUTC(), metrics);
        HealthServer health = null;
        if (settings.healthPort() >= 0) {
            try {
                health = new HealthServer(settings.healthPort(), operator::livenessProblem, operator::readinessProblem,
                        metrics.registry()).start();
                LOG.info("health and metrics endpoints on port {}: /healthz /readyz /metrics", health.port());
            } catch (IOException e) {
                System.err.println("vfio-operator: cannot listen on port " + settings.healthPort() + ": " + e.getMessage());
                System.exit(2);
            }
        }
        CountDownLatch stopped = new CountDownLatch(1);
        HealthServer healthToClose = health;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("shutting down");
            operator.stop();
            if (healthToClose != null) {
                healthToClose.close();
            }
            client.close();
            stopped.countDown();
        }, "vfio-operator-shutdown"));
        LOG.info("starting: server-side apply {}, leader election {}", settings.serverSideApply(),
                settings.leaderElectionNamespace() == null ? "off" : "in namespace " + settings.leaderElectionNamespace());
        try {
            operator.start();
        } catch (RuntimeException e) {
            // e.g. the API server is unreachable or the CRDs are missing: exit so that the pod restarts with backoff
            LOG.error("cannot start: {}", e.getMessage(), e);
            System.exit(1);
        }
        stopped.await();
    }
}
