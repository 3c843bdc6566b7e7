package com.example.vfio.binding;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.pci.HostReadException;
import com.example.vfio.pci.PciAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BindingJournalTest {
    static final PciAddress AUDIO = PciAddress.parse("0000:41:00.1");

    @TempDir
    Path dir;

    @Test
    @DisplayName("the original driver survives a restart; the step in progress too, with its phase")
    void survivesReopen() {
        Path file = dir.resolve("var/lib/vfio-passthrough/journal.json");
        BindingJournal journal = BindingJournal.open(file, GpuServer.CLOCK);
        journal.begin(AUDIO, "bind", new DriverState("snd_hda_intel", null), Goal.exact("vfio-pci", "vfio-pci"),
                "override", null);
        journal.phase(AUDIO, "unbind");

        BindingJournal reopened = BindingJournal.open(file, GpuServer.CLOCK);

        BindingJournal.Entry entry = reopened.entry(AUDIO).orElseThrow();
        assertThat(entry.original()).isEqualTo(new DriverState("snd_hda_intel", null));
        assertThat(entry.step()).isEqualTo(new BindingJournal.Step("bind", "snd_hda_intel", null, "vfio-pci",
                "vfio-pci", "exact", "unbind", "2026-11-24T06:00:00Z"));
    }

    @Test
    @DisplayName("a later step keeps the first original state; the entry goes once the device is back to it")
    void originalIsKeptUntilRestored() {
        Path file = dir.resolve("journal.json");
        BindingJournal journal = BindingJournal.open(file, GpuServer.CLOCK);
        journal.begin(AUDIO, "bind", new DriverState("snd_hda_intel", null), Goal.exact("vfio-pci", "vfio-pci"),
                "override", null);
        journal.finish(AUDIO, new DriverState("vfio-pci", "vfio-pci"));
        journal.begin(AUDIO, "bind", new DriverState("vfio-pci", "vfio-pci"), Goal.exact("xe-vfio-pci", "xe-vfio-pci"),
                "override", null);
        journal.finish(AUDIO, new DriverState("xe-vfio-pci", "xe-vfio-pci"));
        assertThat(BindingJournal.open(file, GpuServer.CLOCK).originalDriver(AUDIO)).contains("snd_hda_intel");

        journal.begin(AUDIO, "host", new DriverState("xe-vfio-pci", "xe-vfio-pci"),
                Goal.backTo(new DriverState("snd_hda_intel", null)), "override", null);
        journal.finish(AUDIO, new DriverState("snd_hda_intel", null));

        assertThat(BindingJournal.open(file, GpuServer.CLOCK).entries()).isEmpty();
    }

    @Test
    @DisplayName("the journal is replaced atomically: no temporary file is left and the content is whole JSON")
    void atomicReplace() throws IOException {
        Path file = dir.resolve("journal.json");
        BindingJournal journal = BindingJournal.open(file, GpuServer.CLOCK);
        for (int i = 0; i < 5; i++) {
            journal.begin(PciAddress.parse("0000:41:00." + i), "bind", new DriverState("nouveau", null),
                    Goal.exact("vfio-pci", "vfio-pci"), "override", null);
        }

        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("journal.json");
        }
        assertThat(BindingJournal.open(file, GpuServer.CLOCK).entries()).hasSize(5);
        assertThat(Files.readString(file)).startsWith("{\n  \"version\" : 1,\n  \"devices\" : {\n    \"0000:41:00.0\"");
    }

    @Test
    @DisplayName("a journal that is not JSON stops binding with a message naming the file")
    void corruptJournal() throws IOException {
        Path file = dir.resolve("journal.json");
        Files.writeString(file, "{\"version\": 1, \"devices\": {\"0000:41:00.1\": {\"originalDriver\": ");

        assertThatThrownBy(() -> BindingJournal.open(file, GpuServer.CLOCK)).isInstanceOf(HostReadException.class)
                .hasMessageStartingWith("the binding journal " + file.toAbsolutePath() + " is not a journal")
                .hasMessageContaining("binding stops until it is repaired or moved away");
    }

    @Test
    @DisplayName("a journal naming something that is not a PCI address is refused")
    void hostileJournalKey() throws IOException {
        Path file = dir.resolve("journal.json");
        Files.writeString(file, "{\"version\": 1, \"devices\": {\"../../etc\": {\"originalDriver\": null,"
                + " \"originalOverride\": null, \"step\": null}}}");

        assertThatThrownBy(() -> BindingJournal.open(file, GpuServer.CLOCK)).isInstanceOf(HostReadException.class)
                .hasMessageContaining("lists '../../etc', not a PCI address");
    }

    @Test
    @DisplayName("a journal of another version is refused rather than misread")
    void otherVersion() throws IOException {
        Path file = dir.resolve("journal.json");
        Files.writeString(file, "{\"version\": 2, \"devices\": {}}");

        assertThatThrownBy(() -> BindingJournal.open(file, GpuServer.CLOCK))
                .hasMessageContaining("has version 2, this vfio-node reads version 1");
    }
}
