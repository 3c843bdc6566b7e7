package com.example.vfio.bench;

import com.example.vfio.pci.SyntheticHost;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the synthetic hosts live: {@code <base>/host-<functions>}, base from {@code -Dbench.hosts}
 * (default {@code /tmp/vfio-bench}). A host already written with the same count is reused, so the
 * JMH runs, the C baseline and the whole-process runs of bench/run all read the very same tree.
 */
public final class Hosts {
    private Hosts() {
    }

    /**
     * {@code Hosts BASE FUNCTIONS...}: writes {@code BASE/host-<n>} for each count (kept when already there) and
     * prints each path; bench/run and the C baseline use it.
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: Hosts BASE-DIR FUNCTIONS...");
            System.exit(2);
        }
        for (int i = 1; i < args.length; i++) {
            System.out.println(host(Path.of(args[0]), Integer.parseInt(args[i])));
        }
    }

    public static Path host(int functions) throws IOException {
        return host(Path.of(System.getProperty("bench.hosts", "/tmp/vfio-bench")), functions);
    }

    public static Path host(Path base, int functions) throws IOException {
        Path host = base.resolve("host-" + functions);
        Path marker = host.resolve(".functions");
        if (Files.isRegularFile(marker) && Files.readString(marker).trim().equals(Integer.toString(functions))) {
            return host;
        }
        Files.createDirectories(host);
        Files.deleteIfExists(marker);
        SyntheticHost.write(host, functions);
        Files.writeString(marker, functions + "\n");
        return host;
    }
}
