package com.example.vfio.operator;

import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicyStatus;
import com.example.vfio.api.VfioNodeState;
import io.fabric8.kubernetes.api.model.Condition;
import com.example.vfio.planning.DraDeviceClasses;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceClass;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.api.reconciler.IndexedResourceCache;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

import static com.example.vfio.api.VfioBindingPolicyStatus.CONFLICT;
import static com.example.vfio.api.VfioBindingPolicyStatus.DEGRADED;
import static com.example.vfio.api.VfioBindingPolicyStatus.READY;

/**
 * Rolls the node reports up into the policy's status, says what a person should notice in Events, and holds a
 * deleted policy (finalizer) until its devices are back on their host drivers. Each roll-up also keeps the DRA
 * DeviceClasses as the policies want them ({@link DeviceClassSync}). Its own status writes do not
 * trigger it (generation-aware); node-state changes and node label changes do.
 */
final class PolicyReconciler implements Reconciler<VfioBindingPolicy>, Cleaner<VfioBindingPolicy> {
    static final String NAME = "vfio-policy-status";
    private static final Logger LOG = LoggerFactory.getLogger(PolicyReconciler.class);

    private final EventRecorder events;
    private final Clock clock;
    private final Duration releaseRecheck;
    private final boolean serverSideApply;
    private InformerEventSource<VfioNodeState, VfioBindingPolicy> states;
    private InformerEventSource<Node, VfioBindingPolicy> nodes;
    private InformerEventSource<DeviceClass, VfioBindingPolicy> deviceClasses;
    private final DeviceClassSync classes;
    /**
     * Conditions last announced per policy uid. The informer may still hold the pre-patch status when the next event
     * arrives; this keeps one Event per change. JOSDK never reconciles one policy on two threads at once.
     */
    private final Map<String, List<Condition>> announced = new ConcurrentHashMap<>();
    /** Every node-state change rolls up every policy: nodes are planned again only when their inputs changed. */
    private final NodePlans plans = new NodePlans();

    /** @param classes null: the operator makes no DeviceClasses (no DRA API, or turned off) */
    PolicyReconciler(EventRecorder events, Clock clock, Duration releaseRecheck, boolean serverSideApply,
            DeviceClassSync classes) {
        this.events = events;
        this.classes = classes;
        this.serverSideApply = serverSideApply;
        this.clock = clock;
        this.releaseRecheck = releaseRecheck;
    }

    @Override
    public List<EventSource<?, VfioBindingPolicy>> prepareEventSources(EventSourceContext<VfioBindingPolicy> context) {
        states = new InformerEventSource<>(InformerEventSourceConfiguration.from(VfioNodeState.class, VfioBindingPolicy.class)
                .withName("node-states")
                .withSecondaryToPrimaryMapper(s -> allPolicies(context.getPrimaryCache()))
                .build(), context);
        nodes = new InformerEventSource<>(InformerEventSourceConfiguration.from(Node.class, VfioBindingPolicy.class)
                .withName("nodes")
                .withSecondaryToPrimaryMapper(n -> allPolicies(context.getPrimaryCache()))
                .withOnUpdateFilter((fresh, old) -> !Objects.equals(fresh.getMetadata().getLabels(), old.getMetadata().getLabels()))
                .build(), context);
        if (classes == null) {
            return List.of(states, nodes);
        }
        // only the classes the operator owns; one deleted by hand is made again
        deviceClasses = new InformerEventSource<>(InformerEventSourceConfiguration.from(DeviceClass.class, VfioBindingPolicy.class)
                .withName("device-classes")
                .withLabelSelector(DraDeviceClasses.MANAGED_BY_LABEL + "=" + DraDeviceClasses.MANAGED_BY)
                .withSecondaryToPrimaryMapper(c -> allPolicies(context.getPrimaryCache()))
                .build(), context);
        return List.of(states, nodes, deviceClasses);
    }

    private static Set<ResourceID> allPolicies(IndexedResourceCache<VfioBindingPolicy> cache) {
        return cache.list().map(ResourceID::fromResource).collect(Collectors.toSet());
    }

    @Override
    public UpdateControl<VfioBindingPolicy> reconcile(VfioBindingPolicy policy, Context<VfioBindingPolicy> context) {
        if (classes != null) {
            classes.sync(context.getPrimaryCache().list().toList(), () -> deviceClasses.list().toList());
        }
        PolicyRollup rollup = rollup(policy, context);
        VfioBindingPolicyStatus old = policy.getStatus();
        VfioBindingPolicyStatus fresh = rollup.toStatus(policy);
        fresh.setConditions(Conditions.merge(old == null ? null : old.getConditions(), fresh.getConditions(), now()));
        String uid = policy.getMetadata().getUid();
        List<Condition> before = announced.getOrDefault(uid, old == null ? List.of() : old.getConditions());
        announce(policy, before, fresh.getConditions());
        announced.put(uid, fresh.getConditions());
        if (fresh.equals(old)) {
            return UpdateControl.noUpdate();
        }
        if (serverSideApply) {
            // apply only what this field manager owns: name and status
            VfioBindingPolicy applied = new VfioBindingPolicy();
            applied.setMetadata(new ObjectMetaBuilder().withName(policy.getMetadata().getName()).build());
            applied.setSpec(null);
            applied.setStatus(fresh);
            return UpdateControl.patchStatus(applied);
        }
        // JOSDK's non-SSA path diffs against the cached object: hand it the whole object with the new status
        policy.setStatus(fresh);
        return UpdateControl.patchStatus(policy);
    }

    @Override
    public DeleteControl cleanup(VfioBindingPolicy policy, Context<VfioBindingPolicy> context) {
        PolicyRollup rollup = rollup(policy, context);
        if (rollup.released()) {
            events.record(policy, EventRecorder.NORMAL, "DevicesReleased",
                    "policy deleted; its devices are back on their host drivers");
            LOG.info("policy {} released its devices; removing the finalizer", policy.getMetadata().getName());
            announced.remove(policy.getMetadata().getUid());
            if (classes != null) {
                String uid = policy.getMetadata().getUid();
                classes.sync(context.getPrimaryCache().list().filter(p -> !uid.equals(p.getMetadata().getUid())).toList(),
                        () -> deviceClasses.list().toList());
            }
            return DeleteControl.defaultDelete();
        }
        LOG.info("policy {} is being deleted; waiting for host drivers on {}", policy.getMetadata().getName(), rollup.releasing());
        writeDeletingStatus(policy, rollup, context);
        return DeleteControl.noFinalizerRemoval().rescheduleAfter(releaseRecheck.toMillis());
    }

    /**
     * JOSDK never reconciles (nor patches the status of) a resource being deleted, it only calls cleanup: without this
     * the status of a policy whose deletion waits would still say Ready, not which nodes it waits for.
     */
    private void writeDeletingStatus(VfioBindingPolicy policy, PolicyRollup rollup, Context<VfioBindingPolicy> context) {
        VfioBindingPolicyStatus old = policy.getStatus();
        VfioBindingPolicyStatus fresh = rollup.toStatus(policy);
        fresh.setConditions(Conditions.merge(old == null ? null : old.getConditions(), fresh.getConditions(), now()));
        if (fresh.equals(old)) {
            return;
        }
        try {
            if (serverSideApply) {
                VfioBindingPolicy applied = new VfioBindingPolicy();
                applied.setMetadata(new ObjectMetaBuilder().withName(policy.getMetadata().getName()).build());
                applied.setStatus(fresh);
                context.getClient().resource(applied).subresource("status").patch(new PatchContext.Builder()
                        .withPatchType(PatchType.SERVER_SIDE_APPLY).withFieldManager(OperatorSettings.FIELD_MANAGER).withForce(true).build());
            } else {
                policy.setStatus(fresh);
                context.getClient().resource(policy).patchStatus();
            }
        } catch (KubernetesClientException e) {
            // the cleanup is tried again (rescheduled or on the next node report), and so is this
            LOG.warn("policy {}: cannot write its status while it is being deleted: {}", policy.getMetadata().getName(), e.getMessage());
        }
    }

    private PolicyRollup rollup(VfioBindingPolicy policy, Context<VfioBindingPolicy> context) {
        List<VfioBindingPolicy> all = context.getPrimaryCache().list().toList();
        List<NodeObservation> observed = observations();
        plans.retain(observed.stream().map(NodeObservation::name).collect(Collectors.toSet()));
        return PolicyRollup.compute(policy, all, observed, plans.under(all));
    }

    private List<NodeObservation> observations() {
        return nodes.list().map(n -> new NodeObservation(n.getMetadata().getName(), n.getMetadata().getLabels(),
                states.get(new ResourceID(n.getMetadata().getName())).orElse(null))).toList();
    }

    /** Events for what a person should notice: a conflict, a failure, the policy becoming (un)ready. */
    private void announce(VfioBindingPolicy policy, List<Condition> old, List<Condition> fresh) {
        Condition conflict = Conditions.find(fresh, CONFLICT);
        if (isNewlyTrue(old, conflict)) {
            events.record(policy, EventRecorder.WARNING, "Conflict", conflict.getMessage());
        }
        Condition degraded = Conditions.find(fresh, DEGRADED);
        if (isNewlyTrue(old, degraded)) {
            events.record(policy, EventRecorder.WARNING, degraded.getReason(), degraded.getMessage());
        }
        Condition ready = Conditions.find(fresh, READY);
        if (isNewlyTrue(old, ready)) {
            events.record(policy, EventRecorder.NORMAL, "Ready", ready.getMessage());
        } else if (Conditions.isTrue(old, READY) && ready != null && !"True".equals(ready.getStatus())
                && !"Deleting".equals(ready.getReason())) {
            events.record(policy, EventRecorder.WARNING, "NotReady", ready.getMessage());
        }
    }

    private static boolean isNewlyTrue(List<Condition> old, Condition fresh) {
        return fresh != null && "True".equals(fresh.getStatus()) && !Conditions.sameState(Conditions.find(old, fresh.getType()), fresh);
    }

    private String now() {
        return clock.instant().truncatedTo(ChronoUnit.SECONDS).toString();
    }
}
