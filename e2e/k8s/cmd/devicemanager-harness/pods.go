package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ContainerSpec is one container of a pod the test asks for: its name and extended-resource limits
// (requests equal limits, as the API server enforces for extended resources).
type ContainerSpec struct {
	Name   string           `json:"name"`
	Limits map[string]int64 `json:"limits,omitempty"`
	// RestartPolicy "Always" on an init container makes it a sidecar (its devices are kept).
	RestartPolicy string `json:"restartPolicy,omitempty"`
}

// PodSpec is a pod bound to this node, as the test describes it.
type PodSpec struct {
	Name           string          `json:"name"`
	Namespace      string          `json:"namespace,omitempty"`
	UID            string          `json:"uid,omitempty"`
	InitContainers []ContainerSpec `json:"initContainers,omitempty"`
	Containers     []ContainerSpec `json:"containers"`
}

// storedPod is what survives a kubelet restart outside the kubelet: the API server still has the pod and
// the container runtime still runs its containers (their IDs).
type storedPod struct {
	Spec         PodSpec           `json:"spec"`
	Seq          int               `json:"seq"`
	ContainerIDs map[string]string `json:"containerIDs"`
}

// podStore is the kubelet's pod manager and the runtime's container list, as far as the device manager
// and PodResources use them: the pods bound to the node, the active ones (admitted, not terminated), and
// the rejected ones (phase Failed, as the kubelet's rejectPod leaves them).
type podStore struct {
	mu       sync.Mutex
	file     string
	seq      int
	active   map[string]*storedPod // by name
	rejected map[string]*v1.Pod
}

func newPodStore(state string) (*podStore, error) {
	s := &podStore{file: filepath.Join(state, "pods.json"), active: map[string]*storedPod{}, rejected: map[string]*v1.Pod{}}
	data, err := os.ReadFile(s.file)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var pods []*storedPod
	if err := json.Unmarshal(data, &pods); err != nil {
		return nil, fmt.Errorf("%s: %v", s.file, err)
	}
	for _, p := range pods {
		s.active[p.Spec.Name] = p
		if p.Seq > s.seq {
			s.seq = p.Seq
		}
	}
	return s, nil
}

func (s *podStore) saveLocked() error {
	pods := s.sortedLocked()
	data, err := json.MarshalIndent(pods, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, s.file)
}

func (s *podStore) sortedLocked() []*storedPod {
	pods := make([]*storedPod, 0, len(s.active))
	for _, p := range s.active {
		pods = append(pods, p)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Seq < pods[j].Seq })
	return pods
}

// begin records a pod as bound and being admitted: the kubelet adds it to its pod manager before admission,
// so it counts as active (its partial allocations are not collected) while admission runs.
func (s *podStore) begin(spec PodSpec) (*storedPod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[spec.Name]; ok {
		return nil, fmt.Errorf("pod %s already exists", spec.Name)
	}
	delete(s.rejected, spec.Name)
	if spec.Namespace == "" {
		spec.Namespace = "default"
	}
	s.seq++
	if spec.UID == "" {
		spec.UID = fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seq)
	}
	p := &storedPod{Spec: spec, Seq: s.seq, ContainerIDs: map[string]string{}}
	s.active[spec.Name] = p
	return p, nil
}

// admitted keeps the pod and its started containers (the runtime now runs them).
func (s *podStore) admitted(p *storedPod) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

// reject is the kubelet's rejectPod: the pod stays known with phase Failed and is no longer active.
func (s *podStore) reject(p *storedPod, reason, message string) *v1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active, p.Spec.Name)
	pod := toPod(p)
	pod.Status = v1.PodStatus{Phase: v1.PodFailed, Reason: reason, Message: "Pod was rejected: " + message}
	s.rejected[p.Spec.Name] = pod
	return pod
}

// remove: the pod was deleted and its containers stopped.
func (s *podStore) remove(name string) (*storedPod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.active[name]
	if !ok {
		if _, was := s.rejected[name]; was {
			delete(s.rejected, name)
			return nil, nil
		}
		return nil, fmt.Errorf("no pod %s", name)
	}
	delete(s.active, name)
	return p, s.saveLocked()
}

func (s *podStore) get(name string) (*storedPod, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.active[name]
	return p, ok
}

func (s *podStore) all() []*storedPod {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedLocked()
}

// GetActivePods is the kubelet's GetActivePods: pods admitted and not terminated (also the device
// manager's ActivePodsFunc).
func (s *podStore) GetActivePods() []*v1.Pod {
	var pods []*v1.Pod
	for _, p := range s.all() {
		pods = append(pods, toPod(p))
	}
	return pods
}

// GetPods is every pod the pod manager knows, rejected ones included.
func (s *podStore) GetPods() []*v1.Pod {
	pods := s.GetActivePods()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.rejected {
		pods = append(pods, p)
	}
	return pods
}

func (s *podStore) GetPodByName(namespace, name string) (*v1.Pod, bool) {
	for _, p := range s.GetPods() {
		if p.Namespace == namespace && p.Name == name {
			return p, true
		}
	}
	return nil, false
}

func toPod(p *storedPod) *v1.Pod {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Spec.Name, Namespace: p.Spec.Namespace, UID: types.UID(p.Spec.UID)},
		Spec:       v1.PodSpec{NodeName: nodeName},
		Status:     v1.PodStatus{Phase: v1.PodRunning},
	}
	for _, c := range p.Spec.InitContainers {
		container := toContainer(c)
		if c.RestartPolicy != "" {
			policy := v1.ContainerRestartPolicy(c.RestartPolicy)
			container.RestartPolicy = &policy
		}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, container)
	}
	for _, c := range p.Spec.Containers {
		pod.Spec.Containers = append(pod.Spec.Containers, toContainer(c))
	}
	return pod
}

func toContainer(c ContainerSpec) v1.Container {
	limits := v1.ResourceList{}
	for name, n := range c.Limits {
		limits[v1.ResourceName(name)] = *resource.NewQuantity(n, resource.DecimalSI)
	}
	return v1.Container{Name: c.Name, Image: "registry.k8s.io/pause:3.10",
		Resources: v1.ResourceRequirements{Limits: limits, Requests: limits.DeepCopy()}}
}
