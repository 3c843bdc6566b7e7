package com.example.vfio.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateSpec;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.pci.DeviceNodes;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The status of a node with 4,096 PCI functions, measured as the JSON the API server stores: 32 ConnectX
 * PFs with 127 VFs each, the VFs in IOMMU groups of one and two functions. The host is laid out once on
 * disk (VFs on mlx5_core) and scanned; the "all bound" node is the same scan with every VF moved to the
 * variant driver, as the scanner would see it after binding. Each device is one status line and only
 * groups that need explaining are listed, which keeps the status within the design's 512 KiB.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LargeNodeStatusSizeTest {
    /** etcd refuses objects over 1.5 MiB (its default --max-request-bytes). */
    static final int ETCD_OBJECT_LIMIT = 1536 * 1024;
    /** What the status may take of that (the design's budget for a 4,096-function node). */
    static final int STATUS_BUDGET_BYTES = 512 * 1024;
    /** The whole object, spec and status, stays well clear of the etcd limit. */
    static final int OBJECT_BUDGET_BYTES = 1024 * 1024;
    static final int PFS = 32;
    static final int VFS_PER_PF = 127;
    static final Instant NOW = Instant.parse("2026-11-24T06:00:00Z");

    HostSnapshot scanned;
    final List<String> vfs = new ArrayList<>();

    @BeforeAll
    void layOutHost(@TempDir Path dir) {
        FakeHost host = FakeHost.at(dir).kernel("6.12.0");
        host.alias("vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*", "mlx5_vfio_pci");
        host.driver("mlx5_vfio_pci", "mlx5_vfio_pci");
        int group = 100;
        for (int pf = 0; pf < PFS; pf++) {
            int bus = 0x40 + pf;
            String pfAddress = address(bus, 0);
            List<String> children = new ArrayList<>();
            for (int vf = 1; vf <= VFS_PER_PF; vf++) {
                children.add(address(bus, vf));
            }
            host.device(pfAddress).ids(0x15b3, 0x1021).cls(0x020000).numa(pf % 2).group(Integer.toString(group++))
                    .driver("mlx5_core", "mlx5_core").sriov(VFS_PER_PF, children.toArray(String[]::new));
            for (int vf = 1; vf <= VFS_PER_PF; vf++) {
                // every third VF shares its group with the next one (no ACS between them)
                String g = Integer.toString(vf % 3 == 2 ? group : group++);
                host.device(address(bus, vf)).ids(0x15b3, 0x101e).cls(0x020000).numa(pf % 2).group(g)
                        .physfn(pfAddress).driver("mlx5_core", "mlx5_core");
                vfs.add(address(bus, vf));
            }
        }
        host.write();
        scanned = new SysfsScanner(host.root()).scan();
        assertThat(scanned.devices()).hasSize(4096);
    }

    @Test
    void inventory_of_4096_functions_with_nothing_desired_fits_in_512_kib() {
        HostAssessment assessment = new ViabilityAnalyzer().assess(scanned);

        VfioNodeStateStatus status = new NodeStatusBuilder().build(StatusInputs.inventoryOnly(assessment, NOW), null);

        int bytes = jsonBytes(status);
        System.out.printf("status of 4096 functions, VFs on mlx5_core, nothing desired: %d bytes (%.1f KiB)%n",
                bytes, bytes / 1024.0);
        assertThat(status.getDeviceCount()).isEqualTo(4096);
        assertThat(status.getDevices()).hasSize(4096);
        assertThat(status.getGroups()).as("nobody wants these groups; membership is in each line's group=").isEmpty();
        // on mlx5_core is what each line's driver and auto= say: only the PFs have something more to say
        assertThat(status.getProblems()).hasSize(PFS).allSatisfy(p -> assertThat(p.getReasons()).singleElement()
                .asString().startsWith("has " + VFS_PER_PF + " SR-IOV VFs enabled"));
        assertThat(bytes).isLessThanOrEqualTo(STATUS_BUDGET_BYTES);
    }

    @Test
    void every_vf_bound_published_and_a_quarter_allocated_fits_in_512_kib_and_the_object_in_a_mebibyte() {
        HostAssessment assessment = new ViabilityAnalyzer().assess(everyVfOnVariantDriver());
        List<DesiredDevice> desired = new ArrayList<>();
        Map<PciAddress, DevicePublication> published = new HashMap<>();
        for (int i = 0; i < vfs.size(); i++) {
            desired.add(new DesiredDevice(vfs.get(i), "auto", "nic", "connectx-vfs", AllocationUnit.Device, null,
                    null, null));
            published.put(PciAddress.parse(vfs.get(i)), new DevicePublication("nic", true, null,
                    i % 4 == 0 ? "tenant-" + (i % 97) + "/vm-" + i : null));
        }
        StatusInputs in = new StatusInputs(assessment, desired, 7L, published, List.of(), Map.of(), false, null, NOW);

        VfioNodeStateStatus status = new NodeStatusBuilder().build(in, null);

        int statusBytes = jsonBytes(status);
        VfioNodeState object = new VfioNodeState();
        object.setMetadata(new ObjectMetaBuilder().withName("sriov-node-with-a-long-name-0042").withGeneration(7L)
                .build());
        object.setSpec(new VfioNodeStateSpec(desired));
        object.setStatus(status);
        int objectBytes = Serialization.asJson(object).getBytes(StandardCharsets.UTF_8).length;
        System.out.printf("status of 4096 functions, 4064 VFs bound, published, 1/4 allocated: %d bytes (%.1f KiB);"
                + " whole object with the spec: %d bytes (%.1f KiB)%n", statusBytes, statusBytes / 1024.0,
                objectBytes, objectBytes / 1024.0);
        assertThat(status.getSyncStatus()).isEqualTo(SyncStatus.Succeeded);
        assertThat(status.getViableCount()).isEqualTo(vfs.size());
        assertThat(status.getPublishedCount()).isEqualTo(vfs.size());
        assertThat(statusBytes).isLessThanOrEqualTo(STATUS_BUDGET_BYTES);
        assertThat(objectBytes).isLessThanOrEqualTo(OBJECT_BUDGET_BYTES).isLessThan(ETCD_OBJECT_LIMIT);
    }

    /** The scan as it reads once every VF is on mlx5_vfio_pci with its vfio-dev entry and group node. */
    private HostSnapshot everyVfOnVariantDriver() {
        Set<String> vfSet = new HashSet<>(vfs);
        TreeMap<PciAddress, PciDevice> devices = new TreeMap<>();
        Set<String> groupNodes = new HashSet<>();
        int n = 0;
        for (PciDevice d : scanned.allDevices()) {
            if (vfSet.contains(d.address().toString())) {
                d = new PciDevice(d.address(), d.vendor(), d.device(), d.subsystemVendor(), d.subsystemDevice(),
                        d.classCode(), d.modalias(), d.numaNode(), d.headerType(), "mlx5_vfio_pci", false, "mlx5_vfio_pci",
                        d.driverOverride(), d.bootVga(), d.physfn(), d.virtfns(), d.sriovNumVfs(), d.sriovTotalVfs(),
                        List.of("vfio" + n++), d.iommuGroup(), d.pcieRoot(), d.problems());
                groupNodes.add(d.iommuGroup());
            }
            devices.put(d.address(), d);
        }
        DeviceNodes nodes = scanned.deviceNodes();
        return new HostSnapshot(scanned.root(), scanned.kernelRelease(), scanned.iommuEnabled(), devices,
                scanned.groups(), new DeviceNodes(true, groupNodes, Set.of(), nodes.iommufd(), nodes.cdevs()),
                scanned.aliases(), scanned.moduleDrivers(), scanned.notes());
    }

    private static int jsonBytes(VfioNodeStateStatus status) {
        return Serialization.asJson(status).getBytes(StandardCharsets.UTF_8).length;
    }

    private static String address(int bus, int function) {
        return String.format("0000:%02x:%02x.%d", bus, function / 8, function % 8);
    }
}
