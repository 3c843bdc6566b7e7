package com.example.vfio.pci;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rescan of the devices a uevent names ({@link SysfsScanner#rescan}) sees what a full scan of the changed
 * host sees, and reads nothing else: the other devices are the last snapshot's objects.
 */
class TargetedRescanTest {
    @TempDir
    java.nio.file.Path dir;
    FakeHost host;
    SysfsScanner scanner;
    HostSnapshot before;

    static PciAddress at(String address) {
        return PciAddress.parse(address);
    }

    @BeforeEach
    void host() {
        host = FakeHost.at(dir).kernel("6.12.0");
        host.alias("vfio_pci:v*d*sv*sd*bc*sc*i*", "vfio_pci");
        // a GPU and its audio function in group 14, both on vfio-pci; a NIC alone in group 20 on its host driver
        host.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).group("14").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio0");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).cls(0x040300).group("14").driver("vfio-pci", "vfio_pci")
                .vfioDev("vfio1");
        host.device("0000:81:00.0").ids(0x15b3, 0x1021).cls(0x020000).group("20").driver("mlx5_core", "mlx5_core");
        host.devVfio("14").cdev("vfio0").cdev("vfio1");
        host.write();
        scanner = new SysfsScanner(host.root());
        before = scanner.scan();
    }

    /** What a scanner that never saw the host reads of it now. */
    HostSnapshot fresh() {
        return new SysfsScanner(host.root()).scan();
    }

    @Test
    void a_host_driver_bound_to_a_group_member_is_seen_and_the_rest_of_the_host_is_not_read() {
        host.device("0000:41:00.1").driver("snd_hda_intel", "snd_hda_intel").noVfioDev();
        host.write();
        HostSnapshot after = scanner.rescan(Set.of(at("0000:41:00.1")));
        assertThat(after).isEqualTo(fresh());
        assertThat(after.device(at("0000:41:00.1")).orElseThrow().driver()).isEqualTo("snd_hda_intel");
        assertThat(after.device(at("0000:81:00.0")).orElseThrow())
                .as("a device outside the named group is the last snapshot's object")
                .isSameAs(before.device(at("0000:81:00.0")).orElseThrow());
    }

    @Test
    void a_removed_device_is_gone_with_its_group_and_an_added_one_comes_with_its_group() {
        host.remove("0000:81:00.0");
        host.write();
        HostSnapshot removed = scanner.rescan(Set.of(at("0000:81:00.0")));
        assertThat(removed).isEqualTo(fresh());
        assertThat(removed.device(at("0000:81:00.0"))).isEmpty();
        assertThat(removed.group("20")).isEmpty();

        host.device("0000:81:00.0").ids(0x15b3, 0x1021).cls(0x020000).group("20").driver("mlx5_core", "mlx5_core");
        host.device("0000:41:00.2").ids(0x10de, 0x1aed).cls(0x0c0330).group("14").unbound();
        host.write();
        HostSnapshot added = scanner.rescan(Set.of(at("0000:81:00.0"), at("0000:41:00.2")));
        assertThat(added).isEqualTo(fresh());
        assertThat(added.group("14").orElseThrow().members())
                .containsExactly(at("0000:41:00.0"), at("0000:41:00.1"), at("0000:41:00.2"));
        assertThat(added.group("20").orElseThrow().members()).containsExactly(at("0000:81:00.0"));
    }

    @Test
    void a_device_named_for_nothing_hands_back_the_same_snapshot() {
        assertThat(scanner.rescan(Set.of(at("0000:41:00.0")))).isSameAs(before);
        assertThat(scanner.rescan(Set.of())).isSameAs(before);
    }

    @Test
    void a_host_wide_change_alone_is_read_without_any_device() {
        host.noDevVfio("14");
        host.write();
        HostSnapshot after = scanner.rescan(Set.of());
        assertThat(after.deviceNodes().groups()).doesNotContain("14");
        assertThat(after.devices()).isEqualTo(before.devices());
        assertThat(after.device(at("0000:41:00.0")).orElseThrow()).isSameAs(before.device(at("0000:41:00.0")).orElseThrow());
    }

    @Test
    void a_named_address_the_host_never_had_changes_nothing() {
        assertThat(scanner.rescan(List.of(at("0000:99:00.0")))).isSameAs(before);
    }

    @Test
    void without_a_scan_before_it_a_rescan_reads_everything() {
        assertThat(new SysfsScanner(host.root()).rescan(Set.of())).isEqualTo(before);
    }
}
