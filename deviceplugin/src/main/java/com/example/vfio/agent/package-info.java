/**
 * The node daemon's glue: where the desired state comes from ({@link com.example.vfio.agent.DesiredStateSource}:
 * {@link com.example.vfio.agent.PoliciesFileSource} in standalone mode,
 * {@link com.example.vfio.agent.ClusterDesiredStateSource} over the node's VfioNodeState spec in cluster
 * mode), the one model both feed ({@link com.example.vfio.agent.DesiredResource}), and the rescan loop
 * ({@link com.example.vfio.agent.NodeDaemon}) that turns host snapshots into what the kubelet sees.
 *
 * <p>Cluster mode ({@link com.example.vfio.agent.ClusterNode}) adds the operator's hands: the
 * {@link com.example.vfio.agent.NodeAgent} binds devices to the spec with the binding engine and computes the
 * node's status ({@link com.example.vfio.agent.NodeStatusBuilder}, pure), which the
 * {@link com.example.vfio.agent.NodeStatusPublisher} writes through the status subresource when it changed.
 */
package com.example.vfio.agent;
