package com.example.vfio.binding;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.api.BindState;
import com.example.vfio.binding.SysfsWriteException.Errno;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/**
 * Any sequence of binding passes, each possibly hit by one kernel refusal, leaves every device either
 * where it was wanted or exactly where it was before the pass, never half done; giving everything back
 * at the end restores the boot drivers and empties the journal.
 */
class BindingProperties {
    static final List<String> DEVICES = List.of(GpuServer.GPU, GpuServer.AUDIO, GpuServer.ACCEL, GpuServer.STUBBED,
            GpuServer.VF);
    static final Map<String, String> AUTO = Map.of(GpuServer.VF, "mlx5_vfio_pci");

    /** One pass: the device, the driver wanted, and the write that fails (null: none). */
    record Pass(String address, String driver, String faultAttribute, Errno fault) {
    }

    @Provide
    Arbitrary<Pass> pass() {
        Arbitrary<String> attribute = Arbitraries.of("override", "unbind", "probe").injectNull(0.4);
        return Combinators.combine(Arbitraries.of(DEVICES), Arbitraries.of("auto", "vfio-pci", "host"), attribute,
                Arbitraries.of(Errno.EBUSY, Errno.EINVAL, Errno.ENODEV, Errno.EIO)).as(Pass::new);
    }

    @Property(tries = 30)
    void everyPassEndsWhereWantedOrWhereItWas(@ForAll @Size(min = 1, max = 8) List<@net.jqwik.api.From("pass") Pass> passes)
            throws IOException {
        Path dir = Files.createTempDirectory("binding-properties");
        try {
            GpuServer server = new GpuServer(dir).write();
            Map<String, String> boot = drivers(server);
            BindingEngine engine = server.engine();
            for (Pass pass : passes) {
                Map<String, String> before = drivers(server);
                if (pass.faultAttribute() != null) {
                    server.kernel.failNext(pass.address(), pass.faultAttribute(), pass.fault());
                }

                DeviceOutcome outcome = server.run(engine, GpuServer.want(pass.address(), pass.driver())).stream()
                        .filter(o -> o.address().equals(pass.address())).findFirst().orElseThrow();

                String now = Objects.requireNonNullElse(server.driverOf(pass.address()), "none");
                String wanted = pass.driver().equals("host") ? boot.get(pass.address())
                        : pass.driver().equals("auto") ? AUTO.getOrDefault(pass.address(), "vfio-pci") : pass.driver();
                assertThat(outcome.state()).as(outcome.message()).isIn(BindState.Bound, BindState.Unchanged,
                        BindState.Failed);
                if (outcome.state() == BindState.Failed) {
                    assertThat(now).as("rolled back: " + outcome.message()).isEqualTo(before.get(pass.address()));
                } else {
                    assertThat(now).as(outcome.message()).isEqualTo(wanted);
                }
                Map<String, String> others = drivers(server);
                others.remove(pass.address());
                before.remove(pass.address());
                assertThat(others).isEqualTo(before);
                assertThat(server.journal().entries().values()).allSatisfy(e -> assertThat(e.step()).isNull());
            }
            server.kernel.clearFaults();
            for (String address : DEVICES) {
                server.run(engine, GpuServer.want(address, "host"));
            }
            assertThat(drivers(server)).isEqualTo(boot);
            assertThat(server.journal().entries()).isEmpty();
            for (String address : DEVICES) {
                assertThat(server.overrideOf(address)).isEqualTo(
                        address.equals(GpuServer.STUBBED) ? "pci-stub" : "(null)");
            }
        } finally {
            deleteTree(dir);
        }
    }

    private static Map<String, String> drivers(GpuServer server) {
        Map<String, String> drivers = new HashMap<>();
        for (String address : List.of(GpuServer.BRIDGE, GpuServer.BOOT_VGA, GpuServer.NO_GROUP_NIC, GpuServer.GPU,
                GpuServer.AUDIO, GpuServer.GRACE, GpuServer.ACCEL, GpuServer.STUBBED, GpuServer.PF, GpuServer.VF,
                GpuServer.NVME, GpuServer.NIC)) {
            drivers.put(address, Objects.requireNonNullElse(server.driverOf(address), "none"));
        }
        return drivers;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

}
