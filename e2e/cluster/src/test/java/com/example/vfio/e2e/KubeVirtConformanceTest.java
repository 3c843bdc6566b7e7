package com.example.vfio.e2e;

import static com.example.vfio.e2e.GpuNode.GPU;
import static com.example.vfio.e2e.GpuNode.GPUS_3D;
import static com.example.vfio.e2e.GpuNode.GROUP_OF;
import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.e2e.DeviceManagerHarness.Admission;
import com.example.vfio.e2e.DeviceManagerHarness.Container;
import com.example.vfio.e2e.DeviceManagerHarness.Pod;
import com.example.vfio.e2e.KubeVirtLauncher.HostDev;
import com.example.vfio.e2e.KubeVirtLauncher.Result;
import com.example.vfio.e2e.KubeVirtLauncher.Vmi;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * What KubeVirt's own code (v1.9.0, {@link KubeVirtLauncher}) makes of our real Allocate answers, as the kubelet's
 * own device manager hands them to the virt-launcher container ({@link DeviceManagerHarness}): the units
 * virt-controller requests for a VMI, the {@code PCI_RESOURCE_*} variable it finds, one {@code <hostdev>} per
 * entry by position, and the device nodes KubeVirt needs beside them.
 */
class KubeVirtConformanceTest {
    private KubeletNode test;

    @BeforeEach
    void node(TestInfo info) throws IOException {
        test = new KubeletNode("kubevirt-" + info.getTestMethod().orElseThrow().getName());
    }

    @AfterEach
    void stopAll() throws Exception {
        test.close();
    }

    /** A VMI's launcher pod: KubeVirt's requests admitted by the kubelet, then KubeVirt on the container's env. */
    private record Launched(Result kubevirt, Admission admission, List<String> allocated, JsonNode runtime) {
    }

    private static Launched launch(DeviceManagerHarness kubelet, String pod, String resource, Vmi vmi) {
        Result asked = KubeVirtLauncher.run(vmi, Map.of());
        Map<String, Integer> limits = new LinkedHashMap<>();
        asked.requests().forEach((k, v) -> limits.put(k, v.intValue()));
        Admission a = kubelet.admit(new Pod(pod, List.of(), List.of(new Container("compute", limits, null))));
        assertThat(a.admitted()).as("%s", a).isTrue();
        JsonNode runtime = a.runtime("compute");
        Map<String, String> env = new LinkedHashMap<>();
        runtime.path("envs").forEach(e -> env.put(e.path("key").asText(), e.path("value").asText()));
        Result r = KubeVirtLauncher.run(vmi, env);
        assertThat(r.requests()).isEqualTo(asked.requests());
        return new Launched(r, a, a.devices("compute", resource), runtime);
    }

    private static List<Map.Entry<String, String>> entries(String resource, String... names) {
        return Stream.of(names).map(n -> Map.entry(n, resource)).toList();
    }

    private static List<String> addresses(List<HostDev> devs) {
        return devs.stream().map(HostDev::address).toList();
    }

    private static List<String> hostPaths(JsonNode runtime) {
        List<String> paths = new ArrayList<>();
        runtime.path("devices").forEach(d -> paths.add(d.path("hostPath").asText()));
        return paths;
    }

    @Test
    @DisplayName("KubeVirt v1.9.0 on our Allocate through the kubelet v1.37.2 device manager: a VMI with three gpus[] "
            + "asks 3 units; virt-launcher finds PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU and makes one <hostdev type=pci "
            + "managed=no> per allocated GPU, by position, with the full address; the container has /dev/vfio/vfio with "
            + "each GPU's /dev/vfio/<group>, and on this iommufd host the cdev KubeVirt looks up under vfio-dev/")
    void gpus_by_position_with_their_device_nodes() throws IOException {
        GpuNode node = test.host(true);
        test.daemon(node, node.policies(GPUS_3D));
        DeviceManagerHarness kubelet = test.kubelet();
        KubeletNode.awaitAllocatable(kubelet, GPU, 6);

        Launched l = launch(kubelet, "virt-launcher-vm1", GPU, new Vmi(entries(GPU, "gpu1", "gpu2", "gpu3"), List.of()));

        assertThat(l.kubevirt().requests()).isEqualTo(Map.of(GPU, 3L));
        assertThat(l.kubevirt().gpus().error()).isEmpty();
        List<HostDev> devs = l.kubevirt().gpus().devices();
        assertThat(devs).extracting(HostDev::alias).containsExactly("gpu-gpu1", "gpu-gpu2", "gpu-gpu3");
        assertThat(addresses(devs)).containsExactlyElementsOf(l.allocated()); // the allocated GPUs, in address order
        assertThat(devs).allSatisfy(d -> {
            assertThat(d.type()).isEqualTo("pci");
            assertThat(d.managed()).isEqualTo("no");
            assertThat(d.mode()).isEmpty();
            assertThat(d.xml()).startsWith("<hostdev type=\"pci\" managed=\"no\"><source><address type=\"pci\" domain=\"0x0000\" bus=\"0x"
                    + d.address().substring(5, 7) + "\" slot=\"0x00\" function=\"0x" + d.address().substring(11) + "\">").contains("<alias name=\"ua-" + d.alias() + "\">");
        });
        // KubeVirt's non-root setup hands /dev/vfio/<group> to qemu only beside /dev/vfio/vfio; with IOMMUFD it
        // opens the cdev named under /sys/bus/pci/devices/<address>/vfio-dev/ (virt-handler's formatVFIOCdevDeviceSpecs)
        List<String> paths = hostPaths(l.runtime());
        assertThat(paths).contains("/dev/vfio/vfio", "/dev/iommu");
        for (HostDev d : devs) {
            Path sysfs = node.root().resolve("sys/bus/pci/devices").resolve(d.address());
            String group = Files.readSymbolicLink(sysfs.resolve("iommu_group")).getFileName().toString();
            assertThat(paths).contains("/dev/vfio/" + group);
            try (var cdevs = Files.list(sysfs.resolve("vfio-dev"))) {
                List<String> expected = cdevs.map(c -> "/dev/vfio/devices/" + c.getFileName()).toList();
                assertThat(expected).isNotEmpty();
                assertThat(paths).containsAll(expected);
            }
        }
    }

    @Test
    @DisplayName("KubeVirt v1.9.0 with allocationUnit: Group (a GPU and its audio function per unit): a VMI with two "
            + "hostDevices[] asks 2 units and gets both GPUs, one <hostdev> each (not a GPU and its audio function); "
            + "'-' in the resource name kept in PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU-WITH-AUDIO; both groups' nodes in the "
            + "container")
    void group_units_give_one_hostdev_per_unit() {
        GpuNode node = test.host(false);
        String resource = "vfio.example.com/gpu-with-audio";
        test.daemon(node, node.policies("gpu", List.of("0000:c1:00.0"), "gpu-with-audio",
                List.of("0000:42:00.0", "0000:42:00.1", "0000:44:00.0", "0000:44:00.1")));
        DeviceManagerHarness kubelet = test.kubelet();
        KubeletNode.awaitAllocatable(kubelet, resource, 2);

        Launched l = launch(kubelet, "virt-launcher-vm2", resource, new Vmi(List.of(), entries(resource, "gpu0", "gpu1")));

        assertThat(l.kubevirt().requests()).isEqualTo(Map.of(resource, 2L));
        assertThat(l.allocated()).containsExactly("iommu-group-15", "iommu-group-17");
        assertThat(l.runtime().path("envs").get(0).path("key").asText()).isEqualTo("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU-WITH-AUDIO");
        assertThat(l.kubevirt().hostDevices().error()).isEmpty();
        assertThat(l.kubevirt().hostDevices().devices()).extracting(HostDev::alias, HostDev::address).containsExactly(
                org.assertj.core.groups.Tuple.tuple("hostdevice-gpu0", "0000:42:00.0"),
                org.assertj.core.groups.Tuple.tuple("hostdevice-gpu1", "0000:44:00.0"));
        assertThat(hostPaths(l.runtime())).containsExactly("/dev/vfio/vfio", "/dev/vfio/15", "/dev/vfio/17");
    }

    @Test
    @DisplayName("KubeVirt v1.9.0, docs/first-policy.md's GPU + audio recipe (allocationUnit: Device over both "
            + "functions, each VMI naming the resource twice per GPU in hostDevices[]): our GetPreferredAllocation keeps "
            + "each pair in one IOMMU group, so every VM gets its GPU and that GPU's own audio function, GPU first")
    void a_gpu_with_its_audio_function() {
        GpuNode node = test.host(false);
        List<String> functions = List.of("0000:42:00.0", "0000:42:00.1", "0000:44:00.0", "0000:44:00.1");
        test.daemon(node, node.policies(functions));
        DeviceManagerHarness kubelet = test.kubelet();
        KubeletNode.awaitAllocatable(kubelet, GPU, 4);

        Launched first = launch(kubelet, "virt-launcher-desktop1", GPU, new Vmi(List.of(), entries(GPU, "gpu0", "gpu0-audio")));
        Launched second = launch(kubelet, "virt-launcher-desktop2", GPU, new Vmi(List.of(), entries(GPU, "gpu0", "gpu0-audio")));

        for (Launched l : List.of(first, second)) {
            assertThat(l.kubevirt().requests()).isEqualTo(Map.of(GPU, 2L));
            List<HostDev> devs = l.kubevirt().hostDevices().devices();
            assertThat(devs).extracting(HostDev::alias).containsExactly("hostdevice-gpu0", "hostdevice-gpu0-audio");
            assertThat(devs.get(0).address()).endsWith(".0");
            assertThat(devs.get(1).address()).isEqualTo(devs.get(0).address().replaceFirst("\\.0$", ".1"));
            assertThat(GROUP_OF.get(devs.get(0).address())).isEqualTo(GROUP_OF.get(devs.get(1).address()));
        }
        assertThat(addresses(first.kubevirt().hostDevices().devices())).containsExactly("0000:42:00.0", "0000:42:00.1");
        assertThat(addresses(second.kubevirt().hostDevices().devices())).containsExactly("0000:44:00.0", "0000:44:00.1");
        KubeletDeviceManagerTest.assertNothingHandedOutTwice(kubelet.podResources());
    }

    @Test
    @DisplayName("KubeVirt v1.9.0: one resource named in both gpus[] and hostDevices[] gives both lists the first "
            + "address (each list reads PCI_RESOURCE_* afresh), the audio function never: why docs/first-policy.md keeps "
            + "a GPU and its audio function in one list")
    void one_resource_in_two_lists_reads_the_variable_twice() {
        GpuNode node = test.host(false);
        test.daemon(node, node.policies(List.of("0000:42:00.0", "0000:42:00.1")));
        DeviceManagerHarness kubelet = test.kubelet();
        KubeletNode.awaitAllocatable(kubelet, GPU, 2);

        Launched l = launch(kubelet, "virt-launcher-split", GPU, new Vmi(entries(GPU, "gpu0"), entries(GPU, "gpu0-audio")));

        assertThat(l.kubevirt().requests()).isEqualTo(Map.of(GPU, 2L));
        assertThat(l.allocated()).containsExactly("0000:42:00.0", "0000:42:00.1");
        assertThat(addresses(l.kubevirt().gpus().devices())).containsExactly("0000:42:00.0");
        assertThat(addresses(l.kubevirt().hostDevices().devices())).containsExactly("0000:42:00.0");
    }
}
