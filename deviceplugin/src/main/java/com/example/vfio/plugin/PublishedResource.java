package com.example.vfio.plugin;

import com.example.vfio.api.PublishWith;
import com.example.vfio.api.VfioBindingPolicySpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Everything the kubelet side publishes for one resource, computed from one host scan (immutable): the short
 * resource name from the policy ({@code gpu}; the kubelet sees {@code vfio.example.com/gpu}), the kubelet API it goes
 * through (a device plugin server, or the DRA driver's ResourceSlices), the units in publication order with unique
 * IDs, and the VFIO device nodes the host has, needed to answer Allocate or NodePrepareResources.
 */
public final class PublishedResource {

    public static final String DOMAIN = "vfio.example.com";
    /** The CRD's rule for resourceName; it also keeps socket file and variable names safe. */
    private static final Pattern NAME = Pattern.compile(VfioBindingPolicySpec.RESOURCE_NAME_REGEX);

    private final String name;
    private final PublishWith api;
    private final List<PublishedDevice> devices;
    private final HostVfioNodes hostNodes;
    /** Allocate looks devices up by ID on every call; a node can publish thousands. */
    private final Map<String, PublishedDevice> byId;

    public PublishedResource(String name, List<PublishedDevice> devices, HostVfioNodes hostNodes) {
        this(name, PublishWith.DevicePlugin, devices, hostNodes);
    }

    public PublishedResource(String name, PublishWith api, List<PublishedDevice> devices, HostVfioNodes hostNodes) {
        this.name = requireValidName(name);
        this.api = Objects.requireNonNull(api, "api");
        this.devices = List.copyOf(devices);
        this.hostNodes = Objects.requireNonNull(hostNodes, "hostNodes");
        Map<String, PublishedDevice> seen = new LinkedHashMap<>();
        for (PublishedDevice d : this.devices) {
            if (seen.put(d.id(), d) != null) {
                throw new IllegalArgumentException("device " + d.id() + " listed twice for resource " + name);
            }
        }
        this.byId = Map.copyOf(seen);
    }

    public String name() {
        return name;
    }

    /** The kubelet API that publishes it. */
    public PublishWith api() {
        return api;
    }

    public boolean isDra() {
        return api == PublishWith.DRA;
    }

    /** The same resource with other units (health or holds changed), through the same API. */
    public PublishedResource withDevices(List<PublishedDevice> newDevices) {
        return new PublishedResource(name, api, newDevices, hostNodes);
    }

    /** The units, in publication order (unique IDs). */
    public List<PublishedDevice> devices() {
        return devices;
    }

    public HostVfioNodes hostNodes() {
        return hostNodes;
    }

    @Override
    public boolean equals(Object o) {
        return o == this || o instanceof PublishedResource other && name.equals(other.name) && api == other.api
                && devices.equals(other.devices) && hostNodes.equals(other.hostNodes);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, api, devices, hostNodes);
    }

    @Override
    public String toString() {
        return "PublishedResource[name=" + name + ", api=" + api + ", devices=" + devices + ", hostNodes=" + hostNodes + "]";
    }

    /** Checks a policy's resourceName; it becomes part of a socket file name and an env variable name. */
    public static String requireValidName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("invalid resource name '" + name
                    + "': use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit");
        }
        return name;
    }

    /** {@code vfio.example.com/<name>}. */
    public String resourceName() {
        return DOMAIN + "/" + name;
    }

    public Optional<PublishedDevice> device(String id) {
        return Optional.ofNullable(id == null ? null : byId.get(id));
    }

    /**
     * The VFIO device nodes of the host (host paths; never carrying the --root prefix).
     *
     * @param container true when /dev/vfio/vfio exists
     * @param iommufd   true when /dev/iommu exists
     */
    public record HostVfioNodes(boolean container, boolean iommufd) {
    }
}
