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
 * {@code PCI_RESOURCE_*} variable KubeVirt reads (one address per unit), and CDI device names. Pure. The DRA
 * driver's CDI edits are made of the same paths and variable.
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
     * The device nodes a container needs for its units, host path = container path: {@code /dev/vfio/vfio}, each
     * unit's {@code /dev/vfio/<group>} and, on iommufd hosts, {@code /dev/iommu} and the units' vfio cdevs.
     */
    public static List<String> devicePaths(List<PublishedDevice> units, PublishedResource.HostVfioNodes nodes) {
        Set<String> paths = new LinkedHashSet<>();
        paths.add("/dev/vfio/vfio");
        for (PublishedDevice u : units) {
            paths.add("/dev/vfio/" + u.iommuGroup());
        }
        if (nodes.iommufd()) {
            paths.addAll(commonPaths(nodes));
            for (PublishedDevice u : units) {
                paths.addAll(unitPaths(u, nodes));
            }
        }
        return List.copyOf(paths);
    }

    /** The nodes every VFIO container needs whatever its units: {@code /dev/vfio/vfio}, {@code /dev/iommu} on iommufd hosts. */
    public static List<String> commonPaths(PublishedResource.HostVfioNodes nodes) {
        return nodes.iommufd() ? List.of("/dev/vfio/vfio", "/dev/iommu") : List.of("/dev/vfio/vfio");
    }

    /** One unit's own nodes: {@code /dev/vfio/<group>} and, on iommufd hosts, its vfio cdevs. */
    public static List<String> unitPaths(PublishedDevice unit, PublishedResource.HostVfioNodes nodes) {
        List<String> paths = new java.util.ArrayList<>(List.of("/dev/vfio/" + unit.iommuGroup()));
        if (nodes.iommufd()) {
            unit.cdevs().forEach(c -> paths.add("/dev/vfio/devices/" + c));
        }
        return List.copyOf(paths);
    }

    /** The value of {@link #envName}: one address per unit ({@link #vmAddress}), in address order, comma-joined. */
    public static String envValue(List<PublishedDevice> units) {
        return String.join(",", inAddressOrder(units).stream().map(ContainerAllocation::vmAddress).toList());
    }

    /**
     * @param resourceName {@code vfio.example.com/gpu}
     * @param requested    the requested units, in any order
     */
    public static ContainerAllocateResponse build(String resourceName, List<PublishedDevice> requested,
                                                  PublishedResource.HostVfioNodes nodes) {
        List<PublishedDevice> units = inAddressOrder(requested);
        ContainerAllocateResponse.Builder r = ContainerAllocateResponse.newBuilder();
        for (String p : devicePaths(units, nodes)) {
            r.addDevices(DeviceSpec.newBuilder().setHostPath(p).setContainerPath(p).setPermissions(PERMISSIONS));
        }
        r.putEnvs(envName(resourceName), envValue(units));
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
