package com.example.vfio.operator;

import com.example.vfio.api.VfioBindingPolicy;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.RuntimeInfo;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.processing.retry.GenericRetry;

import java.time.Clock;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The three controllers on one JOSDK operator: node-state creation, node-state spec, policy status/finalizer. */
public final class VfioOperator implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VfioOperator.class);
    private final Operator operator;
    private volatile boolean stopped;

    public VfioOperator(KubernetesClient client, OperatorSettings settings, Clock clock) {
        operator = new Operator(o -> {
            o.withKubernetesClient(client)
                    .withCloseClientOnStop(false)
                    .withUseSSAToPatchPrimaryResource(settings.serverSideApply())
                    .withSSABasedCreateUpdateMatchForDependentResources(settings.serverSideApply())
                    .withConcurrentReconciliationThreads(settings.reconcileThreads())
                    .withReconciliationTerminationTimeout(Duration.ofSeconds(10))
                    .withStopOnInformerErrorDuringStartup(true)
                    .withCacheSyncTimeout(Duration.ofMinutes(2));
            if (settings.leaderElectionNamespace() != null) {
                o.withLeaderElectionConfiguration(new LeaderElectionConfiguration(OperatorSettings.LEASE_NAME,
                        settings.leaderElectionNamespace(), LeaderElectionConfiguration.LEASE_DURATION_DEFAULT_VALUE,
                        LeaderElectionConfiguration.RENEW_DEADLINE_DEFAULT_VALUE, LeaderElectionConfiguration.RETRY_PERIOD_DEFAULT_VALUE,
                        settings.identity(), new LeaderCallbacks(() -> { }, this::lostLeadership, leader -> { }), false));
            }
        });
        NodeStateWriter writer = new NodeStateWriter(client, settings.serverSideApply());
        EventRecorder events = new EventRecorder(client, settings.eventNamespace(), clock);
        operator.register(new NodeStateCreator(writer), c -> c.withName(NodeStateCreator.NAME)
                .withOnUpdateFilter((fresh, old) -> false)
                .withRetry(retry()));
        operator.register(new NodeStateReconciler(writer), c -> c.withName(NodeStateReconciler.NAME)
                .withGenerationAware(false)
                .withFieldManager(OperatorSettings.FIELD_MANAGER)
                .withRetry(retry()));
        operator.register(new PolicyReconciler(events, clock, settings.releaseRecheck(), settings.serverSideApply(),
                deviceClasses(client, settings)), c -> c.withName(PolicyReconciler.NAME)
                .withFinalizer(VfioBindingPolicy.FINALIZER)
                .withFieldManager(OperatorSettings.FIELD_MANAGER)
                .withRetry(retry()));
    }

    /** The DeviceClass owner, or null where DRA is turned off or the API server serves no resource.k8s.io/v1 DeviceClasses. */
    private static DeviceClassSync deviceClasses(KubernetesClient client, OperatorSettings settings) {
        if (!settings.deviceClasses()) {
            LOG.info("DRA DeviceClasses are turned off (OPERATOR_DRA=false)");
            return null;
        }
        boolean served;
        try {
            served = client.supports(io.fabric8.kubernetes.api.model.resource.v1.DeviceClass.class);
        } catch (RuntimeException e) {
            LOG.warn("cannot tell whether the API server serves DeviceClasses ({}): assuming it does", e.getMessage());
            served = true;
        }
        if (!served) {
            LOG.warn("the API server serves no resource.k8s.io/v1 DeviceClasses (Kubernetes older than 1.34?): policies"
                    + " with publishWith: DRA get no DeviceClass; use publishWith: DevicePlugin on this cluster");
            return null;
        }
        return new DeviceClassSync(client);
    }

    /**
     * JOSDK's own exit-on-lost-lease calls System.exit from the elector, which also fires while a SIGTERM shutdown
     * hook stops the operator, and System.exit inside a shutdown hook blocks forever. Exit only when the lease is lost
     * while running, so that a fresh pod rejoins the election instead of two replicas reconciling.
     */
    private void lostLeadership() {
        if (stopped) {
            return;
        }
        LOG.error("lost the leader lease while running: exiting so that the pod restarts and rejoins the election");
        Thread exit = new Thread(() -> System.exit(1), "vfio-operator-lost-lease");
        exit.start();
    }

    /** Exponential backoff from half a second up to a minute, never giving up on a node or policy. */
    private static GenericRetry retry() {
        return new GenericRetry().setInitialInterval(500).setIntervalMultiplier(2).setMaxInterval(60_000).withoutMaxAttempts();
    }

    public void start() {
        operator.start();
    }

    /** Stops the controllers, letting running reconciles finish (bounded); idempotent. */
    public void stop() {
        if (!stopped) {
            stopped = true;
            operator.stop();
        }
    }

    /** null when the informers run and are healthy, else why not. */
    public String readinessProblem() {
        RuntimeInfo info = operator.getRuntimeInfo();
        if (stopped) {
            return "stopping";
        }
        if (!info.isStarted()) {
            return "starting";
        }
        if (!info.allEventSourcesAreHealthy()) {
            return "unhealthy event sources: " + info.unhealthyEventSources().keySet();
        }
        return null;
    }

    public String livenessProblem() {
        return stopped ? "stopping" : null;
    }

    @Override
    public void close() {
        stop();
    }
}
