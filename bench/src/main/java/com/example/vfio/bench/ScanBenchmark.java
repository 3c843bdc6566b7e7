package com.example.vfio.bench;

import com.example.vfio.pci.HostRoot;
import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.SysfsScanner;
import com.example.vfio.viability.HostAssessment;
import com.example.vfio.viability.ViabilityAnalyzer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import com.example.vfio.pci.PciAddress;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What the daemon pays on every rescan: read the synthetic host's sysfs into a snapshot and judge
 * every device and group ({@code scan}, {@code scanAndAssess}: one scanner across scans, as the daemon
 * keeps one, so a device's fixed facts are reused and an unchanged host gives back the same snapshot);
 * the same when one device's driver link changed since the last scan ({@code rescanAfterDriverMoveAndAssess}:
 * a new snapshot), and that change read as a uevent naming the device has it read
 * ({@code ueventRescanAfterDriverMoveAndAssess}: the device and its IOMMU group only); and what a first scan costs ({@code firstScanAndAssess}). Steady state: the page cache
 * is warm, as it is for sysfs on a live node.
 *
 * <p>Hosts are written once per size under {@code -Dbench.hosts=DIR} (default: a temp dir), as
 * {@code DIR/host-<functions>}; an existing host of the right size is reused, so bench/run and the C
 * baseline read the very same tree.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx256m"})
public class ScanBenchmark {
    @Param({"64", "512", "4096", "16384"})
    public int functions;

    private HostRoot root;
    /** One scanner across scans, as the daemon (NodeDaemon) keeps one: it reuses the modules.alias parse. */
    private SysfsScanner scanner;
    private final ViabilityAnalyzer analyzer = new ViabilityAnalyzer();
    /** VF 0000:02:00.1's driver link, moved between vfio-pci and mlx5_core by each rescanAfterDriverMove call. */
    private Path movedDriverLink;
    private boolean moved;

    @Setup
    public void writeHost() throws IOException {
        root = new HostRoot(Hosts.host(functions));
        scanner = new SysfsScanner(root);
        int found = scanner.scan().devices().size();
        if (found != functions) {
            throw new IllegalStateException(root + " has " + found + " functions, expected " + functions);
        }
        movedDriverLink = root.pciDevices().resolve("0000:02:00.1").toRealPath().resolve("driver");
    }

    @TearDown
    public void restoreDriver() {
        if (moved) {
            moveDriver();
        }
    }

    @Benchmark
    public HostSnapshot scan() {
        return scanner.scan();
    }

    @Benchmark
    public HostAssessment scanAndAssess() {
        return analyzer.assess(scanner.scan());
    }

    @Benchmark
    public HostAssessment rescanAfterDriverMoveAndAssess() {
        moveDriver();
        return analyzer.assess(scanner.scan());
    }

    /** The same move, read the way a uevent naming the device has the daemon read it: that device and its group. */
    @Benchmark
    public HostAssessment ueventRescanAfterDriverMoveAndAssess() {
        moveDriver();
        return analyzer.assess(scanner.rescan(MOVED));
    }

    private static final Set<PciAddress> MOVED = Set.of(PciAddress.parse("0000:02:00.1"));

    private void moveDriver() {
        try {
            Files.delete(movedDriverLink);
            Files.createSymbolicLink(movedDriverLink, Path.of("../../../bus/pci/drivers/" + (moved ? "vfio-pci" : "mlx5_core")));
            moved = !moved;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A scanner's first scan, which reads every fact (what {@code inspect} does, and the daemon at start). */
    @Benchmark
    public HostAssessment firstScanAndAssess() {
        return analyzer.assess(new SysfsScanner(root).scan());
    }
}
