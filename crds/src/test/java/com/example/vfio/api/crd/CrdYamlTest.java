package com.example.vfio.api.crd;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * The CRD YAML under crds/ at the repository root (this module's directory) is exactly what the generator makes from
 * the Java types. Refresh it with {@code mvn -B -pl crds test -Dtest=CrdYamlTest -Dcrds.update=true}.
 */
class CrdYamlTest {
    static final Path CHECKED_IN = Path.of(System.getProperty("crds.dir", "."));

    @Test
    void checked_in_crd_yaml_is_what_the_generator_makes_from_the_java_types(@TempDir Path out) throws IOException {
        Map<String, String> generated = CrdGeneration.generate(out);
        assertThat(generated).containsOnlyKeys("vfiobindingpolicies.vfio.example.com-v1.yml", "vfionodestates.vfio.example.com-v1.yml");
        boolean update = Boolean.getBoolean("crds.update");
        for (Map.Entry<String, String> e : generated.entrySet()) {
            Path file = CHECKED_IN.resolve(e.getKey());
            if (update) {
                Files.writeString(file, e.getValue(), StandardCharsets.UTF_8);
                continue;
            }
            if (!Files.exists(file)) {
                fail(file.toAbsolutePath() + " is missing; generate it with: mvn -B -pl crds test -Dtest=CrdYamlTest -Dcrds.update=true");
            }
            assertThat(Files.readString(file, StandardCharsets.UTF_8))
                    .as(file.toAbsolutePath() + " differs from the CRD generated from the Java types; if the change is intended, refresh it with: "
                            + "mvn -B -pl crds test -Dtest=CrdYamlTest -Dcrds.update=true")
                    .isEqualTo(e.getValue());
        }
    }
}
