package com.example.vfio.plugin;

import com.example.vfio.proto.deviceplugin.v1beta1.CDIDevice;
import com.example.vfio.proto.deviceplugin.v1beta1.ContainerAllocateResponse;
import com.example.vfio.proto.deviceplugin.v1beta1.DeviceSpec;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * What one container gets for its units: the VFIO device nodes (host path = container path), the
 * {@code PCI_RESOURCE_*} variable KubeVirt reads, and CDI device names. Pure. The DRA driver's CDI edits are made of
 * the same paths and variable.
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

    /** The value of {@link #envName}: the units' PCI addresses in request order, comma-joined (KubeVirt's rule). */
    public static String envValue(List<PublishedDevice> units) {
        return String.join(",", units.stream().flatMap(u -> u.addresses().stream()).toList());
    }

    /**
     * @param resourceName {@code vfio.example.com/gpu}
     * @param units        the requested units, in request order
     */
    public static ContainerAllocateResponse build(String resourceName, List<PublishedDevice> units,
                                                  PublishedResource.HostVfioNodes nodes) {
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
}
