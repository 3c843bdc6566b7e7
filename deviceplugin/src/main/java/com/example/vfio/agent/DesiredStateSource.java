package com.example.vfio.agent;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.viability.HostAssessment;
import java.util.List;

/**
 * Where the node's desired state comes from: the planner over a policies file (standalone mode), or the
 * {@code VfioNodeState.spec} the operator wrote (cluster mode). Both give the same model.
 */
public interface DesiredStateSource {

    /**
     * The desired state of every device the node should act on, given what the host has now.
     * Must not block on the network for long: the kubelet side waits for it on every rescan.
     */
    List<DesiredDevice> desired(HostAssessment current);

    /** For logs: where the desired state comes from. */
    String describe();
}
