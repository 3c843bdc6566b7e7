package com.example.vfio.uevent;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.pci.PciAddress;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Uevent datagrams as the kernel and udevd send them on NETLINK_KOBJECT_UEVENT. */
class UeventTest {

    /** A bind as Linux 6.12 sent it in the kernel lab's guest (the third datagram of the capture below). */
    static final String LAB_BIND = "bind@/devices/pci0000:00/0000:00:03.0/0000:02:00.0\0ACTION=bind\0"
            + "DEVPATH=/devices/pci0000:00/0000:00:03.0/0000:02:00.0\0SUBSYSTEM=pci\0DRIVER=vfio-pci\0"
            + "PCI_CLASS=FF00\0PCI_ID=1B36:0005\0PCI_SUBSYS_ID=1AF4:1100\0PCI_SLOT_NAME=0000:02:00.0\0"
            + "MODALIAS=pci:v00001B36d00000005sv00001AF4sd00001100bc00scFFi00\0SEQNUM=998\0";

    /**
     * The 22 datagrams an independent listener (Python, in a network namespace of its own) received in the
     * kernel lab's guest while check 5 bound, unbound, removed and rescanned devices (Linux 6.12.118):
     * e2e/kernel-lab/work/results/details/uevents-netns.hex, one datagram in hex a line.
     */
    static List<byte[]> labCapture() throws IOException {
        try (InputStream in = UeventTest.class.getResourceAsStream("/uevents/linux-6.12-lab.hex")) {
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII).lines().map(HexFormat.of()::parseHex).toList();
        }
    }

    @Test
    void every_datagram_the_lab_kernel_sent_is_an_event_and_names_what_it_is_about() throws IOException {
        List<byte[]> capture = labCapture();
        assertThat(capture).hasSize(22);
        assertThat(Arrays.equals(capture.get(2), bytes(LAB_BIND))).isTrue();
        List<String> seen = new ArrayList<>();
        for (byte[] datagram : capture) {
            Uevent event = Uevent.parse(datagram);
            assertThat(event).as(new String(datagram, StandardCharsets.ISO_8859_1)).isNotNull();
            PciAddress device = event.pciFunction();
            seen.add(event.action() + " " + event.subsystem() + " "
                    + (device != null ? device : event.changesHostWideFacts() ? "host-wide" : "ignored"));
        }
        assertThat(seen).containsExactly(
                "add vfio host-wide", "add vfio-dev 0000:02:00.0", "bind pci 0000:02:00.0",
                "unbind pci 0000:03:01.0", "add vfio host-wide", "add vfio-dev 0000:03:01.0", "bind pci 0000:03:01.0",
                "add vfio-dev 0000:03:02.0", "bind pci 0000:03:02.0",
                "remove vfio-dev 0000:03:01.0", "unbind pci 0000:03:01.0", "bind pci 0000:03:01.0",
                "remove vfio-dev 0000:02:00.0", "remove vfio host-wide", "unbind pci 0000:02:00.0",
                "remove wakeup ignored", "remove pci 0000:02:00.0", "add wakeup ignored", "add pci 0000:02:00.0",
                "add vfio host-wide", "add vfio-dev 0000:02:00.0", "bind pci 0000:02:00.0");
        assertThat(Uevent.parse(capture.get(11)).property("DRIVER")).isEqualTo("e1000");
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    @Test
    void a_kernel_bind_names_the_pci_function_and_its_driver() {
        Uevent event = Uevent.parse(bytes(LAB_BIND));
        assertThat(event).isNotNull();
        assertThat(event.action()).isEqualTo("bind");
        assertThat(event.subsystem()).isEqualTo("pci");
        assertThat(event.devpath()).isEqualTo("/devices/pci0000:00/0000:00:03.0/0000:02:00.0");
        assertThat(event.property("DRIVER")).isEqualTo("vfio-pci");
        assertThat(event.property("SEQNUM")).isEqualTo("998");
        assertThat(event.pciFunction()).isEqualTo(PciAddress.parse("0000:02:00.0"));
        assertThat(event.changesHostWideFacts()).isFalse();
    }

    @Test
    void the_bytes_after_the_last_nul_and_a_datagram_shorter_than_its_buffer_are_read_as_the_kernel_sent_them() {
        byte[] buffer = new byte[8192];
        byte[] datagram = bytes(LAB_BIND);
        System.arraycopy(datagram, 0, buffer, 0, datagram.length);
        assertThat(Uevent.parse(buffer, datagram.length)).isEqualTo(Uevent.parse(datagram));
        // the last pair without its NUL (a truncated datagram) still parses: the keys before it are whole
        assertThat(Uevent.parse(datagram, datagram.length - 1).property("SEQNUM")).isEqualTo("998");
    }

    @Test
    void events_worded_by_the_fixture_factory_round_trip_through_their_bytes() {
        Uevent unbind = KernelWords.pci("unbind", "0000:02:01.1", null, 0x15b3, 0x101e, 0x020000);
        Uevent parsed = Uevent.parse(unbind.toBytes());
        assertThat(parsed).isEqualTo(unbind);
        assertThat(parsed.property("MODALIAS")).as("the kernel zaps MODALIAS from unbind events").isNull();
        assertThat(new String(unbind.toBytes(), StandardCharsets.ISO_8859_1))
                .startsWith("unbind@/devices/pci0000:00/0000:02:01.1\0ACTION=unbind\0DEVPATH=")
                .endsWith("\0");
    }

    @Test
    void a_vfio_cdev_event_names_the_pci_function_it_belongs_to() {
        Uevent event = Uevent.parse(KernelWords.vfioCdev("remove", "0000:03:01.0", "vfio3").toBytes());
        assertThat(event.pciFunction()).isEqualTo(PciAddress.parse("0000:03:01.0"));
    }

    @Test
    void vfio_group_nodes_the_container_iommufd_pci_drivers_and_modules_change_host_wide_facts() {
        assertThat(Uevent.parse(KernelWords.vfioGroup("add", "14").toBytes()).changesHostWideFacts()).isTrue();
        assertThat(Uevent.parse(bytes("add@/devices/virtual/misc/vfio\0ACTION=add\0DEVPATH=/devices/virtual/misc/vfio\0"
                + "SUBSYSTEM=misc\0MAJOR=10\0MINOR=196\0DEVNAME=vfio/vfio\0SEQNUM=5\0")).changesHostWideFacts()).isTrue();
        assertThat(Uevent.parse(bytes("add@/devices/virtual/misc/iommu\0ACTION=add\0DEVPATH=/devices/virtual/misc/iommu\0"
                + "SUBSYSTEM=misc\0DEVNAME=iommu\0SEQNUM=6\0")).changesHostWideFacts()).isTrue();
        assertThat(Uevent.parse(bytes("add@/bus/pci/drivers/vfio-pci\0ACTION=add\0DEVPATH=/bus/pci/drivers/vfio-pci\0"
                + "SUBSYSTEM=drivers\0SEQNUM=7\0")).changesHostWideFacts()).isTrue();
        assertThat(Uevent.parse(bytes("add@/module/vfio_pci\0ACTION=add\0DEVPATH=/module/vfio_pci\0SUBSYSTEM=module\0"
                + "SEQNUM=8\0")).changesHostWideFacts()).isTrue();
        assertThat(Uevent.parse(bytes("add@/devices/virtual/misc/fuse\0ACTION=add\0DEVPATH=/devices/virtual/misc/fuse\0"
                + "SUBSYSTEM=misc\0DEVNAME=fuse\0SEQNUM=9\0")).changesHostWideFacts()).isFalse();
    }

    @Test
    void other_subsystems_name_no_pci_function() {
        Uevent net = Uevent.parse(KernelWords.net("add", "0000:03:01.0", "eth1").toBytes());
        assertThat(net.pciFunction()).isNull();
        assertThat(net.changesHostWideFacts()).isFalse();
        Uevent bus = Uevent.parse(bytes("add@/devices/pci0000:00/0000:00:04.0/pci_bus/0000:03\0ACTION=add\0"
                + "DEVPATH=/devices/pci0000:00/0000:00:04.0/pci_bus/0000:03\0SUBSYSTEM=pci_bus\0SEQNUM=10\0"));
        assertThat(bus.pciFunction()).isNull();
    }

    @Test
    void libudev_packets_are_not_kernel_events() {
        Uevent bind = Uevent.parse(bytes(LAB_BIND));
        assertThat(Uevent.parse(KernelWords.libudevPacket(bind))).isNull();
    }

    @Test
    void datagrams_without_the_kernels_header_or_keys_are_not_events() {
        assertThat(Uevent.parse(new byte[0])).isNull();
        assertThat(Uevent.parse(bytes("hello"))).isNull();
        assertThat(Uevent.parse(bytes("ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0"))).as("no header").isNull();
        assertThat(Uevent.parse(bytes("add@/devices/x\0ACTION=add\0SUBSYSTEM=pci\0"))).as("no DEVPATH").isNull();
        assertThat(Uevent.parse(bytes("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0"))).as("no SUBSYSTEM").isNull();
        assertThat(Uevent.parse(bytes("add@/devices/x\0ACTION=remove\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0")))
                .as("header and keys disagree").isNull();
        assertThat(Uevent.parse(bytes("add@/devices/pci0000:00/junk\0ACTION=add\0DEVPATH=/devices/pci0000:00/junk\0"
                + "SUBSYSTEM=pci\0PCI_SLOT_NAME=../../etc\0")).pciFunction()).as("a name that is no address").isNull();
    }
}
