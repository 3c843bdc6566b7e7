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
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The three controllers on one JOSDK operator: node-state creation, node-state spec, policy status/finalizer.
 *
 * <p>With leader election, the controllers run for one term of leadership. A lost lease (the API server did not answer
 * within the renew deadline, or another replica took the lease) ends the term: its controllers stop, fresh ones join
 * the election again, in this process. Exiting instead would only be a restart by the kubelet, and an API server
 * outage longer than the renew deadline (10 s) would cost every replica a restart.
 */
public final class VfioOperator implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VfioOperator.class);
    private static final Duration REJOIN_FIRST_WAIT = Duration.ofSeconds(2);
    private static final Duration REJOIN_MAX_WAIT = Duration.ofSeconds(30);

    private final KubernetesClient client;
    private final OperatorSettings settings;
    private final Clock clock;
    private final OperatorMetrics metrics;
    /** Ends a term and starts the next; the only thread that replaces {@link #operator} after start. */
    private final ScheduledExecutorService terms = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "vfio-operator-terms");
        t.setDaemon(true);
        return t;
    });
    private volatile Operator operator;
    private volatile int term = 1;
    /** Why the controllers are not running between two terms; null while they are. */
    private volatile String betweenTerms;
    private volatile boolean stopped;

    public VfioOperator(KubernetesClient client, OperatorSettings settings, Clock clock, OperatorMetrics metrics) {
        this.client = client;
        this.metrics = metrics;
        this.settings = settings;
        this.clock = clock;
        this.operator = build(term);
    }

    /** A JOSDK operator with fresh controllers for leadership term {@code term}. */
    private Operator build(int forTerm) {
        Operator o = new Operator(c -> {
            c.withKubernetesClient(client)
                    .withMetrics(metrics)
                    .withCloseClientOnStop(false)
                    .withUseSSAToPatchPrimaryResource(settings.serverSideApply())
                    .withSSABasedCreateUpdateMatchForDependentResources(settings.serverSideApply())
                    .withConcurrentReconciliationThreads(settings.reconcileThreads())
                    .withReconciliationTerminationTimeout(Duration.ofSeconds(10))
                    .withStopOnInformerErrorDuringStartup(true)
                    .withCacheSyncTimeout(Duration.ofMinutes(2));
            if (settings.leaderElectionNamespace() != null) {
                // JOSDK's own exit-on-lost-lease is off: lostLeadership decides
                c.withLeaderElectionConfiguration(new LeaderElectionConfiguration(OperatorSettings.LEASE_NAME,
                        settings.leaderElectionNamespace(), LeaderElectionConfiguration.LEASE_DURATION_DEFAULT_VALUE,
                        LeaderElectionConfiguration.RENEW_DEADLINE_DEFAULT_VALUE, LeaderElectionConfiguration.RETRY_PERIOD_DEFAULT_VALUE,
                        settings.identity(), new LeaderCallbacks(() -> { }, () -> lostLeadership(forTerm), leader -> { }), false));
            }
        });
        NodeStateWriter writer = new NodeStateWriter(client, settings.serverSideApply());
        EventRecorder events = new EventRecorder(client, clock);
        o.register(new NodeStateCreator(writer), c -> c.withName(NodeStateCreator.NAME)
                .withOnUpdateFilter((fresh, old) -> false)
                .withRetry(retry()));
        o.register(new NodeStateReconciler(writer), c -> c.withName(NodeStateReconciler.NAME)
                .withGenerationAware(false)
                .withFieldManager(OperatorSettings.FIELD_MANAGER)
                .withRetry(retry()));
        o.register(new PolicyReconciler(events, clock, settings.releaseRecheck(), settings.serverSideApply(),
                deviceClasses(client, settings)), c -> c.withName(PolicyReconciler.NAME)
                .withFinalizer(VfioBindingPolicy.FINALIZER)
                .withFieldManager(OperatorSettings.FIELD_MANAGER)
                .withRetry(retry()));
        return o;
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
     * From the elector of term {@code lostTerm} when it stops leading. Also called while a SIGTERM shutdown stops the
     * operator (ignored then), and by a term already ended (ignored).
     */
    private void lostLeadership(int lostTerm) {
        if (stopped || lostTerm != term) {
            return;
        }
        term = lostTerm + 1;
        betweenTerms = "lost the leader lease; joining the election again";
        LOG.warn("lost the leader lease (the API server did not answer within the renew deadline, or another replica took it):"
                + " stopping the controllers and joining the election again");
        terms.execute(() -> nextTerm(lostTerm + 1, REJOIN_FIRST_WAIT));
    }

    /** Stops the controllers of the ended term (or of a start that failed) and starts those of {@code next}. */
    private void nextTerm(int next, Duration wait) {
        if (stopped) {
            return;
        }
        try {
            operator.stop();
        } catch (RuntimeException e) {
            LOG.warn("stopping the controllers of the last term: {}", e.toString());
        }
        if (stopped) {
            return;
        }
        operator = build(next);
        try {
            operator.start();
            betweenTerms = null;
            LOG.info("controllers started again; waiting for the leader lease");
        } catch (RuntimeException e) {
            // e.g. the API server is still away: the informers cannot list
            betweenTerms = "cannot start the controllers: " + e.getMessage();
            LOG.warn("cannot start the controllers again ({}); trying again in {} s", e.getMessage(), wait.toSeconds());
            Duration longer = wait.multipliedBy(2).compareTo(REJOIN_MAX_WAIT) > 0 ? REJOIN_MAX_WAIT : wait.multipliedBy(2);
            terms.schedule(() -> nextTerm(next, longer), wait.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** Exponential backoff from half a second up to a minute, never giving up on a node or policy. */
    private static GenericRetry retry() {
        return new GenericRetry().setInitialInterval(500).setIntervalMultiplier(2).setMaxInterval(60_000).withoutMaxAttempts();
    }

    /** Starts the first term; throws when it cannot (e.g. the API server is unreachable or the CRDs are missing). */
    public void start() {
        operator.start();
    }

    /** Stops the controllers, letting running reconciles finish (bounded); idempotent. */
    public void stop() {
        if (!stopped) {
            stopped = true;
            terms.shutdownNow();
            try {
                terms.awaitTermination(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            operator.stop();
        }
    }

    /** null when the informers run and are healthy, else why not. */
    public String readinessProblem() {
        if (stopped) {
            return "stopping";
        }
        String between = betweenTerms;
        if (between != null) {
            return between;
        }
        RuntimeInfo info = operator.getRuntimeInfo();
        if (!info.isStarted()) {
            return "starting";
        }
        if (!info.allEventSourcesAreHealthy()) {
            return "unhealthy event sources: " + info.unhealthyEventSources().keySet();
        }
        return null;
    }

    /** The process is alive between terms too: a restart would not help. */
    public String livenessProblem() {
        return stopped ? "stopping" : null;
    }

    /** Leadership terms begun so far (1 until a lease is lost). */
    int term() {
        return term;
    }

    @Override
    public void close() {
        stop();
    }
}
