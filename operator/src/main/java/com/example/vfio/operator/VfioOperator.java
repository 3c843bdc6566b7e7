package com.example.vfio.operator;

import com.example.vfio.api.VfioBindingPolicy;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.RuntimeInfo;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.processing.retry.GenericRetry;

import java.time.Clock;
import java.time.Duration;

/** The three controllers on one JOSDK operator: node-state creation, node-state spec, policy status/finalizer. */
public final class VfioOperator implements AutoCloseable {
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
                o.withLeaderElectionConfiguration(
                        new LeaderElectionConfiguration(OperatorSettings.LEASE_NAME, settings.leaderElectionNamespace()));
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
        operator.register(new PolicyReconciler(events, clock, settings.releaseRecheck()), c -> c.withName(PolicyReconciler.NAME)
                .withFinalizer(VfioBindingPolicy.FINALIZER)
                .withFieldManager(OperatorSettings.FIELD_MANAGER)
                .withRetry(retry()));
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
