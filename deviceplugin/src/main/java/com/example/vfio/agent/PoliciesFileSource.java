package com.example.vfio.agent;

import com.example.vfio.api.DesiredDevice;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.planning.DeviceFacts;
import com.example.vfio.planning.NodePlan;
import com.example.vfio.planning.NodePlanner;
import com.example.vfio.planning.PolicyDocuments;
import com.example.vfio.viability.HostAssessment;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Standalone mode: the desired state is what the planner makes of the policies in a file (the YAML one
 * would {@code kubectl apply}) for this node's labels and current inventory. No API server involved.
 */
public final class PoliciesFileSource implements DesiredStateSource {

    private static final Logger LOG = LoggerFactory.getLogger(PoliciesFileSource.class);

    /** A policies file that cannot be used; the message names the file and the problem. */
    public static final class BadPoliciesException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public BadPoliciesException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final String file;
    private final List<VfioBindingPolicy> policies;
    private final String nodeName;
    private final Map<String, String> nodeLabels;
    private List<String> lastTrouble = List.of();
    private HostAssessment lastPlannedFor;
    private List<DesiredDevice> lastPlan;

    public PoliciesFileSource(String file, List<VfioBindingPolicy> policies, String nodeName,
                              Map<String, String> nodeLabels) {
        this.file = file;
        this.policies = List.copyOf(policies);
        this.nodeName = Objects.requireNonNull(nodeName);
        this.nodeLabels = Map.copyOf(nodeLabels);
    }

    public static PoliciesFileSource read(Path file, String nodeName, Map<String, String> nodeLabels) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new BadPoliciesException("policies file " + file + " does not exist", e);
        } catch (IOException e) {
            throw new BadPoliciesException("cannot read policies file " + file + ": " + e.getMessage(), e);
        }
        List<VfioBindingPolicy> policies;
        try {
            policies = PolicyDocuments.parse(text);
        } catch (PolicyDocuments.InvalidPolicyException e) {
            throw new BadPoliciesException(file + ": " + e.getMessage(), e);
        }
        if (policies.isEmpty()) {
            throw new BadPoliciesException(file + ": holds no VfioBindingPolicy", null);
        }
        return new PoliciesFileSource(file.toString(), policies, nodeName, nodeLabels);
    }

    public List<VfioBindingPolicy> policies() {
        return policies;
    }

    /** Planned again only for another assessment: the daemon hands over the same one while the host is unchanged. */
    @Override
    public synchronized List<DesiredDevice> desired(HostAssessment current) {
        if (current != lastPlannedFor) {
            NodePlan plan = NodePlanner.plan(nodeName, nodeLabels, facts(current), policies);
            logTroubleOnce(plan);
            lastPlan = plan.devices();
            lastPlannedFor = current;
        }
        return lastPlan;
    }

    static List<DeviceFacts> facts(HostAssessment current) {
        List<DeviceFacts> facts = new ArrayList<>();
        for (PciDevice d : current.snapshot().allDevices()) {
            facts.add(new DeviceFacts(d.address().toString(), d.vendorHex(), d.deviceHex(), d.classHex(), d.driver(),
                    d.iommuGroup()));
        }
        return facts;
    }

    private void logTroubleOnce(NodePlan plan) {
        List<String> trouble = new ArrayList<>();
        plan.problems().forEach(p -> trouble.add("policy " + p.policy() + " left out: " + p.message()));
        plan.conflicts().forEach(c -> trouble.add("device " + c.address() + " left as it is: equal-priority policies "
                + c.policies() + " disagree"));
        if (!trouble.equals(lastTrouble)) {
            trouble.forEach(LOG::warn);
            lastTrouble = List.copyOf(trouble);
        }
    }

    @Override
    public String describe() {
        return "policies file " + file + " (" + policies.size() + " polic" + (policies.size() == 1 ? "y" : "ies")
                + ", node " + nodeName + (nodeLabels.isEmpty() ? "" : ", labels " + nodeLabels) + ")";
    }
}
