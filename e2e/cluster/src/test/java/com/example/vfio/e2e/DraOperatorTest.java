package com.example.vfio.e2e;

import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.PublishWith;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicySpec;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.resource.v1.DeviceClass;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The operator (the built jar) makes the DeviceClass of a DRA resource on the real kube-apiserver, and removes it. */
@ExtendWith(RealCluster.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DraOperatorTest {
    KubernetesClient client;
    Process operator;
    Path log;

    @BeforeAll
    void start(ControlPlane cluster) throws IOException {
        client = cluster.admin();
        Crds.install(client);
        Path dir = RealCluster.workDir("dra-operator");
        Path jar = Path.of(System.getProperty("vfio.operator.jar", "../../operator/target/vfio-operator.jar"));
        log = dir.resolve("operator.log");
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx192m", "-jar", jar.toAbsolutePath().toString())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("KUBECONFIG", cluster.writeKubeconfig(dir.resolve("kubeconfig")).toString());
        pb.environment().put("HEALTH_PORT", "-1");
        operator = pb.start();
        Runtime.getRuntime().addShutdownHook(new Thread(operator::destroyForcibly));
    }

    @AfterAll
    void stop() throws InterruptedException {
        if (operator != null) {
            operator.destroy();
            if (!operator.waitFor(20, TimeUnit.SECONDS)) {
                operator.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    String operatorLog() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "";
        }
    }

    @Test
    @DisplayName("DRA: the operator makes the DeviceClass of a resource a policy publishes with publishWith: DRA (extendedResourceName vfio.example.com/<name>), kube-apiserver accepts it, and it goes with the policy")
    void the_operator_owns_the_device_class_of_a_dra_resource() {
        VfioBindingPolicy policy = new VfioBindingPolicy();
        policy.setMetadata(new ObjectMetaBuilder().withName("dra-operator-check").build());
        VfioBindingPolicySpec spec = new VfioBindingPolicySpec();
        spec.setNodeSelector(new LabelSelectorBuilder().addToMatchLabels("vfio-e2e", "no-such-node").build());
        spec.setSelector(DeviceSelector.of().withVendors("10de"));
        spec.setResourceName("e2e-gpu");
        spec.setPublishWith(PublishWith.DRA);
        policy.setSpec(spec);
        client.resource(policy).create();

        try {
            await().atMost(Duration.ofSeconds(120)).until(() -> client.resources(DeviceClass.class)
                    .withName("e2e-gpu.vfio.example.com").get() != null);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("no DeviceClass; operator log:\n" + operatorLog().lines().skip(Math.max(0,
                    operatorLog().lines().count() - 20)).reduce("", (a, b) -> a + b + "\n"), e);
        }
        DeviceClass c = client.resources(DeviceClass.class).withName("e2e-gpu.vfio.example.com").get();
        assertThat(c.getSpec().getExtendedResourceName()).isEqualTo("vfio.example.com/e2e-gpu");
        assertThat(c.getMetadata().getLabels()).containsEntry("app.kubernetes.io/managed-by", "vfio-operator");

        client.resources(VfioBindingPolicy.class).withName("dra-operator-check").delete();
        await().atMost(Duration.ofSeconds(120)).until(() -> client.resources(DeviceClass.class)
                .withName("e2e-gpu.vfio.example.com").get() == null);
        assertThat(operatorLog()).contains("created DeviceClass e2e-gpu.vfio.example.com")
                .contains("deleted DeviceClass e2e-gpu.vfio.example.com");
        assertThat(List.of(operator.isAlive())).containsExactly(true);
    }
}
