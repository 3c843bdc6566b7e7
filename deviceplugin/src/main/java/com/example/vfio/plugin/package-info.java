/**
 * The kubelet-facing half of the node daemon: the device plugin API (v1beta1) over unix sockets.
 *
 * <p>Pieces, each with one job (kubelet device manager / KubeVirt style):
 * <ul>
 * <li>{@link com.example.vfio.plugin.DeviceHealth}: pure; what the host allows for one resource
 *     (a {@link com.example.vfio.plugin.PublishedResource} of {@link com.example.vfio.plugin.PublishedDevice}s).</li>
 * <li>{@link com.example.vfio.plugin.GroupAllocations}: the one owner of allocation state (IOMMU group holds);
 *     {@link com.example.vfio.plugin.GroupLockOverlay} (pure) lays the holds over the host view;
 *     {@link com.example.vfio.plugin.PodResourcesWatcher} releases holds and takes them up after a restart.</li>
 * <li>{@link com.example.vfio.plugin.DevicePluginServer}: one gRPC server per resource on
 *     {@code <plugin-dir>/vfio-<name>.sock}: ListAndWatch (sent only on change), GetPreferredAllocation
 *     ({@link com.example.vfio.plugin.PreferredAllocation}, pure), Allocate
 *     ({@link com.example.vfio.plugin.ContainerAllocation}, pure).</li>
 * <li>{@link com.example.vfio.plugin.DevicePluginManager}: which servers exist;
 *     {@link com.example.vfio.plugin.KubeletWatcher}: serving and registering, following kubelet restarts.</li>
 * <li>{@link com.example.vfio.plugin.NodePlugin}: the above assembled; {@link com.example.vfio.plugin.StatusHttpServer}
 *     and {@link com.example.vfio.plugin.PluginMetrics}: /healthz and /metrics.</li>
 * </ul>
 *
 * <p>Device ID contract: {@code allocationUnit: Device} units are PCI addresses ({@code 0000:41:00.0});
 * {@code allocationUnit: Group} units are {@code iommu-group-<N>} and stand for the resource's devices in
 * group N. Allocate's {@code PCI_RESOURCE_VFIO_EXAMPLE_COM_<NAME>} always lists PCI addresses.
 */
package com.example.vfio.plugin;
