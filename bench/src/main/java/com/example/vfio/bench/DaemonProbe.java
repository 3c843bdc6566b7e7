package com.example.vfio.bench;

import com.example.vfio.plugin.kubelet.StandInKubelet;
import com.example.vfio.plugin.kubelet.StandInPodResources;
import com.example.vfio.proto.deviceplugin.v1beta1.Device;
import com.example.vfio.uevent.KernelWords;
import com.example.vfio.uevent.Uevent;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
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
 * <pre>DaemonProbe LAUNCHER HOST-DIR WORK-DIR [cpu-window-seconds] [callers] [allocate-seconds] [listener] [serve options...]</pre>
 * The JVM flags come from the launcher (VFIO_NODE_JAVA_OPTS in the environment overrides them); further
 * arguments go to {@code serve} (e.g. {@code --rescan-interval 30s}). The host is changed by the health
 * step: give it a copy.
 *
 * <p>{@code listener}: the daemon as it runs where it hears the kernel's uevents (full rescan every 60 s),
 * started through {@link SeamServe}: the probe words the uevents the kernel would send for each change it
 * makes to the synthetic host and feeds them to the daemon's stdin. Allocate is not measured then; instead a
 * PF's 255 VFs go away (SR-IOV disabled) and come back (enabled), and the probe counts the daemon's uevent
 * rescans of the comeback and how long until ListAndWatch shows all 255 as before.
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
    private boolean listener;
    /** Listener mode: the daemon's stdin, where the uevents go. */
    private DataOutputStream uevents;
    private Path daemonLog;

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
        boolean listener = args.length > 6 && args[6].equals("listener");
        int options = listener ? 7 : 6;
        List<String> serveOptions = args.length > options ? List.of(args).subList(options, args.length) : List.of();
        DaemonProbe probe = new DaemonProbe();
        probe.listener = listener;
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
            daemonLog = work.resolve("daemon.log");
            ProcessBuilder pb = new ProcessBuilder(command)
                    .redirectErrorStream(true).redirectOutput(daemonLog.toFile());
            if (listener) {
                Path repo = launcher.toAbsolutePath().getParent().getParent();
                pb.environment().put("VFIO_NODE_BENCH_MAIN", SeamServe.class.getName());
                pb.environment().put("VFIO_NODE_BENCH_CLASSPATH", repo.resolve("bench/target/classes") + ":"
                        + repo.resolve("deviceplugin/target/test-classes"));
            }
            long start = System.nanoTime();
            Process daemon = pb.start();
            uevents = new DataOutputStream(new BufferedOutputStream(daemon.getOutputStream(), 1 << 16));
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

        results.put("threads", Long.toString(status(pid, "Threads")));
        if (listener) {
            health(kubelet, host);
            burst(kubelet, host, daemonLog.resolveSibling("stash"));
        } else {
            allocate(kubelet, devices, callers, allocateSeconds);
            health(kubelet, host);
        }
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
        announceMove(moveToHostDriver(host, alone, true));
        boolean seen = until(() -> health(kubelet, alone).equals("Unhealthy"), 30_000, 1);
        results.put("health_change_group_node_removed_ms", seen ? ms(System.nanoTime() - t) : "not seen in 30 s");

        t = System.nanoTime();
        announceMove(moveToHostDriver(host, kept, false));
        seen = until(() -> health(kubelet, kept).equals("Unhealthy"), 30_000, 1);
        results.put("health_change_sysfs_only_ms", seen ? ms(System.nanoTime() - t) : "not seen in 30 s");
    }

    /** Listener mode: what the kernel announces for {@link #moveToHostDriver}; nothing otherwise. */
    private void announceMove(Moved move) throws IOException {
        if (!listener) {
            return;
        }
        List<Uevent> events = new ArrayList<>();
        events.add(vf("unbind", move.address(), null));
        move.cdevs().forEach(c -> events.add(KernelWords.vfioCdev("remove", move.address(), c)));
        if (move.groupNodeGone()) {
            events.add(KernelWords.vfioGroup("remove", move.group()));
        }
        events.add(vf("bind", move.address(), "mlx5_core"));
        send(events);
    }

    private static Uevent vf(String action, String address, String driver) {
        return KernelWords.pci(action, address, driver, 0x15b3, 0x101e, 0x020000);
    }

    private void send(List<Uevent> events) throws IOException {
        for (Uevent e : events) {
            byte[] datagram = e.toBytes();
            uevents.writeInt(datagram.length);
            uevents.write(datagram);
        }
        uevents.flush();
    }

    /**
     * Listener mode: the last PF's 255 VFs go away as the kernel removes them when SR-IOV is disabled (their
     * directories, bus and driver links, IOMMU groups, /dev/vfio nodes and the PF's virtfn links; unbind,
     * remove and the PF's change announced) until ListAndWatch reports them gone (Unhealthy), then come back
     * as when it is enabled again (add, bind, the VFIO nodes' adds, the PF's change, fed at once). Measured:
     * the comeback, from the first event fed until ListAndWatch shows every VF as it was before, and the
     * daemon's uevent rescans during it.
     */
    private void burst(StandInKubelet kubelet, Path host, Path stash) throws Exception {
        Path pfDir = host.resolve("sys/devices/pci0000:00").resolve(BURST_PF);
        List<String> vfs = new ArrayList<>();
        for (int j = 0; Files.isSymbolicLink(pfDir.resolve("virtfn" + j)); j++) {
            vfs.add(Files.readSymbolicLink(pfDir.resolve("virtfn" + j)).getFileName().toString());
        }
        Map<String, String> before = new LinkedHashMap<>();
        vfs.forEach(vf -> before.put(vf, health(kubelet, vf)));
        List<Path> moved = new ArrayList<>();
        List<Uevent> gone = new ArrayList<>();
        List<Uevent> back = new ArrayList<>();
        java.util.Set<String> groups = new java.util.LinkedHashSet<>();
        for (String vf : vfs) {
            Path dir = host.resolve("sys/devices/pci0000:00").resolve(vf);
            String group = Files.readSymbolicLink(dir.resolve("iommu_group")).getFileName().toString();
            String driver = Files.isSymbolicLink(dir.resolve("driver"))
                    ? Files.readSymbolicLink(dir.resolve("driver")).getFileName().toString() : null;
            List<String> cdevs = listing(dir.resolve("vfio-dev"));
            if (driver != null) {
                gone.add(vf("unbind", vf, null));
                moved.add(host.resolve("sys/bus/pci/drivers").resolve(driver).resolve(vf));
            }
            cdevs.forEach(c -> gone.add(KernelWords.vfioCdev("remove", vf, c)));
            gone.add(vf("remove", vf, null));
            back.add(vf("add", vf, null));
            if (driver != null) {
                back.add(vf("bind", vf, driver));
            }
            cdevs.forEach(c -> back.add(KernelWords.vfioCdev("add", vf, c)));
            for (String c : cdevs) {
                moved.add(host.resolve("dev/vfio/devices").resolve(c));
            }
            moved.add(host.resolve("sys/bus/pci/devices").resolve(vf));
            moved.add(dir);
            if (groups.add(group)) {
                moved.add(host.resolve("sys/kernel/iommu_groups").resolve(group));
                Path node = host.resolve("dev/vfio").resolve(group);
                if (Files.exists(node)) {
                    moved.add(node);
                    gone.add(KernelWords.vfioGroup("remove", group));
                    back.add(KernelWords.vfioGroup("add", group));
                }
            }
        }
        for (int j = 0; j < vfs.size(); j++) {
            moved.add(pfDir.resolve("virtfn" + j));
        }
        Uevent pfChange = KernelWords.pci("change", BURST_PF, "mlx5_core", 0x15b3, 0x1021, 0x020000);
        gone.add(pfChange);
        back.add(pfChange);

        for (Path p : moved) {
            Path to = stash.resolve(host.relativize(p).toString());
            Files.createDirectories(to.getParent());
            Files.move(p, to);
        }
        Files.writeString(pfDir.resolve("sriov_numvfs"), "0\n");
        send(gone);
        boolean away = until(() -> vfs.stream().allMatch(vf -> health(kubelet, vf).equals("Unhealthy")), 30_000, 1);
        results.put("burst_vfs", Integer.toString(vfs.size()));
        results.put("burst_vfs_gone_seen", Boolean.toString(away));
        Thread.sleep(2000); // the daemon logs a rescan after it published it: let the going finish its lines

        for (Path p : moved) {
            Files.move(stash.resolve(host.relativize(p).toString()), p);
        }
        Files.writeString(pfDir.resolve("sriov_numvfs"), vfs.size() + "\n");
        long logFrom = Files.size(daemonLog);
        long t = System.nanoTime();
        send(back);
        boolean seen = until(() -> vfs.stream().allMatch(vf -> health(kubelet, vf).equals(before.get(vf))), 30_000, 1);
        results.put("burst_events", Integer.toString(back.size()));
        results.put("burst_to_list_and_watch_ms", seen ? ms(System.nanoTime() - t) : "not seen in 30 s");
        Thread.sleep(500); // a second rescan would be logged by now
        List<String> rescans = new ArrayList<>();
        try (var in = Files.newInputStream(daemonLog)) {
            in.skipNBytes(logFrom);
            new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).lines()
                    .filter(l -> l.contains("uevents: rescanned")).forEach(rescans::add);
        }
        results.put("burst_rescans", Integer.toString(rescans.size()));
        results.put("burst_rescan", rescans.isEmpty() ? "none" : rescans.get(0).replaceAll(".*uevents: ", "").replace(' ', '_'));
    }

    /** The last PF of the 4,096-function host (PF 15: bus 0x1f, its VFs on bus 0x20). */
    static final String BURST_PF = "0000:1f:00.0";

    private static List<String> listing(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (var entries = Files.list(dir)) {
            return entries.map(e -> e.getFileName().toString()).sorted().toList();
        }
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
    /** A driver move as {@link #moveToHostDriver} made it. */
    record Moved(String address, String group, List<String> cdevs, boolean groupNodeGone) {
    }

    static Moved moveToHostDriver(Path host, String address, boolean groupNodeGoes) throws IOException {
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
        return new Moved(address, group, cdevs, groupNodeGoes);
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
