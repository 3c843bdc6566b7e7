package com.example.vfio.operator;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.PublishWith;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceClass;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static com.example.vfio.operator.Policies.policy;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The operator owns the DRA DeviceClasses: one per resource a policy publishes through DRA (mock API server). */
class DeviceClassTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final DeviceSelector NVIDIA_GPUS = DeviceSelector.of().withVendors("10de").withClasses("0302");
    private MockCluster cluster;
    private FakeNodeAgent gpu1;

    @BeforeEach
    void cluster() {
        cluster = new MockCluster();
        cluster.addNode("gpu-1", Map.of("gpu", "h100"));
        cluster.startOperator();
        gpu1 = new FakeNodeAgent(cluster.client, "gpu-1").device("0000:41:00.0", "10de", "2342", "030200", "nouveau", "14");
        await().atMost(WAIT).until(() -> cluster.nodeState("gpu-1").isPresent());
        gpu1.sync();
    }

    @AfterEach
    void stop() {
        cluster.close();
    }

    List<String> classes() {
        return cluster.client.resources(DeviceClass.class).list().getItems().stream()
                .map(c -> c.getMetadata().getName()).sorted().toList();
    }

    @Test
    void a_dra_policy_gets_its_device_class_with_the_extended_resource_and_its_nodes_say_dra() {
        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu")
                .publishWith(PublishWith.DRA).build());
        cluster.apply(policy("nics").select(DeviceSelector.of().withVendors("15b3")).resource("nic").build());

        await().atMost(WAIT).until(() -> classes().equals(List.of("gpu.vfio.example.com")));
        DeviceClass c = cluster.client.resources(DeviceClass.class).withName("gpu.vfio.example.com").get();
        assertThat(c.getSpec().getExtendedResourceName()).isEqualTo("vfio.example.com/gpu");
        assertThat(c.getSpec().getSelectors().get(0).getCel().getExpression()).isEqualTo(
                "device.driver == \"vfio.example.com\" && device.attributes[\"vfio.example.com\"].resource == \"gpu\"");
        assertThat(c.getMetadata().getLabels()).containsEntry("app.kubernetes.io/managed-by", "vfio-operator");
        await().atMost(WAIT).until(() -> cluster.nodeState("gpu-1").map(s -> s.getSpec().getDevices()).orElse(List.of())
                .stream().anyMatch(d -> d.getPublishWith() == PublishWith.DRA));
        assertThat(cluster.nodeState("gpu-1").orElseThrow().getSpec().getDevices()).extracting(DesiredDevice::getPublishWith)
                .containsOnly(PublishWith.DRA);
    }

    @Test
    void a_class_deleted_by_hand_comes_back_and_goes_with_the_last_policy_of_its_resource() {
        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu")
                .publishWith(PublishWith.DRA).build());
        await().atMost(WAIT).until(() -> classes().equals(List.of("gpu.vfio.example.com")));

        cluster.client.resources(DeviceClass.class).withName("gpu.vfio.example.com").delete();
        await().atMost(WAIT).until(() -> classes().equals(List.of("gpu.vfio.example.com")));

        cluster.deletePolicy("gpus");
        await().atMost(WAIT).until(() -> cluster.nodeState("gpu-1").orElseThrow().getSpec().getDevices().stream()
                .anyMatch(d -> d.getDriver().equals("host")));
        gpu1.sync();
        await().atMost(WAIT).until(() -> cluster.policy("gpus").isEmpty());
        await().atMost(WAIT).until(() -> classes().isEmpty());
    }

    @Test
    void a_policy_moved_back_to_the_device_plugin_loses_its_class_and_classes_of_others_are_left_alone() {
        DeviceClass theirs = io.fabric8.kubernetes.client.utils.Serialization.unmarshal("""
                apiVersion: resource.k8s.io/v1
                kind: DeviceClass
                metadata: {name: gpu.nvidia.com}
                spec: {selectors: [{cel: {expression: 'device.driver == "gpu.nvidia.com"'}}]}
                """, DeviceClass.class);
        cluster.client.resource(theirs).create();
        cluster.apply(policy("gpus").onNodes("gpu", "h100").select(NVIDIA_GPUS).resource("gpu")
                .publishWith(PublishWith.DRA).build());
        await().atMost(WAIT).until(() -> classes().contains("gpu.vfio.example.com"));

        cluster.client.resources(com.example.vfio.api.VfioBindingPolicy.class).withName("gpus")
                .edit(p -> { p.getSpec().setPublishWith(PublishWith.DevicePlugin); return p; });

        await().atMost(WAIT).until(() -> classes().equals(List.of("gpu.nvidia.com")));
    }
}
