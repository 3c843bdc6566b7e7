package com.example.vfio.dra;

import com.example.vfio.plugin.CdiSpecs;
import com.example.vfio.plugin.GroupAllocations;
import com.example.vfio.plugin.PluginMetrics;
import com.example.vfio.plugin.PublishedResource;
import com.example.vfio.plugin.UnixSockets;
import com.example.vfio.viability.HostAssessment;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The DRA driver {@code vfio.example.com}, assembled: fed by the same rescans as the device plugin (the resources whose
 * policies say {@code publishWith: DRA}) and the same group holds, it publishes ResourceSlices ({@link SlicePublisher}),
 * registers with the kubelet ({@link KubeletRegistration}) and serves its DRA and health services ({@link DraService}).
 * It starts serving the kubelet when the node first has a DRA resource and keeps serving until the daemon stops, so
 * the kubelet can always unprepare a claim it prepared.
 */
public final class DraDriver implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DraDriver.class);

    /**
     * @param paths  the kubelet's plugin directories
     * @param cdiDir where CDI spec files go ({@code /var/run/cdi})
     */
    public record Config(String nodeName, KubeletRegistration.Paths paths, Path cdiDir, Duration socketCheck,
                         Duration minBackoff, Duration maxBackoff) {
        public Config {
            Objects.requireNonNull(nodeName, "nodeName");
            Objects.requireNonNull(paths, "paths");
            Objects.requireNonNull(cdiDir, "cdiDir");
        }

        public static Config defaults(String nodeName, KubeletRegistration.Paths paths, Path cdiDir) {
            return new Config(nodeName, paths, cdiDir, Duration.ofSeconds(2), Duration.ofMillis(500), Duration.ofSeconds(30));
        }
    }

    private final Config config;
    private final GroupAllocations allocations;
    private final PluginMetrics metrics;
    private final ClaimPreparer preparer;
    private final SlicePublisher slices;
    private final HealthStreams health;
    private final KubeletRegistration registration;
    private final ExecutorService owner;
    // owned by the owner thread
    private HostAssessment assessment;
    private List<PublishedResource> resources = List.of();
    private boolean serving;
    private volatile DraView view = DraView.EMPTY;

    /**
     * Reads the record of the claims prepared before (their group holds are taken up again at once) and, when there
     * are any, serves the kubelet at once: it may unprepare them before any rescan.
     *
     * @param claims where ResourceClaims are read ({@link AllocatedClaim#fromApi})
     * @throws IOException when the record of prepared claims cannot be read
     */
    public DraDriver(Config config, KubernetesClient client, AllocatedClaim.Source claims, UnixSockets sockets,
                     GroupAllocations allocations, PluginMetrics metrics, Clock clock) throws IOException {
        this.config = config;
        this.allocations = allocations;
        this.metrics = metrics;
        this.preparer = ClaimPreparer.open(claims, this::view, allocations, new CdiSpecs(config.cdiDir()),
                config.paths().driverDir(), config.nodeName(), metrics);
        this.slices = new SlicePublisher(client, config.nodeName(), metrics, config.minBackoff(), config.maxBackoff());
        this.health = new HealthStreams(DraNames.poolName(config.nodeName()), clock);
        this.registration = new KubeletRegistration(config.paths(), sockets,
                new DraService(preparer, health).services(), metrics, config.socketCheck());
        this.owner = Executors.newSingleThreadExecutor(UnixSockets.daemonThreads("vfio-dra"));
        // a device plugin pod taking or giving back a group changes which of our devices are tainted
        allocations.onChange(() -> run(this::recompute));
        if (!preparer.preparedClaims().isEmpty()) {
            serveKubelet();
        }
    }

    /** The claims prepared now (the driver's record). */
    public List<PreparedClaims.Claim> preparedClaims() {
        return preparer.preparedClaims();
    }

    public Config config() {
        return config;
    }

    /** From each rescan: the DRA resources (the complete list) and the host they were computed from. */
    public void publish(HostAssessment newAssessment, List<PublishedResource> draResources) {
        List<PublishedResource> copy = List.copyOf(draResources);
        run(() -> {
            assessment = newAssessment;
            resources = copy;
            if (!resources.isEmpty() && !serving) {
                startServing();
            }
            recompute();
        });
    }

    /** Serves the kubelet now even without a DRA resource (prepared claims from before a restart must be unprepared). */
    public void serveKubelet() {
        run(() -> {
            if (!serving) {
                startServing();
            }
        });
    }

    private void startServing() {
        try {
            registration.start();
            serving = true;
        } catch (IOException | UncheckedIOException e) {
            metrics.error("dra_registration");
            LOG.error("cannot serve the DRA driver's sockets ({}): will try again at the next rescan", e.getMessage());
        }
    }

    private void recompute() {
        if (assessment == null) {
            return;
        }
        List<DraDevice> devices = new ArrayList<>();
        var holds = allocations.holds();
        for (PublishedResource r : resources) {
            devices.addAll(DraDevices.of(assessment, r, holds));
        }
        DraView next = new DraView(resources, devices);
        if (next.equals(view)) {
            return;
        }
        view = next;
        slices.publish(PoolLayout.layout(devices));
        health.update(devices);
    }

    /** What is published now. */
    public DraView view() {
        return view;
    }

    public SlicePublisher slices() {
        return slices;
    }

    public KubeletRegistration registration() {
        return registration;
    }

    private void run(Runnable r) {
        try {
            owner.execute(() -> {
                try {
                    r.run();
                } catch (RuntimeException e) {
                    metrics.error("dra");
                    LOG.error("DRA driver update failed", e);
                }
            });
        } catch (RejectedExecutionException closed) {
            // closing
        }
    }

    @Override
    public void close() {
        owner.shutdownNow();
        try {
            owner.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        registration.close();
        health.close();
        slices.close();
    }
}
