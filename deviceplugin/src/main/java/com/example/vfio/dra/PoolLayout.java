package com.example.vfio.dra;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * How a node's devices are laid out over the ResourceSlices of its one pool, within the API's limits. Pure.
 *
 * <p>IOMMU groups are kept whole by counters: every group with a published device gets a counter of capacity 1, and
 * each device consumes 1 of its group's counter, so the scheduler's allocator can give at most one device of a group
 * to all claims together, across resources (the counters are per node, the pool is per node). A {@code Group} unit is
 * one device standing for the whole group and consumes the same counter.
 *
 * <p>Limits (k8s.io/api resource/v1): a slice holds devices or counter sets, never both; at most 8 counter sets of
 * at most 32 counters per slice; at most 64 devices per slice when they consume counters or carry taints (ours always
 * consume). Device slices hold one resource each, in chunks of {@link #MAX_DEVICES}; counter slices come first.
 */
public final class PoolLayout {
    static final int MAX_DEVICES = 64;
    static final int COUNTERS_PER_SET = 32;
    static final int SETS_PER_SLICE = 8;

    /** One counter set: its name and the groups whose counters it holds, in numeric order. */
    public record CounterSet(String name, List<String> groups) {
        public CounterSet {
            groups = List.copyOf(groups);
        }
    }

    /**
     * One slice's content: counter sets or devices.
     *
     * @param part the slice's name without the node ({@link DraNames#sliceName}): {@code counters-0}, {@code dev-gpu-0}
     */
    public record Slice(String part, List<CounterSet> counterSets, List<DraDevice> devices) {
        public Slice {
            Objects.requireNonNull(part, "part");
            counterSets = List.copyOf(counterSets);
            devices = List.copyOf(devices);
            if (!counterSets.isEmpty() && !devices.isEmpty()) {
                throw new IllegalArgumentException("a ResourceSlice holds devices or counter sets, not both");
            }
        }
    }

    /** The whole pool: its slices in order, and which counter set holds each group's counter. */
    public record Pool(List<Slice> slices, Map<String, String> counterSetOfGroup) {
        public Pool {
            slices = List.copyOf(slices);
            counterSetOfGroup = Map.copyOf(counterSetOfGroup);
        }

        public static final Pool EMPTY = new Pool(List.of(), Map.of());

        public List<DraDevice> devices() {
            return slices.stream().flatMap(s -> s.devices().stream()).toList();
        }
    }

    private PoolLayout() {
    }

    /** @param devices the devices of every DRA resource of the node (names unique) */
    public static Pool layout(List<DraDevice> devices) {
        if (devices.isEmpty()) {
            return Pool.EMPTY;
        }
        TreeSet<String> groups = new TreeSet<>(Comparator.comparingLong(Long::parseLong));
        devices.forEach(d -> groups.add(d.iommuGroup()));
        List<CounterSet> sets = new ArrayList<>();
        Map<String, String> setOf = new LinkedHashMap<>();
        List<String> batch = new ArrayList<>();
        for (String g : groups) {
            batch.add(g);
            if (batch.size() == COUNTERS_PER_SET) {
                sets.add(new CounterSet(DraNames.counterSetName(sets.size()), batch));
                batch = new ArrayList<>();
            }
        }
        if (!batch.isEmpty()) {
            sets.add(new CounterSet(DraNames.counterSetName(sets.size()), batch));
        }
        sets.forEach(s -> s.groups().forEach(g -> setOf.put(g, s.name())));

        List<Slice> slices = new ArrayList<>();
        for (int i = 0; i < sets.size(); i += SETS_PER_SLICE) {
            slices.add(new Slice("counters-" + slices.size(), sets.subList(i, Math.min(sets.size(), i + SETS_PER_SLICE)),
                    List.of()));
        }
        Map<String, List<DraDevice>> byResource = new TreeMap<>();
        devices.forEach(d -> byResource.computeIfAbsent(d.resource(), r -> new ArrayList<>()).add(d));
        byResource.forEach((resource, list) -> {
            for (int i = 0, n = 0; i < list.size(); i += MAX_DEVICES, n++) {
                slices.add(new Slice("dev-" + resource + "-" + n, List.of(), list.subList(i, Math.min(list.size(), i + MAX_DEVICES))));
            }
        });
        return new Pool(slices, setOf);
    }
}
