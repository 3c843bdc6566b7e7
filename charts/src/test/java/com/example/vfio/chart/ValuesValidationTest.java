package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** values.schema.json and required() turn a wrong value into an install error that names it. */
class ValuesValidationTest {

    @Test
    void misspeltKeyIsRejectedByName() {
        assertThatThrownBy(() -> ChartUnderTest.render().set("node.bindng.enabled", false).yaml())
                .hasMessageContaining("bindng");
    }

    @Test
    void metricsPortOutsideTheTcpRangeIsRejected() {
        assertThatThrownBy(() -> ChartUnderTest.render().set("node.metricsPort", 70000).yaml())
                .hasMessageContaining("metricsPort");
    }

    @Test
    void unknownPullPolicyIsRejected() {
        assertThatThrownBy(() -> ChartUnderTest.render().set("operator.image.pullPolicy", "Sometimes").yaml())
                .hasMessageContaining("pullPolicy");
    }

    @Test
    void relativeKubeletDirectoryIsRejected() {
        assertThatThrownBy(() -> ChartUnderTest.render().set("node.kubeletDir", "var/lib/kubelet").yaml())
                .hasMessageContaining("kubeletDir");
    }

    @Test
    void bindingFlagMustBeABoolean() {
        assertThatThrownBy(() -> ChartUnderTest.render().set("node.binding.enabled", "yes please").yaml())
                .hasMessageContaining("enabled");
    }

    @Test
    void malformedDigestIsRejected() {
        assertThatThrownBy(() -> ChartUnderTest.render().set("node.image.digest", "sha256:xyz").yaml())
                .hasMessageContaining("digest");
    }

    @Test
    void kubevirtResourceOutsideThePluginsDomainIsRejected() {
        assertThatThrownBy(() -> ChartUnderTest.render()
                .set("kubevirt.pciHostDevices[0].pciVendorSelector", "10DE:2236")
                .set("kubevirt.pciHostDevices[0].resourceName", "nvidia.com/GA102").yaml())
                .hasMessageContaining("resourceName");
    }

    @Test
    void existingServiceAccountWithoutANameIsRejectedWithTheFix() {
        assertThatThrownBy(() -> ChartUnderTest.render().set("node.serviceAccount.create", false).yaml())
                .hasMessageContaining("node.serviceAccount.name must name an existing ServiceAccount");
    }
}
