package com.example.vfio.uevent;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.pci.FakeHost;
import com.example.vfio.pci.HostRoot;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** When the daemon can hear the kernel, and what it says when it cannot. */
class KernelUeventsTest {

    @TempDir
    Path tmp;

    @Test
    void a_root_that_is_a_directory_laid_out_like_a_host_is_not_listened_to_and_says_so() {
        FakeHost host = FakeHost.at(tmp.resolve("host")).kernel("6.12.0").write();
        KernelUevents.Outcome outcome = KernelUevents.open(host.root());
        assertThat(outcome.source()).isNull();
        assertThat(outcome.notListening()).contains(host.root().toString(), "is not the running host", "not sysfs");
    }

    @Test
    void a_root_without_sys_says_it_cannot_tell() {
        KernelUevents.Outcome outcome = KernelUevents.open(new HostRoot(tmp));
        assertThat(outcome.notListening()).contains(tmp.resolve("sys").toString());
    }

    @Test
    void the_initial_user_namespace_maps_every_uid_onto_itself() {
        assertThat(KernelUevents.userNamespaceProblem("         0          0 4294967295\n")).isNull();
        assertThat(KernelUevents.userNamespaceProblem(null)).as("no user namespaces in the kernel").isNull();
    }

    @Test
    void a_user_namespace_of_its_own_hears_no_device_uevents() {
        assertThat(KernelUevents.userNamespaceProblem("         0     100000      65536\n"))
                .contains("user namespace of its own", "0 100000 65536", "hostUsers: false");
        assertThat(KernelUevents.userNamespaceProblem("0 0 1\n")).isNotNull();
    }

    @Test
    void the_kernels_socket_opens_binds_to_the_kernels_group_waits_and_closes() throws Exception {
        try (NetlinkUeventSource socket = NetlinkUeventSource.open()) {
            long t0 = System.nanoTime();
            byte[] datagram = socket.receive(Duration.ofMillis(200));
            // nothing happens to this machine's devices during the test, as a rule; if something did, it is a uevent
            if (datagram == null) {
                assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(150_000_000L);
            } else {
                assertThat(Uevent.parse(datagram)).isNotNull();
            }
        }
    }
}
