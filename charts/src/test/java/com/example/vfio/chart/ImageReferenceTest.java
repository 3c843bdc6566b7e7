package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import org.junit.jupiter.api.Test;

class ImageReferenceTest {

    private static Container operator(RenderedChart chart) {
        return chart.one(Deployment.class).getSpec().getTemplate().getSpec().getContainers().get(0);
    }

    private static Container node(RenderedChart chart) {
        return chart.one(DaemonSet.class).getSpec().getTemplate().getSpec().getContainers().get(0);
    }

    @Test
    void imagesDefaultToTheChartsAppVersion() {
        RenderedChart chart = ChartUnderTest.render().objects();

        assertThat(operator(chart).getImage()).isEqualTo("vfio-operator:0.1.0");
        assertThat(node(chart).getImage()).isEqualTo("vfio-node:0.1.0");
        assertThat(operator(chart).getImagePullPolicy()).isEqualTo("IfNotPresent");
        assertThat(node(chart).getImagePullPolicy()).isEqualTo("IfNotPresent");
    }

    @Test
    void registryRepositoryTagAndPullPolicyComeFromValues() {
        RenderedChart chart = ChartUnderTest.render()
                .set("node.image.registry", "registry.example.com:5000/team")
                .set("node.image.repository", "vfio-node")
                .set("node.image.tag", "2026.11.1")
                .set("node.image.pullPolicy", "Always")
                .objects();

        assertThat(node(chart).getImage()).isEqualTo("registry.example.com:5000/team/vfio-node:2026.11.1");
        assertThat(node(chart).getImagePullPolicy()).isEqualTo("Always");
        assertThat(operator(chart).getImage()).isEqualTo("vfio-operator:0.1.0");
    }

    @Test
    void aDigestWinsOverTheTagAndTheGlobalRegistryFillsInWhereTheImageHasNone() {
        RenderedChart chart = ChartUnderTest.render().values("everything-on.yaml").objects();

        assertThat(node(chart).getImage()).isEqualTo("registry.global.example:5000/global/vfio/node"
                + "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        // The operator's own registry wins over the global one; its trailing slash is dropped.
        assertThat(operator(chart).getImage()).isEqualTo("registry.example.com/vfio/operator-build:2.3.4-rc.1");
        assertThat(operator(chart).getImagePullPolicy()).isEqualTo("Always");
    }
}
