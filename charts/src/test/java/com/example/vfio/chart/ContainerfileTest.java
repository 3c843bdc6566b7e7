package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

/** The images must hold what the chart runs: the jar at the path the chart passes to java -jar. */
class ContainerfileTest {

    private static final Pattern ARG = Pattern.compile("(?m)^ARG\\s+(\\w+)=(\\S+)\\s*$");
    private static final Pattern COPY = Pattern.compile("(?m)^COPY\\s+\\$\\{(\\w+)}\\s+(\\S+)\\s*$");

    private static String containerfile(String component) throws IOException {
        return Files.readString(ChartUnderTest.repoRoot().resolve("images").resolve(component).resolve("Containerfile"));
    }

    private record CopiedJar(String buildArg, String source, String destination) {
    }

    private static CopiedJar copiedJar(String containerfile) {
        Matcher copy = COPY.matcher(containerfile);
        assertThat(copy.find()).as("a COPY ${ARG} <destination> line").isTrue();
        Matcher arg = ARG.matcher(containerfile);
        while (arg.find()) {
            if (arg.group(1).equals(copy.group(1))) {
                return new CopiedJar(arg.group(1), arg.group(2), copy.group(2));
            }
        }
        throw new AssertionError("COPY uses ${" + copy.group(1) + "} but no ARG gives it a default");
    }

    private static String jarRunBy(Container container) {
        List<String> args = container.getArgs();
        int jar = args.indexOf("-jar");
        assertThat(jar).as("java -jar in %s", args).isNotNegative();
        return args.get(jar + 1);
    }

    @Test
    void nodeImageHoldsTheJarTheDaemonSetRunsAndKmodForModprobe() throws IOException {
        String containerfile = containerfile("node");
        Container agent = ChartUnderTest.render().objects().one(DaemonSet.class)
                .getSpec().getTemplate().getSpec().getContainers().get(0);

        assertThat(containerfile).containsPattern("(?m)^FROM \\S*eclipse-temurin:17-jre\\s*$");
        assertThat(copiedJar(containerfile).destination()).isEqualTo(jarRunBy(agent));
        assertThat(containerfile).containsPattern("apt-get install -y --no-install-recommends [^\\n]*\\bkmod\\b");
        assertThat(containerfile).containsPattern("apt-get install -y --no-install-recommends [^\\n]*\\bpciutils\\b");
    }

    @Test
    void nodeImageCopiesTheShadedJarTheDevicepluginModuleBuilds() throws Exception {
        String outputFile = pomText("deviceplugin/pom.xml", "outputFile");

        assertThat(outputFile).isEqualTo("${project.build.directory}/vfio-node-all.jar");
        assertThat(copiedJar(containerfile("node")).source()).isEqualTo("deviceplugin/target/vfio-node-all.jar");
    }

    @Test
    void operatorImageCopiesTheShadedJarTheOperatorModuleBuilds() throws Exception {
        String finalName = pomText("operator/pom.xml", "finalName");

        assertThat(copiedJar(containerfile("operator")).source()).isEqualTo("operator/target/" + finalName + ".jar");
    }

    private static String pomText(String pomPath, String element) throws Exception {
        Path pom = ChartUnderTest.repoRoot().resolve(pomPath);
        Document document = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile());
        assertThat(document.getElementsByTagName(element).getLength()).as("<%s> in %s", element, pomPath).isEqualTo(1);
        return document.getElementsByTagName(element).item(0).getTextContent().trim();
    }

    @Test
    void operatorImageHoldsTheJarTheDeploymentRunsAndRunsAsTheChartsNonRootUser() throws IOException {
        String containerfile = containerfile("operator");
        Deployment deployment = ChartUnderTest.render().objects().one(Deployment.class);

        assertThat(containerfile).containsPattern("(?m)^FROM \\S*eclipse-temurin:17-jre\\s*$");
        assertThat(copiedJar(containerfile).destination())
                .isEqualTo(jarRunBy(deployment.getSpec().getTemplate().getSpec().getContainers().get(0)));
        long uid = deployment.getSpec().getTemplate().getSpec().getSecurityContext().getRunAsUser();
        assertThat(containerfile).containsPattern("(?m)^USER " + uid + "(:\\d+)?\\s*$");
    }
}
