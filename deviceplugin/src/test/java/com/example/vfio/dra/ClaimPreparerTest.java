package com.example.vfio.dra;

import static com.example.vfio.dra.DraHosts.GPU_A;
import static com.example.vfio.dra.DraHosts.GPU_A_SIBLING;
import static com.example.vfio.dra.DraHosts.GPU_B;
import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.pci.FakeHost;
import com.example.vfio.plugin.CdiSpecs;
import com.example.vfio.plugin.GroupAllocations;
import com.example.vfio.plugin.MutableClock;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.PublishedResource;
import com.example.vfio.plugin.prometheus.Scrape;
import com.example.vfio.viability.HostAssessment;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NodePrepareResources and NodeUnprepareResources on a fixture host, with a stand-in for the API server's claims. */
class ClaimPreparerTest {
    static final String NODE = "node-a";
    @TempDir
    Path tmp;
    final GroupAllocations allocations = new GroupAllocations(new MutableClock(), Duration.ofSeconds(30));
    final PluginMetrics metrics = new PluginMetrics();
    final Map<String, AllocatedClaim> apiServer = new HashMap<>();
    DraView view;
    Path driverDir;
    Path cdiDir;

    @BeforeEach
    void publish() {
        FakeHost host = DraHosts.gpuServer(tmp.resolve("host"));
        HostAssessment a = DraHosts.assess(host);
        PublishedResource gpus = DraHosts.gpus(a);
        view = new DraView(List.of(gpus), DraDevices.of(a, gpus, Map.of()));
        driverDir = tmp.resolve("plugins/vfio.example.com");
        cdiDir = tmp.resolve("cdi");
    }

    ClaimPreparer open() throws Exception {
        return ClaimPreparer.open(ref -> {
            AllocatedClaim c = apiServer.get(ref.namespace() + "/" + ref.name());
            if (c == null) {
                throw new AllocatedClaim.Unusable("ResourceClaim " + ref.qualifiedName() + " does not exist");
            }
            return c;
        }, () -> view, allocations, new CdiSpecs(cdiDir), driverDir, NODE, metrics);
    }

    ClaimPreparation.ClaimRef claim(String name, String uid, String... requestDevice) {
        List<AllocatedClaim.Result> results = new ArrayList<>();
        for (int i = 0; i < requestDevice.length; i += 2) {
            results.add(new AllocatedClaim.Result(requestDevice[i], "vfio.example.com", NODE, requestDevice[i + 1]));
        }
        results.add(new AllocatedClaim.Result("nic", "other.example.com", NODE, "eth0")); // another driver's: not ours
        apiServer.put("vms/" + name, new AllocatedClaim("vms", name, uid, null, results));
        return new ClaimPreparation.ClaimRef("vms", uid, name);
    }

    static ClaimPreparation.Result one(Map<String, ClaimPreparation.Result> results) {
        assertThat(results).hasSize(1);
        return results.values().iterator().next();
    }

    @Test
    void a_prepared_claim_gets_its_cdi_edits_device_metadata_and_holds() throws Exception {
        ClaimPreparer p = open();
        ClaimPreparation.ClaimRef ref = claim("vm-gpu", "uid-1", "gpu", "pci-0000-41-00-0", "gpu", "pci-0000-c1-00-0");

        ClaimPreparation.Result r = one(p.prepare(List.of(ref)));

        assertThat(r.error()).isNull();
        assertThat(r.devices()).extracting(ClaimPreparation.PreparedDevice::device)
                .containsExactly("pci-0000-41-00-0", "pci-0000-c1-00-0");
        assertThat(r.devices()).allSatisfy(d -> {
            assertThat(d.pool()).isEqualTo(NODE);
            assertThat(d.requests()).containsExactly("gpu");
        });
        assertThat(r.devices().get(0).cdiIds()).as("the device's own first, then its request's")
                .containsExactly("vfio.example.com/claim=uid-1-pci-0000-41-00-0", "vfio.example.com/claim=uid-1-gpu");
        assertThat(r.devices().get(1).cdiIds()).as("the request's CDI device comes once")
                .containsExactly("vfio.example.com/claim=uid-1-pci-0000-c1-00-0");

        JsonNode spec = new ObjectMapper().readTree(Files.readString(cdiDir.resolve("vfio.example.com-claim-uid-1.json")));
        assertThat(spec.get("kind").asText()).isEqualTo("vfio.example.com/claim");
        assertThat(spec.get("devices").findValuesAsText("name"))
                .containsExactly("uid-1-gpu", "uid-1-pci-0000-41-00-0", "uid-1-pci-0000-c1-00-0");
        JsonNode edits = spec.get("devices").get(0).get("containerEdits");
        assertThat(edits.get("deviceNodes").findValuesAsText("path")).containsExactly("/dev/vfio/vfio");
        assertThat(spec.get("devices").get(1).get("containerEdits").get("deviceNodes").findValuesAsText("path"))
                .containsExactly("/dev/vfio/14");
        assertThat(spec.get("devices").get(2).get("containerEdits").get("deviceNodes").findValuesAsText("path"))
                .containsExactly("/dev/vfio/40");
        assertThat(spec.findValuesAsText("permissions")).containsOnly("rwm");
        assertThat(edits.get("env").get(0).asText()).isEqualTo("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU=0000:41:00.0,0000:c1:00.0");
        JsonNode mount = edits.get("mounts").get(0);
        assertThat(mount.get("containerPath").asText()).isEqualTo(
                "/var/run/kubernetes.io/dra-device-attributes/resourceclaims/vm-gpu/gpu/vfio.example.com-metadata.json");
        assertThat(mount.get("options").toString()).isEqualTo("[\"ro\",\"bind\"]");

        Path metadataFile = Path.of(mount.get("hostPath").asText());
        assertThat(metadataFile).isEqualTo(driverDir.resolve("dra-device-metadata/vms_vm-gpu/gpu/metadata.json"));
        List<String> stream = Files.readAllLines(metadataFile);
        assertThat(stream).hasSize(2);
        JsonNode beta = new ObjectMapper().readTree(stream.get(0));
        JsonNode alpha = new ObjectMapper().readTree(stream.get(1));
        assertThat(beta.get("apiVersion").asText()).isEqualTo("metadata.resource.k8s.io/v1beta1");
        assertThat(alpha.get("apiVersion").asText()).isEqualTo("metadata.resource.k8s.io/v1alpha1");
        assertThat(alpha.get("metadata").get("uid").asText()).isEqualTo("uid-1");
        JsonNode device = alpha.get("requests").get(0).get("devices").get(0);
        assertThat(device.get("name").asText()).isEqualTo("pci-0000-41-00-0");
        assertThat(device.get("attributes").get("resource.kubernetes.io/pciBusID").get("string").asText()).isEqualTo(GPU_A);

        assertThat(allocations.holds()).containsOnlyKeys("14", "40");
        assertThat(allocations.holds().get("14").holder()).isEqualTo("claim vms/vm-gpu");
        assertThat(allocations.holderOf(com.example.vfio.pci.PciAddress.parse(GPU_A)))
                .contains("DRA claim vms/vm-gpu of vfio.example.com/gpu (IOMMU group 14)");
    }

    @Test
    void preparing_a_prepared_claim_again_answers_the_same_without_reading_it_again() throws Exception {
        ClaimPreparer p = open();
        ClaimPreparation.ClaimRef ref = claim("vm-gpu", "uid-1", "gpu", "pci-0000-41-00-0");
        ClaimPreparation.Result first = one(p.prepare(List.of(ref)));
        apiServer.clear();

        assertThat(one(p.prepare(List.of(ref)))).isEqualTo(first);
        assertThat(Scrape.of(metrics.registry()).family("vfio_dra_prepares_total").value("vfio_dra_prepares_total")).isEqualTo(1);
    }

    @Test
    void a_sibling_of_a_prepared_device_is_refused_naming_the_device_and_the_holder() throws Exception {
        ClaimPreparer p = open();
        one(p.prepare(List.of(claim("vm-1", "uid-1", "gpu", "pci-0000-41-00-0"))));

        ClaimPreparation.Result r = one(p.prepare(List.of(claim("vm-2", "uid-2", "gpu", "pci-0000-41-00-1",
                "gpu", "pci-0000-c1-00-0"))));

        assertThat(r.error()).isEqualTo(GPU_A_SIBLING + ": IOMMU group 14 is held with " + GPU_A + " by claim vms/vm-1");
        assertThat(allocations.holds()).as("nothing of the refused claim is held").containsOnlyKeys("14");
        assertThat(cdiDir.resolve("vfio.example.com-claim-uid-2.json")).doesNotExist();
        assertThat(metrics.draRefusals()).isEqualTo(1);
    }

    @Test
    void a_group_a_device_plugin_pod_holds_is_refused_and_so_is_a_device_a_vm_cannot_take() throws Exception {
        ClaimPreparer p = open();
        allocations.acquire("vfio.example.com/gpu-legacy", List.of(new GroupAllocations.Claim(GPU_B, "40", List.of(GPU_B))));

        assertThat(one(p.prepare(List.of(claim("vm-1", "uid-1", "gpu", "pci-0000-c1-00-0")))).error())
                .isEqualTo(GPU_B + ": IOMMU group 40 is held with " + GPU_B
                        + " by a pod's vfio.example.com/gpu-legacy (device plugin)");
        assertThat(one(p.prepare(List.of(claim("vm-2", "uid-2", "gpu", "pci-0000-c2-00-0")))).error())
                .startsWith("0000:c2:00.0 (pci-0000-c2-00-0): not usable for a VM: bound to nvidia, not a VFIO driver");
    }

    @Test
    void claims_that_are_gone_replaced_unallocated_or_not_ours_are_refused_with_the_reason() throws Exception {
        ClaimPreparer p = open();
        assertThat(one(p.prepare(List.of(new ClaimPreparation.ClaimRef("vms", "u", "nope")))).error())
                .isEqualTo("ResourceClaim vms/nope does not exist");
        assertThat(one(p.prepare(List.of(claim("vm-1", "uid-1", "gpu", "pci-0000-99-00-0")))).error())
                .startsWith("device pci-0000-99-00-0 is not published by node node-a");
        apiServer.put("vms/vm-2", new AllocatedClaim("vms", "vm-2", "uid-2", null,
                List.of(new AllocatedClaim.Result("gpu", "vfio.example.com", "node-b", "pci-0000-41-00-0"))));
        assertThat(one(p.prepare(List.of(new ClaimPreparation.ClaimRef("vms", "uid-2", "vm-2")))).error())
                .isEqualTo("device pci-0000-41-00-0 was allocated from pool node-b, but this is node node-a");
        assertThat(allocations.holds()).isEmpty();
    }

    @Test
    void unprepare_undoes_everything_and_unpreparing_again_or_an_unknown_claim_succeeds() throws Exception {
        ClaimPreparer p = open();
        ClaimPreparation.ClaimRef ref = claim("vm-gpu", "uid-1", "gpu", "pci-0000-41-00-0");
        one(p.prepare(List.of(ref)));

        assertThat(p.unprepare(List.of(ref))).containsEntry("uid-1", null);

        assertThat(allocations.holds()).isEmpty();
        assertThat(cdiDir.resolve("vfio.example.com-claim-uid-1.json")).doesNotExist();
        assertThat(driverDir.resolve("dra-device-metadata/vms_vm-gpu")).doesNotExist();
        assertThat(p.unprepare(List.of(ref, new ClaimPreparation.ClaimRef("x", "uid-9", "y"))))
                .containsEntry("uid-1", null).containsEntry("uid-9", null);
        // the group is free for the next claim
        assertThat(one(p.prepare(List.of(claim("vm-2", "uid-2", "gpu", "pci-0000-41-00-1")))).error()).isNull();
    }

    @Test
    void a_restarted_daemon_keeps_the_holds_of_prepared_claims_unprepares_them_and_drops_stray_files() throws Exception {
        ClaimPreparation.ClaimRef ref = claim("vm-gpu", "uid-1", "gpu", "pci-0000-41-00-0");
        ClaimPreparation.Result before = one(open().prepare(List.of(ref)));
        Files.writeString(cdiDir.resolve("vfio.example.com-claim-uid-dead.json"), "{}");
        Files.createDirectories(driverDir.resolve("dra-device-metadata/vms_dead/gpu"));

        // a new daemon: new hold table, the record on disk
        GroupAllocations fresh = new GroupAllocations(new MutableClock(), Duration.ofSeconds(30));
        ClaimPreparer restarted = ClaimPreparer.open(r -> { throw new AllocatedClaim.Unusable("API server away"); },
                () -> view, fresh, new CdiSpecs(cdiDir), driverDir, NODE, metrics);

        assertThat(fresh.holds()).containsOnlyKeys("14");
        assertThat(cdiDir.resolve("vfio.example.com-claim-uid-dead.json")).doesNotExist();
        assertThat(driverDir.resolve("dra-device-metadata/vms_dead")).doesNotExist();
        assertThat(one(restarted.prepare(List.of(ref)))).as("no API server needed for a prepared claim").isEqualTo(before);
        assertThat(restarted.unprepare(List.of(ref))).containsEntry("uid-1", null);
        assertThat(fresh.holds()).isEmpty();
        assertThat(cdiDir.resolve("vfio.example.com-claim-uid-1.json")).doesNotExist();
    }
}
