package com.example.vfio.plugin;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Answers GetPreferredAllocation: keep every must-include unit, keep IOMMU groups whole, then stay on one
 * NUMA node. Pure: the same candidates always give the same answer.
 */
public final class PreferredAllocation {

    private PreferredAllocation() {
    }

    /**
     * @param known       the resource's published units, for their IOMMU group and NUMA node
     * @param available   candidate IDs the kubelet (Topology Manager) offers
     * @param mustInclude IDs the answer must contain
     * @param size        how many units the container gets
     */
    public static List<String> choose(List<PublishedDevice> known, List<String> available, List<String> mustInclude,
                                      int size) {
        Map<String, PublishedDevice> byId = new HashMap<>();
        known.forEach(d -> byId.put(d.id(), d));
        Set<String> chosen = new LinkedHashSet<>(mustInclude);
        List<String> free = available.stream().distinct().filter(id -> !chosen.contains(id)).sorted().toList();
        if (chosen.size() >= size) {
            return List.copyOf(chosen);
        }

        // 1. complete the groups of the must-include units
        Set<String> chosenGroups = new LinkedHashSet<>();
        chosen.forEach(id -> chosenGroups.add(groupOf(byId, id)));
        for (String id : free) {
            if (chosen.size() >= size) {
                break;
            }
            if (chosenGroups.contains(groupOf(byId, id))) {
                chosen.add(id);
            }
        }
        List<String> rest = free.stream().filter(id -> !chosen.contains(id)).toList();
        int needed = size - chosen.size();
        if (needed <= 0) {
            return List.copyOf(chosen);
        }

        // 2. the NUMA node to stay on: the must-include units' node, else the best fitting node
        int numa = preferredNuma(byId, chosen, rest, needed);

        // 3. whole groups first, on the preferred node first, lowest address first
        Map<String, List<String>> groups = new LinkedHashMap<>();
        for (String id : rest) {
            groups.computeIfAbsent(groupOf(byId, id), g -> new ArrayList<>()).add(id);
        }
        List<List<String>> ordered = new ArrayList<>(groups.values());
        ordered.sort(Comparator.<List<String>>comparingInt(g -> numaOf(byId, g.get(0)) == numa ? 0 : 1)
                .thenComparing(g -> g.get(0)));
        List<List<String>> partial = new ArrayList<>();
        for (List<String> g : ordered) {
            if (needed == 0) {
                break;
            }
            if (g.size() <= needed) {
                chosen.addAll(g);
                needed -= g.size();
            } else {
                partial.add(g);
            }
        }
        // 4. only when whole groups cannot fill the request: split the smallest groups left
        partial.sort(Comparator.<List<String>>comparingInt(g -> numaOf(byId, g.get(0)) == numa ? 0 : 1)
                .thenComparingInt(List::size).thenComparing(g -> g.get(0)));
        for (List<String> g : partial) {
            for (String id : g) {
                if (needed == 0) {
                    break;
                }
                chosen.add(id);
                needed--;
            }
        }
        return List.copyOf(chosen);
    }

    private static int preferredNuma(Map<String, PublishedDevice> byId, Set<String> chosen, List<String> rest,
                                     int needed) {
        Map<Integer, Integer> chosenNodes = new TreeMap<>();
        chosen.forEach(id -> {
            int n = numaOf(byId, id);
            if (n >= 0) {
                chosenNodes.merge(n, 1, Integer::sum);
            }
        });
        if (!chosenNodes.isEmpty()) {
            return chosenNodes.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
        }
        Map<Integer, Integer> freeByNode = new TreeMap<>();
        rest.forEach(id -> {
            int n = numaOf(byId, id);
            if (n >= 0) {
                freeByNode.merge(n, 1, Integer::sum);
            }
        });
        // best fit: the node with the fewest free units that still satisfies the request, else the fullest
        return freeByNode.entrySet().stream().filter(e -> e.getValue() >= needed)
                .min(Map.Entry.<Integer, Integer>comparingByValue().thenComparing(Map.Entry.comparingByKey()))
                .or(() -> freeByNode.entrySet().stream().max(Map.Entry.<Integer, Integer>comparingByValue()
                        .thenComparing(Map.Entry.<Integer, Integer>comparingByKey().reversed())))
                .map(Map.Entry::getKey).orElse(-1);
    }

    private static String groupOf(Map<String, PublishedDevice> byId, String id) {
        PublishedDevice d = byId.get(id);
        return d == null || d.iommuGroup() == null ? "unit:" + id : d.iommuGroup();
    }

    private static int numaOf(Map<String, PublishedDevice> byId, String id) {
        PublishedDevice d = byId.get(id);
        return d == null ? -1 : d.numaNode();
    }
}
