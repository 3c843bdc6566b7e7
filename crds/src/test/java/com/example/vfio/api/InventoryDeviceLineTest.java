package com.example.vfio.api;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class InventoryDeviceLineTest {

    @Example
    void gpu_published_through_dra_and_prepared_for_a_claim_says_so() {
        InventoryDevice d = new InventoryDevice("0000:41:00.0", "10de", "2330", "030200", "vfio-pci", "14");
        d.setVfio(true);
        d.setViable(true);
        d.setResource("gpu");
        d.setDra(true);
        d.setHealth(Health.Healthy);
        d.setAllocatedTo("claim:vms/vm-gpu");

        assertThat(d.toLine()).isEqualTo(
                "0000:41:00.0 10de:2330 030200 vfio-pci vfio viable group=14 resource=gpu dra health=Healthy held=claim:vms/vm-gpu");
        assertThat(InventoryDevice.parse(d.toLine())).isEqualTo(d);
    }

    @Example
    void gpu_on_vfio_pci_published_and_held_by_a_pod_reads_like_lspci() {
        InventoryDevice gpu = new InventoryDevice("0000:41:00.0", "10de", "2330", "030200", "vfio-pci", "14");
        gpu.setVfio(true);
        gpu.setViable(true);
        gpu.setNuma(0);
        gpu.setRecommended("vfio-pci");
        gpu.setResource("gpu");
        gpu.setHealth(Health.Healthy);
        gpu.setAllocatedTo("default/virt-launcher-x");

        assertThat(gpu.toLine()).isEqualTo(
                "0000:41:00.0 10de:2330 030200 vfio-pci vfio viable group=14 numa=0 resource=gpu health=Healthy held=default/virt-launcher-x");
    }

    @Example
    void vf_on_its_host_driver_names_the_driver_auto_would_bind() {
        InventoryDevice vf = new InventoryDevice("0000:40:00.1", "15b3", "101e", "020000", "mlx5_core", "101");
        vf.setNuma(0);
        vf.setRecommended("mlx5_vfio_pci");

        assertThat(vf.toLine()).isEqualTo("0000:40:00.1 15b3:101e 020000 mlx5_core group=101 numa=0 auto=mlx5_vfio_pci");
    }

    @Example
    void unbound_device_with_unknown_ids_and_no_iommu_prints_dash_and_question_marks() {
        InventoryDevice d = new InventoryDevice("0000:00:1f.3", null, null, null, null, null);

        assertThat(d.toLine()).isEqualTo("0000:00:1f.3 ?:? ? -");
        assertThat(InventoryDevice.parse(d.toLine())).isEqualTo(d);
    }

    @Property
    void a_device_line_reads_back_as_the_same_device(@ForAll("devices") InventoryDevice d) {
        assertThat(InventoryDevice.parse(d.toLine())).isEqualTo(d);
    }

    @Example
    void malformed_lines_are_refused_naming_what_is_wrong() {
        assertThatThrownBy(() -> InventoryDevice.parse("")).hasMessage("empty device line");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de:2330 030200"))
                .hasMessageContaining("expected '<address> <vendor>:<device> <class> <driver or ->' first");
        assertThatThrownBy(() -> InventoryDevice.parse("41:00.0 10de:2330 030200 vfio-pci"))
                .hasMessage("malformed device line '41:00.0 10de:2330 030200 vfio-pci': '41:00.0' is not a PCI address (dddd:bb:ss.f)");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de2330 030200 vfio-pci"))
                .hasMessageEndingWith("'10de2330' is not <vendor>:<device>");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10DE:2330 030200 vfio-pci"))
                .hasMessageEndingWith("'10DE' is not a vendor id (lower-case hex) or ?");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de:2330 0302 vfio-pci"))
                .hasMessageEndingWith("'0302' is not a class code (lower-case hex) or ?");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de:2330 030200 vfio-pci colour=green"))
                .hasMessageEndingWith("unknown field 'colour=green'");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de:2330 030200 vfio-pci group=14 group=15"))
                .hasMessageEndingWith("'group' appears twice");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de:2330 030200 vfio-pci viable=yes"))
                .hasMessageEndingWith("'viable=yes' is a flag and takes no value");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de:2330 030200 vfio-pci numa=zero"))
                .hasMessageEndingWith("numa='zero' is not a NUMA node number");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de:2330 030200 vfio-pci health=Sick"))
                .hasMessageEndingWith("health must be Healthy or Unhealthy, not 'Sick'");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de:2330 030200 vfio-pci held="))
                .hasMessageEndingWith("'held=' has no value");
        assertThatThrownBy(() -> InventoryDevice.parse("0000:41:00.0 10de:2330 030200 vfio-pci resource"))
                .hasMessageEndingWith("'resource' needs a value: resource=...");
    }

    @Example
    void a_value_with_a_space_cannot_be_written_into_a_line() {
        InventoryDevice d = new InventoryDevice("0000:41:00.0", "10de", "2330", "030200", "vfio-pci", "14");
        d.setAllocatedTo("held by someone");

        assertThatThrownBy(d::toLine).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("held 'held by someone' cannot go in a device line");
    }

    @Provide
    Arbitrary<InventoryDevice> devices() {
        Arbitrary<String> address = Combinators.combine(Arbitraries.integers().between(0, 0xffff),
                        Arbitraries.integers().between(0, 0xff), Arbitraries.integers().between(0, 0x1f),
                        Arbitraries.integers().between(0, 7))
                .as((d, b, s, f) -> String.format("%04x:%02x:%02x.%d", d, b, s, f));
        Arbitrary<String> id = Arbitraries.strings().withChars("0123456789abcdef").ofLength(4).injectNull(0.1);
        Arbitrary<String> klass = Arbitraries.strings().withChars("0123456789abcdef").ofLength(6).injectNull(0.1);
        Arbitrary<String> driver = Arbitraries.of("vfio-pci", "mlx5_core", "mlx5_vfio_pci", "nvidia", "snd_hda_intel", "nvme")
                .injectNull(0.3);
        Arbitrary<String> group = Arbitraries.integers().between(0, 4096).map(String::valueOf).injectNull(0.2);
        Arbitrary<Integer> numa = Arbitraries.integers().between(0, 7).injectNull(0.3);
        Arbitrary<Boolean> flag = Arbitraries.of(true, false);
        Arbitrary<String> resource = Arbitraries.of("gpu", "nic-vf", "nvme").injectNull(0.4);
        Arbitrary<Health> health = Arbitraries.of(Health.values()).injectNull(0.4);
        Arbitrary<String> held = Arbitraries.of("default/virt-launcher-x", "vfio.example.com/gpu",
                "with:0000:41:00.0,0000:41:00.1", "claim:vms/vm-gpu").injectNull(0.6);
        Arbitrary<InventoryDevice> identity = Combinators.combine(address, id, id, klass, driver, group)
                .as(InventoryDevice::new);
        Arbitrary<InventoryDevice> placed = Combinators.combine(identity, numa, flag, flag, held).as((d, n, vfio, viable, h) -> {
            d.setNuma(n);
            d.setVfio(vfio);
            d.setViable(viable);
            d.setAllocatedTo(h);
            return d;
        });
        return Combinators.combine(placed, driver, driver, resource, health, flag).as((d, auto, hostDriver, r, h, dra) -> {
            // the line leaves auto= out when the device is on that driver already
            d.setRecommended(auto != null && auto.equals(d.getDriver()) ? null : auto);
            d.setHostDriver(hostDriver);
            d.setResource(r);
            d.setDra(r != null && dra);
            d.setHealth(h);
            return d;
        });
    }
}
