package com.example.vfio.binding;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.binding.ModuleLoader.ModuleLoadException;
import com.example.vfio.pci.InvalidNameException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Real processes: the module name reaches the command as one argument, never through a shell. */
class CommandModuleLoaderTest {
    @TempDir
    Path dir;

    @Test
    @DisplayName("the configured command runs with the module name appended as its own argument")
    void runsCommandWithModule() throws Exception {
        Path record = dir.resolve("argv");
        CommandModuleLoader loader = new CommandModuleLoader(List.of("sh", "-c",
                "printf '%s|' \"$@\" > " + record, "fake-modprobe"), Duration.ofSeconds(10));

        loader.load("mlx5_vfio_pci");

        assertThat(Files.readString(record)).isEqualTo("mlx5_vfio_pci|");
    }

    @Test
    @DisplayName("'chroot /host modprobe' is split into an argument vector")
    void parsesCommandLine() {
        assertThat(CommandModuleLoader.parse("  chroot /host   modprobe ", Duration.ofSeconds(1)).command())
                .containsExactly("chroot", "/host", "modprobe");
        assertThatThrownBy(() -> CommandModuleLoader.parse("  ", Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    @DisplayName("a name with shell syntax or an option dash is refused before anything runs")
    void hostileNames() {
        Path marker = dir.resolve("ran");
        CommandModuleLoader loader = new CommandModuleLoader(List.of("sh", "-c", "touch " + marker, "x"),
                Duration.ofSeconds(10));

        assertThatThrownBy(() -> loader.load("vfio_pci; rm -rf /")).isInstanceOf(InvalidNameException.class);
        assertThatThrownBy(() -> loader.load("$(reboot)")).isInstanceOf(InvalidNameException.class);
        assertThatThrownBy(() -> loader.load("--remove")).isInstanceOf(ModuleLoadException.class)
                .hasMessageContaining("would be read as an option");
        assertThat(marker).doesNotExist();
    }

    @Test
    @DisplayName("a failing modprobe is reported with its exit status and its own words")
    void failureCarriesOutput() {
        CommandModuleLoader loader = new CommandModuleLoader(List.of("sh", "-c",
                "echo \"modprobe: FATAL: Module $1 not found\" >&2; exit 1", "modprobe"), Duration.ofSeconds(10));

        assertThatThrownBy(() -> loader.load("xe_vfio_pci")).isInstanceOf(ModuleLoadException.class)
                .hasMessageEndingWith("failed (exit 1): modprobe: FATAL: Module xe_vfio_pci not found");
    }

    @Test
    @DisplayName("a modprobe that hangs is stopped at the time limit")
    void hangingModprobe() {
        CommandModuleLoader loader = new CommandModuleLoader(List.of("sh", "-c", "exec sleep 30", "modprobe"),
                Duration.ofMillis(300));

        assertThatThrownBy(() -> loader.load("vfio_pci")).isInstanceOf(ModuleLoadException.class)
                .hasMessageContaining("did not finish within");
    }

    @Test
    @DisplayName("a command that does not exist is reported, not thrown")
    void missingCommand() {
        CommandModuleLoader loader = new CommandModuleLoader(List.of(dir.resolve("no-modprobe").toString()),
                Duration.ofSeconds(5));

        assertThatThrownBy(() -> loader.load("vfio_pci")).isInstanceOf(ModuleLoadException.class)
                .hasMessageStartingWith("cannot run " + dir.resolve("no-modprobe") + " vfio_pci");
    }
}
