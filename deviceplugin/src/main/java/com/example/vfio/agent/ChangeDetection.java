package com.example.vfio.agent;

import com.example.vfio.uevent.KernelUevents;
import com.example.vfio.uevent.UeventSource;
import java.time.Duration;
import java.util.Objects;

/**
 * How the daemon learns that the host changed between its full rescans: from kernel uevents (then the full
 * rescan is a slow safety net, {@code listeningInterval}), or, when it cannot hear them, from a frequent
 * full rescan ({@code pollingInterval}) and the /dev/vfio watch.
 *
 * @param uevents      null when not listening
 * @param notListening why not, when not listening
 */
public record ChangeDetection(UeventSource uevents, String notListening, Duration listeningInterval,
        Duration pollingInterval) {
    public static final Duration LISTENING_INTERVAL = Duration.ofSeconds(60);
    public static final Duration POLLING_INTERVAL = Duration.ofSeconds(5);

    public ChangeDetection {
        if ((uevents == null) == (notListening == null)) {
            throw new IllegalArgumentException("either uevents or why there are none");
        }
        Objects.requireNonNull(listeningInterval, "listeningInterval");
        Objects.requireNonNull(pollingInterval, "pollingInterval");
    }

    /** Polling only, every {@code interval}. */
    public static ChangeDetection polling(Duration interval, String why) {
        return new ChangeDetection(null, why, interval, interval);
    }

    /**
     * From what opening the kernel's socket gave; {@code interval} (null: the defaults) is the full
     * rescan's in either mode.
     */
    public static ChangeDetection of(KernelUevents.Outcome outcome, Duration interval) {
        return new ChangeDetection(outcome.source(), outcome.notListening(),
                interval != null ? interval : LISTENING_INTERVAL, interval != null ? interval : POLLING_INTERVAL);
    }
}
