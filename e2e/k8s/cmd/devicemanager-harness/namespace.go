package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// kubeletRoot is where the kubelet's device manager and PodResources server put their sockets; the
// paths are fixed in Kubernetes' code (pluginapi.KubeletSocket, the kubelet's pod-resources dir).
const kubeletRoot = "/var/lib/kubelet"

// requirePrivateMountNamespace refuses to run unless this process has a mount namespace of its own
// (started as `unshare -m --propagation private devicemanager-harness ...`): the device manager deletes
// every socket in /var/lib/kubelet/device-plugins when it starts, which must never happen on the host.
func requirePrivateMountNamespace() error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("cannot read my mount namespace: %v", err)
	}
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err != nil {
		return fmt.Errorf("cannot read my parent's mount namespace: %v", err)
	}
	if self == parent {
		return fmt.Errorf("refusing to run in my parent's mount namespace (%s): the device manager wipes %s/device-plugins;"+
			" start me as: unshare -m --propagation private %s ...", self, kubeletRoot, os.Args[0])
	}
	// unshare --propagation private already did this; make sure nothing mounted here reaches the host
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("cannot make my mounts private: %v", err)
	}
	return nil
}

// mountKubeletDirs gives this namespace a private tmpfs on /var/lib/kubelet with device-plugins and
// pod-resources bind-mounted from the state directory, so a plugin outside sees the same sockets.
func mountKubeletDirs(state string) (devicePlugins, podResources string, err error) {
	sources := map[string]string{}
	for _, d := range []string{"device-plugins", "pod-resources"} {
		src := filepath.Join(state, d)
		if err := os.MkdirAll(src, 0o750); err != nil {
			return "", "", err
		}
		sources[d] = src
	}
	if strings.HasPrefix(state+"/", "/var/lib/") {
		return "", "", fmt.Errorf("the state directory %s must not be under /var/lib (it is hidden here)", state)
	}
	if _, err := os.Stat(kubeletRoot); os.IsNotExist(err) {
		// no kubelet on this machine: a tmpfs on /var/lib (in this namespace only) holds the directory
		if err := unix.Mount("tmpfs", "/var/lib", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return "", "", fmt.Errorf("mounting a tmpfs on /var/lib: %v", err)
		}
		if err := os.Mkdir(kubeletRoot, 0o750); err != nil {
			return "", "", err
		}
	}
	if err := unix.Mount("tmpfs", kubeletRoot, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0750"); err != nil {
		return "", "", fmt.Errorf("mounting a tmpfs on %s: %v", kubeletRoot, err)
	}
	for d, src := range sources {
		target := filepath.Join(kubeletRoot, d)
		if err := os.Mkdir(target, 0o750); err != nil {
			return "", "", err
		}
		if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
			return "", "", fmt.Errorf("bind-mounting %s on %s: %v", src, target, err)
		}
	}
	return filepath.Join(kubeletRoot, "device-plugins"), filepath.Join(kubeletRoot, "pod-resources"), nil
}
