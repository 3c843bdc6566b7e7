package com.example.vfio.bench;

import com.example.vfio.api.Companions;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicySpec;
import com.example.vfio.planning.DeviceFacts;
import com.example.vfio.planning.NodePlan;
import com.example.vfio.planning.NodePlanner;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The operator's pure planning for a whole cluster: every node's desired state from every policy, as
 * after an operator restart or a change to a policy every node matches. One operation = all nodes.
 *
 * <p>The cluster: GPU servers (4 H100 with their audio functions in shared groups), NIC nodes (8
 * ConnectX-7 VFs) and accelerator nodes (QAT + NVMe), labelled by kind and zone. Ten policies with
 * node selectors, overlapping device selectors at different priorities, one equal-priority conflict,
 * companions: Bind and one policy being deleted.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx512m"})
public class PlannerBenchmark {
    @Param({"5000"})
    public int nodes;

    private final List<String> names = new ArrayList<>();
    private final List<Map<String, String>> labels = new ArrayList<>();
    private final List<List<DeviceFacts>> inventories = new ArrayList<>();
    private List<VfioBindingPolicy> policies;

    @Setup
    public void cluster() {
        for (int n = 0; n < nodes; n++) {
            String kind = switch (n % 3) {
                case 0 -> "gpu";
                case 1 -> "nic";
                default -> "accel";
            };
            names.add("node-" + n);
            labels.add(Map.of("kind", kind, "zone", "zone-" + n % 4, "kubernetes.io/hostname", "node-" + n));
            inventories.add(inventory(kind, n));
        }
        policies = policies();
        long devices = inventories.stream().mapToLong(List::size).sum();
        NodePlan sample = NodePlanner.plan(names.get(0), labels.get(0), inventories.get(0), policies);
        if (devices != 8L * nodes || sample.devices().isEmpty() || policies.size() != 10) {
            throw new IllegalStateException("cluster is not 8 devices x " + nodes + " nodes x 10 policies");
        }
    }

    @Benchmark
    public int planEveryNode() {
        int desired = 0;
        for (int n = 0; n < nodes; n++) {
            desired += NodePlanner.plan(names.get(n), labels.get(n), inventories.get(n), policies).devices().size();
        }
        return desired;
    }

    private static List<DeviceFacts> inventory(String kind, int n) {
        List<DeviceFacts> devices = new ArrayList<>();
        switch (kind) {
            case "gpu" -> {
                for (int g = 0; g < 4; g++) {
                    String bus = String.format("%02x", 0x41 + g * 0x20);
                    String group = Integer.toString(10 + g);
                    devices.add(new DeviceFacts("0000:" + bus + ":00.0", "10de", "2342", "030200", "nouveau", group));
                    devices.add(new DeviceFacts("0000:" + bus + ":00.1", "10de", "22bc", "040300", "snd_hda_intel", group));
                }
            }
            case "nic" -> {
                for (int v = 0; v < 8; v++) {
                    devices.add(new DeviceFacts(String.format("0000:82:00.%d", v), "15b3", "101e", "020000",
                            v % 2 == 0 ? "mlx5_core" : null, Integer.toString(40 + v)));
                }
            }
            default -> {
                for (int q = 0; q < 4; q++) {
                    devices.add(new DeviceFacts(String.format("0000:%02x:00.0", 0x6b + q), "8086", "4941", "0b4000",
                            "qat_4xxx", Integer.toString(60 + q)));
                    devices.add(new DeviceFacts(String.format("0000:%02x:00.0", 0xa1 + q), "144d", "a80a", "010802",
                            n % 2 == 0 ? "nvme" : null, Integer.toString(70 + q)));
                }
            }
        }
        return devices;
    }

    private static List<VfioBindingPolicy> policies() {
        List<VfioBindingPolicy> list = new ArrayList<>();
        list.add(policy("gpus", "kind", "gpu", DeviceSelector.of().withVendors("10de").withClasses("0302"), "auto", "gpu", 0,
                Companions.Bind));
        list.add(policy("training-gpus", "zone", "zone-1", DeviceSelector.of().withVendors("10de").withDevices("2342"),
                "vfio-pci", "train-gpu", 10, null));
        list.add(policy("gpu-audio-host", "kind", "gpu", DeviceSelector.of().withClasses("0403"), "host", null, -5, null));
        list.add(policy("mlx-vfs", "kind", "nic", DeviceSelector.of().withVendors("15b3").withDevices("101e"),
                "mlx5_vfio_pci", "nic", 0, null));
        list.add(policy("mlx-unbound", "kind", "nic", DeviceSelector.of().withVendors("15b3").withDrivers("none"),
                "vfio-pci", "nic-spare", 5, null));
        list.add(policy("qat", "kind", "accel", DeviceSelector.of().withClasses("0b40"), "auto", "qat", 0, null));
        list.add(policy("qat-zone2", "zone", "zone-2", DeviceSelector.of().withVendors("8086").withDevices("4941"),
                "vfio-pci", "qat-fast", 0, null)); // equal priority, other resource: conflict on accel nodes in zone-2
        list.add(policy("nvme", "kind", "accel", DeviceSelector.of().withClasses("0108").withDrivers("none"), "vfio-pci",
                "nvme", 0, null));
        list.add(policy("by-address", null, null, DeviceSelector.of().withAddresses("0000:41:00.0", "0000:82:00.3"),
                "vfio-pci", "pinned", 20, null));
        VfioBindingPolicy leaving = policy("old-gpus", "kind", "gpu", DeviceSelector.of().withVendors("10de"), "vfio-pci",
                "old-gpu", -10, null);
        leaving.getMetadata().setDeletionTimestamp("2026-11-24T00:00:00Z");
        list.add(leaving);
        return list;
    }

    private static VfioBindingPolicy policy(String name, String labelKey, String labelValue, DeviceSelector selector,
            String driver, String resource, int priority, Companions companions) {
        VfioBindingPolicy policy = new VfioBindingPolicy();
        policy.setMetadata(new ObjectMetaBuilder().withName(name)
                .withCreationTimestamp("2026-11-0" + (1 + Math.abs(name.hashCode()) % 9) + "T00:00:00Z").build());
        VfioBindingPolicySpec spec = new VfioBindingPolicySpec();
        if (labelKey != null) {
            spec.setNodeSelector(new LabelSelectorBuilder().addToMatchLabels(labelKey, labelValue).build());
        }
        spec.setSelector(selector);
        spec.setDriver(driver);
        spec.setResourceName(resource);
        spec.setPriority(priority);
        spec.setCompanions(companions);
        policy.setSpec(spec);
        return policy;
    }
}
