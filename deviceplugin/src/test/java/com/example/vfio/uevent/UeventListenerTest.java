package com.example.vfio.uevent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.example.vfio.pci.PciAddress;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Which events reach the scanner, and in how many batches. */
class UeventListenerTest {

    final QueueUeventSource source = new QueueUeventSource();
    final List<Set<PciAddress>> batches = new CopyOnWriteArrayList<>();
    final List<Integer> eventCounts = new CopyOnWriteArrayList<>();
    final List<String> unknown = new CopyOnWriteArrayList<>();
    final List<String> stopped = new CopyOnWriteArrayList<>();
    UeventListener listener;

    UeventListener start() {
        listener = new UeventListener(source, new UeventListener.HostChanges() {
            @Override
            public void devicesChanged(Set<PciAddress> devices, int events) {
                batches.add(devices);
                eventCounts.add(events);
            }

            @Override
            public void unknownChanges(String why) {
                unknown.add(why);
            }

            @Override
            public void stopped(String why) {
                stopped.add(why);
            }
        }).start();
        return listener;
    }

    @AfterEach
    void stop() {
        if (listener != null) {
            listener.close();
        }
    }

    static String vf(int i) {
        return String.format("0000:11:%02x.%d", i / 8, i % 8);
    }

    @Test
    void a_pf_enabling_255_vfs_is_one_batch_naming_the_255_vfs_and_the_pf() {
        for (int i = 0; i < 255; i++) {
            source.send(KernelWords.pci("add", vf(i), null, 0x15b3, 0x101e, 0x020000));
            source.send(KernelWords.pci("bind", vf(i), "mlx5_core", 0x15b3, 0x101e, 0x020000));
            source.send(KernelWords.net("add", vf(i), "eth" + i));
        }
        source.send(KernelWords.pci("change", "0000:10:00.0", "mlx5_core", 0x15b3, 0x1021, 0x020000));
        start();
        await().atMost(Duration.ofSeconds(5)).until(() -> !batches.isEmpty());
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> batches.size() == 1);
        assertThat(batches.get(0)).hasSize(256).contains(PciAddress.parse("0000:10:00.0"), PciAddress.parse(vf(254)));
        assertThat(eventCounts.get(0)).as("adds, binds and the PF's change; not the network devices").isEqualTo(511);
    }

    @Test
    void events_of_other_devices_and_libudev_packets_wake_nobody() {
        source.send(KernelWords.net("add", "0000:03:01.0", "eth1"));
        source.send(KernelWords.libudevPacket(KernelWords.pci("bind", "0000:03:01.0", "e1000", 0x8086, 0x100e, 0x020000)));
        source.send("garbage".getBytes());
        start();
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(batches::isEmpty);
    }

    @Test
    void a_vfio_group_node_change_is_a_batch_of_host_wide_facts_only() {
        source.send(KernelWords.vfioGroup("remove", "14"));
        start();
        await().atMost(Duration.ofSeconds(5)).until(() -> batches.size() == 1);
        assertThat(batches.get(0)).isEmpty();
    }

    @Test
    void events_apart_by_more_than_the_quiet_time_are_separate_batches() throws InterruptedException {
        start();
        source.send(KernelWords.pci("unbind", "0000:03:01.0", null, 0x8086, 0x100e, 0x020000));
        await().atMost(Duration.ofSeconds(5)).until(() -> batches.size() == 1);
        source.send(KernelWords.pci("bind", "0000:03:01.0", "e1000", 0x8086, 0x100e, 0x020000));
        await().atMost(Duration.ofSeconds(5)).until(() -> batches.size() == 2);
        assertThat(batches).containsExactly(Set.of(PciAddress.parse("0000:03:01.0")), Set.of(PciAddress.parse("0000:03:01.0")));
    }

    @Test
    void lost_events_ask_for_everything_to_be_read_again_and_listening_goes_on() {
        source.lose();
        source.send(KernelWords.pci("bind", "0000:03:01.0", "e1000", 0x8086, 0x100e, 0x020000));
        start();
        await().atMost(Duration.ofSeconds(5)).until(() -> unknown.size() == 1 && batches.size() == 1);
        assertThat(stopped).isEmpty();
    }

    @Test
    void a_source_that_fails_stops_the_listener_says_why_and_is_closed() {
        source.fail("receiving uevents failed: errno 9");
        start();
        await().atMost(Duration.ofSeconds(5)).until(() -> stopped.size() == 1);
        assertThat(stopped.get(0)).contains("errno 9");
        await().atMost(Duration.ofSeconds(5)).until(source::closed);
    }

    @Test
    void close_stops_the_thread_and_closes_the_source() {
        start().close();
        assertThat(source.closed()).isTrue();
        assertThat(stopped).as("a close is not a failure").isEmpty();
    }

    @Test
    void a_listener_never_started_closes_its_source() {
        new UeventListener(source, null).close();
        assertThat(source.closed()).isTrue();
    }
}
