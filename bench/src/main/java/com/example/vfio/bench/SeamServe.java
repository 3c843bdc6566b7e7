package com.example.vfio.bench;

import com.example.vfio.cli.Main;
import com.example.vfio.uevent.KernelUevents;
import com.example.vfio.uevent.QueueUeventSource;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;

/**
 * {@code vfio-node serve} whose uevents come from stdin instead of the kernel's socket: the synthetic host is
 * a directory, so the kernel announces nothing about it, and {@link DaemonProbe} words the events the kernel
 * would send for what it changes there. Frames: a 4-byte big-endian length, then the datagram. The daemon is
 * production's (same CLI, same JVM flags through bin/vfio-node); only the source differs, through the
 * constructor seam production never opens. The NodeDaemon logger is at debug so that each uevent rescan is
 * logged ("uevents: rescanned N device(s) ...").
 */
public final class SeamServe {
    private SeamServe() {
    }

    public static void main(String[] args) {
        System.setProperty("org.slf4j.simpleLogger.log.com.example.vfio.agent.NodeDaemon", "debug");
        QueueUeventSource queue = new QueueUeventSource();
        Thread pump = new Thread(() -> pump(queue), "bench-uevent-pump");
        pump.setDaemon(true);
        pump.start();
        System.exit(Main.execute(root -> KernelUevents.Outcome.listening(queue), args));
    }

    private static void pump(QueueUeventSource queue) {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(System.in))) {
            while (true) {
                byte[] datagram = new byte[in.readInt()];
                in.readFully(datagram);
                queue.send(datagram);
            }
        } catch (EOFException e) {
            // the probe is done
        } catch (IOException e) {
            System.err.println("bench uevent pump: " + e);
        }
    }
}
