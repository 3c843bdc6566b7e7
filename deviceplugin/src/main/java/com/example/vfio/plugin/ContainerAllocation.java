package com.example.vfio.plugin;

import com.example.vfio.proto.deviceplugin.v1beta1.CDIDevice;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerAllocateResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.DeviceSpec;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * What one container gets for its units: the VFIO device nodes (host path = container path), the
 * {@code PCI_RESOURCE_*} variable KubeVirt reads (one address per unit), and CDI device names. Pure.
 *
 * <p>Everything is listed in address order, whatever the order of the request: the kubelet's device manager
 * asks for a set of IDs (v1.37 sends them in Go map order, which changes from call to call), while KubeVirt
 * hands the addresses to the VM's host devices by position, so their order must not depend on chance.
 */
public final class ContainerAllocation {

    static final String PERMISSIONS = "rw";

    private ContainerAllocation() {
    }

    /** {@code PCI_RESOURCE_VFIO_EXAMPLE_COM_GPU}: upper-cased, '.' and '/' turned into '_' (KubeVirt's rule). */
    public static String envName(String resourceName) {
        return "PCI_RESOURCE_" + resourceName.toUpperCase(Locale.ROOT).replace('.', '_').replace('/', '_');
    }

    /** The CDI name of a unit: {@code vfio.example.com/gpu=0000-41-00-0}. */
    public static String cdiName(String resourceName, String unitId) {
        return resourceName + "=" + cdiDeviceName(unitId);
    }

    /** A unit ID as a CDI device name (':' and '.' are not allowed everywhere CDI names travel). */
    public static String cdiDeviceName(String unitId) {
        return unitId.replace(':', '-').replace('.', '-');
    }

    /**
     * @param resourceName {@code vfio.example.com/gpu}
     * @param requested    the requested units, in any order
     */
    public static ContainerAllocateResponse build(String resourceName, List<PublishedDevice> requested,
                                                  PublishedResource.HostVfioNodes nodes) {
        List<PublishedDevice> units = inAddressOrder(requested);
        ContainerAllocateResponse.Builder r = ContainerAllocateResponse.newBuilder();
        Set<String> paths = new LinkedHashSet<>();
        paths.add("/dev/vfio/vfio");
        for (PublishedDevice u : units) {
            paths.add("/dev/vfio/" + u.iommuGroup());
        }
        if (nodes.iommufd()) {
            paths.add("/dev/iommu");
            for (PublishedDevice u : units) {
                u.cdevs().forEach(c -> paths.add("/dev/vfio/devices/" + c));
            }
        }
        for (String p : paths) {
            r.addDevices(DeviceSpec.newBuilder().setHostPath(p).setContainerPath(p).setPermissions(PERMISSIONS));
        }
        r.putEnvs(envName(resourceName), String.join(",", units.stream().map(ContainerAllocation::vmAddress).toList()));
        for (PublishedDevice u : units) {
            r.addCdiDevices(CDIDevice.newBuilder().setName(cdiName(resourceName, u.id())));
        }
        return r.build();
    }

    /**
     * The one address of a unit that {@code PCI_RESOURCE_*} lists: its first function (for a GPU with its audio
     * function, the GPU). KubeVirt (v1.9.0, run on our Allocate answers) asks one unit per VMI entry and gives
     * the i-th entry the i-th address, so a second address per unit would become the next entry's device: a
     * two-GPU VM would get the first GPU and its audio function. The unit's other functions still come with
     * its group's device node.
     */
    static String vmAddress(PublishedDevice unit) {
        return unit.addresses().get(0);
    }

    /** Units by their first address (a unit's own addresses are in address order already). */
    static List<PublishedDevice> inAddressOrder(List<PublishedDevice> units) {
        // canonical addresses (fixed-width lower-case hex) sort as text in domain, bus, slot, function order
        return units.stream().sorted(Comparator.comparing((PublishedDevice u) -> u.addresses().get(0))).toList();
    }
}
