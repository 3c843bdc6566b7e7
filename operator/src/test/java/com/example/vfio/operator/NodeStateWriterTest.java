package com.example.vfio.operator;

import com.example.vfio.api.AllocationUnit;
import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateSpec;
import io.fabric8.mockwebserver.http.RecordedRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/** The writes the operator sends for a node state's spec, as they go over the wire. */
class NodeStateWriterTest {
    private final MockCluster cluster = new MockCluster();
    private final VfioNodeStateSpec spec = new VfioNodeStateSpec(List.of(
            new DesiredDevice("0000:41:00.0", "auto", "gpu", "gpus", AllocationUnit.Device, true, false, null)));

    @AfterEach
    void stop() {
        cluster.close();
    }

    @Test
    void server_side_apply_sends_only_name_and_spec_as_the_operators_field_manager() throws Exception {
        cluster.server.expect().patch().withPath("/apis/vfio.example.com/v1alpha1/vfionodestates/gpu-1?fieldManager=vfio-operator&force=true")
                .andReturn(200, new VfioNodeState()).once();

        new NodeStateWriter(cluster.client, true).writeSpec("gpu-1", spec);

        RecordedRequest request = cluster.server.getLastRequest();
        assertThat(request.getMethod()).isEqualTo("PATCH");
        assertThat(request.getHeader("Content-Type")).startsWith("application/apply-patch+yaml");
        String body = request.getBody().readUtf8();
        assertThat(body).contains("\"apiVersion\":\"vfio.example.com/v1alpha1\"", "\"kind\":\"VfioNodeState\"", "\"name\":\"gpu-1\"",
                "\"address\":\"0000:41:00.0\"").doesNotContain("status", "resourceVersion");
    }

    @Test
    void without_ssa_the_spec_is_replaced_whole_and_status_is_left_alone() {
        cluster.addNode("gpu-1", Map.of());
        NodeStateWriter writer = new NodeStateWriter(cluster.client, false);
        writer.create(cluster.client.nodes().withName("gpu-1").get());
        cluster.client.resources(VfioNodeState.class).withName("gpu-1").editStatus(s -> {
            s.setStatus(new com.example.vfio.api.VfioNodeStateStatus());
            s.getStatus().setKernelRelease("6.12.0");
            return s;
        });
        writer.writeSpec("gpu-1", new VfioNodeStateSpec(List.of(
                new DesiredDevice("0000:05:00.0", "host", null, "old", null, true, false, null),
                new DesiredDevice("0000:41:00.0", "auto", "gpu", "gpus", AllocationUnit.Device, true, false, null))));

        writer.writeSpec("gpu-1", spec);

        VfioNodeState state = cluster.nodeState("gpu-1").orElseThrow();
        assertThat(state.getSpec()).isEqualTo(spec);
        assertThat(state.getStatus().getKernelRelease()).isEqualTo("6.12.0");
        assertThat(writer.create(cluster.client.nodes().withName("gpu-1").get())).as("second create finds it there").isFalse();
    }

    @Test
    void without_ssa_a_spec_write_is_one_patch_and_no_read() {
        cluster.addNode("gpu-1", Map.of());
        NodeStateWriter writer = new NodeStateWriter(cluster.client, false);
        writer.create(cluster.client.nodes().withName("gpu-1").get());
        Map<String, Long> before = cluster.responses();

        writer.writeSpec("gpu-1", spec);

        Map<String, Long> requests = new TreeMap<>(cluster.responses());
        before.forEach((k, v) -> requests.merge(k, -v, Long::sum));
        requests.values().removeIf(n -> n == 0);
        assertThat(requests).hasSize(1);
        assertThat(requests.keySet().iterator().next()).startsWith("PATCH vfionodestates 2");
        assertThat(cluster.nodeState("gpu-1").orElseThrow().getSpec()).isEqualTo(spec);
    }
}
