// Command devicemanager-harness runs the kubelet's own device manager, topology manager and PodResources
// server (k8s.io/kubernetes/pkg/kubelet, the release pinned in e2e/k8s/go.mod) on this machine without
// the kubelet binary, in a private mount namespace, for the tests of a device plugin running outside it.
//
//	unshare -m --propagation private devicemanager-harness --state DIR [--numa-nodes 2]
//	    [--topology-manager-policy none|best-effort|restricted|single-numa-node] [--topology-manager-scope container|pod]
//
// DIR/device-plugins and DIR/pod-resources are bind-mounted on /var/lib/kubelet/device-plugins and
// /var/lib/kubelet/pod-resources here, so the plugin outside uses DIR/device-plugins as its plugin
// directory and DIR/pod-resources/kubelet.sock as its PodResources socket. DIR/pods.json records the pods
// bound to the node and their running containers (what the API server and the container runtime still know
// when the kubelet restarts): starting the harness again on the same DIR is a kubelet restart. The device
// manager's checkpoint is DIR/device-plugins/kubelet_internal_checkpoint, as on a node.
//
// Control: one JSON request per line on stdin, one JSON answer per line on stdout (see protocol.go); the
// first stdout line is {"event":"ready",...}. The kubelet code logs (klog) to stderr.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	cadvisorapi "github.com/google/cadvisor/lib/model"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/kubelet/apis/podresources"
	"k8s.io/kubernetes/pkg/kubelet/cm/containermap"
	"k8s.io/kubernetes/pkg/kubelet/cm/devicemanager"
	"k8s.io/kubernetes/pkg/kubelet/cm/topologymanager"
	"k8s.io/kubernetes/pkg/kubelet/server"
	kubeletutil "k8s.io/kubernetes/pkg/kubelet/util"
)

const nodeName = "harness-node"

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "devicemanager-harness: %v\n", err)
		os.Exit(2)
	}
}

func run() error {
	klog.InitFlags(nil)
	state := flag.String("state", "", "the per-test state directory (required)")
	numaNodes := flag.Int("numa-nodes", 2, "NUMA nodes of the machine the device and topology managers see")
	policy := flag.String("topology-manager-policy", topologymanager.PolicyNone, "the kubelet's --topology-manager-policy")
	scope := flag.String("topology-manager-scope", topologymanager.ContainerTopologyScope, "the kubelet's --topology-manager-scope")
	flag.Parse()
	if *state == "" {
		return fmt.Errorf("--state DIR is required")
	}
	dir, err := filepath.Abs(*state)
	if err != nil {
		return err
	}
	if err := requirePrivateMountNamespace(); err != nil {
		return err
	}
	pluginDir, podResourcesDir, err := mountKubeletDirs(dir)
	if err != nil {
		return err
	}
	pods, err := newPodStore(dir)
	if err != nil {
		return err
	}

	ctx := klog.NewContext(context.Background(), klog.Background())
	logger := klog.FromContext(ctx)
	var topology []cadvisorapi.Node
	for i := 0; i < *numaNodes; i++ {
		topology = append(topology, cadvisorapi.Node{Id: i})
	}
	// as the kubelet's container manager wires them (pkg/kubelet/cm/container_manager_linux.go)
	tm, err := topologymanager.NewManager(logger, topology, *policy, *scope, nil)
	if err != nil {
		return err
	}
	dm, err := devicemanager.NewManagerImpl(logger, topology, tm)
	if err != nil {
		return err
	}
	tm.AddHintProvider(logger, dm)

	// a kubelet restart: the runtime still runs the containers of the pods the API server still binds here
	existing := pods.all()
	containers := containermap.NewContainerMap()
	running := sets.New[string]()
	for _, p := range existing {
		for name, id := range p.ContainerIDs {
			containers.Add(p.Spec.UID, name, id)
			running.Insert(id)
		}
	}
	ready := newSourcesReady(len(existing) == 0)
	if err := dm.Start(logger, pods.GetActivePods, ready, containers, running); err != nil {
		return fmt.Errorf("starting the device manager: %v", err)
	}

	endpoint, err := kubeletutil.LocalEndpoint(podResourcesDir, podresources.Socket)
	if err != nil {
		return err
	}
	providers := podresources.PodResourcesProviders{
		Pods:             pods,
		Devices:          devicesProvider{dm},
		Cpus:             noCPUs{},
		Memory:           noMemory{},
		DynamicResources: noDynamicResources{},
	}
	// the kubelet's own PodResources server (v1 and v1alpha1, rate-limited like the kubelet's)
	go server.ListenAndServePodResources(ctx, endpoint, providers)

	h := &harness{ctx: ctx, dm: dm, tm: tm, pods: pods, pluginDir: pluginDir,
		podResourcesSocket: filepath.Join(podResourcesDir, podresources.Socket+".sock")}
	if err := waitForSockets(filepath.Join(pluginDir, "kubelet.sock"), h.podResourcesSocket); err != nil {
		return err
	}
	// pods that survived the restart come back from the API server and are admitted again while the
	// config sources are not ready yet; then the sources are
	readmitted := make([]admitResult, 0, len(existing))
	for _, p := range existing {
		readmitted = append(readmitted, h.readmit(p))
	}
	ready.set(true)

	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(map[string]any{"event": "ready", "pid": os.Getpid(), "node": nodeName,
		"topologyManagerPolicy": *policy, "topologyManagerScope": *scope, "numaNodes": *numaNodes,
		"kubeletSocket":      filepath.Join(dir, "device-plugins", "kubelet.sock"),
		"podResourcesSocket": filepath.Join(dir, "pod-resources", podresources.Socket+".sock"),
		"checkpoint":         checkpointState(dir), "readmitted": readmitted}); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		resp, quit := h.handle(line)
		if err := out.Encode(resp); err != nil {
			return err
		}
		if quit {
			return nil
		}
	}
	return in.Err() // stdin closed: the test went away
}

func checkpointState(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, "device-plugins", "kubelet_internal_checkpoint")); err == nil {
		return "present"
	}
	return "absent"
}

func waitForSockets(paths ...string) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range paths {
		for {
			if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not appear", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// sourcesReady is the kubelet's config.SourcesReady: false while a restarted kubelet has not yet heard
// from the API server (pods already running keep their devices without a new Allocate).
type sourcesReady struct {
	ready atomic.Bool
}

func newSourcesReady(ready bool) *sourcesReady {
	s := &sourcesReady{}
	s.ready.Store(ready)
	return s
}

func (s *sourcesReady) AddSource(string) {}
func (s *sourcesReady) AllReady() bool   { return s.ready.Load() }
func (s *sourcesReady) set(v bool)       { s.ready.Store(v) }
