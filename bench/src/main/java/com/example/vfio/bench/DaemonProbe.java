package com.example.vfio.bench;

import com.example.vfio.plugin.kubelet.StandInKubelet;
import com.example.vfio.plugin.kubelet.StandInPodResources;
import com.example.vfio.proto.deviceplugin.v1beta1.Device;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Measures the daemon as a node runs it: {@code bin/vfio-node serve --policies FILE} as its own process
 * against a synthetic host, registering with the stand-in kubelet (deviceplugin test-jar: the real
 * v1beta1 protocol on real unix sockets). Prints {@code key=value} lines for bench/run:
 * <ul>
 * <li>start to registered: process start until the kubelet got Register, and until the first device list</li>
 * <li>steady state: CPU (utime+stime from /proc/PID/stat over a window) and VmRSS / VmHWM, with the default
 * rescan interval, nobody calling</li>
 * <li>Allocate over the unix socket: latencies of {@code callers} concurrent callers</li>
 * <li>health: a device's driver moves off vfio-pci the way the kernel does it (driver link, vfio-dev,
 * /dev/vfio/&lt;group&gt; and its cdev go away) until ListAndWatch says Unhealthy; and the same move when
 * the group node stays (a sibling keeps the group on VFIO), which only a rescan sees</li>
 * </ul>
 *
 * <pre>DaemonProbe LAUNCHER HOST-DIR WORK-DIR [cpu-window-seconds] [callers] [allocate-seconds] [serve options...]</pre>
 * The JVM flags come from the launcher (VFIO_NODE_JAVA_OPTS in the environment overrides them); further
 * arguments go to {@code serve} (e.g. {@code --rescan-interval 30s}). The host is changed by the health
 * step: give it a copy.
 */
public final class DaemonProbe {
    static final String RESOURCE = "vfio.example.com/nic";
    static final String POLICY = """
            apiVersion: vfio.example.com/v1alpha1
            kind: VfioBindingPolicy
            metadata:
              name: cx7-vfs
            spec:
              selector:
                vendors: ["15b3"]
                devices: ["101e"]
              resourceName: nic
              managed: false
            """;
    private static final long TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux x86-64
    static final int ALLOCATE_WARM_UP_SECONDS = 5;

    private final Map<String, String> results = new LinkedHashMap<>();

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: DaemonProbe LAUNCHER HOST-DIR WORK-DIR [cpu-window-seconds] [callers] [allocate-seconds]");
            System.exit(2);
        }
        Path launcher = Path.of(args[0]);
        Path host = Path.of(args[1]);
        Path work = Path.of(args[2]);
        int window = args.length > 3 ? Integer.parseInt(args[3]) : 60;
        int callers = args.length > 4 ? Integer.parseInt(args[4]) : 32;
        int allocateSeconds = args.length > 5 ? Integer.parseInt(args[5]) : 10;
        List<String> serveOptions = args.length > 6 ? List.of(args).subList(6, args.length) : List.of();
        DaemonProbe probe = new DaemonProbe();
        try {
            probe.run(launcher, host, work, window, callers, allocateSeconds, serveOptions);
        } finally {
            probe.results.forEach((k, v) -> System.out.println(k + "=" + v));
        }
        System.exit(0); // the stand-in kubelet's gRPC threads are not daemons
    }

    void run(Path launcher, Path host, Path work, int window, int callers, int allocateSeconds, List<String> serveOptions)
            throws Exception {
        Files.createDirectories(work);
        Path policies = work.resolve("policies.yaml");
        Files.writeString(policies, POLICY);
        Path pluginDir = work.resolve("device-plugins");
        Path podSocket = work.resolve("pod-resources/kubelet.sock");
        Files.createDirectories(podSocket.getParent());
        try (StandInPodResources podResources = new StandInPodResources(podSocket).start();
                StandInKubelet kubelet = new StandInKubelet(pluginDir, podResources).start()) {
            List<String> command = new ArrayList<>(List.of(launcher.toString(), "serve", "--root", host.toString(),
                    "--plugin-dir", pluginDir.toString(), "--pod-resources-socket", podSocket.toString(),
                    "--node-name", "bench-node", "--policies", policies.toString(), "--metrics-port", "0"));
            command.addAll(serveOptions);
            ProcessBuilder pb = new ProcessBuilder(command)
                    .redirectErrorStream(true).redirectOutput(work.resolve("daemon.log").toFile());
            long start = System.nanoTime();
            Process daemon = pb.start();
            try {
                measure(daemon, kubelet, host, start, window, callers, allocateSeconds);
            } finally {
                daemon.destroy();
                if (!daemon.waitFor(20, TimeUnit.SECONDS)) {
                    daemon.destroyForcibly();
                    results.put("daemon_stopped_on_sigterm", "no");
                } else {
                    results.put("daemon_exit_status", Integer.toString(daemon.exitValue()));
                }
            }
        }
    }

    private void measure(Process daemon, StandInKubelet kubelet, Path host, long start, int window, int callers,
            int allocateSeconds) throws Exception {
        long pid = daemon.pid();
        results.put("pid", Long.toString(pid));
        if (!until(() -> kubelet.registrations(RESOURCE) > 0 || !daemon.isAlive(), 120_000, 1)) {
            throw new IllegalStateException("the daemon did not register within 120 s (see daemon.log)");
        }
        if (!daemon.isAlive()) {
            throw new IllegalStateException("the daemon exited with " + daemon.exitValue() + " (see daemon.log)");
        }
        results.put("start_to_registered_ms", ms(System.nanoTime() - start));
        until(() -> !kubelet.devices(RESOURCE).isEmpty(), 60_000, 1);
        results.put("start_to_device_list_ms", ms(System.nanoTime() - start));
        Map<String, String> devices = kubelet.devices(RESOURCE);
        long healthy = devices.values().stream().filter("Healthy"::equals).count();
        results.put("devices_listed", Integer.toString(devices.size()));
        results.put("devices_healthy", Long.toString(healthy));

        Thread.sleep(10_000); // settle: JIT, the first rescans
        long[] before = cpuTicks(pid);
        long t0 = System.nanoTime();
        Thread.sleep(window * 1000L);
        long[] after = cpuTicks(pid);
        double seconds = (System.nanoTime() - t0) / 1e9;
        double cpuSeconds = (after[0] + after[1] - before[0] - before[1]) / (double) TICKS_PER_SECOND;
        results.put("steady_window_s", String.format("%.1f", seconds));
        results.put("steady_cpu_percent_of_one_core", String.format("%.2f", 100 * cpuSeconds / seconds));
        results.put("steady_rss_mib", String.format("%.1f", status(pid, "VmRSS") / 1024.0));
        results.put("peak_rss_mib", String.format("%.1f", status(pid, "VmHWM") / 1024.0));

        allocate(kubelet, devices, callers, allocateSeconds);
        health(kubelet, host);
        results.put("rss_after_load_mib", String.format("%.1f", status(pid, "VmRSS") / 1024.0));
    }

    /**
     * Allocate p50/p99/max with {@code callers} threads, each on its own single-device group, in a closed loop:
     * first {@link #ALLOCATE_WARM_UP_SECONDS} s at the same concurrency (the daemon's C1 code, its heap and the
     * channel settle), then {@code seconds} s measured.
     */
    private void allocate(StandInKubelet kubelet, Map<String, String> devices, int callers, int seconds)
            throws Exception {
        List<String> ids = devices.entrySet().stream().filter(e -> e.getValue().equals("Healthy"))
                .map(Map.Entry::getKey).filter(DaemonProbe::aloneInItsGroup).limit(callers).toList();
        if (ids.size() < callers) {
            throw new IllegalStateException("only " + ids.size() + " healthy single-group devices for " + callers + " callers");
        }
        ExecutorService pool = Executors.newFixedThreadPool(callers);
        long start = System.nanoTime();
        long measureFrom = start + TimeUnit.SECONDS.toNanos(ALLOCATE_WARM_UP_SECONDS);
        long measureUntil = measureFrom + TimeUnit.SECONDS.toNanos(seconds);
        List<Future<long[]>> futures = new ArrayList<>();
        for (String id : ids) {
            Callable<long[]> caller = () -> {
                long[] latencies = new long[1024];
                int n = 0;
                while (true) {
                    long t = System.nanoTime();
                    if (t >= measureUntil) {
                        return Arrays.copyOf(latencies, n);
                    }
                    if (kubelet.allocate(RESOURCE, List.of(id)).getContainerResponsesCount() != 1) {
                        throw new IllegalStateException("Allocate of " + id + " answered without a container response");
                    }
                    if (t >= measureFrom) {
                        if (n == latencies.length) {
                            latencies = Arrays.copyOf(latencies, n * 2);
                        }
                        latencies[n++] = System.nanoTime() - t;
                    }
                }
            };
            futures.add(pool.submit(caller));
        }
        List<long[]> perCaller = new ArrayList<>();
        for (Future<long[]> f : futures) {
            perCaller.add(f.get(10, TimeUnit.MINUTES));
        }
        pool.shutdown();
        long[] all = perCaller.stream().flatMapToLong(Arrays::stream).sorted().toArray();
        results.put("allocate_calls", Integer.toString(all.length));
        results.put("allocate_callers", Integer.toString(callers));
        results.put("allocate_seconds", Integer.toString(seconds));
        results.put("allocate_p50_ms", ms(all[all.length / 2]));
        results.put("allocate_p99_ms", ms(all[(int) Math.ceil(all.length * 0.99) - 1]));
        results.put("allocate_max_ms", ms(all[all.length - 1]));
        results.put("allocate_per_second", String.format("%.0f", all.length / (double) seconds));
    }

    /**
     * SyntheticHost puts VF j%8 = 1 on vfio-pci alone in its group (so group node and cdev go with it), and
     * VF j%8 = 6 on mlx5_vfio_pci in a group with an unbound sibling.
     */
    static boolean aloneInItsGroup(String address) {
        int function = address.charAt(11) - '0';
        return function == 1 || function == 2;
    }

    private void health(StandInKubelet kubelet, Path host) throws Exception {
        // PF 0's VFs are on bus 02: VF 1 (02:00.1) is on vfio-pci, alone in its group; VF 9 (02:01.1) too.
        String alone = "0000:02:00.1";
        String kept = "0000:02:01.1";
        requireHealthy(kubelet, alone);
        requireHealthy(kubelet, kept);

        long t = System.nanoTime();
        moveToHostDriver(host, alone, true);
        boolean seen = until(() -> health(kubelet, alone).equals("Unhealthy"), 30_000, 1);
        results.put("health_change_group_node_removed_ms", seen ? ms(System.nanoTime() - t) : "not seen in 30 s");

        t = System.nanoTime();
        moveToHostDriver(host, kept, false);
        seen = until(() -> health(kubelet, kept).equals("Unhealthy"), 30_000, 1);
        results.put("health_change_sysfs_only_ms", seen ? ms(System.nanoTime() - t) : "not seen in 30 s");
    }

    private static void requireHealthy(StandInKubelet kubelet, String id) {
        if (!health(kubelet, id).equals("Healthy")) {
            throw new IllegalStateException(id + " is not Healthy before the driver move: " + health(kubelet, id));
        }
    }

    private static String health(StandInKubelet kubelet, String id) {
        Optional<Device> device = kubelet.device(RESOURCE, id);
        return device.map(Device::getHealth).orElse("absent");
    }

    /**
     * What the kernel leaves after {@code echo ADDR > drivers/vfio-pci/unbind} and a bind to mlx5_core: the
     * driver links move, vfio-dev/ goes; with the group's last VFIO device gone, /dev/vfio/GROUP and the
     * cdev go too ({@code groupNodeGoes}); otherwise only sysfs changes.
     */
    static void moveToHostDriver(Path host, String address, boolean groupNodeGoes) throws IOException {
        Path dir = host.resolve("sys/devices/pci0000:00").resolve(address);
        String group = Files.readSymbolicLink(dir.resolve("iommu_group")).getFileName().toString();
        List<String> cdevs = new ArrayList<>();
        Path vfioDev = dir.resolve("vfio-dev");
        if (Files.isDirectory(vfioDev)) {
            try (var entries = Files.list(vfioDev)) {
                entries.forEach(e -> cdevs.add(e.getFileName().toString()));
            }
        }
        Files.deleteIfExists(host.resolve("sys/bus/pci/drivers/vfio-pci").resolve(address));
        deleteTree(vfioDev);
        Files.delete(dir.resolve("driver"));
        Files.createSymbolicLink(dir.resolve("driver"), Path.of("../../../bus/pci/drivers/mlx5_core"));
        Files.createSymbolicLink(host.resolve("sys/bus/pci/drivers/mlx5_core").resolve(address),
                Path.of("../../../../devices/pci0000:00/" + address));
        if (groupNodeGoes) {
            Files.deleteIfExists(host.resolve("dev/vfio").resolve(group));
            for (String cdev : cdevs) {
                Files.deleteIfExists(host.resolve("dev/vfio/devices").resolve(cdev));
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    private static boolean until(BooleanSupplier condition, long timeoutMillis, long pollMillis)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000;
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            Thread.sleep(pollMillis);
        }
        return condition.getAsBoolean();
    }

    /** utime and stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
    static long[] cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return new long[] {Long.parseLong(fields[11]), Long.parseLong(fields[12])};
    }

    /** A kB field of /proc/PID/status such as VmRSS. */
    static long status(long pid, String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
            }
        }
        throw new IOException(field + " not in /proc/" + pid + "/status");
    }

    private static String ms(long nanos) {
        return String.format("%.1f", nanos / 1e6);
    }
}
