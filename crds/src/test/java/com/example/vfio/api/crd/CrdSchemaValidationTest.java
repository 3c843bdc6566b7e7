package com.example.vfio.api.crd;

import com.example.vfio.planning.PolicyDocuments;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvFileSource;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The checked-in CRD schemas refuse what they must, the way an API server applies them (defaults, structure, CEL),
 * and the standalone daemon's PolicyDocuments refuses the same documents.
 */
class CrdSchemaValidationTest {
    private static final YAMLMapper YAML = new YAMLMapper();
    private final SchemaValidator validator = new SchemaValidator();

    /** The policy every edit below starts from; the real-cluster suite edits the same one (e2e/cluster). */
    private static final String POLICY = resource("/policy-edits/base.yaml");

    private static String resource(String name) {
        try (var in = CrdSchemaValidationTest.class.getResourceAsStream(name)) {
            return new String(java.util.Objects.requireNonNull(in, name).readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static JSONSchemaProps schema(String file) throws IOException {
        CustomResourceDefinition crd = Serialization.unmarshal(Files.readString(CrdYamlTest.CHECKED_IN.resolve(file)), CustomResourceDefinition.class);
        return crd.getSpec().getVersions().get(0).getSchema().getOpenAPIV3Schema();
    }

    @SuppressWarnings("unchecked")
    private List<String> validatePolicy(String yaml, Map<String, Object>[] defaulted) throws IOException {
        Map<String, Object> object = YAML.readValue(yaml, Map.class);
        List<String> errors = validator.validate(schema("vfiobindingpolicies.vfio.example.com-v1.yml"), object);
        if (defaulted != null) {
            defaulted[0] = object;
        }
        return errors;
    }

    @Test
    @SuppressWarnings("unchecked")
    void a_valid_policy_is_accepted_and_gets_the_documented_defaults() throws IOException {
        Map<String, Object>[] out = new Map[1];
        assertThat(validatePolicy(POLICY, out)).isEmpty();
        Map<String, Object> spec = (Map<String, Object>) out[0].get("spec");
        assertThat(spec).containsEntry("driver", "auto").containsEntry("managed", true).containsEntry("companions", "Ignore")
                .containsEntry("allocationUnit", "Device").containsEntry("priority", 0L).containsEntry("force", false);
        assertThat(PolicyDocuments.parse(POLICY)).hasSize(1);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            uppercase PCI address                  | addresses: ["0000:41:00.0"]      | addresses: ["0000:4A:00.0"]      | spec.selector.addresses[0]: '0000:4A:00.0' does not match
            PCI function above 7                   | addresses: ["0000:41:00.0"]      | addresses: ["0000:41:00.8"]      | spec.selector.addresses[0]: '0000:41:00.8' does not match
            vendor id of three digits              | vendors: ["10de"]                | vendors: ["10d"]                 | spec.selector.vendors[0]: '10d' does not match
            vendor name instead of id              | vendors: ["10de"]                | vendors: ["nvidia"]              | spec.selector.vendors[0]: 'nvidia' does not match
            class of three digits                  | classes: ["0302"]                | classes: ["030"]                 | spec.selector.classes[0]: '030' does not match
            driver with a path in it               | resourceName: gpu                | resourceName: gpu\\n  driver: ../../unbind | spec.driver: '../../unbind' does not match
            driver selector with a slash           | drivers: ["nouveau"]             | drivers: ["nou/veau"]            | spec.selector.drivers[0]: 'nou/veau' does not match
            resource name with upper case          | resourceName: gpu                | resourceName: GPU                | spec.resourceName: 'GPU' does not match
            resource name longer than a label      | resourceName: gpu                | resourceName: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa | spec.resourceName: 'aaaa
            priority above the bound               | resourceName: gpu                | resourceName: gpu\\n  priority: 1001 | spec.priority: 1001 is greater than the maximum 1000
            priority below the bound               | resourceName: gpu                | resourceName: gpu\\n  priority: -1001 | spec.priority: -1001 is less than the minimum -1000
            companions not in the enum             | resourceName: gpu                | resourceName: gpu\\n  companions: bind | spec.companions: Unsupported value: 'bind'
            allocation unit not in the enum        | resourceName: gpu                | resourceName: gpu\\n  allocationUnit: Node | spec.allocationUnit: Unsupported value: 'Node'
            empty vendor list                      | vendors: ["10de"]                | vendors: []                      | spec.selector.vendors: must have at least 1 item(s)
            unknown spec field                     | resourceName: gpu                | resourceName: gpu\\n  priorty: 3  | spec.priorty: unknown field
            no resource name for a VFIO driver     | resourceName: gpu                | driver: vfio-pci                 | spec.resourceName: resourceName is required unless driver is host
            """)
    void schema_and_standalone_parser_both_refuse(String scenario, String from, String to, String expected) throws IOException {
        String yaml = POLICY.replace(from, to.replace("\\n", "\n"));
        assertThat(yaml).as("the mutation applies").isNotEqualTo(POLICY);

        assertThat(validatePolicy(yaml, null)).as(scenario).anySatisfy(e -> assertThat(e).startsWith(expected));
        assertThatThrownBy(() -> PolicyDocuments.parse(yaml)).as(scenario).isInstanceOf(PolicyDocuments.InvalidPolicyException.class);
    }

    @Test
    void a_selector_naming_no_list_is_refused_by_its_cel_rule() throws IOException {
        String yaml = POLICY.replaceAll("(?s)  selector:\n.*?  resourceName", "  selector: {}\n  resourceName");

        assertThat(validatePolicy(yaml, null))
                .containsExactly("spec.selector: selector must name at least one of vendors, devices, classes, addresses, drivers");
        assertThatThrownBy(() -> PolicyDocuments.parse(yaml)).hasMessageContaining("spec.selector: must name at least one of");
    }

    /** What an admin reaches by editing one line of a working policy is accepted wherever it means something. */
    @ParameterizedTest(name = "{0}")
    @CsvFileSource(resources = "/policy-edits/accepted.psv", delimiter = '|')
    void schema_and_standalone_parser_both_accept(String scenario, String from, String to) throws IOException {
        String yaml = POLICY.replace(from, to.replace("\\n", "\n"));
        assertThat(yaml).as("the mutation applies").isNotEqualTo(POLICY);

        assertThat(validatePolicy(yaml, null)).as(scenario).isEmpty();
        assertThat(PolicyDocuments.parse(yaml)).as(scenario).hasSize(1);
    }

    @Test
    void host_policy_needs_no_resource_name() throws IOException {
        String yaml = POLICY.replace("resourceName: gpu", "driver: host");
        assertThat(validatePolicy(yaml, null)).isEmpty();
        assertThat(PolicyDocuments.parse(yaml)).hasSize(1);
    }

    @Test
    @SuppressWarnings("unchecked")
    void node_state_spec_lists_each_address_once_and_only_host_or_companions_go_without_a_resource() throws IOException {
        JSONSchemaProps nodeState = schema("vfionodestates.vfio.example.com-v1.yml");
        String base = """
                apiVersion: vfio.example.com/v1alpha1
                kind: VfioNodeState
                metadata: {name: gpu-1}
                spec:
                  devices:
                  - {address: "0000:41:00.0", driver: auto, resourceName: gpu, policy: gpus}
                  - {address: "0000:41:00.1", driver: vfio-pci, policy: gpus, companionOf: "0000:41:00.0"}
                  - {address: "0000:05:00.0", driver: host, policy: old}
                status:
                  syncStatus: Succeeded
                  devices:
                  - "0000:41:00.0 10de:2342 030200 vfio-pci vfio group=14 resource=gpu health=Unhealthy"
                  problems:
                  - {address: "0000:41:00.0", reasons: ["group 14 is not viable: 0000:41:00.1 is on snd_hda_intel (see groups)"]}
                  conditions:
                  - {type: Ready, status: "True", reason: Synced, message: "", lastTransitionTime: "2026-01-01T00:00:00Z"}
                """;
        assertThat(validator.validate(nodeState, YAML.readValue(base, Map.class))).isEmpty();

        String duplicate = base.replace("0000:05:00.0", "0000:41:00.0");
        assertThat(validator.validate(nodeState, YAML.readValue(duplicate, Map.class)))
                .as("spec.devices is atomic, not a list-map: the node agent refuses a repeated address").isEmpty();

        String noResource = base.replace("resourceName: gpu, ", "");
        assertThat(validator.validate(nodeState, YAML.readValue(noResource, Map.class)))
                .containsExactly("spec.devices[0].resourceName: resourceName is required unless driver is host or the device is a companion");

        String objectDevice = base.replace("- \"0000:41:00.0 10de:2342 030200 vfio-pci vfio group=14 resource=gpu health=Unhealthy\"",
                "- {address: \"0000:41:00.0\", driver: vfio-pci}");
        assertThat(validator.validate(nodeState, YAML.readValue(objectDevice, Map.class)))
                .containsExactly("status.devices[0]: must be a string");

        String twoProblemEntries = base.replace("  problems:\n", "  problems:\n  - {address: \"0000:41:00.0\", reasons: [x]}\n");
        assertThat(validator.validate(nodeState, YAML.readValue(twoProblemEntries, Map.class)))
                .containsExactly("status.problems: Duplicate value: [0000:41:00.0]");

        String twoReadyConditions = base.replace("  conditions:\n", "  conditions:\n  - {type: Ready, status: \"False\", reason: X, message: \"\", lastTransitionTime: \"2026-01-01T00:00:00Z\"}\n");
        assertThat(validator.validate(nodeState, YAML.readValue(twoReadyConditions, Map.class)))
                .containsExactly("status.conditions: Duplicate value: [Ready]");

        String badSync = base.replace("syncStatus: Succeeded", "syncStatus: Done");
        assertThat(validator.validate(nodeState, YAML.readValue(badSync, Map.class)))
                .singleElement().asString().startsWith("status.syncStatus: Unsupported value: 'Done'");
    }

    @Test
    void printer_columns_answer_the_admins_questions_in_order() throws IOException {
        CustomResourceDefinition vbp = Serialization.unmarshal(Files.readString(CrdYamlTest.CHECKED_IN.resolve("vfiobindingpolicies.vfio.example.com-v1.yml")), CustomResourceDefinition.class);
        CustomResourceDefinition vns = Serialization.unmarshal(Files.readString(CrdYamlTest.CHECKED_IN.resolve("vfionodestates.vfio.example.com-v1.yml")), CustomResourceDefinition.class);

        assertThat(vbp.getSpec().getScope()).isEqualTo("Cluster");
        assertThat(vbp.getSpec().getNames().getShortNames()).containsExactly("vbp");
        assertThat(vns.getSpec().getNames().getShortNames()).containsExactly("vns");
        assertThat(vbp.getSpec().getVersions().get(0).getAdditionalPrinterColumns())
                .extracting(c -> c.getName() + "=" + c.getJsonPath())
                .containsExactly("Ready=.status.conditions[?(@.type==\"Ready\")].status", "Nodes=.status.nodes", "Devices=.status.devices",
                        "Age=.metadata.creationTimestamp");
        assertThat(vns.getSpec().getVersions().get(0).getAdditionalPrinterColumns())
                .extracting(c -> c.getName() + "=" + c.getJsonPath())
                .containsExactly("Sync=.status.syncStatus", "Devices=.status.deviceCount", "Viable=.status.viableCount",
                        "Published=.status.publishedCount", "Age=.metadata.creationTimestamp");
        assertThat(vbp.getSpec().getVersions().get(0).getSubresources().getStatus()).isNotNull();
        assertThat(vns.getSpec().getVersions().get(0).getSubresources().getStatus()).isNotNull();
    }
}
