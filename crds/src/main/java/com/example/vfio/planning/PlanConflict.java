package com.example.vfio.planning;

import java.util.List;

/**
 * Policies of the same (highest) priority want different things for one device: it is left as it is.
 *
 * @param address the device
 * @param claims  what each policy wanted, sorted by policy name
 */
public record PlanConflict(String address, List<Claim> claims) {
    public PlanConflict {
        claims = List.copyOf(claims);
    }

    public List<String> policies() {
        return claims.stream().map(Claim::policy).toList();
    }

    /** One policy's wish for the device. */
    public record Claim(String policy, int priority, String driver, String resourceName) {
        @Override
        public String toString() {
            return policy + " wants " + driver + (resourceName == null ? "" : " as " + resourceName);
        }
    }

    /** "0000:41:00.0: a wants vfio-pci as gpu, b wants mlx5_vfio_pci as nic". */
    public String describe() {
        return address + ": " + String.join(", ", claims.stream().map(Claim::toString).toList());
    }
}
