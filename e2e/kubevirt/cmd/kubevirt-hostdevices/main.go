// Command kubevirt-hostdevices runs KubeVirt's own code (kubevirt.io/kubevirt v1.9.0) on what a device plugin
// gave a virt-launcher container: for each case (one JSON object per stdin line) it sets the container's
// environment, then asks virt-launcher's host-device code which libvirt <hostdev> entries it makes from the
// PCI_RESOURCE_* variables (virtwrap/device/hostdevice/gpu and .../generic: CreateHostDevices). It also says how
// many units of each resource virt-controller requests for the launcher pod: that rule is copied (requests),
// since pkg/virt-controller/services needs modules the Go proxy does not serve (kubevirt.io/virt-template-*).
//
// and prints one JSON answer per line: the requests, and per list the host devices (as libvirt domain XML and
// as fields) or KubeVirt's error.
//
//	{"env":{"PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU":"0000:41:00.0"},
//	 "gpus":[{"name":"gpu1","deviceName":"vfio.example.com/gpu"}],"hostDevices":[]}
package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"strings"

	v1 "kubevirt.io/api/core/v1"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/api"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/device/hostdevice/generic"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/device/hostdevice/gpu"
)

type request struct {
	Env         map[string]string `json:"env"`
	GPUs        []v1.GPU          `json:"gpus"`
	HostDevices []v1.HostDevice   `json:"hostDevices"`
}

type hostDevice struct {
	Alias   string `json:"alias"`
	Type    string `json:"type"`
	Managed string `json:"managed"`
	Mode    string `json:"mode"`
	Address string `json:"address"` // the source address, domain:bus:slot.function
	XML     string `json:"xml"`
}

type created struct {
	Devices []hostDevice `json:"devices"`
	Error   string       `json:"error,omitempty"`
}

type answer struct {
	Requests    map[string]int64 `json:"requests"`
	GPUs        created          `json:"gpus"`
	HostDevices created          `json:"hostDevices"`
	Error       string           `json:"error,omitempty"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		var req request
		var a answer
		if err := json.Unmarshal([]byte(line), &req); err != nil {
			a.Error = "bad request: " + err.Error()
		} else {
			a = run(req)
		}
		if err := out.Encode(a); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}

func run(req request) answer {
	// the container's environment: only what the case gives
	for _, kv := range os.Environ() {
		name := kv[:strings.IndexByte(kv, '=')]
		if strings.Contains(name, "RESOURCE_") {
			os.Unsetenv(name)
		}
	}
	for k, v := range req.Env {
		os.Setenv(k, v)
	}
	var a answer
	a.Requests = requests(req)
	if len(req.GPUs) > 0 {
		devs, err := gpu.CreateHostDevices(req.GPUs)
		a.GPUs = describe(devs, err)
	}
	if len(req.HostDevices) > 0 {
		devs, err := generic.CreateHostDevices(req.HostDevices)
		a.HostDevices = describe(devs, err)
	}
	return a
}

// requests is what virt-controller's WithGPUsDevicePlugins and WithHostDevicesDevicePlugins
// (pkg/virt-controller/services/renderresources.go, v1.9.0) add to the launcher pod: one unit of the resource
// per VMI entry that names a device plugin resource (deviceName, no DRA claim).
func requests(req request) map[string]int64 {
	r := map[string]int64{}
	for _, g := range req.GPUs {
		if g.DeviceName != "" && g.ClaimRequest == nil {
			r[g.DeviceName]++
		}
	}
	for _, hd := range req.HostDevices {
		if hd.DeviceName != "" && hd.ClaimRequest == nil {
			r[hd.DeviceName]++
		}
	}
	return r
}

func describe(devs []api.HostDevice, err error) created {
	c := created{Devices: []hostDevice{}}
	if err != nil {
		c.Error = err.Error()
		return c
	}
	for _, d := range devs {
		h := hostDevice{Type: d.Type, Managed: d.Managed, Mode: d.Mode}
		if d.Alias != nil {
			h.Alias = d.Alias.GetName()
		}
		if a := d.Source.Address; a != nil {
			h.Address = fmt.Sprintf("%s:%s:%s.%s", strings.TrimPrefix(a.Domain, "0x"), strings.TrimPrefix(a.Bus, "0x"),
				strings.TrimPrefix(a.Slot, "0x"), strings.TrimPrefix(a.Function, "0x"))
		}
		x, err := xml.Marshal(d)
		if err != nil {
			c.Error = err.Error()
			return c
		}
		h.XML = string(x)
		c.Devices = append(c.Devices, h)
	}
	return c
}
