/**
 * The node daemon's glue: where the desired state comes from ({@link com.example.vfio.agent.DesiredStateSource}:
 * {@link com.example.vfio.agent.PoliciesFileSource} in standalone mode, the VfioNodeState spec in cluster
 * mode), the one model both feed ({@link com.example.vfio.agent.DesiredResource}), and the rescan loop
 * ({@link com.example.vfio.agent.NodeDaemon}) that turns host snapshots into what the kubelet sees.
 */
package com.example.vfio.agent;
