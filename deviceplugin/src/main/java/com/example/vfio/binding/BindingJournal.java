package com.example.vfio.binding;

import com.example.vfio.pci.HostReadException;
import com.example.vfio.pci.PciAddress;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A small JSON file on the node that makes binding survive a crash. Before the first change to a
 * device it records the device's original driver and {@code driver_override}, so {@code host} can
 * restore exactly what was there; before every step it records the step in progress, so a restart
 * after a crash between unbind and probe can finish or roll the step back
 * ({@link BindingEngine#recover()}) instead of leaving the device driverless. An entry disappears
 * once the device is back to its original state.
 *
 * <p>Every change rewrites the whole file atomically: a temporary file in the same directory, fsync,
 * rename over the old one, fsync of the directory. The file is owned by one engine; it is not safe to
 * share between processes.
 */
public final class BindingJournal {
    public static final Path DEFAULT_FILE = Path.of("/var/lib/vfio-passthrough/journal.json");
    static final int VERSION = 1;

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /**
     * One device the project changed.
     *
     * @param originalDriver   the driver before the first change (null: it was driverless)
     * @param originalOverride {@code driver_override} before the first change (null: unset)
     * @param step             the step in progress, null between steps
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Entry(String originalDriver, String originalOverride, Step step) {
        public DriverState original() {
            return new DriverState(originalDriver, originalOverride);
        }
    }

    /**
     * A change in progress on one device.
     *
     * @param action       {@code bind} (to a VFIO driver) or {@code host} (giving it back)
     * @param fromDriver   the driver when the step began
     * @param fromOverride {@code driver_override} when the step began
     * @param toDriver     the driver the step binds, null when it leaves the device driverless or to any host driver
     * @param toOverride   the {@code driver_override} it writes, null to clear it
     * @param expect       how the step's end is recognised: {@code exact}, {@code driverless} or {@code host}
     * @param phase        the write about to happen: {@code override}, {@code unbind} or {@code probe}
     * @param started      RFC 3339
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Step(String action, String fromDriver, String fromOverride, String toDriver, String toOverride,
            String expect, String phase, String started) {
        public DriverState from() {
            return new DriverState(fromDriver, fromOverride);
        }

        public Goal goal() {
            return new Goal(toDriver, toOverride, Goal.Expect.parse(expect));
        }

        Step inPhase(String newPhase) {
            return new Step(action, fromDriver, fromOverride, toDriver, toOverride, expect, newPhase, started);
        }
    }

    /** The file's layout. */
    record Document(int version, SortedMap<String, Entry> devices) {
    }

    private final Path file;
    private final Clock clock;
    private final TreeMap<PciAddress, Entry> entries = new TreeMap<>();

    private BindingJournal(Path file, Clock clock) {
        this.file = file;
        this.clock = clock;
    }

    /**
     * Reads the journal, or starts an empty one when the file does not exist yet.
     *
     * @throws HostReadException when the file exists but is not a journal: binding must not go on without it
     */
    public static BindingJournal open(Path file, Clock clock) {
        BindingJournal journal = new BindingJournal(file.toAbsolutePath(), clock);
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return journal;
        } catch (IOException e) {
            throw new HostReadException("cannot read the binding journal " + file + ": " + e.getMessage(), e);
        }
        Document doc;
        try {
            doc = JSON.readValue(text, Document.class);
        } catch (JsonProcessingException e) {
            throw new HostReadException("the binding journal " + file + " is not a journal (" + e.getOriginalMessage()
                    + "); it records the original drivers of rebound devices, so binding stops until it is repaired"
                    + " or moved away", e);
        }
        if (doc.version() != VERSION) {
            throw new HostReadException("the binding journal " + file + " has version " + doc.version() + ", this"
                    + " vfio-node reads version " + VERSION);
        }
        if (doc.devices() != null) {
            for (Map.Entry<String, Entry> e : doc.devices().entrySet()) {
                if (!PciAddress.isValid(e.getKey()) || e.getValue() == null) {
                    throw new HostReadException("the binding journal " + file + " lists '" + e.getKey()
                            + "', not a PCI address with an entry");
                }
                journal.entries.put(PciAddress.parse(e.getKey()), e.getValue());
            }
        }
        return journal;
    }

    public Path file() {
        return file;
    }

    public Optional<Entry> entry(PciAddress address) {
        return Optional.ofNullable(entries.get(address));
    }

    public SortedMap<PciAddress, Entry> entries() {
        return Collections.unmodifiableSortedMap(new TreeMap<>(entries));
    }

    /** The driver a device had before this project first changed it, when the journal knows it. */
    public Optional<String> originalDriver(PciAddress address) {
        Entry entry = entries.get(address);
        return entry == null ? Optional.empty() : Optional.ofNullable(entry.originalDriver());
    }

    /**
     * Records a step about to start; the device's current state becomes its original state unless the
     * journal already has one.
     */
    public Step begin(PciAddress address, String action, DriverState current, Goal goal, String phase) {
        Entry old = entries.get(address);
        DriverState original = old == null ? current : old.original();
        Step step = new Step(action, current.driver(), current.override(), goal.driver(), goal.override(),
                goal.expect().word(), phase, clock.instant().toString());
        entries.put(address, new Entry(original.driver(), original.override(), step));
        save();
        return step;
    }

    /** Records that the step in progress moves on to its next write. */
    public void phase(PciAddress address, String phase) {
        Entry old = entries.get(address);
        if (old == null || old.step() == null) {
            throw new IllegalStateException("no step in progress for " + address);
        }
        entries.put(address, new Entry(old.originalDriver(), old.originalOverride(), old.step().inPhase(phase)));
        save();
    }

    /** Ends the step in progress; the entry goes when the device is back to its original state. */
    public void finish(PciAddress address, DriverState now) {
        Entry old = entries.get(address);
        if (old == null) {
            return;
        }
        if (now.sameAs(old.original())) {
            entries.remove(address);
        } else {
            entries.put(address, new Entry(old.originalDriver(), old.originalOverride(), null));
        }
        save();
    }

    /** Drops a device's entry (it is back where it started, or gone from the host). */
    public void forget(PciAddress address) {
        if (entries.remove(address) != null) {
            save();
        }
    }

    private void save() {
        SortedMap<String, Entry> devices = new TreeMap<>();
        entries.forEach((address, entry) -> devices.put(address.toString(), entry));
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(new Document(VERSION, devices));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render the binding journal", e);
        }
        Path dir = file.getParent();
        Path temp = dir.resolve("." + file.getFileName() + ".tmp");
        try {
            Files.createDirectories(dir);
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                channel.write(java.nio.ByteBuffer.wrap(bytes));
                channel.force(true);
            }
            try {
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            syncDirectory(dir);
        } catch (IOException e) {
            throw new BindingException("cannot write the binding journal " + file + ": " + e.getMessage()
                    + "; nothing is changed without it", e);
        }
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException e) {
            // some file systems cannot fsync a directory; the rename itself is still atomic
        }
    }
}
