package com.example.vfio.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.example.vfio.agent.MockApiServer;
import com.example.vfio.api.SyncStatus;
import com.example.vfio.api.VfioNodeState;
import com.example.vfio.api.VfioNodeStateStatus;
import com.example.vfio.pci.FakeHost;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.Config;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code serve} without {@code --policies}: cluster mode, configured the way fabric8 finds its API server. */
class ServeClusterModeTest {
    static final List<String> CLIENT_PROPERTIES = List.of(Config.KUBERNETES_MASTER_SYSTEM_PROPERTY,
            Config.KUBERNETES_AUTH_TRYKUBECONFIG_SYSTEM_PROPERTY, Config.KUBERNETES_AUTH_TRYSERVICEACCOUNT_SYSTEM_PROPERTY);

    @TempDir
    Path tmp;
    MockApiServer api;
    ServeCommand.Running running;
    final Map<String, String> savedProperties = new HashMap<>();

    @BeforeEach
    void apiServerFromSystemProperties() {
        api = new MockApiServer().start();
        CLIENT_PROPERTIES.forEach(p -> savedProperties.put(p, System.getProperty(p)));
        System.setProperty(Config.KUBERNETES_MASTER_SYSTEM_PROPERTY, api.url());
        System.setProperty(Config.KUBERNETES_AUTH_TRYKUBECONFIG_SYSTEM_PROPERTY, "false");
        System.setProperty(Config.KUBERNETES_AUTH_TRYSERVICEACCOUNT_SYSTEM_PROPERTY, "false");
    }

    @AfterEach
    void restore() {
        if (running != null) {
            running.close();
        }
        api.close();
        savedProperties.forEach((k, v) -> {
            if (v == null) {
                System.clearProperty(k);
            } else {
                System.setProperty(k, v);
            }
        });
    }

    @Test
    void serve_without_policies_reports_the_node_inventory_into_its_vfio_node_state() throws Exception {
        FakeHost host = FakeHost.at(tmp.resolve("host")).kernel("6.12.0");
        host.device("0000:41:00.0").ids(0x10de, 0x2330).cls(0x030200).group("14").driver("nouveau", "nouveau");
        host.device("0000:41:00.1").ids(0x10de, 0x22a3).cls(0x040300).group("14")
                .driver("snd_hda_intel", "snd_hda_intel");
        host.write();
        VfioNodeState state = new VfioNodeState();
        state.setMetadata(new ObjectMetaBuilder().withName("node-7").build());
        api.admin().resource(state).create();

        running = serve("--root", host.path().toString(), "--plugin-dir", tmp.resolve("plugins").toString(),
                "--pod-resources-socket", tmp.resolve("pod-resources.sock").toString(), "--node-name", "node-7",
                "--journal", tmp.resolve("journal.json").toString(), "--metrics-port", "0").start();

        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).until(() -> status("node-7")
                .map(s -> s.getSyncStatus() == SyncStatus.Succeeded && Integer.valueOf(2).equals(s.getDeviceCount()))
                .orElse(false));
        VfioNodeStateStatus status = status("node-7").orElseThrow();
        assertThat(status.device("0000:41:00.0").orElseThrow().getDriver()).isEqualTo("nouveau");
        assertThat(status.getGroups()).singleElement().satisfies(g -> assertThat(g.getViable()).isFalse());
    }

    @Test
    void node_labels_are_refused_in_cluster_mode_because_the_operator_matches_them() {
        assertThatThrownBy(() -> serve("--root", tmp.toString(), "--node-labels", "gpu=true",
                "--journal", tmp.resolve("journal.json").toString()).start())
                .isInstanceOf(CommandLine.ParameterException.class)
                .hasMessageContaining("--node-labels is for standalone mode");
    }

    private static ServeCommand serve(String... args) {
        CommandLine cli = Main.commandLine();
        String[] all = new String[args.length + 1];
        all[0] = "serve";
        System.arraycopy(args, 0, all, 1, args.length);
        CommandLine.ParseResult parsed = cli.parseArgs(all);
        return (ServeCommand) parsed.subcommand().commandSpec().userObject();
    }

    private Optional<VfioNodeStateStatus> status(String name) {
        VfioNodeState s = api.admin().resources(VfioNodeState.class).withName(name).get();
        return s == null ? Optional.empty() : Optional.ofNullable(s.getStatus());
    }
}
