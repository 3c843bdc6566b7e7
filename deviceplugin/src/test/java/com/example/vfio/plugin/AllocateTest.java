package com.example.vfio.plugin;

import static com.example.vfio.plugin.Fixtures.GPU;
import static com.example.vfio.plugin.PluginFixture.eventually;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.proto.deviceplugin.v1beta1.ContainerAllocateResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.DeviceSpec;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Allocate and GetPreferredAllocation as the kubelet calls them, over the wire. */
class AllocateTest {

    @TempDir
    Path tmp;

    private PluginFixture registered(boolean iommufd) throws Exception {
        PluginFixture f = new PluginFixture(tmp);
        f.kubelet.start();
        PublishedResource r = f.gpus(iommufd);
        f.publish(r);
        eventually().until(() -> f.kubelet.devices(GPU).size() == r.devices().size());
        return f;
    }

    @Test
    void allocate_hands_out_the_container_and_group_nodes_and_exactly_the_requested_addresses_in_address_order()
            throws Exception {
        try (PluginFixture f = registered(false)) {
            // the real kubelet asks for a set (in Go map order): the answer must not depend on that order
            for (List<String> request : List.of(List.of("0000:c1:00.0", "0000:41:00.0"),
                    List.of("0000:41:00.0", "0000:c1:00.0"))) {
                ContainerAllocateResponse r = f.kubelet.allocate(GPU, request).getContainerResponses(0);

                assertThat(r.getDevicesList()).extracting(DeviceSpec::getHostPath)
                        .containsExactly("/dev/vfio/vfio", "/dev/vfio/14", "/dev/vfio/40");
                assertThat(r.getDevicesList()).allSatisfy(d -> {
                    assertThat(d.getContainerPath()).isEqualTo(d.getHostPath());
                    assertThat(d.getPermissions()).isEqualTo("rw");
                });
                assertThat(r.getEnvsMap()).containsExactly(
                        java.util.Map.entry("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU", "0000:41:00.0,0000:c1:00.0"));
                assertThat(r.getCdiDevicesList()).extracting(c -> c.getName())
                        .containsExactly("vfio.example.com/gpu=0000-41-00-0", "vfio.example.com/gpu=0000-c1-00-0");
                assertThat(r.getMountsList()).isEmpty();
            }
        }
    }

    @Test
    void on_an_iommufd_host_allocate_adds_dev_iommu_and_the_device_cdevs() throws Exception {
        try (PluginFixture f = registered(true)) {
            ContainerAllocateResponse r = f.kubelet.allocate(GPU, List.of("0000:c1:00.0")).getContainerResponses(0);
            assertThat(r.getDevicesList()).extracting(DeviceSpec::getHostPath).containsExactly(
                    "/dev/vfio/vfio", "/dev/vfio/40", "/dev/iommu", "/dev/vfio/devices/vfio2");
        }
    }

    @Test
    void allocating_an_unknown_device_fails_naming_it_and_records_nothing() throws Exception {
        try (PluginFixture f = registered(false)) {
            assertThatThrownBy(() -> f.kubelet.allocate(GPU, List.of("0000:41:00.0", "0000:99:00.0")))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
                        assertThat(e.getStatus().getDescription()).contains("0000:99:00.0").contains("unknown");
                    });
            assertThat(f.plugin.allocations().holds()).isEmpty();
            assertThat(f.kubelet.devices(GPU)).containsEntry("0000:41:00.1", "Healthy");
        }
    }

    @Test
    void allocating_an_unhealthy_device_fails_with_the_reason_and_records_nothing() throws Exception {
        try (PluginFixture f = registered(false)) {
            assertThatThrownBy(() -> f.kubelet.allocate(GPU, List.of("0000:c1:00.0", "0000:c2:00.0")))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
                        assertThat(e.getStatus().getDescription())
                                .contains("0000:c2:00.0").contains("bound to nvidia, not a VFIO driver");
                    });
            assertThat(f.plugin.allocations().holds()).isEmpty();
            assertThat(f.metrics.count("allocate_refused")).isEqualTo(1);
        }
    }

    @Test
    void a_device_requested_twice_is_refused_and_records_nothing() throws Exception {
        try (PluginFixture f = registered(false)) {
            assertThatThrownBy(() -> f.kubelet.allocate(GPU, List.of("0000:c1:00.0", "0000:c1:00.0")))
                    .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                        assertThat(e.getStatus().getDescription()).isEqualTo("0000:c1:00.0: requested twice");
                    });
            assertThat(f.plugin.allocations().holds()).isEmpty();
        }
    }

    @Test
    void preferred_allocation_keeps_the_must_include_device_and_completes_its_iommu_group() throws Exception {
        try (PluginFixture f = registered(false)) {
            List<String> all = List.of("0000:c1:00.0", "0000:41:00.0", "0000:41:00.1");
            assertThat(f.kubelet.preferred(GPU, all, List.of("0000:41:00.1"), 2))
                    .containsExactly("0000:41:00.1", "0000:41:00.0");
            assertThat(f.kubelet.preferred(GPU, all, List.of(), 1)).containsExactly("0000:c1:00.0");
            assertThat(f.kubelet.preferred(GPU, all, List.of(), 2)).containsExactly("0000:41:00.0", "0000:41:00.1");
        }
    }

    @Test
    void cdi_spec_files_are_written_only_when_a_directory_is_configured() throws Exception {
        Path cdi = tmp.resolve("cdi");
        try (PluginFixture f = new PluginFixture(tmp, cdi)) {
            f.publish(f.gpus(true));
            Path spec = cdi.resolve("vfio.example.com-gpu.json");
            assertThat(spec).exists();
            assertThat(Files.readString(spec))
                    .contains("\"kind\": \"vfio.example.com/gpu\"")
                    .contains("{\"name\": \"0000-41-00-0\", \"containerEdits\": {\"deviceNodes\": "
                            + "[{\"path\": \"/dev/vfio/14\"}, {\"path\": \"/dev/vfio/devices/vfio0\"}]}}")
                    .contains("\"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/vfio/vfio\"}, "
                            + "{\"path\": \"/dev/iommu\"}]}");
        }
        try (PluginFixture f = new PluginFixture(tmp.resolve("other"))) {
            f.publish(f.gpus(true));
            assertThat(tmp.resolve("other")).isDirectoryNotContaining("glob:**.json");
        }
    }

    @Test
    void group_units_of_a_gpu_and_its_audio_function_list_one_address_each_the_gpu() {
        PublishedDevice g15 = new PublishedDevice("iommu-group-15", true, "", 0, "15", List.of(),
                List.of("0000:42:00.0", "0000:42:00.1"));
        PublishedDevice g17 = new PublishedDevice("iommu-group-17", true, "", 1, "17", List.of(),
                List.of("0000:44:00.0", "0000:44:00.1"));

        // KubeVirt gives a VMI's i-th entry the i-th address: a two-GPU VM must get both GPUs, not a GPU and its audio
        ContainerAllocateResponse r = ContainerAllocation.build(GPU, List.of(g17, g15), Fixtures.LEGACY);

        assertThat(r.getEnvsMap()).containsExactly(
                java.util.Map.entry("PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU", "0000:42:00.0,0000:44:00.0"));
        assertThat(r.getDevicesList()).extracting(DeviceSpec::getHostPath)
                .containsExactly("/dev/vfio/vfio", "/dev/vfio/15", "/dev/vfio/17");
        assertThat(r.getCdiDevicesList()).extracting(c -> c.getName())
                .containsExactly("vfio.example.com/gpu=iommu-group-15", "vfio.example.com/gpu=iommu-group-17");
    }
}
