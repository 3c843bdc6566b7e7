package com.example.vfio.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.BindResult;
import com.example.vfio.api.BindState;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.GroupStatus;
import com.example.vfio.api.Health;
import com.example.vfio.api.InventoryDevice;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeStatusBuilderTest {
    static final Instant T0 = Instant.parse("2026-11-24T06:00:00Z");
    static final Instant T1 = Instant.parse("2026-11-24T06:05:00Z");
    static final String GPU = "0000:41:00.0";
    static final String AUDIO = "0000:41:00.1";
    static final String GPU2 = "0000:42:00.0";
    static final String VGA = "0000:02:00.0";

    @TempDir
    Path dir;
    FakeHost host;
    final NodeStatusBuilder builder = new NodeStatusBuilder();

    @BeforeEach
    void gpuServer() {
        host = FakeHost.at(dir).kernel("6.12.0");
        host.alias("vfio_pci:v000010DEd00002342sv*sd*bc*sc*i*", "nvgrace_gpu_vfio_pci");
        host.driver("vfio-pci", "vfio_pci");
        host.device(VGA).ids(0x1a03, 0x2000).cls(0x030000).group("2").numa(0).bootVga().driver("ast", "ast");
        host.device(GPU).ids(0x10de, 0x2330).cls(0x030200).numa(0).group("14").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio0");
        host.device(AUDIO).ids(0x10de, 0x22a3).cls(0x040300).numa(0).group("14")
                .driver("snd_hda_intel", "snd_hda_intel");
        host.devVfio("14");
        host.device(GPU2).ids(0x10de, 0x2330).cls(0x030200).numa(1).group("15").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio1");
        host.devVfio("15");
        host.device("0000:44:00.0").ids(0x10de, 0x2342).cls(0x030200).group("17").driver("nouveau", "nouveau");
        host.write();
    }

    @Test
    void audio_function_on_snd_hda_intel_blocks_the_gpus_group_and_the_status_says_so_where_an_admin_looks() {
        VfioNodeStateStatus status = builder.build(inputs(List.of(gpu(GPU)), Map.of(), List.of(), false), null);

        InventoryDevice gpu = status.device(GPU).orElseThrow();
        assertThat(gpu.getVfio()).isTrue();
        assertThat(gpu.getViable()).isNull();
        assertThat(status.reasonsOf(GPU)).containsExactly(
                "group 14 is not viable: 0000:41:00.1 is on snd_hda_intel (see groups)");
        GroupStatus group14 = status.getGroups().stream().filter(g -> g.getId().equals("14")).findFirst().orElseThrow();
        assertThat(group14.getViable()).isFalse();
        assertThat(group14.getDevices()).containsExactly(GPU, AUDIO);
        assertThat(group14.getBlockers()).singleElement()
                .satisfies(b -> assertThat(b.getAddress() + " " + b.getDriver()).isEqualTo(AUDIO + " snd_hda_intel"));
        assertThat(status.getSyncStatus()).isEqualTo(SyncStatus.Failed);
        assertThat(status.getLastSyncError()).startsWith(GPU + ": on vfio-pci but not viable: group 14 is not viable");
        assertThat(condition(status, "Degraded").getStatus()).isEqualTo("True");
        assertThat(condition(status, "Degraded").getMessage()).contains(GPU, "snd_hda_intel");
        assertThat(condition(status, "Ready").getStatus()).isEqualTo("False");
    }

    @Test
    void all_desired_devices_bound_and_published_healthy_make_the_node_ready() {
        Map<PciAddress, DevicePublication> published = Map.of(PciAddress.parse(GPU2),
                new DevicePublication("gpu", true, null, null));

        VfioNodeStateStatus status = builder.build(inputs(List.of(gpu(GPU2)), published, List.of(), false), null);

        assertThat(status.getSyncStatus()).isEqualTo(SyncStatus.Succeeded);
        assertThat(status.getLastSyncError()).isNull();
        assertThat(status.getObservedGeneration()).isEqualTo(3L);
        assertThat(condition(status, "Ready").getStatus()).isEqualTo("True");
        assertThat(condition(status, "Ready").getMessage()).isEqualTo("1 of 1 desired devices are in effect");
        assertThat(condition(status, "Progressing").getStatus()).isEqualTo("False");
        assertThat(condition(status, "Degraded").getStatus()).isEqualTo("False");
        InventoryDevice gpu = status.device(GPU2).orElseThrow();
        assertThat(gpu.getViable()).isTrue();
        assertThat(gpu.getResource()).isEqualTo("gpu");
        assertThat(gpu.getHealth()).isEqualTo(Health.Healthy);
        assertThat(status.reasonsOf(GPU2)).isEmpty();
        assertThat(status.getPublishedCount()).isEqualTo(1);
        assertThat(status.getViableCount()).isEqualTo(1);
    }

    @Test
    void a_pass_under_way_is_in_progress_and_names_what_it_waits_for() {
        VfioNodeStateStatus status = builder.build(inputs(List.of(gpu("0000:44:00.0")), Map.of(), List.of(), true),
                null);

        assertThat(status.getSyncStatus()).isEqualTo(SyncStatus.InProgress);
        assertThat(condition(status, "Progressing").getStatus()).isEqualTo("True");
        assertThat(condition(status, "Progressing").getReason()).isEqualTo("Binding");
        assertThat(condition(status, "Ready").getMessage())
                .contains("0000:44:00.0: on nouveau, waiting to be bound to nvgrace_gpu_vfio_pci");
        assertThat(condition(status, "Degraded").getStatus()).isEqualTo("False");
    }

    @Test
    void refusing_to_bind_the_boot_vga_fails_the_sync_naming_the_device_and_the_guard() {
        BindResult refused = new BindResult(VGA, "vfio-pci", BindState.Refused,
                "boot VGA device: the console uses it (set force: true to bind it anyway)", T0.toString());
        BindResult bound = new BindResult(GPU2, "vfio-pci", BindState.Bound, "bound", T0.toString());
        Map<PciAddress, DevicePublication> published = Map.of(PciAddress.parse(GPU2),
                new DevicePublication("gpu", true, null, null));

        VfioNodeStateStatus status = builder.build(
                inputs(List.of(gpu(VGA), gpu(GPU2)), published, List.of(refused, bound), false), null);

        assertThat(status.getSyncStatus()).isEqualTo(SyncStatus.Failed);
        assertThat(status.getLastSyncError())
                .isEqualTo(VGA + ": Refused binding vfio-pci: boot VGA device: the console uses it"
                        + " (set force: true to bind it anyway)");
        assertThat(status.getBindResults()).extracting(BindResult::getAddress, BindResult::getState)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(VGA, BindState.Refused));
        assertThat(condition(status, "Degraded").getReason()).isEqualTo("DevicesFailed");
        assertThat(condition(status, "Ready").getMessage()).startsWith("1 of 2 desired devices are in effect");
    }

    @Test
    void a_device_published_through_dra_says_so_and_names_the_claim_prepared_with_it() {
        Map<PciAddress, DevicePublication> published = Map.of(PciAddress.parse(GPU2),
                new DevicePublication("gpu", true, null, "claim:vms/vm-gpu", true));

        VfioNodeStateStatus status = builder.build(inputs(List.of(gpu(GPU2)), published, List.of(), false), null);

        assertThat(status.device(GPU2).orElseThrow().toLine())
                .endsWith("group=15 numa=1 resource=gpu dra health=Healthy held=claim:vms/vm-gpu");
        assertThat(status.getSyncStatus()).isEqualTo(SyncStatus.Succeeded);
    }

    @Test
    void device_held_by_a_pod_waits_with_the_bind_result_message() {
        BindResult pending = new BindResult(GPU2, "host", BindState.Pending,
                "held by pod vms/win11: never rebound while in use", T0.toString());
        DesiredDevice toHost = new DesiredDevice(GPU2, "host", null, "gpus", null, null, null, null);

        VfioNodeStateStatus status = builder.build(inputs(List.of(toHost), Map.of(), List.of(pending), false), null);

        assertThat(status.getSyncStatus()).isEqualTo(SyncStatus.InProgress);
        assertThat(condition(status, "Progressing").getReason()).isEqualTo("Waiting");
        assertThat(condition(status, "Progressing").getMessage())
                .isEqualTo(GPU2 + ": held by pod vms/win11: never rebound while in use");
    }

    @Test
    void unchanged_conditions_keep_their_transition_time_and_changed_ones_get_the_new_time() {
        Map<PciAddress, DevicePublication> published = Map.of(PciAddress.parse(GPU2),
                new DevicePublication("gpu", true, null, null));
        VfioNodeStateStatus first = builder.build(inputs(List.of(gpu(GPU2)), published, List.of(), true), null);

        StatusInputs later = new StatusInputs(assess(), List.of(gpu(GPU2)), 3L, published, List.of(), Map.of(),
                false, null, T1);
        VfioNodeStateStatus second = builder.build(later, first);

        assertThat(condition(second, "Degraded").getLastTransitionTime()).isEqualTo(T0.toString());
        assertThat(condition(second, "Ready").getLastTransitionTime()).isEqualTo(T1.toString());
        assertThat(condition(second, "Progressing").getLastTransitionTime()).isEqualTo(T1.toString());
    }

    @Test
    void device_lines_leave_out_what_is_false_unknown_or_already_said() {
        VfioNodeStateStatus status = builder.build(StatusInputs.inventoryOnly(assess(), T0), null);

        String json = Serialization.asJson(status.device("0000:44:00.0").orElseThrow());
        assertThat(json).isEqualTo("\"0000:44:00.0 10de:2342 030200 nouveau group=17 auto=nvgrace_gpu_vfio_pci\"");
        assertThat(status.reasonsOf("0000:44:00.0")).as("not on a VFIO driver is what driver and auto= say").isEmpty();
        InventoryDevice gpu2 = status.device(GPU2).orElseThrow();
        assertThat(gpu2.getRecommended()).isNull();
        assertThat(gpu2.getNuma()).isEqualTo(1);
        assertThat(status.getGroups()).extracting(GroupStatus::getId).containsExactly("14");
        assertThat(condition(status, "Ready").getReason()).isEqualTo("NothingDesired");
    }

    @Test
    void journal_host_driver_is_reported_for_a_device_this_project_rebound() {
        StatusInputs in = new StatusInputs(assess(), List.of(), null, Map.of(), List.of(),
                Map.of(PciAddress.parse(GPU2), "nouveau", PciAddress.parse(VGA), "ast"), false, null, T0);

        VfioNodeStateStatus status = builder.build(in, null);

        assertThat(status.device(GPU2).orElseThrow().getHostDriver()).isEqualTo("nouveau");
        assertThat(status.device(VGA).orElseThrow().getHostDriver()).isNull();
    }

    @Test
    void an_unmanaged_host_policy_reports_devices_it_does_not_give_back_itself_and_the_ones_already_back() {
        List<DesiredDevice> desired = List.of(
                new DesiredDevice(GPU2, "host", null, "hands-off", null, false, null, null),
                new DesiredDevice("0000:44:00.0", "host", null, "hands-off", null, false, null, null));

        VfioNodeStateStatus status = builder.build(inputs(desired, Map.of(), List.of(), false), null);

        assertThat(status.getSyncStatus()).isEqualTo(SyncStatus.Failed);
        assertThat(status.getLastSyncError()).isEqualTo(GPU2 + ": on vfio-pci, a VFIO driver, and not given back here"
                + " (policy managed: false, or binding turned off on this node)");
        assertThat(condition(status, "Ready").getMessage()).startsWith("1 of 2 desired devices are in effect");
    }

    @Test
    void a_desired_address_the_node_does_not_have_is_a_failure_naming_it() {
        VfioNodeStateStatus status = builder.build(inputs(List.of(gpu("0000:99:00.0")), Map.of(), List.of(), false),
                null);

        assertThat(status.getSyncStatus()).isEqualTo(SyncStatus.Failed);
        assertThat(status.getLastSyncError()).isEqualTo("0000:99:00.0: not on this node");
    }

    private StatusInputs inputs(List<DesiredDevice> desired, Map<PciAddress, DevicePublication> published,
            List<BindResult> results, boolean binding) {
        return new StatusInputs(assess(), desired, 3L, published, results, Map.of(), binding, null, T0);
    }

    private HostAssessment assess() {
        return new ViabilityAnalyzer().assess(new SysfsScanner(host.root()).scan());
    }

    private static DesiredDevice gpu(String address) {
        return new DesiredDevice(address, "auto", "gpu", "gpus", AllocationUnit.Device, null, null, null);
    }

    private static Condition condition(VfioNodeStateStatus status, String type) {
        return status.getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
    }
}
