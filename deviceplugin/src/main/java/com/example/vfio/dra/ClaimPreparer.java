package com.example.vfio.dra;

import com.example.vfio.plugin.CdiSpecs;
import com.example.vfio.plugin.ContainerAllocation;
import com.example.vfio.plugin.GroupAllocations;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.PublishedDevice;
import com.example.vfio.plugin.PublishedResource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * NodePrepareResources and NodeUnprepareResources. Preparing a claim: read it from the API server, take each allocated
 * device of this driver and node from what is published now, refuse it (naming the device and the reason, as the
 * device plugin's Allocate does) when a VM could not take it or its IOMMU group is held by someone else (the same hold
 * table as the device plugin), take the holds, write the claim's CDI spec and device metadata, record the claim, and
 * answer the CDI IDs. Unpreparing undoes that from the record. Both are idempotent; the caller serializes them.
 *
 * <p>The CDI spec ({@code vfio.example.com-claim-<uid>.json}, kind {@code vfio.example.com/claim}) has, per device,
 * {@code <uid>-<device>} with its {@code /dev/vfio/<group>} and, on iommufd hosts, its vfio cdev, and per request,
 * {@code <uid>-<request>} with {@code /dev/vfio/vfio} (and {@code /dev/iommu}), {@code PCI_RESOURCE_VFIO_EXAMPLE_COM_<NAME>}
 * with the request's addresses (what KubeVirt reads for a VM that names the resource by {@code deviceName}) and the
 * read-only mount of the request's metadata file: the paths and variable {@link ContainerAllocation} hands out, nodes
 * {@code rwm}. A device answers its own ID first (the kubelet names a device's health by its first CDI ID); the
 * request's ID goes with its first device, so a container that uses the request gets it once.
 */
public final class ClaimPreparer implements ClaimPreparation {
    private static final Logger LOG = LoggerFactory.getLogger(ClaimPreparer.class);
    static final String CDI_KIND = DraNames.DRIVER + "/claim";
    static final String CDI_FILE_PREFIX = DraNames.DRIVER + "-claim-";
    static final String PERMISSIONS = "rwm";

    private final AllocatedClaim.Source claims;
    private final Supplier<DraView> view;
    private final GroupAllocations allocations;
    private final CdiSpecs cdi;
    private final DeviceMetadata metadata;
    private final PreparedClaims prepared;
    private final String pool;
    private final PluginMetrics metrics;

    private ClaimPreparer(AllocatedClaim.Source claims, Supplier<DraView> view, GroupAllocations allocations,
                          CdiSpecs cdi, DeviceMetadata metadata, PreparedClaims prepared, String pool,
                          PluginMetrics metrics) {
        this.claims = claims;
        this.view = view;
        this.allocations = allocations;
        this.cdi = cdi;
        this.metadata = metadata;
        this.prepared = prepared;
        this.pool = pool;
        this.metrics = metrics;
    }

    /**
     * Reads the record of prepared claims, takes their group holds up again (a restarted daemon must not hand their
     * groups out), and removes claim files no recorded claim names (a daemon that died while preparing).
     *
     * @param driverDir {@code <plugins>/vfio.example.com}: the record and the metadata files go there
     */
    public static ClaimPreparer open(AllocatedClaim.Source claims, Supplier<DraView> view, GroupAllocations allocations,
                                     CdiSpecs cdi, Path driverDir, String nodeName, PluginMetrics metrics)
            throws IOException {
        PreparedClaims prepared = PreparedClaims.open(driverDir.resolve("checkpoint.json"));
        DeviceMetadata metadata = new DeviceMetadata(driverDir, DraNames.poolName(nodeName));
        ClaimPreparer p = new ClaimPreparer(claims, view, allocations, cdi, metadata, prepared,
                DraNames.poolName(nodeName), metrics);
        for (PreparedClaims.Claim c : prepared.all()) {
            allocations.recoverClaim(new GroupAllocations.DraClaim(c.uid(), c.qualifiedName()), units(c));
        }
        p.removeOrphans();
        metrics.draPreparedClaims(prepared.all().size());
        return p;
    }

    /** Claims prepared now. */
    public List<PreparedClaims.Claim> preparedClaims() {
        return prepared.all();
    }

    @Override
    public Map<String, Result> prepare(List<ClaimRef> refs) {
        Map<String, Result> out = new LinkedHashMap<>();
        for (ClaimRef ref : refs) {
            out.put(ref.uid(), prepareOne(ref));
        }
        metrics.draPreparedClaims(prepared.all().size());
        return out;
    }

    private Result prepareOne(ClaimRef ref) {
        PreparedClaims.Claim done = prepared.get(ref.uid());
        if (done != null) {
            return answer(done); // the kubelet asks again (a retry, or after its restart): the same answer
        }
        AllocatedClaim claim;
        try {
            claim = claims.read(ref);
        } catch (AllocatedClaim.Unusable e) {
            return refuse(ref, e.getMessage());
        }
        DraView now = view.get();
        List<Planned> planned = new ArrayList<>();
        for (AllocatedClaim.Result r : claim.results()) {
            if (!DraNames.DRIVER.equals(r.driver())) {
                continue;
            }
            if (!pool.equals(r.pool())) {
                return refuse(ref, "device " + r.device() + " was allocated from pool " + r.pool()
                        + ", but this is node " + pool);
            }
            DraDevice d = now.device(r.device()).orElse(null);
            if (d == null) {
                return refuse(ref, "device " + r.device() + " is not published by node " + pool
                        + " (any more): no policy selects it for DRA now, or it is gone from the host");
            }
            if (d.taint() != null && !"HeldByDevicePlugin".equals(d.taint().value())) {
                return refuse(ref, String.join(",", d.unit().addresses()) + " (" + d.name() + "): not usable for a VM: "
                        + d.taint().message());
            }
            PublishedResource resource = now.resource(d.resource()).orElseThrow();
            planned.add(new Planned(r.request(), d, resource));
        }
        if (planned.isEmpty()) {
            return new Result(List.of(), null); // no device of this driver in it: nothing to do here
        }
        GroupAllocations.DraClaim holder = new GroupAllocations.DraClaim(ref.uid(), ref.qualifiedName());
        try {
            allocations.acquireForClaim(holder, planned.stream().map(p -> new GroupAllocations.ClaimedUnit(
                    p.resource.resourceName(), new GroupAllocations.Claim(p.device.unit().id(), p.device.iommuGroup(),
                            p.device.unit().addresses()))).toList());
        } catch (GroupAllocations.RefusedException e) {
            return refuse(ref, e.getMessage());
        }
        List<String> files = new ArrayList<>();
        Path claimDir = metadata.claimDir(ref.namespace(), ref.name());
        try {
            PreparedClaims.Claim record = write(claim, planned, files);
            prepared.put(record);
            metrics.draPrepared();
            LOG.info("prepared claim {} ({}): {}", ref.qualifiedName(), ref.uid(), String.join(", ", planned.stream()
                    .map(p -> p.device.name() + " = " + String.join(",", p.device.unit().addresses()) + " (IOMMU group "
                            + p.device.iommuGroup() + ")").toList()));
            return answer(record);
        } catch (IOException | RuntimeException e) {
            undo(files, claimDir);
            allocations.releaseClaim(ref.uid());
            return refuse(ref, "cannot write the claim's CDI spec or device metadata: " + e.getMessage());
        }
    }

    private record Planned(String request, DraDevice device, PublishedResource resource) {
    }

    private static String baseRequest(String request) {
        return request.contains("/") ? request.substring(0, request.indexOf('/')) : request;
    }

    private PreparedClaims.Claim write(AllocatedClaim claim, List<Planned> planned, List<String> files)
            throws IOException {
        Map<String, List<Planned>> byRequest = new LinkedHashMap<>();
        planned.forEach(p -> byRequest.computeIfAbsent(p.request, r -> new ArrayList<>()).add(p));
        List<CdiSpecs.Device> cdiDevices = new ArrayList<>();
        List<PreparedClaims.Device> devices = new ArrayList<>();
        for (Map.Entry<String, List<Planned>> e : byRequest.entrySet()) {
            String request = e.getKey();
            String base = baseRequest(request);
            List<Planned> ps = e.getValue();
            Path file = metadata.write(claim.namespace(), claim.name(), claim.uid(), claim.podClaimName(), request,
                    ps.stream().map(p -> new DeviceMetadata.Entry(p.device.name(), metadataAttributes(p.device))).toList());
            Map<String, String> env = new LinkedHashMap<>();
            Map<String, List<PublishedDevice>> byResource = new LinkedHashMap<>();
            ps.forEach(p -> byResource.computeIfAbsent(p.resource.resourceName(), r -> new ArrayList<>()).add(p.device.unit()));
            byResource.forEach((resource, list) -> env.put(ContainerAllocation.envName(resource),
                    ContainerAllocation.envValue(list)));
            PublishedResource.HostVfioNodes nodes = ps.get(0).resource.hostNodes();
            String requestDevice = claim.uid() + "-" + base;
            cdiDevices.add(new CdiSpecs.Device(requestDevice, new CdiSpecs.Edits(ContainerAllocation.commonPaths(nodes),
                    PERMISSIONS, env, List.of(new CdiSpecs.Mount(file.toString(),
                    DeviceMetadata.containerPath(claim.name(), claim.podClaimName(), base), List.of("ro", "bind"))))));
            for (int i = 0; i < ps.size(); i++) {
                Planned p = ps.get(i);
                String deviceCdi = claim.uid() + "-" + p.device.name();
                cdiDevices.add(new CdiSpecs.Device(deviceCdi, new CdiSpecs.Edits(
                        ContainerAllocation.unitPaths(p.device.unit(), p.resource.hostNodes()), PERMISSIONS, Map.of(),
                        List.of())));
                // the device's own ID first: the kubelet names a device's health by its first CDI ID
                List<String> ids = i == 0 ? List.of(CDI_KIND + "=" + deviceCdi, CDI_KIND + "=" + requestDevice)
                        : List.of(CDI_KIND + "=" + deviceCdi);
                devices.add(new PreparedClaims.Device(request, p.device.name(), p.device.resource(), p.device.unit().id(),
                        p.device.iommuGroup(), p.device.unit().addresses(), ids));
            }
        }
        String cdiFile = CDI_FILE_PREFIX + claim.uid() + ".json";
        files.add(cdiFile);
        cdi.writeFile(cdiFile, CdiSpecs.render(CDI_KIND, cdiDevices, null));
        return new PreparedClaims.Claim(claim.namespace(), claim.name(), claim.uid(), devices, files,
                devices.isEmpty() ? null : metadata.claimDir(claim.namespace(), claim.name()).toString());
    }

    /** What the container may read of a device: its PCI address above all (KubeVirt reads only that). */
    private static Map<String, Object> metadataAttributes(DraDevice d) {
        Map<String, Object> a = new LinkedHashMap<>();
        for (String name : List.of(DraNames.ATTR_PCI_BUS_ID, DraNames.ATTR_PCIE_ROOT, DraNames.ATTR_NUMA_NODE,
                DraNames.ATTR_RESOURCE, DraNames.ATTR_IOMMU_GROUP)) {
            Object v = d.attributes().get(name);
            if (v != null) {
                a.put(name, v);
            }
        }
        return a;
    }

    private Result answer(PreparedClaims.Claim c) {
        return new Result(c.devices().stream().map(d -> new PreparedDevice(List.of(baseRequest(d.request())), pool,
                d.device(), d.cdiIds())).toList(), null);
    }

    private Result refuse(ClaimRef ref, String why) {
        metrics.draRefused();
        LOG.warn("refused to prepare claim {} ({}): {}", ref.qualifiedName(), ref.uid(), why);
        return Result.failed(why);
    }

    @Override
    public Map<String, String> unprepare(List<ClaimRef> refs) {
        Map<String, String> out = new LinkedHashMap<>();
        for (ClaimRef ref : refs) {
            out.put(ref.uid(), unprepareOne(ref));
        }
        metrics.draPreparedClaims(prepared.all().size());
        return out;
    }

    private String unprepareOne(ClaimRef ref) {
        PreparedClaims.Claim c = prepared.get(ref.uid());
        if (c == null) {
            allocations.releaseClaim(ref.uid()); // nothing recorded: nothing to undo (asked again, or never prepared)
            return null;
        }
        try {
            for (String f : c.files()) {
                cdi.removeFile(f);
            }
            if (c.metadataDir() != null) {
                metadata.remove(Path.of(c.metadataDir()));
            }
            prepared.remove(ref.uid());
        } catch (IOException e) {
            metrics.error("dra_unprepare");
            LOG.warn("cannot unprepare claim {} ({}): {}", c.qualifiedName(), ref.uid(), e.getMessage());
            return "cannot remove the files of claim " + c.qualifiedName() + ": " + e.getMessage();
        }
        allocations.releaseClaim(ref.uid());
        metrics.draUnprepared();
        LOG.info("unprepared claim {} ({}): {} given back", c.qualifiedName(), ref.uid(),
                String.join(",", c.devices().stream().flatMap(d -> d.addresses().stream()).toList()));
        return null;
    }

    private void undo(List<String> files, Path claimDir) {
        try {
            for (String f : files) {
                cdi.removeFile(f);
            }
            metadata.remove(claimDir);
        } catch (IOException e) {
            LOG.warn("cannot remove what a failed prepare wrote: {}", e.getMessage());
        }
    }

    private static List<GroupAllocations.ClaimedUnit> units(PreparedClaims.Claim c) {
        return c.devices().stream().map(d -> new GroupAllocations.ClaimedUnit(PublishedResource.DOMAIN + "/" + d.resource(),
                new GroupAllocations.Claim(d.unit(), d.iommuGroup(), d.addresses()))).toList();
    }

    /** Claim files on disk that no recorded claim names: a daemon died between writing them and recording the claim. */
    private void removeOrphans() throws IOException {
        Set<String> files = new HashSet<>();
        Set<Path> dirs = new HashSet<>();
        for (PreparedClaims.Claim c : prepared.all()) {
            files.addAll(c.files());
            if (c.metadataDir() != null) {
                dirs.add(Path.of(c.metadataDir()));
            }
        }
        if (Files.isDirectory(cdi.dir())) {
            try (Stream<Path> list = Files.list(cdi.dir())) {
                for (Path f : list.toList()) {
                    String name = f.getFileName().toString();
                    if (name.startsWith(CDI_FILE_PREFIX) && name.endsWith(".json") && !files.contains(name)) {
                        LOG.info("removing {}: no prepared claim of this node names it", f);
                        cdi.removeFile(name);
                    }
                }
            }
        }
        for (Path d : metadata.claimDirs()) {
            if (!dirs.contains(d)) {
                LOG.info("removing {}: no prepared claim of this node names it", d);
                metadata.remove(d);
            }
        }
    }
}
