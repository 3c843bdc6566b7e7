package com.example.vfio.plugin;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Everything one device plugin server publishes for one extended resource, computed from one host scan.
 *
 * @param name     the short resource name from the policy ({@code gpu}); the kubelet sees
 *                 {@code vfio.example.com/gpu}
 * @param devices  the units, in publication order (unique IDs)
 * @param hostNodes the VFIO device nodes the host has, needed to answer Allocate
 */
public record PublishedResource(String name, List<PublishedDevice> devices, HostVfioNodes hostNodes) {

    public static final String DOMAIN = "vfio.example.com";
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9_.]{0,46}[A-Za-z0-9])?");

    public PublishedResource {
        requireValidName(name);
        devices = List.copyOf(devices);
        Objects.requireNonNull(hostNodes, "hostNodes");
        Map<String, PublishedDevice> seen = new LinkedHashMap<>();
        for (PublishedDevice d : devices) {
            if (seen.put(d.id(), d) != null) {
                throw new IllegalArgumentException("device " + d.id() + " listed twice for resource " + name);
            }
        }
    }

    /** Checks a policy's resourceName; it becomes part of a socket file name and an env variable name. */
    public static String requireValidName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("invalid resource name '" + name
                    + "': use letters, digits, '-', '_' or '.', starting and ending with a letter or digit");
        }
        return name;
    }

    /** {@code vfio.example.com/<name>}. */
    public String resourceName() {
        return DOMAIN + "/" + name;
    }

    public Optional<PublishedDevice> device(String id) {
        return devices.stream().filter(d -> d.id().equals(id)).findFirst();
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
