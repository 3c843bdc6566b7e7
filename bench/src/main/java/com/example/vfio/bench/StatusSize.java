package com.example.vfio.bench;

import com.example.vfio.agent.NodeStatusBuilder;
import com.example.vfio.agent.StatusInputs;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;

/**
 * {@code StatusSize HOST-DIR}: the size of the VfioNodeState status the node agent writes for a host, as
 * the JSON the API server stores (inventory, groups, viability and reasons; nothing desired). The agent's
 * own LargeNodeStatusSizeTest covers bound and allocated nodes; this is the same measure on the benchmark
 * host, for the table.
 */
public final class StatusSize {
    private StatusSize() {
    }

    public static void main(String[] args) {
        HostAssessment assessment = new ViabilityAnalyzer().assess(new SysfsScanner(new HostRoot(Path.of(args[0]))).scan());
        VfioNodeStateStatus status = new NodeStatusBuilder()
                .build(StatusInputs.inventoryOnly(assessment, Instant.parse("2026-11-24T06:00:00Z")), null);
        int bytes = Serialization.asJson(status).getBytes(StandardCharsets.UTF_8).length;
        System.out.printf("functions=%d status_bytes=%d status_kib=%.1f%n", assessment.devices().size(), bytes,
                bytes / 1024.0);
    }
}
