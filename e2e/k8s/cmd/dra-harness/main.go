// Command dra-harness runs the kubelet's own DRA code, pkg/kubelet/cm/dra (the DRA manager and its plugin
// registration handler) and pkg/kubelet/pluginmanager (the plugin watcher), outside a kubelet, for the real-cluster
// suite: it watches a plugin registry directory, registers the DRA drivers it finds there exactly as the kubelet does,
// and on command prepares or unprepares the ResourceClaims of a pod read from the API server. It then resolves the
// CDI device IDs the kubelet would hand to the container runtime against the CDI spec files in --cdi-dir, strictly
// (specs-go types, unknown fields refused), and prints what the container would get.
//
// It reads one command per line on stdin and answers each with one JSON line on stdout; klog goes to stderr:
//
//	wait-registered <driver> <seconds>   the driver is registered and its DRA service connected
//	prepare <namespace> <pod>            Manager.PrepareResources, then GetResources per container
//	unprepare <namespace> <pod>          Manager.UnprepareResources
//	health <namespace> <pod>             Manager.UpdateAllocatedResourcesStatus: what the pod's status would show
//	restart                              stop the plugin watcher and the DRA manager and start new ones on the same
//	                                     state directory, as a kubelet restart does
//	quit
//
// Run it in a private mount namespace (e2e/k8s/dra-kubelet-ns): it never touches the host's /var/lib/kubelet.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	"k8s.io/kubernetes/pkg/kubelet/cm/dra"
	draplugin "k8s.io/kubernetes/pkg/kubelet/cm/dra/plugin"
	"k8s.io/kubernetes/pkg/kubelet/pluginmanager"
	cdispec "tags.cncf.io/container-device-interface/specs-go"
)

type kubelet struct {
	client      kubernetes.Interface
	nodeName    string
	registryDir string
	stateDir    string
	cdiDir      string

	cancel  context.CancelFunc
	stop    chan struct{}
	manager *dra.Manager
	active  map[string]*v1.Pod // pods whose claims were prepared and not unprepared: the manager's "active pods"
}

type answer struct {
	OK         bool             `json:"ok"`
	Error      string           `json:"error,omitempty"`
	Containers []containerEdits `json:"containers,omitempty"`
	Health     []resourceHealth `json:"health,omitempty"`
}

type containerEdits struct {
	Name        string            `json:"name"`
	CDIDevices  []string          `json:"cdiDevices"`
	DeviceNodes []deviceNode      `json:"deviceNodes"`
	Env         []string          `json:"env"`
	Mounts      []mount           `json:"mounts"`
	Specs       map[string]string `json:"specs"` // CDI device ID -> the spec file that defines it
}

type deviceNode struct {
	Path        string `json:"path"`
	HostPath    string `json:"hostPath,omitempty"`
	Permissions string `json:"permissions,omitempty"`
}

type mount struct {
	HostPath      string   `json:"hostPath"`
	ContainerPath string   `json:"containerPath"`
	Options       []string `json:"options"`
}

type resourceHealth struct {
	Container string `json:"container"`
	Resource  string `json:"resource"`
	Device    string `json:"device"`
	Health    string `json:"health"`
	Message   string `json:"message,omitempty"`
}

type ready struct{}

func (ready) AddSource(string) {}
func (ready) AllReady() bool   { return true }

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server")
	nodeName := flag.String("node-name", "", "the node this kubelet is")
	registryDir := flag.String("registry-dir", "/var/lib/kubelet/plugins_registry", "the plugin registry the watcher watches")
	stateDir := flag.String("state-dir", "/var/lib/kubelet", "where the DRA manager keeps its checkpoint")
	cdiDir := flag.String("cdi-dir", "/var/run/cdi", "where CDI spec files are read")
	klog.InitFlags(nil)
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fail("client: %v", err)
	}
	k := &kubelet{client: client, nodeName: *nodeName, registryDir: *registryDir, stateDir: *stateDir, cdiDir: *cdiDir,
		active: map[string]*v1.Pod{}}
	if err := k.start(); err != nil {
		fail("start: %v", err)
	}
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(answer{OK: true}) // up
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		var a answer
		switch {
		case f[0] == "quit":
			k.shutdown()
			_ = out.Encode(answer{OK: true})
			return
		case f[0] == "wait-registered" && len(f) == 3:
			a = k.waitRegistered(f[1], f[2])
		case f[0] == "prepare" && len(f) == 3:
			a = k.prepare(f[1], f[2])
		case f[0] == "unprepare" && len(f) == 3:
			a = k.unprepare(f[1], f[2])
		case f[0] == "health" && len(f) == 3:
			a = k.health(f[1], f[2])
		case f[0] == "restart":
			k.shutdown()
			if err := k.start(); err != nil {
				a = answer{Error: "restart: " + err.Error()}
			} else {
				a = answer{OK: true}
			}
		default:
			a = answer{Error: fmt.Sprintf("unknown command %q", in.Text())}
		}
		_ = out.Encode(a)
	}
	k.shutdown()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "dra-harness: "+format+"\n", args...)
	os.Exit(2)
}

// start wires the DRA manager to a plugin manager the way the kubelet's container manager and Kubelet.Run do.
func (k *kubelet) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	ctx = klog.NewContext(ctx, klog.Background())
	manager, err := dra.NewManager(klog.Background(), k.client, k.stateDir)
	if err != nil {
		cancel()
		return err
	}
	getNode := func(ctx context.Context) (*v1.Node, error) {
		return k.client.CoreV1().Nodes().Get(ctx, k.nodeName, metav1.GetOptions{})
	}
	activePods := func() []*v1.Pod {
		pods := make([]*v1.Pod, 0, len(k.active))
		for _, p := range k.active {
			pods = append(pods, p)
		}
		return pods
	}
	if err := manager.Start(ctx, activePods, getNode, ready{}); err != nil {
		cancel()
		return err
	}
	pm := pluginmanager.NewPluginManager(k.registryDir, record.NewFakeRecorder(100))
	pm.AddHandler(registerapi.DRAPlugin, manager.GetWatcherHandler())
	stop := make(chan struct{})
	go pm.Run(ctx, ready{}, stop)
	k.cancel, k.stop, k.manager = cancel, stop, manager
	return nil
}

func (k *kubelet) shutdown() {
	if k.manager == nil {
		return
	}
	close(k.stop)
	k.manager.Stop()
	k.cancel()
	k.manager = nil
	time.Sleep(200 * time.Millisecond) // let the watcher's goroutine see its stop channel
}

func (k *kubelet) waitRegistered(driver, seconds string) answer {
	s, err := strconv.Atoi(seconds)
	if err != nil {
		return answer{Error: "seconds: " + err.Error()}
	}
	plugins, ok := k.manager.GetWatcherHandler().(*draplugin.DRAPluginManager)
	if !ok {
		return answer{Error: "the DRA manager's watcher handler is not a DRAPluginManager"}
	}
	deadline := time.Now().Add(time.Duration(s) * time.Second)
	for {
		if _, err := plugins.GetPlugin(driver); err == nil {
			return answer{OK: true}
		} else if time.Now().After(deadline) {
			return answer{Error: err.Error()}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *kubelet) pod(namespace, name string) (*v1.Pod, error) {
	return k.client.CoreV1().Pods(namespace).Get(context.Background(), name, metav1.GetOptions{})
}

func (k *kubelet) prepare(namespace, name string) answer {
	pod, err := k.pod(namespace, name)
	if err != nil {
		return answer{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := k.manager.PrepareResources(ctx, pod); err != nil {
		return answer{Error: err.Error()}
	}
	k.active[string(pod.UID)] = pod
	a := answer{OK: true}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		info, err := k.manager.GetResources(pod, c)
		if err != nil {
			return answer{Error: err.Error()}
		}
		edits, err := k.resolve(c.Name, info)
		if err != nil {
			return answer{Error: err.Error()}
		}
		a.Containers = append(a.Containers, edits)
	}
	return a
}

func (k *kubelet) unprepare(namespace, name string) answer {
	pod, err := k.pod(namespace, name)
	if err != nil {
		// a deleted pod: the manager finds its claims in its own checkpoint by uid
		pod = nil
		for _, p := range k.active {
			if p.Namespace == namespace && p.Name == name {
				pod = p
			}
		}
		if pod == nil {
			return answer{Error: err.Error()}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := k.manager.UnprepareResources(ctx, pod); err != nil {
		return answer{Error: err.Error()}
	}
	delete(k.active, string(pod.UID))
	return answer{OK: true}
}

func (k *kubelet) health(namespace, name string) answer {
	pod, err := k.pod(namespace, name)
	if err != nil {
		return answer{Error: err.Error()}
	}
	status := pod.Status.DeepCopy()
	status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		status.ContainerStatuses = append(status.ContainerStatuses, v1.ContainerStatus{Name: c.Name})
	}
	k.manager.UpdateAllocatedResourcesStatus(klog.Background(), pod, status)
	a := answer{OK: true}
	for _, cs := range status.ContainerStatuses {
		for _, r := range cs.AllocatedResourcesStatus {
			for _, h := range r.Resources {
				rh := resourceHealth{Container: cs.Name, Resource: string(r.Name), Device: string(h.ResourceID),
					Health: string(h.Health)}
				if h.Message != nil {
					rh.Message = *h.Message
				}
				a.Health = append(a.Health, rh)
			}
		}
	}
	return a
}

// resolve applies the CDI devices to an empty container the way a CDI-aware runtime does: each ID names
// vendor/class=device; the spec of that kind must define the device exactly once; the spec's own container edits
// and the device's are applied.
func (k *kubelet) resolve(container string, info *dra.ContainerInfo) (containerEdits, error) {
	specs, err := k.readSpecs()
	if err != nil {
		return containerEdits{}, err
	}
	e := containerEdits{Name: container, CDIDevices: []string{}, DeviceNodes: []deviceNode{}, Env: []string{},
		Mounts: []mount{}, Specs: map[string]string{}}
	appliedSpecs := map[string]bool{}
	for _, d := range info.CDIDevices {
		kind, device, ok := strings.Cut(d.Name, "=")
		if !ok || !strings.Contains(kind, "/") {
			return e, fmt.Errorf("CDI device %q is not vendor/class=name", d.Name)
		}
		var found *cdispec.Device
		var from string
		var fromSpec *cdispec.Spec
		for file, spec := range specs {
			if spec.Kind != kind {
				continue
			}
			for i := range spec.Devices {
				if spec.Devices[i].Name == device {
					if found != nil {
						return e, fmt.Errorf("CDI device %q is defined twice (%s, %s)", d.Name, from, file)
					}
					found, from, fromSpec = &spec.Devices[i], file, spec
				}
			}
		}
		if found == nil {
			return e, fmt.Errorf("CDI device %q: no spec in %s defines it", d.Name, k.cdiDir)
		}
		e.CDIDevices = append(e.CDIDevices, d.Name)
		e.Specs[d.Name] = from
		if !appliedSpecs[from] {
			appliedSpecs[from] = true
			apply(&e, fromSpec.ContainerEdits)
		}
		apply(&e, found.ContainerEdits)
	}
	return e, nil
}

func apply(e *containerEdits, edits cdispec.ContainerEdits) {
	e.Env = append(e.Env, edits.Env...)
	for _, n := range edits.DeviceNodes {
		if n == nil {
			continue
		}
		e.DeviceNodes = append(e.DeviceNodes, deviceNode{Path: n.Path, HostPath: n.HostPath, Permissions: n.Permissions})
	}
	for _, m := range edits.Mounts {
		if m == nil {
			continue
		}
		e.Mounts = append(e.Mounts, mount{HostPath: m.HostPath, ContainerPath: m.ContainerPath, Options: m.Options})
	}
}

// readSpecs reads every *.json spec of the CDI directory strictly: unknown fields and unknown versions are errors.
func (k *kubelet) readSpecs() (map[string]*cdispec.Spec, error) {
	files, err := filepath.Glob(filepath.Join(k.cdiDir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	specs := map[string]*cdispec.Spec{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var s cdispec.Spec
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("CDI spec %s: %w", f, err)
		}
		if err := cdispec.ValidateVersion(&s); err != nil {
			return nil, fmt.Errorf("CDI spec %s: %w", f, err)
		}
		specs[f] = &s
	}
	return specs, nil
}
