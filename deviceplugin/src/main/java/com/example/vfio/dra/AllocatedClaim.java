package com.example.vfio.dra;

import io.fabric8.kubernetes.api.model.resource.v1.DeviceRequestAllocationResult;
import io.fabric8.kubernetes.api.model.resource.v1.ResourceClaim;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What NodePrepareResources needs of a ResourceClaim, read from the API server: who it is and the devices the
 * scheduler allocated to it.
 *
 * @param podClaimName the pod's name for a claim made from a template (annotation {@code resource.kubernetes.io/pod-claim-name}), else null
 * @param results      {@code status.allocation.devices.results}, of every driver, in order
 */
public record AllocatedClaim(String namespace, String name, String uid, String podClaimName, List<Result> results) {

    /** One allocated device: the request it serves and where it comes from. */
    public record Result(String request, String driver, String pool, String device) {
    }

    public AllocatedClaim {
        results = List.copyOf(results);
    }

    /** Reads claims; a stand-in serves tests without an API server. */
    public interface Source {
        /**
         * @throws Unusable when the claim is missing, was replaced (another uid) or is not allocated
         */
        AllocatedClaim read(ClaimPreparation.ClaimRef ref) throws Unusable;
    }

    /** A claim NodePrepareResources cannot prepare; the message says why. */
    public static final class Unusable extends Exception {
        private static final long serialVersionUID = 1L;

        public Unusable(String message) {
            super(message, null, false, false);
        }
    }

    /** The API server's ResourceClaims (GET, as the Go helper does: the kubelet sends only namespace, name and uid). */
    public static Source fromApi(KubernetesClient client) {
        return ref -> {
            ResourceClaim claim;
            try {
                claim = client.resources(ResourceClaim.class).inNamespace(ref.namespace()).withName(ref.name()).get();
            } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                throw new Unusable("cannot read ResourceClaim " + ref.qualifiedName() + " from the API server: "
                        + (e.getCode() > 0 ? "HTTP " + e.getCode() + " " : "") + e.getMessage());
            }
            return of(ref, claim);
        };
    }

    static AllocatedClaim of(ClaimPreparation.ClaimRef ref, ResourceClaim claim) throws Unusable {
        if (claim == null) {
            throw new Unusable("ResourceClaim " + ref.qualifiedName() + " does not exist");
        }
        if (!Objects.equals(claim.getMetadata().getUid(), ref.uid())) {
            throw new Unusable("ResourceClaim " + ref.qualifiedName() + " was replaced (uid " + claim.getMetadata().getUid()
                    + ", the kubelet asked for " + ref.uid() + ")");
        }
        if (claim.getStatus() == null || claim.getStatus().getAllocation() == null
                || claim.getStatus().getAllocation().getDevices() == null) {
            throw new Unusable("ResourceClaim " + ref.qualifiedName() + " is not allocated");
        }
        Map<String, String> annotations = claim.getMetadata().getAnnotations();
        String podClaimName = annotations == null ? null : annotations.get(DeviceMetadata.POD_CLAIM_NAME_ANNOTATION);
        List<Result> results = claim.getStatus().getAllocation().getDevices().getResults().stream()
                .map((DeviceRequestAllocationResult r) -> new Result(r.getRequest(), r.getDriver(), r.getPool(), r.getDevice()))
                .toList();
        return new AllocatedClaim(ref.namespace(), ref.name(), ref.uid(), podClaimName, results);
    }
}
