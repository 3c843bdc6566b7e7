package com.example.vfio.operator;

import java.time.Duration;
import java.util.Map;

/**
 * How the operator runs; read from the environment by {@link #fromEnvironment(Map)}.
 *
 * @param serverSideApply          OPERATOR_SSA (default true): write with server-side apply; false uses JSON merge
 *                                 patches (the fabric8 mock API server answers SSA with 415)
 * @param leaderElectionNamespace  LEADER_ELECTION_NAMESPACE: leader election (Lease "vfio-operator") on when set
 * @param identity                 POD_NAME, else HOSTNAME, else a random id: who holds the lease
 * @param healthPort               HEALTH_PORT (default 8080; 0 picks a free port, -1 turns the endpoint off): /healthz,
 *                                 /readyz and /metrics
 * @param reconcileThreads         OPERATOR_THREADS (default 4)
 * @param releaseRecheck           how often a deleting policy re-checks that its devices are back on the host
 * @param deviceClasses            OPERATOR_DRA (default true): make the DRA DeviceClasses of the resources policies publish
 *                                 through DRA (only where the API server serves resource.k8s.io/v1 DeviceClasses)
 */
public record OperatorSettings(boolean serverSideApply, String leaderElectionNamespace, String identity, int healthPort,
                               int reconcileThreads, Duration releaseRecheck, boolean deviceClasses) {

    public static final String FIELD_MANAGER = "vfio-operator";
    public static final String LEASE_NAME = "vfio-operator";

    public static OperatorSettings defaults() {
        return fromEnvironment(Map.of());
    }

    public static OperatorSettings fromEnvironment(Map<String, String> env) {
        return new OperatorSettings(
                bool(env, "OPERATOR_SSA", true),
                blankToNull(env.get("LEADER_ELECTION_NAMESPACE")),
                java.util.Objects.requireNonNullElseGet(blankToNull(env.get("POD_NAME")),
                        () -> java.util.Objects.requireNonNullElseGet(blankToNull(env.get("HOSTNAME")), () -> java.util.UUID.randomUUID().toString())),
                integer(env, "HEALTH_PORT", 8080),
                integer(env, "OPERATOR_THREADS", 4),
                Duration.ofSeconds(integer(env, "RELEASE_RECHECK_SECONDS", 10)),
                bool(env, "OPERATOR_DRA", true));
    }

    public OperatorSettings withServerSideApply(boolean ssa) {
        return new OperatorSettings(ssa, leaderElectionNamespace, identity, healthPort, reconcileThreads, releaseRecheck, deviceClasses);
    }

    public OperatorSettings withHealthPort(int port) {
        return new OperatorSettings(serverSideApply, leaderElectionNamespace, identity, port, reconcileThreads, releaseRecheck, deviceClasses);
    }

    public OperatorSettings withReconcileThreads(int threads) {
        return new OperatorSettings(serverSideApply, leaderElectionNamespace, identity, healthPort, threads, releaseRecheck, deviceClasses);
    }

    public OperatorSettings withReleaseRecheck(Duration d) {
        return new OperatorSettings(serverSideApply, leaderElectionNamespace, identity, healthPort, reconcileThreads, d, deviceClasses);
    }

    private static boolean bool(Map<String, String> env, String name, boolean dflt) {
        String v = blankToNull(env.get(name));
        if (v == null) {
            return dflt;
        }
        return switch (v.toLowerCase(java.util.Locale.ROOT)) {
            case "true", "1", "yes" -> true;
            case "false", "0", "no" -> false;
            default -> throw new IllegalArgumentException(name + "=" + v + " is not true or false");
        };
    }

    private static int integer(Map<String, String> env, String name, int dflt) {
        String v = blankToNull(env.get(name));
        if (v == null) {
            return dflt;
        }
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + "=" + v + " is not a number", e);
        }
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }
}
