package com.example.vfio.operator;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.Companions;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicyStatus;
import com.example.vfio.api.VfioNodeState;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Event;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

import static com.example.vfio.operator.Policies.policy;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.groups.Tuple.tuple;
import static org.awaitility.Awaitility.await;

/** The operator against the mock API server; FakeNodeAgent plays the node daemons. */
class PolicyOperatorTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final DeviceSelector NVIDIA_GPUS = DeviceSelector.of().withVendors("10de").withClasses("0302");

    private MockCluster cluster;
    private FakeNodeAgent gpu1;
    private FakeNodeAgent gpu2;
    private FakeNodeAgent cpu1;

    @BeforeEach
    void cluster() {
        cluster = new MockCluster();
        cluster.addNode("gpu-1", Map.of("gpu", "h100"));
        cluster.addNode("gpu-2", Map.of("gpu", "h100"));
        cluster.addNode("cpu-1", Map.of());
        cluster.startOperator();
        gpu1 = gpuServer("gpu-1");
        gpu2 = gpuServer("gpu-2");
        cpu1 = new FakeNodeAgent(cluster.client, "cpu-1").device("0000:05:00.0", "8086", "1533", "020000", "igb", "7");
        await().atMost(WAIT).until(() -> List.of("gpu-1", "gpu-2", "cpu-1").stream().allMatch(n -> cluster.nodeState(n).isPresent()));
        syncAll();
    }

    private FakeNodeAgent gpuServer(String node) {
        return new FakeNodeAgent(cluster.client, node)
                .device("0000:05:00.0", "8086", "1533", "020000", "igb", "7")
                .device("0000:40:01.1", "1022", "14ab", "060400", "pcieport", "14")
                .device("0000:41:00.0", "10de", "2342", "030200", "nouveau", "14")
                .device("0000:41:00.1", "10de", "22bc", "040300", "snd_hda_intel", "14")
                .device("0000:81:00.2", "15b3", "101e", "020000", "mlx5_core", "40");
    }

    @AfterEach
    void stop() {
        cluster.close();
    }

    private void syncAll() {
        gpu1.sync();
        gpu2.sync();
        cpu1.sync();
    }

    private List<DesiredDevice> spec(String node) {
        return cluster.nodeState(node).map(s -> s.getSpec().getDevices()).orElse(List.of());
    }

    /** Policy gpus applied, both GPU nodes bound and reporting, the policy Ready. */
    private void gpusPolicyInEffectOnBothNodes() {
        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu").build());
        awaitSpec("gpu-1", d -> hasEntry(d, "0000:41:00.0", "auto", "gpu"));
        awaitSpec("gpu-2", d -> hasEntry(d, "0000:41:00.0", "auto", "gpu"));
        syncAll();
        awaitStatus("gpus", condition("Ready", "True", "AllNodesReady"));
    }

    private void awaitSpec(String node, Predicate<List<DesiredDevice>> condition) {
        await().atMost(WAIT).until(() -> condition.test(spec(node)));
    }

    private VfioBindingPolicyStatus awaitStatus(String policy, Predicate<VfioBindingPolicyStatus> condition) {
        await().atMost(WAIT).until(() -> cluster.policy(policy).map(VfioBindingPolicy::getStatus).filter(condition).isPresent());
        return cluster.policy(policy).orElseThrow().getStatus();
    }

    private static Predicate<VfioBindingPolicyStatus> condition(String type, String status, String reason) {
        return s -> Optional.ofNullable(s.condition(type)).filter(c -> c.getStatus().equals(status) && c.getReason().equals(reason)).isPresent();
    }

    private static boolean hasEntry(List<DesiredDevice> devices, String address, String driver, String resource) {
        return devices.stream().anyMatch(d -> d.getAddress().equals(address) && d.getDriver().equals(driver)
                && java.util.Objects.equals(d.getResourceName(), resource));
    }

    @Test
    void policy_takes_the_gpus_of_matching_nodes_only_and_reports_ready_once_the_nodes_bound_them() {
        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu").build());

        awaitSpec("gpu-1", d -> hasEntry(d, "0000:41:00.0", "auto", "gpu"));
        awaitSpec("gpu-2", d -> hasEntry(d, "0000:41:00.0", "auto", "gpu"));
        assertThat(spec("cpu-1")).isEmpty();
        assertThat(spec("gpu-1")).extracting(DesiredDevice::getAddress).containsExactly("0000:41:00.0");

        VfioBindingPolicyStatus progressing = awaitStatus("gpus", condition("Progressing", "True", "Binding"));
        assertThat(progressing.getNodes()).isEqualTo("0/2");

        syncAll();
        VfioBindingPolicyStatus status = awaitStatus("gpus", condition("Ready", "True", "AllNodesReady"));
        assertThat(status.getNodes()).isEqualTo("2/2");
        assertThat(status.getDevices()).isEqualTo("2/2");
        assertThat(status.getObservedGeneration()).isEqualTo(cluster.policy("gpus").orElseThrow().getMetadata().getGeneration());
        assertThat(status.condition("Progressing").getStatus()).isEqualTo("False");
        assertThat(status.condition("Degraded").getStatus()).isEqualTo("False");
        assertThat(status.condition("Conflict").getStatus()).isEqualTo("False");
        assertThat(status.getFailingNodes()).isEmpty();
        assertThat(status.getConditions()).extracting(Condition::getType).containsExactly("Ready", "Progressing", "Degraded", "Conflict");
        await().atMost(WAIT).until(() -> cluster.eventsAbout("gpus").stream().anyMatch(e -> e.getReason().equals("Ready")));
        assertThat(cluster.policy("gpus").orElseThrow().getMetadata().getFinalizers()).containsExactly(VfioBindingPolicy.FINALIZER);
    }

    @Test
    void a_write_the_api_server_fails_is_retried_until_it_lands() {
        cluster.server.expect().patch().withPath("/apis/vfio.example.com/v1alpha1/vfionodestates/gpu-1")
                .andReturn(500, "etcd is having a bad day").times(2);

        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu").build());

        awaitSpec("gpu-1", d -> hasEntry(d, "0000:41:00.0", "auto", "gpu"));
    }

    @Test
    void selectors_by_vendor_class_address_and_host_driver_each_pick_their_devices() {
        cluster.apply(policy("by-vendor").select(DeviceSelector.of().withVendors("15B3")).driver("mlx5_vfio_pci").resource("nic").build());
        cluster.apply(policy("by-class").select(DeviceSelector.of().withClasses("0403")).driver("vfio-pci").resource("audio").build());
        cluster.apply(policy("by-address").onNodes("gpu", "h100").select(DeviceSelector.of().withAddresses("0000:41:00.0")).resource("gpu").build());
        cluster.apply(policy("by-driver").select(DeviceSelector.of().withDrivers("igb")).driver("host").build());

        awaitSpec("gpu-1", d -> d.size() == 4);
        assertThat(spec("gpu-1")).extracting(DesiredDevice::getAddress, DesiredDevice::getDriver, DesiredDevice::getResourceName, DesiredDevice::getPolicy)
                .containsExactly(
                        tuple("0000:05:00.0", "host", null, "by-driver"),
                        tuple("0000:41:00.0", "auto", "gpu", "by-address"),
                        tuple("0000:41:00.1", "vfio-pci", "audio", "by-class"),
                        tuple("0000:81:00.2", "mlx5_vfio_pci", "nic", "by-vendor"));
        awaitSpec("cpu-1", d -> hasEntry(d, "0000:05:00.0", "host", null));
        assertThat(spec("cpu-1")).hasSize(1);
    }

    @Test
    void higher_priority_policy_takes_the_device_and_the_other_keeps_the_rest() {
        cluster.apply(policy("all-gpus").select(NVIDIA_GPUS).resource("gpu").build());
        cluster.apply(policy("training").onNodes("gpu", "h100").select(DeviceSelector.of().withAddresses("0000:41:00.0"))
                .driver("vfio-pci").resource("train").priority(100).build());

        awaitSpec("gpu-1", d -> hasEntry(d, "0000:41:00.0", "vfio-pci", "train"));
        syncAll();
        awaitStatus("training", condition("Ready", "True", "AllNodesReady"));
        VfioBindingPolicyStatus loser = awaitStatus("all-gpus", condition("Ready", "False", "NoMatchingDevices"));
        assertThat(loser.condition("Conflict").getStatus()).isEqualTo("False");
    }

    @Test
    void equal_priority_policies_wanting_different_drivers_leave_the_device_alone_and_both_report_the_conflict() {
        cluster.apply(policy("vfio").onNodes("gpu", "h100").select(NVIDIA_GPUS).driver("vfio-pci").resource("gpu").build());
        cluster.apply(policy("grace").select(DeviceSelector.of().withAddresses("0000:41:00.0")).driver("nvgrace_gpu_vfio_pci").resource("gpu").build());

        VfioBindingPolicyStatus vfio = awaitStatus("vfio", condition("Conflict", "True", "EqualPriorityConflict"));
        VfioBindingPolicyStatus grace = awaitStatus("grace", condition("Conflict", "True", "EqualPriorityConflict"));
        assertThat(vfio.condition("Conflict").getMessage())
                .contains("0000:41:00.0 on gpu-1: grace wants nvgrace_gpu_vfio_pci as gpu, vfio wants vfio-pci as gpu")
                .contains("0000:41:00.0 on gpu-2");
        assertThat(grace.condition("Conflict").getMessage()).contains("0000:41:00.0 on gpu-1");
        assertThat(vfio.condition("Ready").getReason()).isEqualTo("Conflict");
        assertThat(vfio.getFailingNodes()).extracting(f -> f.getNode()).containsExactly("gpu-1", "gpu-2");
        awaitSpec("gpu-1", d -> d.stream().noneMatch(x -> x.getAddress().equals("0000:41:00.0")));
        await().atMost(WAIT).until(() -> cluster.eventsAbout("grace").stream()
                .anyMatch(e -> e.getType().equals("Warning") && e.getReason().equals("Conflict") && e.getMessage().contains("0000:41:00.0")));
        await().atMost(WAIT).until(() -> cluster.eventsAbout("vfio").stream().anyMatch(e -> e.getReason().equals("Conflict")));
    }

    @Test
    void companions_bind_puts_the_gpus_audio_function_on_vfio_pci_and_the_policy_waits_for_it() {
        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu").companions(Companions.Bind).build());

        awaitSpec("gpu-1", d -> d.size() == 2);
        assertThat(spec("gpu-1")).extracting(DesiredDevice::getAddress, DesiredDevice::getDriver, DesiredDevice::getResourceName, DesiredDevice::getCompanionOf)
                .containsExactly(
                        tuple("0000:41:00.0", "auto", "gpu", null),
                        tuple("0000:41:00.1", "vfio-pci", null, "0000:41:00.0"));
        syncAll();
        VfioBindingPolicyStatus status = awaitStatus("gpus", condition("Ready", "True", "AllNodesReady"));
        assertThat(status.getDevices()).as("companions are not counted as the policy's devices").isEqualTo("2/2");
        VfioNodeState node = cluster.nodeState("gpu-1").orElseThrow();
        assertThat(node.getStatus().device("0000:41:00.1").orElseThrow().getDriver()).isEqualTo("vfio-pci");
    }

    @Test
    void deleted_policy_returns_its_devices_to_the_host_and_goes_only_when_the_nodes_report_it() {
        gpusPolicyInEffectOnBothNodes();

        cluster.deletePolicy("gpus");

        awaitSpec("gpu-1", d -> hasEntry(d, "0000:41:00.0", "host", null));
        awaitSpec("gpu-2", d -> hasEntry(d, "0000:41:00.0", "host", null));
        gpu1.sync();
        // gpu-2 has not given its GPU back yet: the finalizer holds the policy
        await().during(Duration.ofSeconds(2)).atMost(WAIT).until(() -> cluster.policy("gpus").isPresent());
        assertThat(cluster.policy("gpus").orElseThrow().getMetadata().getDeletionTimestamp()).isNotNull();

        gpu2.sync();
        await().atMost(WAIT).until(() -> cluster.policy("gpus").isEmpty());
        awaitSpec("gpu-1", List::isEmpty);
        awaitSpec("gpu-2", List::isEmpty);
        assertThat(cluster.nodeState("gpu-2").orElseThrow().getStatus().device("0000:41:00.0").orElseThrow().getDriver()).isEqualTo("nouveau");
    }

    @Test
    void a_node_refusing_a_device_degrades_the_policy_naming_node_and_reason() {
        gpu2.refuse("0000:41:00.0", "boot VGA device; set force: true to bind it anyway");
        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu").build());
        awaitSpec("gpu-2", d -> hasEntry(d, "0000:41:00.0", "auto", "gpu"));
        awaitSpec("gpu-1", d -> hasEntry(d, "0000:41:00.0", "auto", "gpu"));
        syncAll();

        VfioBindingPolicyStatus status = awaitStatus("gpus", condition("Degraded", "True", "NodesFailing"));
        assertThat(status.getNodes()).isEqualTo("1/2");
        assertThat(status.getDevices()).isEqualTo("1/2");
        assertThat(status.getFailingNodes()).singleElement().satisfies(f -> {
            assertThat(f.getNode()).isEqualTo("gpu-2");
            assertThat(f.getMessage()).isEqualTo("0000:41:00.0: Refused binding vfio-pci: boot VGA device; set force: true to bind it anyway");
        });
        Condition ready = status.condition("Ready");
        assertThat(ready.getStatus()).isEqualTo("False");
        assertThat(ready.getReason()).isEqualTo("NodesFailing");
        assertThat(ready.getMessage()).isEqualTo("1/2 nodes ready; not in effect on gpu-2");
        await().atMost(WAIT).until(() -> cluster.eventsAbout("gpus").stream()
                .map(Event::getReason).anyMatch("NodesFailing"::equals));

        gpu2.allow("0000:41:00.0");
        gpu2.sync();
        VfioBindingPolicyStatus recovered = awaitStatus("gpus", condition("Ready", "True", "AllNodesReady"));
        assertThat(recovered.getFailingNodes()).as("a merge of the status must not keep the old entries").isEmpty();
        assertThat(recovered.condition("Degraded").getStatus()).isEqualTo("False");
        assertThat(recovered.getConditions()).hasSize(4);
    }

    @Test
    void a_deleted_policy_does_not_wait_for_a_node_that_is_gone() {
        gpusPolicyInEffectOnBothNodes();

        cluster.deletePolicy("gpus");
        awaitSpec("gpu-1", d -> hasEntry(d, "0000:41:00.0", "host", null));
        gpu1.sync();
        cluster.deleteNode("gpu-2");

        await().atMost(WAIT).until(() -> cluster.policy("gpus").isEmpty());
        await().atMost(WAIT).until(() -> cluster.nodeState("gpu-2").isEmpty());
    }

    @Test
    void a_resource_used_with_two_allocation_units_degrades_the_newer_policy_and_keeps_the_older_working() {
        cluster.apply(policy("a-gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu").build());
        awaitSpec("gpu-1", d -> hasEntry(d, "0000:41:00.0", "auto", "gpu"));
        cluster.apply(policy("b-nics-as-gpu").select(DeviceSelector.of().withVendors("15b3")).resource("gpu").unit(AllocationUnit.Group).build());

        VfioBindingPolicyStatus bad = awaitStatus("b-nics-as-gpu", condition("Degraded", "True", "ResourceUnitMismatch"));
        assertThat(bad.condition("Degraded").getMessage())
                .isEqualTo("resource gpu is allocated per Device by the older policy a-gpus, this policy asks for Group; "
                        + "use another resourceName or the same allocationUnit");
        assertThat(bad.condition("Ready").getStatus()).isEqualTo("False");
        assertThat(spec("gpu-1")).noneMatch(d -> d.getAddress().equals("0000:81:00.2"));
        syncAll();
        awaitStatus("a-gpus", condition("Ready", "True", "AllNodesReady"));
    }

    @Test
    void a_policy_with_a_value_the_schema_would_refuse_is_degraded_with_the_field_named_never_crash_looping() {
        VfioBindingPolicy typo = policy("typo").select(DeviceSelector.of().withVendors("nvidia")).resource("gpu").build();
        cluster.apply(typo);

        VfioBindingPolicyStatus status = awaitStatus("typo", condition("Degraded", "True", "InvalidSpec"));
        assertThat(status.condition("Degraded").getMessage()).isEqualTo("spec.selector.vendors[0]: 'nvidia' is not 4 hex digits");
        assertThat(spec("gpu-1")).isEmpty();
    }

    @Test
    void relabelling_a_node_moves_it_out_of_the_policy() {
        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu").build());
        awaitSpec("gpu-2", d -> hasEntry(d, "0000:41:00.0", "auto", "gpu"));
        syncAll();
        awaitStatus("gpus", s -> "2/2".equals(s.getNodes()));

        cluster.relabel("gpu-2", Map.of("gpu", "retired"));

        awaitSpec("gpu-2", List::isEmpty);
        awaitStatus("gpus", s -> "1/1".equals(s.getNodes()));
    }
}
