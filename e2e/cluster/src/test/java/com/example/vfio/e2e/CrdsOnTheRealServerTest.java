package com.example.vfio.e2e;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.StatusCause;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.FieldValidateable;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvFileSource;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

/** The checked-in CRDs on the real API server: installed, Established, enforcing their schema and CEL rules. */
@ExtendWith(RealCluster.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CrdsOnTheRealServerTest {
    private static final Pattern YAML_BLOCK = Pattern.compile("(?s)```yaml\\n(.*?)```");
    /** The policy crds' CrdSchemaValidationTest edits too, under a name of this suite's own. */
    private static final String POLICY = Crds.read(Crds.repo().resolve("crds/src/test/resources/policy-edits/base.yaml"))
            .replace("name: gpus", "name: crd-check");

    private KubernetesClient client;

    @BeforeAll
    void installCrds(ControlPlane cluster) {
        client = cluster.admin();
        Crds.install(client);
    }

    @Test
    @DisplayName("CRDs: crds/*.yml are accepted by kube-apiserver (every CEL rule compiles within its cost budget) and become Established")
    void the_crds_install_and_become_established() {
        for (String name : Crds.NAMES) {
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                CustomResourceDefinition crd = client.apiextensions().v1().customResourceDefinitions().withName(name).get();
                assertThat(crd.getStatus().getConditions())
                        .extracting(CustomResourceDefinitionCondition::getType, CustomResourceDefinitionCondition::getStatus)
                        .contains(org.assertj.core.groups.Tuple.tuple("Established", "True"),
                                org.assertj.core.groups.Tuple.tuple("NamesAccepted", "True"));
            });
        }
        assertThat(Crds.celRuleCount()).as("CEL rules in the checked-in CRDs").isGreaterThanOrEqualTo(3);
    }

    @ParameterizedTest(name = "{0}")
    @DisplayName("CRDs: kube-apiserver refuses an invalid VfioBindingPolicy, naming the field")
    @CsvSource(delimiter = '|', textBlock = """
            upper-case PCI address                | addresses: ["0000:41:00.0"] | addresses: ["0000:4A:00.0"]     | spec.selector.addresses[0] | should match
            PCI function above 7                  | addresses: ["0000:41:00.0"] | addresses: ["0000:41:00.8"]     | spec.selector.addresses[0] | should match
            vendor id of three digits             | vendors: ["10de"]           | vendors: ["10d"]                | spec.selector.vendors[0]   | should match
            vendor name instead of an id          | vendors: ["10de"]           | vendors: ["nvidia"]             | spec.selector.vendors[0]   | should match
            class of three digits                 | classes: ["0302"]           | classes: ["030"]                | spec.selector.classes[0]   | should match
            driver with a path in it              | resourceName: gpu           | resourceName: gpu\\n  driver: ../../unbind | spec.driver     | should match
            driver selector with a slash          | drivers: ["nouveau"]        | drivers: ["nou/veau"]           | spec.selector.drivers[0]   | should match
            resourceName not a DNS label          | resourceName: gpu           | resourceName: GPU               | spec.resourceName          | should match
            resourceName longer than a DNS label  | resourceName: gpu           | resourceName: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | spec.resourceName | should match
            priority above the bound              | resourceName: gpu           | resourceName: gpu\\n  priority: 1001  | spec.priority        | less than or equal to 1000
            priority below the bound              | resourceName: gpu           | resourceName: gpu\\n  priority: -1001 | spec.priority        | greater than or equal to -1000
            companions not in the enum            | resourceName: gpu           | resourceName: gpu\\n  companions: bind | spec.companions     | Unsupported value
            allocationUnit not in the enum        | resourceName: gpu           | resourceName: gpu\\n  allocationUnit: Node | spec.allocationUnit | Unsupported value
            empty vendor list                     | vendors: ["10de"]           | vendors: []                     | spec.selector.vendors      | at least 1 item
            unknown spec field                    | resourceName: gpu           | resourceName: gpu\\n  priorty: 3 | spec.priorty              | unknown field
            empty selector (CEL rule)             | vendors: ["10de"]\\n    classes: ["0302"]\\n    addresses: ["0000:41:00.0"]\\n    drivers: ["nouveau"] | {} | spec.selector | selector must name at least one of vendors, devices, classes, addresses, drivers
            no resourceName for a VFIO driver (CEL rule) | resourceName: gpu    | driver: vfio-pci                | spec.resourceName          | resourceName is required unless driver is host
            """)
    void an_invalid_policy_is_refused_with_the_field_path(String scenario, String from, String to, String field, String message) {
        String yaml = POLICY.replace(from.replace("\\n", "\n"), to.replace("\\n", "\n"));
        assertThat(yaml).as("the mutation applies").isNotEqualTo(POLICY);
        GenericKubernetesResource policy = Serialization.unmarshal(yaml, GenericKubernetesResource.class);

        KubernetesClientException refused = catchThrowableOfType(KubernetesClientException.class,
                () -> client.resource(policy).fieldValidation(FieldValidateable.Validation.STRICT).create());

        assertThat(refused).as(scenario + ": refused").isNotNull();
        assertThat(refused.getCode()).as(scenario + ": " + refused.getMessage()).isIn(400, 422);
        assertThat(refused.getMessage()).as(scenario).contains(field).contains(message);
        List<StatusCause> causes = refused.getStatus() == null || refused.getStatus().getDetails() == null
                ? List.of() : refused.getStatus().getDetails().getCauses();
        if (refused.getCode() == 422) {
            assertThat(causes).as(scenario + ": the refusal names the field").extracting(StatusCause::getField).contains(field);
        }
    }

    @ParameterizedTest(name = "{0}")
    @DisplayName("CRDs: kube-apiserver accepts what an admin reaches by one edit of a working policy")
    @CsvFileSource(files = "../../crds/src/test/resources/policy-edits/accepted.psv", delimiter = '|')
    void a_natural_edit_of_a_working_policy_is_accepted(String scenario, String from, String to) {
        String yaml = POLICY.replace(from, to.replace("\\n", "\n"));
        assertThat(yaml).as("the edit applies").isNotEqualTo(POLICY);
        client.resource(Serialization.unmarshal(yaml, GenericKubernetesResource.class))
                .dryRun().fieldValidation(FieldValidateable.Validation.STRICT).create();
    }

    @Test
    @DisplayName("CRDs: a VfioNodeState spec with a device without resourceName is refused (CEL rule)")
    void node_state_spec_rules_hold_on_the_server() {
        String base = """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioNodeState
                metadata: {name: crd-check-node}
                spec:
                  devices:
                  - {address: "0000:41:00.0", driver: auto, resourceName: gpu, policy: gpus}
                  - {address: "0000:41:00.1", driver: vfio-pci, policy: gpus, companionOf: "0000:41:00.0"}
                  - {address: "0000:05:00.0", driver: host, policy: old}
                """;
        // spec.devices is an atomic list (the operator applies it whole), not a list-map keyed by address: a repeated
        // address is the node agent's to refuse (ClusterModeTest)
        String noResource = base.replace("resourceName: gpu, ", "");
        assertThat(refusal(noResource)).contains("spec.devices[0].resourceName")
                .contains("resourceName is required unless driver is host or the device is a companion");

        HasMetadata created = client.resource(Serialization.unmarshal(base, GenericKubernetesResource.class)).create();
        client.resource(created).delete();
    }

    @Test
    @DisplayName("CRDs: status is a subresource: a spec written through /status is ignored, and status written with the object is dropped")
    void status_is_a_subresource() {
        GenericKubernetesResource state = Serialization.unmarshal("""
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioNodeState
                metadata: {name: crd-check-status}
                spec:
                  devices:
                  - {address: "0000:41:00.0", driver: auto, resourceName: gpu, policy: gpus}
                status:
                  syncStatus: Succeeded
                """, GenericKubernetesResource.class);
        GenericKubernetesResource created = client.resource(state).create();
        assertThat(created.getAdditionalProperties()).as("status sent with create is dropped").doesNotContainKey("status");

        @SuppressWarnings("unchecked")
        Map<String, Object> spec = (Map<String, Object>) created.getAdditionalProperties().get("spec");
        GenericKubernetesResource viaStatus = Serialization.clone(created);
        viaStatus.getAdditionalProperties().put("spec", Map.of("devices", List.of()));
        viaStatus.getAdditionalProperties().put("status", Map.of("syncStatus", "Succeeded"));
        GenericKubernetesResource after = client.resource(viaStatus).updateStatus();

        assertThat(after.getAdditionalProperties().get("spec")).as("spec unchanged by a status write").isEqualTo(spec);
        assertThat(after.getAdditionalProperties().get("status")).isEqualTo(Map.of("syncStatus", "Succeeded"));
        client.resource(after).delete();
    }

    @Test
    @DisplayName("CRDs: every example shipped (examples/policies/*.yaml, each object in a YAML block of docs/) is accepted by kube-apiserver (server-side dry run, strict field validation)")
    void every_shipped_example_is_accepted() throws IOException {
        List<String> checked = new ArrayList<>();
        List<String> notServed = new ArrayList<>();
        for (Path file : files(Crds.repo().resolve("examples/policies"), ".yaml")) {
            for (HasMetadata object : client.load(Files.newInputStream(file)).items()) {
                accepted(object, file.getFileName().toString(), checked);
            }
        }
        for (Path file : files(Crds.repo().resolve("docs"), ".md")) {
            Matcher block = YAML_BLOCK.matcher(Files.readString(file));
            while (block.find()) {
                Map<?, ?> doc = Serialization.unmarshal(block.group(1), Map.class);
                if (doc == null || !doc.containsKey("apiVersion") || !doc.containsKey("kind")) {
                    continue; // a fragment (chart values, part of a KubeVirt CR), not an object
                }
                GenericKubernetesResource object = Serialization.unmarshal(block.group(1), GenericKubernetesResource.class);
                if (!served(object.getApiVersion())) {
                    notServed.add(object.getApiVersion() + " " + object.getKind() + " (" + file.getFileName() + ")");
                    continue;
                }
                if (object.getMetadata().getNamespace() == null && namespaced(object)) {
                    object.getMetadata().setNamespace("default");
                }
                runtimeClassOf(object, checked);
                accepted(object, file.getFileName().toString(), checked);
            }
        }
        assertThat(checked).as("objects checked").anyMatch(s -> s.contains("examples")).anyMatch(s -> s.contains(".md"));
        CheckReport.note("accepted: " + String.join(", ", checked)
                + (notServed.isEmpty() ? "" : "; API not installed here, not checked: " + String.join(", ", notServed)));
    }

    /** A Pod for Kata names Kata's RuntimeClass, which Kata's installer creates: create it as that installer would. */
    private void runtimeClassOf(GenericKubernetesResource object, List<String> checked) {
        if (!object.getKind().equals("Pod")) {
            return;
        }
        Object handler = ((Map<?, ?>) object.getAdditionalProperties().get("spec")).get("runtimeClassName");
        if (handler != null && client.resources(io.fabric8.kubernetes.api.model.node.v1.RuntimeClass.class).withName(handler.toString()).get() == null) {
            client.resource(new io.fabric8.kubernetes.api.model.node.v1.RuntimeClassBuilder()
                    .withNewMetadata().withName(handler.toString()).endMetadata().withHandler(handler.toString()).build()).create();
            checked.add("RuntimeClass " + handler + " (as Kata's installer makes it)");
        }
    }

    private void accepted(HasMetadata object, String source, List<String> checked) {
        client.resource(object).dryRun().fieldValidation(FieldValidateable.Validation.STRICT).create();
        checked.add(object.getKind() + " " + object.getMetadata().getName() + " (" + (source.endsWith(".md") ? source : "examples/" + source) + ")");
    }

    private boolean served(String apiVersion) {
        if (!apiVersion.contains("/")) {
            return true;
        }
        return client.getApiGroups().getGroups().stream()
                .flatMap(g -> g.getVersions().stream())
                .anyMatch(v -> v.getGroupVersion().equals(apiVersion));
    }

    private boolean namespaced(GenericKubernetesResource object) {
        String group = object.getApiVersion().contains("/") ? object.getApiVersion().substring(0, object.getApiVersion().indexOf('/')) : "";
        return !group.equals("vfio.example.com");
    }

    private String refusal(String yaml) {
        KubernetesClientException e = catchThrowableOfType(KubernetesClientException.class,
                () -> client.resource(Serialization.unmarshal(yaml, GenericKubernetesResource.class))
                        .fieldValidation(FieldValidateable.Validation.STRICT).create());
        assertThat(e).as("refused").isNotNull();
        return e.getMessage();
    }

    private static List<Path> files(Path dir, String suffix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.toString().endsWith(suffix)).sorted().toList();
        }
    }
}
