package com.example.vfio.chart;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The chart directory and the repository around it, and one way to render the chart with real Helm.
 * Surefire passes both directories as system properties (see charts/pom.xml).
 */
public final class ChartUnderTest {

    public static final String RELEASE = "vfio";
    public static final String NAMESPACE = "vfio-system";

    private ChartUnderTest() {
    }

    public static Path chartDir() {
        return existingDir("vfio.chart.dir");
    }

    public static Path repoRoot() {
        return existingDir("vfio.repo.root");
    }

    public static Path valuesFile(String name) {
        Path file = chartDir().resolveSibling("src/test/resources/values").resolve(name);
        if (!Files.isRegularFile(file)) {
            throw new IllegalStateException("test values file missing: " + file);
        }
        return file;
    }

    public static Helm helm() {
        return new Helm(chartDir());
    }

    /** Starts a render of the release {@value #RELEASE} in namespace {@value #NAMESPACE}. */
    public static Render render() {
        return new Render();
    }

    public static final class Render {
        private String release = RELEASE;
        private String namespace = NAMESPACE;
        private Path valuesFile;
        private final Map<String, Object> sets = new LinkedHashMap<>();

        public Render release(String name) {
            this.release = name;
            return this;
        }

        public Render namespace(String name) {
            this.namespace = name;
            return this;
        }

        public Render values(String testValuesFile) {
            this.valuesFile = valuesFile(testValuesFile);
            return this;
        }

        /** Values from any file, e.g. a block of docs/install.md. */
        public Render values(Path file) {
            this.valuesFile = file;
            return this;
        }

        public Render set(String key, Object value) {
            sets.put(key, value);
            return this;
        }

        /** The raw multi-document YAML Helm produced. Throws when Helm refuses the values. */
        public String yaml() {
            TemplateCommand template = helm().template().withName(release).withNamespace(namespace);
            if (valuesFile != null) {
                template.withValuesFile(valuesFile);
            }
            sets.forEach(template::set);
            return template.call();
        }

        public RenderedChart objects() {
            return RenderedChart.parse(yaml());
        }
    }

    private static Path existingDir(String property) {
        String value = System.getProperty(property);
        if (value == null) {
            throw new IllegalStateException("system property " + property + " is not set; run the tests through Maven");
        }
        Path dir = Paths.get(value).toAbsolutePath().normalize();
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException(property + " points at " + dir + ", which is not a directory");
        }
        return dir;
    }
}
