package com.example.vfio.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.BindResult;
import com.example.vfio.api.BindState;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.GroupStatus;
import com.example.vfio.api.Health;
import com.example.vfio.api.InventoryDevice;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateSpec;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.binding.BindingEngine;
import com.example.vfio.binding.BindingJournal;
import com.example.vfio.binding.DeviceHolders;
import com.example.vfio.binding.SimulatedKernel;
import com.example.vfio.binding.SysfsWriteException.Errno;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.plugin.NodePlugin;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.kubelet.StandInKubelet;
import com.example.vfio.plugin.kubelet.StandInPodResources;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Cluster mode end to end: the mock API server with the generated CRDs, a fixture host whose sysfs writes a
 * simulated kernel carries out, the real binding engine, rescan loop and device plugin, and the stand-in
 * kubelet. The test plays the operator: it creates the node's VfioNodeState and writes its spec.
 */
class ClusterModeTest {
    static final String NODE = "gpu-node-1";
    static final String GPU_RESOURCE = "vfio.example.com/gpu";
    static final String VGA = "0000:02:00.0";
    static final String GPU = "0000:41:00.0";
    static final String AUDIO = "0000:41:00.1";
    static final String GPU2 = "0000:42:00.0";

    @TempDir
    Path tmp;
    FakeHost host;
    MockApiServer api;
    KubernetesClient agentClient;
    StandInPodResources podResources;
    StandInKubelet kubelet;
    NodePlugin plugin;
    SimulatedKernel kernel;
    ClusterNode node;

    @BeforeEach
    void gpuServer() throws Exception {
        host = FakeHost.at(tmp.resolve("host")).kernel("6.12.0");
        host.driver("vfio-pci", "vfio_pci");
        host.device(VGA).ids(0x1a03, 0x2000).cls(0x030000).group("2").bootVga().driver("ast", "ast");
        host.device(GPU).ids(0x10de, 0x2330).cls(0x030200).numa(0).group("14").driver("nouveau", "nouveau");
        host.device(AUDIO).ids(0x10de, 0x22a3).cls(0x040300).numa(0).group("14")
                .driver("snd_hda_intel", "snd_hda_intel");
        host.device(GPU2).ids(0x10de, 0x2330).cls(0x030200).numa(1).group("15").driver("nouveau", "nouveau");
        host.write();
        kernel = new SimulatedKernel(host);
        api = new MockApiServer().start();
        agentClient = api.newClient();
        podResources = new StandInPodResources(tmp.resolve("pod-resources/kubelet.sock")).start();
        kubelet = new StandInKubelet(tmp.resolve("device-plugins"), podResources).start();
    }

    void startAgent() throws Exception {
        startAgent(true);
    }

    void startAgent(boolean binding) throws Exception {
        PluginMetrics metrics = new PluginMetrics();
        plugin = new NodePlugin(NodePlugin.Config.defaults(kubelet.dir(), podResources.socket())
                .withTimings(Duration.ofMillis(200), Duration.ofHours(1), Duration.ofSeconds(30)),
                metrics, Clock.systemUTC());
        BindingEngine engine = new BindingEngine(host.root(), kernel, kernel,
                BindingJournal.open(tmp.resolve("state/journal.json"), Clock.systemUTC()), DeviceHolders.none(),
                Clock.systemUTC());
        node = ClusterNode.start(agentClient, NODE, host.root(), binding ? engine : null, plugin, metrics,
                new ClusterNode.Settings(ChangeDetection.polling(Duration.ofMillis(300), "a fixture host"), Duration.ofMillis(100), Duration.ofMillis(400),
                        Duration.ofSeconds(1)),
                Clock.systemUTC());
    }

    @AfterEach
    void stop() {
        for (AutoCloseable c : new AutoCloseable[] {node, plugin, kubelet, podResources, agentClient, api}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                // best effort: the next test gets fresh ones
            }
        }
    }

    static ConditionFactory eventually() {
        return await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).pollDelay(Duration.ZERO);
    }

    @Test
    void spec_change_binds_the_gpu_and_its_audio_companion_and_the_status_reports_the_node_ready() throws Exception {
        createNodeState(List.of());
        startAgent();
        eventually().until(() -> status().map(s -> s.getDeviceCount() != null && s.getDeviceCount() == 4
                && s.getSyncStatus() == SyncStatus.Succeeded).orElse(false));
        assertThat(condition(status().orElseThrow(), "Ready").getReason()).isEqualTo("NothingDesired");

        List<DesiredDevice> spec = List.of(
                new DesiredDevice(GPU, "auto", "gpu", "gpus", AllocationUnit.Device, null, null, null),
                new DesiredDevice(AUDIO, "vfio-pci", null, "gpus", null, null, null, GPU));
        long generation = writeSpec(spec);

        eventually().until(() -> status().map(s -> Long.valueOf(generation).equals(s.getObservedGeneration())
                && s.getSyncStatus() == SyncStatus.Succeeded).orElse(false));
        VfioNodeStateStatus status = status().orElseThrow();
        InventoryDevice gpu = status.device(GPU).orElseThrow();
        assertThat(gpu.getDriver()).isEqualTo("vfio-pci");
        assertThat(gpu.getHostDriver()).isEqualTo("nouveau");
        assertThat(gpu.getVfio()).isTrue();
        assertThat(gpu.getViable()).isTrue();
        assertThat(gpu.getResource()).isEqualTo("gpu");
        assertThat(gpu.getHealth()).isEqualTo(Health.Healthy);
        assertThat(status.device(AUDIO).orElseThrow().getHostDriver()).isEqualTo("snd_hda_intel");
        assertThat(status.device(AUDIO).orElseThrow().getViable()).isTrue();
        assertThat(status.getGroups()).as("a viable group needs no explaining").isEmpty();
        assertThat(status.getProblems()).isEmpty();
        assertThat(condition(status, "Ready").getStatus()).isEqualTo("True");
        assertThat(condition(status, "Ready").getMessage()).isEqualTo("2 of 2 desired devices are in effect");
        assertThat(condition(status, "Degraded").getStatus()).isEqualTo("False");
        assertThat(status.getPublishedCount()).isEqualTo(1);
        eventually().until(() -> kubelet.devices(GPU_RESOURCE).equals(Map.of(GPU, "Healthy")));
        assertThat(nodeState().getSpec().getDevices()).as("the agent never writes the spec").isEqualTo(spec);
        eventually().until(() -> events().stream().filter(e -> "Bound".equals(e.getReason())).count() == 2);
        assertThat(events()).filteredOn(e -> e.getMessage().startsWith(GPU + ": ")).singleElement().satisfies(e -> {
            assertThat(e.getType()).isEqualTo("Normal");
            assertThat(e.getMessage()).startsWith(GPU + ": bound to vfio-pci (was nouveau)");
            assertThat(e.getInvolvedObject().getKind()).isEqualTo("VfioNodeState");
            assertThat(e.getInvolvedObject().getName()).isEqualTo(NODE);
            assertThat(e.getInvolvedObject().getUid()).isEqualTo(nodeState().getMetadata().getUid());
        });
    }

    @Test
    void a_pod_allocating_the_gpu_while_the_host_stays_unchanged_shows_in_the_status_with_the_resource_name()
            throws Exception {
        createNodeState(List.of(
                new DesiredDevice(GPU, "auto", "gpu", "gpus", AllocationUnit.Device, null, null, null),
                new DesiredDevice(AUDIO, "vfio-pci", null, "gpus", null, null, null, GPU)));
        startAgent();
        eventually().until(() -> kubelet.devices(GPU_RESOURCE).equals(Map.of(GPU, "Healthy")));
        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Succeeded).orElse(false));
        assertThat(status().orElseThrow().device(GPU).orElseThrow().getAllocatedTo()).isNull();

        kubelet.allocateToPod("vm-a", GPU_RESOURCE, List.of(GPU)); // sysfs does not change: only the holds do

        eventually().until(() -> status().orElseThrow().device(GPU).orElseThrow().getAllocatedTo() != null);
        assertThat(status().orElseThrow().device(GPU).orElseThrow().getAllocatedTo()).isEqualTo(GPU_RESOURCE);
    }

    @Test
    void refusing_the_boot_vga_fails_the_sync_and_says_why_where_kubectl_describe_shows_it() throws Exception {
        createNodeState(List.of(new DesiredDevice(VGA, "vfio-pci", "gpu", "everything", null, null, null, null),
                new DesiredDevice(GPU2, "auto", "gpu", "everything", null, null, null, null)));
        startAgent();

        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Failed
                && s.getObservedGeneration() != null).orElse(false));
        VfioNodeStateStatus status = status().orElseThrow();
        assertThat(status.getLastSyncError()).startsWith(VGA + ": Refused binding vfio-pci: ").contains("boot");
        assertThat(status.getBindResults()).extracting(BindResult::getAddress, BindResult::getState)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(VGA, BindState.Refused));
        assertThat(condition(status, "Degraded").getStatus()).isEqualTo("True");
        assertThat(condition(status, "Degraded").getMessage()).contains(VGA);
        assertThat(condition(status, "Ready").getMessage()).startsWith("1 of 2 desired devices are in effect");
        assertThat(status.device(GPU2).orElseThrow().getViable()).isTrue();
        assertThat(status.device(VGA).orElseThrow().getDriver()).isEqualTo("ast");
        eventually().until(() -> "Healthy".equals(kubelet.devices(GPU_RESOURCE).get(GPU2)));
        eventually().until(() -> events().stream().anyMatch(e -> "BindRefused".equals(e.getReason())));
        Thread.sleep(1000); // rescans, each planning the refused bind again
        assertThat(events()).filteredOn(e -> e.getType().equals("Warning")).as("one event for the refusal, not one per pass")
                .singleElement().satisfies(e -> assertThat(e.getMessage()).startsWith(VGA + ": ")
                        .contains("boot"));
    }

    @Test
    void gpu_bound_without_its_audio_companion_is_not_usable_and_the_status_names_the_blocker() throws Exception {
        createNodeState(List.of(new DesiredDevice(GPU, "vfio-pci", "gpu", "gpus-no-companions", null, null, null,
                null)));
        startAgent();

        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Failed
                && s.device(GPU).map(d -> "vfio-pci".equals(d.getDriver())).orElse(false)).orElse(false));
        VfioNodeStateStatus status = status().orElseThrow();
        assertThat(status.getLastSyncError()).isEqualTo(GPU + ": on vfio-pci but not viable: group 14 is not viable: "
                + AUDIO + " is on snd_hda_intel (see groups)");
        assertThat(status.reasonsOf(GPU))
                .containsExactly("group 14 is not viable: " + AUDIO + " is on snd_hda_intel (see groups)");
        GroupStatus group14 = status.getGroups().stream().filter(g -> g.getId().equals("14")).findFirst().orElseThrow();
        assertThat(group14.getBlockers()).singleElement()
                .satisfies(b -> assertThat(b.getAddress() + " on " + b.getDriver()).isEqualTo(AUDIO + " on snd_hda_intel"));
        assertThat(condition(status, "Degraded").getMessage()).contains(GPU, "snd_hda_intel");
        eventually().until(() -> kubelet.devices(GPU_RESOURCE).equals(Map.of(GPU, "Unhealthy")));
    }

    @Test
    void a_bind_step_the_kernel_failed_is_reported_then_tried_again() throws Exception {
        kernel.failNext(GPU2, "probe", Errno.ENODEV);
        createNodeState(List.of(new DesiredDevice(GPU2, "vfio-pci", "gpu", "gpus", null, null, null, null)));
        startAgent();

        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Failed).orElse(false));
        assertThat(status().orElseThrow().getBindResults()).singleElement()
                .satisfies(r -> assertThat(r.getState()).isEqualTo(BindState.Failed));

        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Succeeded
                && s.device(GPU2).map(d -> Boolean.TRUE.equals(d.getViable())).orElse(false)).orElse(false));
        assertThat(status().orElseThrow().getBindResults()).isEmpty();
        assertThat(status().orElseThrow().getLastSyncError()).isNull();
    }

    @Test
    void a_vfio_node_state_deleted_and_created_again_gets_its_status_again_though_nothing_changed()
            throws Exception {
        List<DesiredDevice> spec = List.of(new DesiredDevice(GPU2, "auto", "gpu", "gpus", null, null, null, null));
        createNodeState(spec);
        startAgent();
        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Succeeded).orElse(false));

        api.admin().resources(VfioNodeState.class).withName(NODE).delete();
        eventually().until(() -> nodeState() == null);
        createNodeState(spec);

        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Succeeded
                && s.device(GPU2).map(d -> Boolean.TRUE.equals(d.getViable())).orElse(false)).orElse(false));
        // the status and the kubelet's device list are written by two threads: the second may follow the first
        eventually().until(() -> kubelet.devices(GPU_RESOURCE).equals(Map.of(GPU2, "Healthy")));
    }

    @Test
    void with_binding_turned_off_nothing_is_rebound_and_the_status_says_why_the_gpu_waits() throws Exception {
        createNodeState(List.of(new DesiredDevice(GPU2, "vfio-pci", "gpu", "gpus", null, null, null, null)));
        startAgent(false);

        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Failed).orElse(false));
        assertThat(status().orElseThrow().getLastSyncError()).isEqualTo(GPU2 + ": on nouveau, not a VFIO driver, and"
                + " not rebound here (policy managed: false, or binding turned off on this node)");
        assertThat(kernel.writes()).isEmpty();
        assertThat(tmp.resolve("state")).as("no journal written").doesNotExist();
    }

    @Test
    void a_spec_that_lists_an_address_twice_is_not_acted_on_until_the_operator_writes_it_again() throws Exception {
        createNodeState(List.of());
        startAgent();
        // the agent may report its host before it has read its spec (observedGeneration still unset): wait for
        // the status that acted on the spec
        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Succeeded
                && s.getObservedGeneration() != null).orElse(false));
        Long before = status().orElseThrow().getObservedGeneration();

        long twice = writeSpec(List.of(new DesiredDevice(GPU, "auto", "gpu", "gpus", null, null, null, null),
                new DesiredDevice(GPU, "host", null, "old", null, null, null, null)));
        Thread.sleep(1000); // several rescans
        assertThat(status().orElseThrow().getObservedGeneration()).as("generation " + twice + " not acted on").isEqualTo(before);
        assertThat(kernel.writes()).isEmpty();

        long fixed = writeSpec(List.of(new DesiredDevice(GPU2, "auto", "gpu", "gpus", null, null, null, null)));
        eventually().until(() -> status().map(s -> Long.valueOf(fixed).equals(s.getObservedGeneration())
                && s.getSyncStatus() == SyncStatus.Succeeded).orElse(false));
    }

    @Test
    void with_binding_off_the_first_status_of_a_new_spec_already_says_what_is_published_under_it() throws Exception {
        createNodeState(List.of());
        startAgent(false);
        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Succeeded).orElse(false));

        long generation = writeSpec(List.of(new DesiredDevice(GPU2, "vfio-pci", "gpu", "gpus", null, null, null, null)));

        // the status that first claims this generation: written after the kubelet side rescanned under it
        VfioNodeStateStatus first = null;
        while (first == null) {
            VfioNodeStateStatus s = status().orElseThrow();
            if (s.getObservedGeneration() != null && s.getObservedGeneration() >= generation) {
                first = s;
            }
        }
        assertThat(first.device(GPU2).orElseThrow().getResource()).isEqualTo("gpu");
        assertThat(first.device(GPU2).orElseThrow().getHealth()).isEqualTo(Health.Unhealthy);
    }

    @Test
    void without_its_vfio_node_state_the_agent_waits_for_the_operator_and_never_creates_it() throws Exception {
        startAgent();
        int before = api.requestCount();
        eventually().until(() -> api.requestCount() > before + 3); // the informer listed, the writer retried

        assertThat(api.admin().resources(VfioNodeState.class).withName(NODE).get()).isNull();
        assertThat(node.publisher().writes()).isZero();
        List<String> requests = api.takeRequests();
        assertThat(requests).filteredOn(r -> r.startsWith("GET /apis/vfio.example.com/v1alpha1/vfionodestates?"))
                .as("the informer lists and watches only this node's object").isNotEmpty()
                .allSatisfy(r -> assertThat(r).contains("fieldSelector=metadata.name%3D" + NODE));
        assertThat(requests).filteredOn(r -> r.contains(" /apis/vfio.example.com/"))
                .as("nothing but reads of VfioNodeStates before the object exists")
                .allSatisfy(r -> assertThat(r).startsWith("GET "));

        createNodeState(List.of(new DesiredDevice(GPU2, "auto", "gpu", "gpus", null, null, null, null)));
        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Succeeded
                && s.device(GPU2).map(d -> Boolean.TRUE.equals(d.getViable())).orElse(false)).orElse(false));
    }

    @Test
    void the_plugin_keeps_serving_while_the_api_server_is_away_and_the_status_is_written_once_it_is_back()
            throws Exception {
        List<DesiredDevice> spec = List.of(new DesiredDevice(GPU2, "auto", "gpu", "gpus", null, null, null, null));
        createNodeState(spec);
        startAgent();
        eventually().until(() -> status().map(s -> s.getSyncStatus() == SyncStatus.Succeeded).orElse(false));
        eventually().until(() -> kubelet.devices(GPU_RESOURCE).equals(Map.of(GPU2, "Healthy")));

        api.stop();
        host.device("0000:82:00.0").ids(0x8086, 0x0a54).cls(0x010802).group("40").driver("nvme", "nvme");
        host.write();
        Thread.sleep(1500); // several rescans and failed status writes with the API server away

        // FakeHost.write() rebuilds the tree, so a rescan may have caught it half written: the end state counts
        eventually().until(() -> kubelet.devices(GPU_RESOURCE).equals(Map.of(GPU2, "Healthy")));
        assertThat(kubelet.connected(GPU_RESOURCE)).isTrue();
        assertThat(node.daemon().liveness()).isNull();

        api.restart();
        createNodeState(spec); // the operator creates it again in the fresh API server
        // the client's watch reconnects with a backoff that grew while the server was away
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100)).until(() -> status().map(s -> s.getDeviceCount() != null && s.getDeviceCount() == 5
                && s.getSyncStatus() == SyncStatus.Succeeded).orElse(false));
        assertThat(status().orElseThrow().device(GPU2).orElseThrow().getHealth()).isEqualTo(Health.Healthy);
    }

    /** Events about the node state: in "default", where the API server wants those of cluster-scoped objects. */
    private List<io.fabric8.kubernetes.api.model.Event> events() {
        return api.admin().v1().events().inNamespace("default").list().getItems().stream()
                .filter(e -> NODE.equals(e.getInvolvedObject().getName())).toList();
    }

    private void createNodeState(List<DesiredDevice> devices) {
        VfioNodeState state = new VfioNodeState();
        state.setMetadata(new ObjectMetaBuilder().withName(NODE).build());
        state.setSpec(new VfioNodeStateSpec(devices));
        api.admin().resource(state).create();
    }

    /**
     * Writes the spec as the operator does (a patch against the version it read, again on a conflict with
     * the agent's status writes), returning the generation the object has then.
     */
    private long writeSpec(List<DesiredDevice> devices) {
        for (int attempt = 1; ; attempt++) {
            try {
                VfioNodeState updated = api.admin().resources(VfioNodeState.class).withName(NODE).edit(s -> {
                    s.setSpec(new VfioNodeStateSpec(devices));
                    return s;
                });
                return updated.getMetadata().getGeneration();
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409 || attempt == 10) {
                    throw e;
                }
            }
        }
    }

    private VfioNodeState nodeState() {
        return api.admin().resources(VfioNodeState.class).withName(NODE).get();
    }

    private Optional<VfioNodeStateStatus> status() {
        VfioNodeState s = nodeState();
        return s == null ? Optional.empty() : Optional.ofNullable(s.getStatus());
    }

    private static Condition condition(VfioNodeStateStatus status, String type) {
        return status.getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
    }
}
