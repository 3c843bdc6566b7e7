package com.example.vfio.bench;

import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * {@code ScanTimer ROOT ITERATIONS [--fresh]}: scan + assess in a warm JVM, printed in the C baseline's format
 * (bench/c/read_sysfs.c) so bench/run can put the two side by side. Besides the wall clock it reports
 * the process CPU time per scan (all threads: JIT and GC included; mean over the measured loop), which a machine shared with other
 * work disturbs far less than the wall clock. JMH (ScanBenchmark) is the reference for the wall clock.
 */
public final class ScanTimer {
    private ScanTimer() {
    }

    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: ScanTimer ROOT [ITERATIONS] [--fresh]");
            System.exit(2);
        }
        HostRoot root = new HostRoot(Path.of(args[0]));
        int iterations = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        ViabilityAnalyzer analyzer = new ViabilityAnalyzer();
        // one scanner across scans, as the daemon keeps one; --fresh: a new one per scan, as inspect runs
        boolean fresh = args.length > 2 && args[2].equals("--fresh");
        SysfsScanner kept = new SysfsScanner(root);
        int count = 0;
        long warmUntil = System.nanoTime() + 10_000_000_000L;
        for (int i = 0; i < 10 || (i < 200 && System.nanoTime() < warmUntil); i++) {
            count = analyzer.assess((fresh ? new SysfsScanner(root) : kept).scan()).devices().size();
        }
        double[] wall = new double[iterations];
        double total = 0;
        long cpuStart = os.getProcessCpuTime(); // ticks of 10 ms: measured over the whole loop
        for (int i = 0; i < iterations; i++) {
            long t = System.nanoTime();
            count = analyzer.assess((fresh ? new SysfsScanner(root) : kept).scan()).devices().size();
            wall[i] = (System.nanoTime() - t) / 1e6;
            total += wall[i];
        }
        double cpu = (os.getProcessCpuTime() - cpuStart) / 1e6 / iterations;
        Arrays.sort(wall);
        System.out.printf("devices=%d iterations=%d min_ms=%.3f median_ms=%.3f mean_ms=%.3f mean_cpu_ms=%.3f%n",
                count, iterations, wall[0], wall[iterations / 2], total / iterations, cpu);
    }
}
