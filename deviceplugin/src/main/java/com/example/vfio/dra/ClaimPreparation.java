package com.example.vfio.dra;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/** What NodePrepareResources and NodeUnprepareResources do, independent of the gRPC version that carries them. */
public interface ClaimPreparation {

    /** A claim the kubelet names: it sends only these, the driver reads the rest from the API server. */
    record ClaimRef(String namespace, String uid, String name) {
        public ClaimRef {
            Objects.requireNonNull(namespace, "namespace");
            Objects.requireNonNull(uid, "uid");
            Objects.requireNonNull(name, "name");
        }

        /** {@code namespace/name}. */
        public String qualifiedName() {
            return namespace + "/" + name;
        }
    }

    /**
     * One prepared device of a claim.
     *
     * @param requests the claim's requests it was allocated for
     * @param cdiIds   the CDI device IDs the runtime applies for it ({@code vendor/class=name})
     */
    record PreparedDevice(List<String> requests, String pool, String device, List<String> cdiIds) {
        public PreparedDevice {
            requests = List.copyOf(requests);
            cdiIds = List.copyOf(cdiIds);
        }
    }

    /** A claim's outcome: its devices, or the error that says why it was not prepared (then devices is empty). */
    record Result(List<PreparedDevice> devices, String error) {
        public Result {
            devices = List.copyOf(devices);
        }

        public static Result failed(String error) {
            return new Result(List.of(), Objects.requireNonNull(error));
        }
    }

    /** Prepares each claim; the answer has one entry per claim, keyed by uid. Idempotent. */
    Map<String, Result> prepare(List<ClaimRef> claims);

    /** Undoes each claim's preparation; the answer maps each uid to an error, null when done. Idempotent. */
    Map<String, String> unprepare(List<ClaimRef> claims);

    /** Refuses every claim with {@code why}; unprepares (nothing was prepared) succeed. */
    static ClaimPreparation refusingAll(String why) {
        return new ClaimPreparation() {
            @Override
            public Map<String, Result> prepare(List<ClaimRef> claims) {
                Map<String, Result> out = new java.util.LinkedHashMap<>();
                claims.forEach(c -> out.put(c.uid(), Result.failed(why)));
                return out;
            }

            @Override
            public Map<String, String> unprepare(List<ClaimRef> claims) {
                Map<String, String> out = new java.util.LinkedHashMap<>();
                claims.forEach(c -> out.put(c.uid(), null));
                return out;
            }
        };
    }
}
