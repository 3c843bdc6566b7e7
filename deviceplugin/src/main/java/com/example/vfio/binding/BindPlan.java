package com.example.vfio.binding;

import java.util.List;

/**
 * What one binding pass will do, device by device, before anything is touched.
 *
 * @param changes        one per desired device, in the order given
 * @param notes          things the admin should know (unfinished journal steps)
 * @param requireVfioDev whether a VFIO bind must show {@code vfio-dev/} (kernel 6.1+)
 */
public record BindPlan(List<PlannedChange> changes, List<String> notes, boolean requireVfioDev) {
    public BindPlan {
        changes = List.copyOf(changes);
        notes = List.copyOf(notes);
    }

    public boolean hasRefusals() {
        return changes.stream().anyMatch(c -> c.action() == PlannedChange.Action.REFUSED);
    }
}
