package com.example.vfio.chart;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.DryRun;
import com.marcnuri.helm.InstallCommand;
import com.marcnuri.helm.Release;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** NOTES.txt as `helm install` prints it, from a client-side dry run (no cluster). */
class NotesTest {

    private static String notes(InstallCommand install) {
        Release release = install.withName(ChartUnderTest.RELEASE).withNamespace(ChartUnderTest.NAMESPACE)
                .dryRun().withDryRunOption(DryRun.CLIENT).clientOnly().call();
        String output = release.getOutput();
        assertThat(output).contains("NOTES:");
        return output.substring(output.indexOf("NOTES:"));
    }

    private static String notes() {
        return notes(ChartUnderTest.helm().install());
    }

    private static String notes(Path valuesFile) {
        return notes(ChartUnderTest.helm().install().withValuesFile(valuesFile));
    }

    @Test
    void notesTellTheAdminHowToWaitForTheRolloutAndWhereToLookNext() {
        String notes = notes();

        assertThat(notes)
                .contains("kubectl -n vfio-system rollout status deployment/vfio-vfio-passthrough-operator")
                .contains("kubectl -n vfio-system rollout status daemonset/vfio-vfio-passthrough-node")
                .contains("kubectl describe vfionodestate <node-name>")
                .contains("kind: VfioBindingPolicy")
                .contains("vfio.example.com/gpu")
                .contains("docs/first-policy.md");
    }

    @Test
    void notesShowTheNodeLabelsTheAgentsSelect() {
        assertThat(notes(ChartUnderTest.valuesFile("everything-on.yaml"))).contains("kubectl get nodes -l "
                + "feature.node.kubernetes.io/iommu-enabled=true,kubernetes.io/os=linux,vfio.example.com/passthrough=true");
    }

    @Test
    @SuppressWarnings("unchecked")
    void theExamplePolicyInTheNotesUsesOnlyFieldsTheCrdDefines() {
        String notes = notes();
        String heredoc = notes.substring(notes.indexOf("<<'YAML'\n") + "<<'YAML'\n".length());
        String yaml = heredoc.substring(0, heredoc.indexOf("     YAML\n")).stripIndent();

        Map<String, Object> policy = new KubernetesSerialization().unmarshal(yaml, Map.class);
        assertThat(policy).containsEntry("kind", "VfioBindingPolicy").containsEntry("apiVersion", "vfio.example.com/v1alpha1");
        assertThat(CrdSchema.of("vfiobindingpolicies.vfio.example.com-v1.yml").undefinedFields(policy)).isEmpty();
        assertThat((Map<String, Object>) policy.get("spec")).containsEntry("companions", "Bind");
    }

    @Test
    void notesWarnWhenBindingIsOff() {
        assertThat(notes()).doesNotContain("Binding is OFF");
        assertThat(notes(ChartUnderTest.valuesFile("binding-off.yaml"))).contains("Binding is OFF");
    }

    @Test
    @SuppressWarnings("unchecked")
    void notesPrintAKubevirtPatchThatLeavesTheDevicesToThisPlugin() {
        String notes = notes(ChartUnderTest.valuesFile("everything-on.yaml"));

        String marker = "--type merge -p '";
        assertThat(notes).contains("kubectl -n kubevirt patch kubevirt kubevirt " + marker);
        String json = notes.substring(notes.indexOf(marker) + marker.length());
        json = json.substring(0, json.indexOf('\''));
        Map<String, Object> patch = new KubernetesSerialization().unmarshal(json, Map.class);
        Map<String, Object> permitted = (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>)
                patch.get("spec")).get("configuration")).get("permittedHostDevices");
        assertThat((List<Map<String, Object>>) permitted.get("pciHostDevices")).containsExactly(
                Map.of("pciVendorSelector", "10DE:2236", "resourceName", "vfio.example.com/gpu",
                        "externalResourceProvider", true),
                Map.of("pciVendorSelector", "15b3:101e", "resourceName", "vfio.example.com/cx7-vf",
                        "externalResourceProvider", true));
    }
}
