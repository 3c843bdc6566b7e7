package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class NodeDaemonSetTest {

    private static DaemonSet daemonSet(ChartUnderTest.Render render) {
        return render.objects().one(DaemonSet.class);
    }

    private static PodSpec pod(DaemonSet daemonSet) {
        return daemonSet.getSpec().getTemplate().getSpec();
    }

    private static Container agent(DaemonSet daemonSet) {
        List<Container> containers = pod(daemonSet).getContainers();
        assertThat(containers).hasSize(1);
        return containers.get(0);
    }

    /** Container mount path → host path of the hostPath volume behind it (null for other volumes). */
    private static Map<String, String> hostPathsByMount(DaemonSet daemonSet) {
        Map<String, Volume> volumes = pod(daemonSet).getVolumes().stream()
                .collect(Collectors.toMap(Volume::getName, v -> v));
        return agent(daemonSet).getVolumeMounts().stream().collect(Collectors.toMap(
                VolumeMount::getMountPath,
                m -> {
                    Volume volume = volumes.get(m.getName());
                    assertThat(volume).as("volume %s of mount %s", m.getName(), m.getMountPath()).isNotNull();
                    return volume.getHostPath() == null ? "<" + (volume.getEmptyDir() != null ? "emptyDir" : "other") + ">"
                            : volume.getHostPath().getPath();
                }));
    }

    private static Map<String, Boolean> readOnlyByMount(DaemonSet daemonSet) {
        return agent(daemonSet).getVolumeMounts().stream().collect(Collectors.toMap(
                VolumeMount::getMountPath, m -> Boolean.TRUE.equals(m.getReadOnly())));
    }

    @Test
    void nodeAgentServesAgainstTheHostRootWithTheNodeNameFromTheDownwardApi() {
        Container agent = agent(daemonSet(ChartUnderTest.render()));

        assertThat(agent.getCommand()).containsExactly("java");
        List<String> args = agent.getArgs();
        List<String> afterJar = args.subList(args.indexOf("-jar"), args.size());
        assertThat(afterJar).startsWith("-jar", "/opt/vfio/vfio-node.jar", "serve");
        assertThat(afterJar).contains(
                "--root=/host",
                "--plugin-dir=/var/lib/kubelet/device-plugins",
                "--pod-resources-socket=/var/lib/kubelet/pod-resources/kubelet.sock",
                "--node-name=$(NODE_NAME)",
                "--metrics-port=9400");

        EnvVar nodeName = agent.getEnv().stream().filter(e -> e.getName().equals("NODE_NAME")).findFirst().orElseThrow();
        assertThat(nodeName.getValue()).isNull();
        assertThat(nodeName.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
    }

    @Test
    void theAgentHearsUeventsFromThePodsOwnNetworkNamespaceAndUnpacksItsNativeLibraryIntoTmp() {
        DaemonSet daemonSet = daemonSet(ChartUnderTest.render());
        PodSpec pod = pod(daemonSet);
        // the kernel sends device uevents into every network namespace of the initial user namespace
        assertThat(pod.getHostNetwork()).as("hostNetwork").isNotEqualTo(Boolean.TRUE);
        assertThat(pod.getHostUsers()).as("hostUsers: false would hide the uevents").isNotEqualTo(Boolean.FALSE);
        List<String> args = agent(daemonSet).getArgs();
        assertThat(args.subList(0, args.indexOf("-jar"))).contains("-Djna.tmpdir=/tmp");
        assertThat(hostPathsByMount(daemonSet)).containsEntry("/tmp", "<emptyDir>");
        assertThat(readOnlyByMount(daemonSet)).containsEntry("/tmp", false);
        for (String values : List.of("binding-off.yaml", "everything-on.yaml")) {
            assertThat(pod(daemonSet(ChartUnderTest.render().values(values))).getHostNetwork()).as(values)
                    .isNotEqualTo(Boolean.TRUE);
        }
    }

    @Test
    void jvmOptionsFromValuesComeBeforeTheJar() {
        Container defaults = agent(daemonSet(ChartUnderTest.render()));
        assertThat(defaults.getArgs().subList(0, defaults.getArgs().indexOf("-jar"))).containsExactly(
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Xms24m", "-Xmx128m",
                "-XX:MinHeapFreeRatio=10", "-XX:MaxHeapFreeRatio=30", "-XX:MaxMetaspaceSize=96m",
                "-XX:ReservedCodeCacheSize=32m", "-XX:MaxDirectMemorySize=32m", "-Xshare:auto",
                "-XX:SharedArchiveFile=/opt/vfio/vfio-node.jsa", "-Xlog:cds=off", "-Xlog:cds+dynamic=off",
                "-Djna.tmpdir=/tmp");

        Container custom = agent(daemonSet(ChartUnderTest.render().values("everything-on.yaml")));
        assertThat(custom.getArgs().subList(0, custom.getArgs().indexOf("-jar")))
                .containsExactly("-Xmx48m", "-XX:+UseSerialGC");
        assertThat(custom.getArgs()).endsWith("--log-level=debug");
    }

    @Test
    void bindingMountsHostSysWritableAndEveryOtherHostDirectoryReadOnly() {
        DaemonSet daemonSet = daemonSet(ChartUnderTest.render());

        assertThat(hostPathsByMount(daemonSet)).containsExactlyInAnyOrderEntriesOf(Map.ofEntries(
                Map.entry("/host/sys", "/sys"),
                Map.entry("/host/dev", "/dev"),
                Map.entry("/host/proc", "/proc"),
                Map.entry("/host/lib/modules", "/lib/modules"),
                Map.entry("/lib/modules", "/lib/modules"),
                Map.entry("/var/lib/vfio-passthrough", "/var/lib/vfio-passthrough"),
                Map.entry("/var/lib/kubelet/device-plugins", "/var/lib/kubelet/device-plugins"),
                Map.entry("/var/lib/kubelet/pod-resources", "/var/lib/kubelet/pod-resources"),
                Map.entry("/var/lib/kubelet/plugins", "/var/lib/kubelet/plugins"),
                Map.entry("/var/lib/kubelet/plugins_registry", "/var/lib/kubelet/plugins_registry"),
                Map.entry("/var/run/cdi", "/var/run/cdi"),
                Map.entry("/tmp", "<emptyDir>")));
        assertThat(readOnlyByMount(daemonSet)).containsExactlyInAnyOrderEntriesOf(Map.ofEntries(
                Map.entry("/host/sys", false),                         // driver_override, unbind, drivers_probe
                Map.entry("/host/dev", true),
                Map.entry("/host/proc", true),
                Map.entry("/host/lib/modules", true),
                Map.entry("/lib/modules", true),
                Map.entry("/var/lib/vfio-passthrough", false),         // the binding journal
                Map.entry("/var/lib/kubelet/device-plugins", false),   // the plugin's sockets
                Map.entry("/var/lib/kubelet/pod-resources", true),
                Map.entry("/var/lib/kubelet/plugins", false),          // the DRA socket, checkpoint, device metadata
                Map.entry("/var/lib/kubelet/plugins_registry", false), // the registration socket
                Map.entry("/var/run/cdi", false),                      // CDI specs of prepared claims
                Map.entry("/tmp", false)));
    }

    @Test
    void bindingRunsPrivilegedWithAReadOnlyRootFilesystemAndTheModprobeCommandAndJournal() {
        Container agent = agent(daemonSet(ChartUnderTest.render()));

        SecurityContext security = agent.getSecurityContext();
        assertThat(security.getPrivileged()).isTrue();
        assertThat(security.getRunAsUser()).isZero();
        assertThat(security.getReadOnlyRootFilesystem()).isTrue();
        assertThat(agent.getArgs())
                .contains("--journal-dir=/var/lib/vfio-passthrough", "--modprobe-command=modprobe")
                .doesNotContain("--no-binding");
    }

    @Test
    void bindingOffMountsSysReadOnlyDropsEveryPrivilegeAndMountsNoJournalOrModulesForModprobe() {
        DaemonSet daemonSet = daemonSet(ChartUnderTest.render().values("binding-off.yaml"));
        Container agent = agent(daemonSet);

        SecurityContext security = agent.getSecurityContext();
        assertThat(security.getPrivileged()).isFalse();
        assertThat(security.getAllowPrivilegeEscalation()).isFalse();
        assertThat(security.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(security.getCapabilities().getAdd()).isEmpty();
        assertThat(security.getReadOnlyRootFilesystem()).isTrue();
        assertThat(security.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");

        Map<String, Boolean> readOnly = readOnlyByMount(daemonSet);
        assertThat(readOnly).doesNotContainKeys("/var/lib/vfio-passthrough", "/lib/modules");
        readOnly.forEach((mount, ro) -> {
            if (java.util.Set.of("/var/lib/kubelet/device-plugins", "/tmp", "/var/lib/kubelet/plugins",
                    "/var/lib/kubelet/plugins_registry", "/var/run/cdi").contains(mount)) {
                assertThat(ro).as(mount).isFalse();
            } else {
                assertThat(ro).as(mount + " is read-only without binding").isTrue();
            }
        });
        assertThat(pod(daemonSet).getVolumes()).extracting(Volume::getName).doesNotContain("binding-journal");
        assertThat(agent.getArgs()).contains("--no-binding")
                .noneMatch(arg -> arg.startsWith("--journal-dir") || arg.startsWith("--modprobe-command"));
    }

    @Test
    void journalDirectoryKubeletDirectoryAndModprobeCommandComeFromValues() {
        DaemonSet daemonSet = daemonSet(ChartUnderTest.render().values("everything-on.yaml"));

        Map<String, String> hostPaths = hostPathsByMount(daemonSet);
        // The host side moves; the paths the agent is given stay the same.
        assertThat(hostPaths).containsEntry("/var/lib/vfio-passthrough", "/var/lib/vfio-journal")
                .containsEntry("/var/lib/kubelet/device-plugins", "/var/lib/k0s/kubelet/device-plugins")
                .containsEntry("/var/lib/kubelet/pod-resources", "/var/lib/k0s/kubelet/pod-resources");
        assertThat(agent(daemonSet).getArgs())
                .contains("--modprobe-command=chroot /host modprobe", "--journal-dir=/var/lib/vfio-passthrough");
        Volume journal = pod(daemonSet).getVolumes().stream()
                .filter(v -> v.getName().equals("binding-journal")).findFirst().orElseThrow();
        assertThat(journal.getHostPath().getType()).isEqualTo("DirectoryOrCreate");
    }

    @Test
    void draMountsTheKubeletsPluginDirectoriesAtTheirHostPathsAndTellsTheAgentWhere() {
        DaemonSet daemonSet = daemonSet(ChartUnderTest.render().values("everything-on.yaml").set("dra.cdiDir", "/run/cdi"));

        // the DRA socket's path is handed to the kubelet: the same path inside and outside
        assertThat(hostPathsByMount(daemonSet))
                .containsEntry("/var/lib/k0s/kubelet/plugins", "/var/lib/k0s/kubelet/plugins")
                .containsEntry("/var/lib/k0s/kubelet/plugins_registry", "/var/lib/k0s/kubelet/plugins_registry")
                .containsEntry("/run/cdi", "/run/cdi");
        assertThat(agent(daemonSet).getArgs()).contains("--kubelet-plugins-dir=/var/lib/k0s/kubelet/plugins",
                "--kubelet-registry-dir=/var/lib/k0s/kubelet/plugins_registry", "--dra-cdi-dir=/run/cdi")
                .doesNotContain("--no-dra");
        assertThat(pod(daemonSet).getVolumes()).filteredOn(v -> List.of("kubelet-plugins", "kubelet-plugins-registry", "cdi")
                .contains(v.getName())).hasSize(3).allSatisfy(v -> assertThat(v.getHostPath().getType())
                .isEqualTo("DirectoryOrCreate"));
    }

    @Test
    void draOffMountsNoKubeletPluginDirectoryAndTurnsDraOffInTheAgent() {
        DaemonSet daemonSet = daemonSet(ChartUnderTest.render().set("dra.enabled", false));

        assertThat(hostPathsByMount(daemonSet)).doesNotContainKeys("/var/lib/kubelet/plugins",
                "/var/lib/kubelet/plugins_registry", "/var/run/cdi");
        assertThat(agent(daemonSet).getArgs()).contains("--no-dra")
                .noneMatch(a -> a.startsWith("--kubelet-plugins-dir") || a.startsWith("--dra-cdi-dir"));
    }

    @Test
    void nodeSelectorTolerationsAndPriorityComeFromValues() {
        PodSpec defaults = pod(daemonSet(ChartUnderTest.render()));
        assertThat(defaults.getNodeSelector()).containsExactly(Map.entry("kubernetes.io/os", "linux"));
        assertThat(defaults.getTolerations()).isEmpty();
        assertThat(defaults.getPriorityClassName()).isEqualTo("system-node-critical");

        PodSpec custom = pod(daemonSet(ChartUnderTest.render().values("everything-on.yaml")));
        assertThat(custom.getNodeSelector()).containsExactlyInAnyOrderEntriesOf(Map.of(
                "kubernetes.io/os", "linux",
                "vfio.example.com/passthrough", "true",
                "feature.node.kubernetes.io/iommu-enabled", "true"));
        assertThat(custom.getTolerations())
                .extracting(Toleration::getKey, Toleration::getOperator, Toleration::getValue, Toleration::getEffect)
                .containsExactly(
                        tuple("nvidia.com/gpu", "Exists", null, "NoSchedule"),
                        tuple("dedicated", "Equal", "vm", "NoExecute"));
        assertThat(custom.getImagePullSecrets()).extracting(s -> s.getName()).containsExactly("lab-registry");
    }

    @Test
    void metricsPortFromValuesReachesTheArgumentTheContainerPortAndTheProbes() {
        Container agent = agent(daemonSet(ChartUnderTest.render().set("node.metricsPort", 19500)));

        assertThat(agent.getArgs()).contains("--metrics-port=19500");
        assertThat(agent.getPorts()).singleElement().satisfies(port -> {
            assertThat(port.getName()).isEqualTo("metrics");
            assertThat(port.getContainerPort()).isEqualTo(19500);
        });
        assertThat(agent.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(agent.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("metrics");
        assertThat(agent.getReadinessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("metrics");
    }

    @Test
    void resourcesComeFromValuesAndCanBeRemoved() {
        Container defaults = agent(daemonSet(ChartUnderTest.render()));
        assertThat(defaults.getResources().getRequests()).containsKeys("cpu", "memory");
        assertThat(defaults.getResources().getLimits()).containsOnlyKeys("memory");

        Container none = agent(daemonSet(ChartUnderTest.render().values("everything-on.yaml")));
        assertThat(Optional.ofNullable(none.getResources()).map(r -> r.getRequests()).orElse(Map.of())).isEmpty();
    }

    @Test
    void podAnnotationsFromValuesLandOnThePodTemplateAndSelectorLabelsMatchIt() {
        DaemonSet daemonSet = daemonSet(ChartUnderTest.render().values("everything-on.yaml"));

        assertThat(daemonSet.getSpec().getTemplate().getMetadata().getAnnotations())
                .containsEntry("example.com/scrape", "yes");
        assertThat(daemonSet.getSpec().getTemplate().getMetadata().getLabels())
                .containsAllEntriesOf(daemonSet.getSpec().getSelector().getMatchLabels());
        assertThat(daemonSet.getSpec().getSelector().getMatchLabels())
                .containsEntry("app.kubernetes.io/component", "node");
    }
}
