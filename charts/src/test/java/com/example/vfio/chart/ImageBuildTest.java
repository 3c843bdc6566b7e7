package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

/**
 * The images images/build makes must be what the chart, rendered by real Helm, pulls and runs: the build's own
 * account of itself ({@code images/build --plan}) against the rendered DaemonSet and Deployment. images/test then
 * starts the built images the same way.
 */
class ImageBuildTest {

    private record Fact(String reference, String what, String value) {
    }

    private static List<Fact> plan;
    private static RenderedChart chart;

    @BeforeAll
    static void askTheBuildAndRenderTheChart() throws IOException, InterruptedException {
        Path build = ChartUnderTest.repoRoot().resolve("images/build");
        Process process = new ProcessBuilder("bash", build.toString(), "--plan").redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("images/build --plan finishes").isTrue();
        assertThat(process.exitValue()).as("images/build --plan exit status; output:%n%s", output).isZero();
        List<Fact> facts = new ArrayList<>();
        for (String line : output.split("\n")) {
            String[] words = line.split(" ", 3);
            assertThat(words).as("plan line '%s'", line).hasSize(3);
            facts.add(new Fact(words[0], words[1], words[2]));
        }
        plan = List.copyOf(facts);
        chart = ChartUnderTest.render().objects();
    }

    private static List<String> planned(String reference, String what) {
        return plan.stream().filter(f -> f.reference().equals(reference) && f.what().equals(what)).map(Fact::value).toList();
    }

    private static PodSpec nodePod() {
        return chart.one(DaemonSet.class).getSpec().getTemplate().getSpec();
    }

    private static PodSpec operatorPod() {
        return chart.one(Deployment.class).getSpec().getTemplate().getSpec();
    }

    private static List<String> commandLine(Container container) {
        List<String> line = new ArrayList<>(container.getCommand());
        line.addAll(container.getArgs());
        return line;
    }

    /** java, the JVM flags, -jar and the jar: what the image's entrypoint must be. */
    private static List<String> javaUpToTheJar(Container container) {
        List<String> line = commandLine(container);
        int jar = line.indexOf("-jar");
        assertThat(jar).as("java -jar in %s", line).isPositive();
        return line.subList(0, jar + 2);
    }

    private static String jarRunBy(Container container) {
        List<String> line = javaUpToTheJar(container);
        return line.get(line.size() - 1);
    }

    @Test
    void theBuildMakesExactlyTheImagesTheChartPullsByDefault() {
        List<String> built = plan.stream().map(Fact::reference).distinct().toList();

        assertThat(built).containsExactlyInAnyOrder(
                nodePod().getContainers().get(0).getImage(), operatorPod().getContainers().get(0).getImage());
    }

    @Test
    void eachImagesEntrypointIsTheCommandTheChartRuns() {
        Container agent = nodePod().getContainers().get(0);
        Container operator = operatorPod().getContainers().get(0);

        assertThat(agent.getCommand()).containsExactly("java");
        assertThat(planned(agent.getImage(), "entrypoint")).isEqualTo(javaUpToTheJar(agent));
        assertThat(planned(operator.getImage(), "entrypoint")).isEqualTo(javaUpToTheJar(operator));
    }

    @Test
    void theNodeImageHoldsTheShadedJarOfTheDevicepluginModuleWhereTheDaemonSetRunsIt() throws Exception {
        Container agent = nodePod().getContainers().get(0);
        String outputFile = pomText("deviceplugin/pom.xml", "outputFile");

        assertThat(outputFile).isEqualTo("${project.build.directory}/vfio-node-all.jar");
        assertThat(planned(agent.getImage(), "file")).contains(jarRunBy(agent) + " deviceplugin/target/vfio-node-all.jar");
    }

    @Test
    void theOperatorImageHoldsTheShadedJarOfTheOperatorModuleWhereTheDeploymentRunsIt() throws Exception {
        Container operator = operatorPod().getContainers().get(0);
        String finalName = pomText("operator/pom.xml", "finalName");

        assertThat(planned(operator.getImage(), "file"))
                .contains(jarRunBy(operator) + " operator/target/" + finalName + ".jar");
    }

    @Test
    void theNodeImageHoldsTheClassDataArchiveTheDaemonSetsFlagsName() {
        Container agent = nodePod().getContainers().get(0);
        String archive = agent.getArgs().stream().filter(a -> a.startsWith("-XX:SharedArchiveFile="))
                .map(a -> a.substring(a.indexOf('=') + 1)).findFirst().orElseThrow();

        assertThat(planned(agent.getImage(), "file")).contains(archive + " class-data archive");
    }

    @Test
    void theNodeImageShipsKmodForTheChartsModprobeCommandAndTheOperatorImageDoesNot() {
        Container agent = nodePod().getContainers().get(0);
        Container operator = operatorPod().getContainers().get(0);

        assertThat(agent.getArgs()).contains("--modprobe-command=modprobe");
        assertThat(planned(agent.getImage(), "package")).anyMatch(p -> p.startsWith("kmod "));
        assertThat(planned(operator.getImage(), "package")).noneMatch(p -> p.startsWith("kmod "))
                .anyMatch(p -> p.startsWith("openjdk-17-jre-headless "));
    }

    @Test
    void theOperatorImageRunsAsTheDeploymentsNonRootUserAndTheNodeImageAsRoot() {
        PodSpec operator = operatorPod();
        long uid = operator.getSecurityContext().getRunAsUser();
        long gid = operator.getSecurityContext().getRunAsGroup();

        assertThat(uid).isNotZero();
        assertThat(planned(operator.getContainers().get(0).getImage(), "user")).containsExactly(uid + ":" + gid);
        assertThat(nodePod().getContainers().get(0).getSecurityContext().getRunAsUser()).isZero();
        assertThat(planned(nodePod().getContainers().get(0).getImage(), "user")).containsExactly("0:0");
    }

    private static String pomText(String pomPath, String element) throws Exception {
        Path pom = ChartUnderTest.repoRoot().resolve(pomPath);
        Document document = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile());
        assertThat(document.getElementsByTagName(element).getLength()).as("<%s> in %s", element, pomPath).isEqualTo(1);
        return document.getElementsByTagName(element).item(0).getTextContent().trim();
    }
}
