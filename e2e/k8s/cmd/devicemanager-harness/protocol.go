package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
	"k8s.io/kubernetes/pkg/kubelet/apis/podresources"
	"k8s.io/kubernetes/pkg/kubelet/cm/devicemanager"
	"k8s.io/kubernetes/pkg/kubelet/cm/topologymanager"
	"k8s.io/kubernetes/pkg/kubelet/lifecycle"
)

// request is one line on stdin. Ops:
//
//	{"op":"admit","pods":[PodSpec...]}   admit pods in order, as the kubelet's HandlePodAdditions does with a
//	                                      batch: the topology manager's admit handler (hints, then the device
//	                                      manager's Allocate, which calls GetPreferredAllocation and Allocate
//	                                      on the plugin); admitted pods' containers are then started: what
//	                                      GetDeviceRunContainerOptions gives the runtime, in CRI terms
//	{"op":"delete","pod":"NAME"}          the pod is deleted and its containers stopped
//	{"op":"capacity"}                     GetCapacity, as the node status reports it, and the healthy devices
//	{"op":"podresources","method":"List"|"GetAllocatableResources"|"Get","pod":"NAME"}
//	                                      a call to the PodResources socket, through the kubelet's own client
//	{"op":"runtime","pod":"NAME","container":"NAME"}  GetDeviceRunContainerOptions again
//	{"op":"quit"}
type request struct {
	ID        int       `json:"id"`
	Op        string    `json:"op"`
	Pods      []PodSpec `json:"pods,omitempty"`
	Pod       string    `json:"pod,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Container string    `json:"container,omitempty"`
	Method    string    `json:"method,omitempty"`
}

type harness struct {
	ctx                context.Context
	dm                 *devicemanager.ManagerImpl
	tm                 topologymanager.Manager
	pods               *podStore
	pluginDir          string
	podResourcesSocket string
	containerSeq       int
}

func (h *harness) handle(line string) (resp map[string]any, quit bool) {
	var req request
	if err := json.Unmarshal([]byte(line), &req); err != nil {
		return map[string]any{"ok": false, "error": "bad request: " + err.Error()}, false
	}
	result, err := h.dispatch(req)
	if err != nil {
		return map[string]any{"id": req.ID, "ok": false, "error": err.Error()}, false
	}
	resp = map[string]any{"id": req.ID, "ok": true}
	for k, v := range result {
		resp[k] = v
	}
	return resp, req.Op == "quit"
}

func (h *harness) dispatch(req request) (map[string]any, error) {
	switch req.Op {
	case "admit":
		var results []admitResult
		for _, spec := range req.Pods {
			r, err := h.admit(spec)
			if err != nil {
				return nil, err
			}
			results = append(results, r)
		}
		return map[string]any{"results": results}, nil
	case "delete":
		p, err := h.pods.remove(req.Pod)
		if err != nil {
			return nil, err
		}
		if p != nil {
			for _, id := range p.ContainerIDs {
				// the kubelet's internal container lifecycle after a container stopped
				_ = h.tm.RemoveContainer(klog.FromContext(h.ctx), id)
			}
		}
		return nil, nil
	case "capacity":
		return h.capacity(), nil
	case "podresources":
		return h.podResources(req)
	case "runtime":
		p, ok := h.pods.get(req.Pod)
		if !ok {
			return nil, fmt.Errorf("no active pod %s", req.Pod)
		}
		pod := toPod(p)
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			if c.Name == req.Container {
				cfg, err := h.runtimeConfig(pod, &c)
				if err != nil {
					return nil, err
				}
				return map[string]any{"config": cfg}, nil
			}
		}
		return nil, fmt.Errorf("pod %s has no container %s", req.Pod, req.Container)
	case "quit":
		return nil, nil
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}

// admitResult is what the kubelet knows after admitting one pod.
type admitResult struct {
	Pod      string `json:"pod"`
	UID      string `json:"uid"`
	Admitted bool   `json:"admitted"`
	// Reason and Message of the admission result; Status is the pod status the kubelet writes on rejection
	Reason  string         `json:"reason,omitempty"`
	Message string         `json:"message,omitempty"`
	Status  *v1.PodStatus  `json:"status,omitempty"`
	Before  map[string]any `json:"before"` // the device manager's healthy devices just before admission
	// Affinity: the topology manager's hint per container (NUMA nodes, preferred)
	Affinity map[string]hint `json:"affinity,omitempty"`
	// Devices: what the device manager recorded per container (PodResources' view of the pod)
	Devices map[string]map[string][]string `json:"devices,omitempty"`
	// Runtime: per container, the devices, mounts, envs, annotations and CDI devices the runtime receives
	Runtime map[string]*criConfig `json:"runtime,omitempty"`
}

type hint struct {
	NUMANodes []int `json:"numaNodes"`
	Preferred bool  `json:"preferred"`
}

func (h *harness) admit(spec PodSpec) (admitResult, error) {
	logger := klog.FromContext(h.ctx)
	p, err := h.pods.begin(spec)
	if err != nil {
		return admitResult{}, err
	}
	pod := toPod(p)
	before := h.healthyDevices()
	var others []*v1.Pod
	for _, o := range h.pods.GetActivePods() {
		if o.UID != pod.UID {
			others = append(others, o)
		}
	}
	res := h.tm.Admit(h.ctx, &lifecycle.PodAdmitAttributes{Pod: pod, OtherPods: others, Operation: lifecycle.AddOperation})
	r := admitResult{Pod: pod.Name, UID: string(pod.UID), Admitted: res.Admit, Reason: res.Reason, Message: res.Message,
		Before: before, Affinity: h.affinity(pod), Devices: h.devicesOf(pod)}
	if !res.Admit {
		failed := h.pods.reject(p, res.Reason, res.Message)
		r.Status = &failed.Status
		logger.Info("Pod rejected", "pod", klog.KObj(pod), "reason", res.Reason, "message", res.Message)
		return r, nil
	}
	// the pod workers start its containers: init containers first, then the app containers
	r.Runtime = map[string]*criConfig{}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		cfg, err := h.runtimeConfig(pod, &c)
		if err != nil {
			return admitResult{}, fmt.Errorf("starting container %s of pod %s: %v", c.Name, pod.Name, err)
		}
		r.Runtime[c.Name] = cfg
		h.containerSeq++
		id := fmt.Sprintf("containerd://%s-%s-%d", pod.UID, c.Name, h.containerSeq)
		p.ContainerIDs[c.Name] = id
		h.tm.AddContainer(logger, pod, &c, id)
	}
	return r, h.pods.admitted(p)
}

// readmit is a restarted kubelet admitting a pod that still runs (its containers keep running).
func (h *harness) readmit(p *storedPod) admitResult {
	pod := toPod(p)
	res := h.tm.Admit(h.ctx, &lifecycle.PodAdmitAttributes{Pod: pod, Operation: lifecycle.AddOperation})
	logger := klog.FromContext(h.ctx)
	if res.Admit {
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			if id, ok := p.ContainerIDs[c.Name]; ok {
				h.tm.AddContainer(logger, pod, &c, id)
			}
		}
	}
	return admitResult{Pod: pod.Name, UID: string(pod.UID), Admitted: res.Admit, Reason: res.Reason,
		Message: res.Message, Affinity: h.affinity(pod), Devices: h.devicesOf(pod)}
}

func (h *harness) affinity(pod *v1.Pod) map[string]hint {
	out := map[string]hint{}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		th := h.tm.GetAffinity(klog.FromContext(h.ctx), string(pod.UID), c.Name)
		hn := hint{NUMANodes: []int{}, Preferred: th.Preferred}
		if th.NUMANodeAffinity != nil {
			hn.NUMANodes = th.NUMANodeAffinity.GetBits()
		}
		out[c.Name] = hn
	}
	return out
}

func (h *harness) devicesOf(pod *v1.Pod) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		byResource := map[string][]string{}
		for res, devs := range h.dm.GetDevices(string(pod.UID), c.Name) {
			for id := range devs {
				byResource[res] = append(byResource[res], id)
			}
			sort.Strings(byResource[res])
		}
		if len(byResource) > 0 {
			out[c.Name] = byResource
		}
	}
	return out
}

// criConfig is the device part of the CRI ContainerConfig the kubelet sends to the runtime: kuberuntime's
// makeDevices, makeMounts and makeCDIDevices copy RunContainerOptions field by field.
type criConfig struct {
	Devices     []criDevice      `json:"devices"`
	Mounts      []criMount       `json:"mounts"`
	Envs        []keyValue       `json:"envs"`
	Annotations []keyValue       `json:"annotations"`
	CDIDevices  []map[string]any `json:"cdiDevices"`
}

type criDevice struct {
	ContainerPath string `json:"containerPath"`
	HostPath      string `json:"hostPath"`
	Permissions   string `json:"permissions"`
}

type criMount struct {
	ContainerPath string `json:"containerPath"`
	HostPath      string `json:"hostPath"`
	Readonly      bool   `json:"readonly"`
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (h *harness) runtimeConfig(pod *v1.Pod, c *v1.Container) (*criConfig, error) {
	opts, err := h.dm.GetDeviceRunContainerOptions(h.ctx, pod, c)
	if err != nil {
		return nil, err
	}
	cfg := &criConfig{Devices: []criDevice{}, Mounts: []criMount{}, Envs: []keyValue{}, Annotations: []keyValue{},
		CDIDevices: []map[string]any{}}
	if opts == nil {
		return cfg, nil
	}
	for _, d := range opts.Devices {
		cfg.Devices = append(cfg.Devices, criDevice{ContainerPath: d.PathInContainer, HostPath: d.PathOnHost, Permissions: d.Permissions})
	}
	for _, m := range opts.Mounts {
		cfg.Mounts = append(cfg.Mounts, criMount{ContainerPath: m.ContainerPath, HostPath: m.HostPath, Readonly: m.ReadOnly})
	}
	for _, e := range opts.Envs {
		cfg.Envs = append(cfg.Envs, keyValue{Key: e.Name, Value: e.Value})
	}
	for _, a := range opts.Annotations {
		cfg.Annotations = append(cfg.Annotations, keyValue{Key: a.Name, Value: a.Value})
	}
	for _, d := range opts.CDIDevices {
		cfg.CDIDevices = append(cfg.CDIDevices, map[string]any{"name": d.Name})
	}
	return cfg, nil
}

// healthyDevices is GetAllocatableDevices: resource -> device ID -> NUMA nodes.
func (h *harness) healthyDevices() map[string]any {
	out := map[string]any{}
	for res, devs := range h.dm.GetAllocatableDevices(klog.FromContext(h.ctx)) {
		ids := map[string][]int64{}
		for id, d := range devs {
			numa := []int64{}
			for _, n := range d.GetTopology().GetNodes() {
				numa = append(numa, n.GetID())
			}
			ids[id] = numa
		}
		out[res] = ids
	}
	return out
}

func (h *harness) capacity() map[string]any {
	capacity, allocatable, deleted := h.dm.GetCapacity(klog.FromContext(h.ctx))
	counts := func(l v1.ResourceList) map[string]int64 {
		m := map[string]int64{}
		for k, q := range l {
			m[string(k)] = q.Value()
		}
		return m
	}
	if deleted == nil {
		deleted = []string{}
	}
	return map[string]any{"capacity": counts(capacity), "allocatable": counts(allocatable), "deleted": deleted,
		"healthy": h.healthyDevices()}
}

func (h *harness) podResources(req request) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	client, conn, err := podresources.GetV1Client(ctx, "unix://"+h.podResourcesSocket, 10*time.Second, 16*1024*1024)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	switch req.Method {
	case "List":
		resp, err := client.List(ctx, &podresourcesapi.ListPodResourcesRequest{})
		if err != nil {
			return nil, err
		}
		var pods []map[string]any
		for _, p := range resp.GetPodResources() {
			pods = append(pods, podJSON(p))
		}
		if pods == nil {
			pods = []map[string]any{}
		}
		return map[string]any{"podResources": pods}, nil
	case "Get":
		ns := req.Namespace
		if ns == "" {
			ns = "default"
		}
		resp, err := client.Get(ctx, &podresourcesapi.GetPodResourcesRequest{PodName: req.Pod, PodNamespace: ns})
		if err != nil {
			return nil, err
		}
		return map[string]any{"podResources": podJSON(resp.GetPodResources())}, nil
	case "GetAllocatableResources":
		resp, err := client.GetAllocatableResources(ctx, &podresourcesapi.AllocatableResourcesRequest{})
		if err != nil {
			return nil, err
		}
		return map[string]any{"devices": devicesJSON(resp.GetDevices())}, nil
	}
	return nil, fmt.Errorf("unknown PodResources method %q", req.Method)
}

func podJSON(p *podresourcesapi.PodResources) map[string]any {
	var containers []map[string]any
	for _, c := range p.GetContainers() {
		containers = append(containers, map[string]any{"name": c.GetName(), "devices": devicesJSON(c.GetDevices())})
	}
	if containers == nil {
		containers = []map[string]any{}
	}
	return map[string]any{"name": p.GetName(), "namespace": p.GetNamespace(), "containers": containers}
}

// devicesJSON keeps the wire shape: one ContainerDevices entry per message, in the order received.
func devicesJSON(devs []*podresourcesapi.ContainerDevices) []map[string]any {
	out := []map[string]any{}
	for _, d := range devs {
		numa := []int64{}
		for _, n := range d.GetTopology().GetNodes() {
			numa = append(numa, n.GetID())
		}
		ids := d.GetDeviceIds()
		if ids == nil {
			ids = []string{}
		}
		out = append(out, map[string]any{"resourceName": d.GetResourceName(), "deviceIds": ids, "numaNodes": numa})
	}
	return out
}

// devicesProvider is the kubelet container manager's adapter from the device manager to PodResources
// (pkg/kubelet/cm/container_manager_linux.go GetDevices/GetAllocatableDevices and container_manager.go
// containerDevicesFromResourceDeviceInstances, which are not exported).
type devicesProvider struct {
	dm *devicemanager.ManagerImpl
}

func (d devicesProvider) UpdateAllocatedDevices(logger klog.Logger) {
	d.dm.UpdateAllocatedDevices(logger)
}

func (d devicesProvider) GetDevices(podUID, containerName string) []*podresourcesapi.ContainerDevices {
	return containerDevicesFromResourceDeviceInstances(d.dm.GetDevices(podUID, containerName))
}

func (d devicesProvider) GetAllocatableDevices(logger klog.Logger) []*podresourcesapi.ContainerDevices {
	return containerDevicesFromResourceDeviceInstances(d.dm.GetAllocatableDevices(logger))
}

// containerDevicesFromResourceDeviceInstances is copied from pkg/kubelet/cm/container_manager.go (v1.37.2).
func containerDevicesFromResourceDeviceInstances(devs devicemanager.ResourceDeviceInstances) []*podresourcesapi.ContainerDevices {
	var respDevs []*podresourcesapi.ContainerDevices

	for resourceName, resourceDevs := range devs {
		for devID, dev := range resourceDevs {
			topo := dev.GetTopology()
			if topo == nil {
				// Some device plugin do not report the topology information.
				// This is legal, so we report the devices anyway,
				// let the client decide what to do.
				respDevs = append(respDevs, &podresourcesapi.ContainerDevices{
					ResourceName: resourceName,
					DeviceIds:    []string{devID},
				})
				continue
			}

			for _, node := range topo.GetNodes() {
				respDevs = append(respDevs, &podresourcesapi.ContainerDevices{
					ResourceName: resourceName,
					DeviceIds:    []string{devID},
					Topology: &podresourcesapi.TopologyInfo{
						Nodes: []*podresourcesapi.NUMANode{
							{
								ID: node.GetID(),
							},
						},
					},
				})
			}
		}
	}

	return respDevs
}

// The harness runs no CPU, memory or DRA manager: their PodResources providers report nothing.
type noCPUs struct{}

func (noCPUs) GetCPUs(*v1.Pod, *v1.Container) []int64 { return nil }
func (noCPUs) GetPodCPUs(string) []int64              { return nil }
func (noCPUs) GetAllocatableCPUs() []int64            { return nil }

type noMemory struct{}

func (noMemory) GetMemory(klog.Logger, *v1.Pod, *v1.Container) []*podresourcesapi.ContainerMemory {
	return nil
}
func (noMemory) GetPodMemory(klog.Logger, string) []*podresourcesapi.ContainerMemory { return nil }
func (noMemory) GetAllocatableMemory(klog.Logger) []*podresourcesapi.ContainerMemory { return nil }

type noDynamicResources struct{}

func (noDynamicResources) GetDynamicResources(klog.Logger, *v1.Pod, *v1.Container) []*podresourcesapi.DynamicResource {
	return nil
}
