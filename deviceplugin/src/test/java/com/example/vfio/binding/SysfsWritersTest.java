package com.example.vfio.binding;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.binding.SysfsWriteException.Errno;
import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.InvalidNameException;
import com.example.vfio.pci.PciAddress;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SysfsWritersTest {
    static final PciAddress GPU = PciAddress.parse("0000:41:00.0");

    @TempDir
    Path dir;

    @Test
    @DisplayName("the file writer writes the value whole, creates nothing, and maps the kernel's errno")
    void fileWriter() throws Exception {
        Path attr = dir.resolve("driver_override");
        Files.writeString(attr, "(null)\n");
        new FileSysfsWriter().write(GPU, attr, "vfio-pci");
        assertThat(Files.readString(attr)).isEqualTo("vfio-pci");

        assertThatThrownBy(() -> new FileSysfsWriter().write(GPU, dir.resolve("gone/driver_override"), "x"))
                .isInstanceOf(SysfsWriteException.class).satisfies(e ->
                        assertThat(((SysfsWriteException) e).errno()).isEqualTo(Errno.ENODEV));
        assertThat(dir.resolve("gone")).doesNotExist();

        assertThat(FileSysfsWriter.errnoOf(new FileSystemException("Device or resource busy"))).isEqualTo(Errno.EBUSY);
        assertThat(FileSysfsWriter.errnoOf(new IOException("No such device"))).isEqualTo(Errno.ENODEV);
        assertThat(FileSysfsWriter.errnoOf(new IOException("Invalid argument"))).isEqualTo(Errno.EINVAL);
        assertThat(FileSysfsWriter.errnoOf(new IOException("Input/output error"))).isEqualTo(Errno.EIO);
    }

    @Test
    @DisplayName("the bounded writer passes refusals through and reports a write that does not return in time")
    void boundedWriter() {
        SysfsWriter refusing = (device, file, value) -> {
            throw new SysfsWriteException(Errno.EBUSY, "busy");
        };
        assertThatThrownBy(() -> new BoundedSysfsWriter(refusing, Duration.ofSeconds(5)).write(GPU, dir, "x"))
                .isInstanceOf(SysfsWriteException.class).hasMessage("busy");

        SysfsWriter hanging = (device, file, value) -> {
            try {
                Thread.sleep(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        BoundedSysfsWriter bounded = new BoundedSysfsWriter(hanging, Duration.ofMillis(100));
        assertThatThrownBy(() -> bounded.write(GPU, dir.resolve("unbind"), GPU.toString()))
                .isInstanceOf(SysfsWriteException.class)
                .hasMessageContaining("did not return within 100 ms: a VM probably still holds 0000:41:00.0")
                .satisfies(e -> assertThat(((SysfsWriteException) e).errno()).isEqualTo(Errno.TIMEOUT));
    }

    @Test
    @DisplayName("binding writes only driver_override, a driver's unbind and drivers_probe, all under sys/bus/pci")
    void writesStayUnderPciBus() throws Exception {
        FakeHost host = FakeHost.at(dir.resolve("host"));
        host.device(GPU.toString()).driver("nouveau", "nouveau").group("14");
        host.write();
        List<Path> written = new ArrayList<>();
        PciSysfs sysfs = new PciSysfs(host.root(), (device, file, value) -> written.add(file));

        sysfs.writeOverride(GPU, "vfio-pci");
        sysfs.unbind(GPU, "nouveau");
        sysfs.probe(GPU);
        sysfs.writeOverride(GPU, null);
        assertThatThrownBy(() -> sysfs.writeOverride(GPU, "../../../../../etc/passwd"))
                .isInstanceOf(InvalidNameException.class);
        assertThatThrownBy(() -> sysfs.unbind(GPU, "..")).isInstanceOf(InvalidNameException.class);

        Path bus = host.path().toAbsolutePath().resolve("sys/bus/pci");
        assertThat(written).allSatisfy(p -> assertThat(p.startsWith(bus)).as(p.toString()).isTrue()).extracting(p -> bus.relativize(p).toString())
                .containsExactly("devices/0000:41:00.0/driver_override", "drivers/nouveau/unbind", "drivers_probe",
                        "devices/0000:41:00.0/driver_override");
    }

    @Test
    @DisplayName("the driver binding unbinds from is read only from a link into the root's sys/bus/pci/drivers, never through the link")
    void driverOnlyFromLinksIntoTheRoot() throws Exception {
        FakeHost host = FakeHost.at(dir.resolve("host"));
        Path outside = Files.createDirectories(dir.resolve("outside/sys/bus/pci/drivers/nouveau"));
        Files.writeString(outside.resolve("unbind"), "");
        host.device(GPU.toString()).group("14").link("driver", outside.toString());
        PciAddress other = PciAddress.parse("0000:42:00.0");
        host.device(other.toString()).group("15").driver("nouveau", "nouveau");
        host.write();
        List<Path> written = new ArrayList<>();
        PciSysfs sysfs = new PciSysfs(host.root(), (device, file, value) -> written.add(file));

        assertThatThrownBy(() -> sysfs.driverOf(GPU)).isInstanceOf(BindingException.class)
                .hasMessageStartingWith("0000:41:00.0: driver link points to '" + outside + "', not to a driver in "
                        + host.path().toAbsolutePath() + "/sys/bus/pci/drivers");
        assertThatThrownBy(() -> sysfs.stateOf(GPU)).isInstanceOf(BindingException.class);
        sysfs.unbind(other, sysfs.driverOf(other).orElseThrow());

        assertThat(written).containsExactly(host.path().toAbsolutePath().resolve("sys/bus/pci/drivers/nouveau/unbind"));
        assertThat(outside.resolve("unbind")).isEmptyFile();
    }
}
