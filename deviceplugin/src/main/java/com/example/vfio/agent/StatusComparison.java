package com.example.vfio.agent;

import com.example.vfio.api.VfioNodeStateStatus;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.client.utils.Serialization;

/** Whether two statuses say the same thing, ignoring the times they were stamped with. */
final class StatusComparison {
    private StatusComparison() {
    }

    static boolean sameIgnoringTimes(VfioNodeStateStatus a, VfioNodeStateStatus b) {
        if (a == null || b == null) {
            return a == b;
        }
        return withoutTimes(a).equals(withoutTimes(b));
    }

    private static JsonNode withoutTimes(VfioNodeStateStatus status) {
        ObjectNode tree = Serialization.jsonMapper().valueToTree(status);
        tree.remove("lastSyncTime");
        for (String list : new String[] {"conditions", "bindResults"}) {
            JsonNode items = tree.get(list);
            if (items != null) {
                items.forEach(item -> {
                    if (item instanceof ObjectNode o) {
                        o.remove("lastTransitionTime");
                        o.remove("time");
                    }
                });
            }
        }
        return tree;
    }
}
