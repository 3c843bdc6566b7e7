package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Written by the operator: is the policy in effect, and where not. Lists are written even when empty so that a
 * merge patch clears them.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class VfioBindingPolicyStatus {
    public static final String READY = "Ready";
    public static final String PROGRESSING = "Progressing";
    public static final String DEGRADED = "Degraded";
    public static final String CONFLICT = "Conflict";
    /** At most this many entries in {@link #getFailingNodes()}. */
    public static final int MAX_FAILING_NODES = 5;

    private Long observedGeneration;
    private List<Condition> conditions = new ArrayList<>();
    @JsonPropertyDescription("Nodes whose labels match the nodeSelector and that have at least one selected device.")
    private Integer matchedNodes;
    @JsonPropertyDescription("Matched nodes where every device of this policy is in its desired state.")
    private Integer readyNodes;
    private Integer matchedDevices;
    private Integer readyDevices;
    @JsonPropertyDescription("readyNodes/matchedNodes, for kubectl get.")
    private String nodes;
    @JsonPropertyDescription("readyDevices/matchedDevices, for kubectl get.")
    private String devices;
    @JsonPropertyDescription("The first few nodes where the policy is not in effect, with the reason.")
    private List<NodeProblem> failingNodes = new ArrayList<>();

    public Long getObservedGeneration() { return observedGeneration; }
    public void setObservedGeneration(Long observedGeneration) { this.observedGeneration = observedGeneration; }
    public List<Condition> getConditions() { return conditions; }
    public void setConditions(List<Condition> conditions) { this.conditions = conditions; }
    public Integer getMatchedNodes() { return matchedNodes; }
    public void setMatchedNodes(Integer matchedNodes) { this.matchedNodes = matchedNodes; }
    public Integer getReadyNodes() { return readyNodes; }
    public void setReadyNodes(Integer readyNodes) { this.readyNodes = readyNodes; }
    public Integer getMatchedDevices() { return matchedDevices; }
    public void setMatchedDevices(Integer matchedDevices) { this.matchedDevices = matchedDevices; }
    public Integer getReadyDevices() { return readyDevices; }
    public void setReadyDevices(Integer readyDevices) { this.readyDevices = readyDevices; }
    public String getNodes() { return nodes; }
    public void setNodes(String nodes) { this.nodes = nodes; }
    public String getDevices() { return devices; }
    public void setDevices(String devices) { this.devices = devices; }
    public List<NodeProblem> getFailingNodes() { return failingNodes; }
    public void setFailingNodes(List<NodeProblem> failingNodes) { this.failingNodes = failingNodes; }

    /** The condition of that type, or null. */
    public Condition condition(String type) {
        if (conditions == null) {
            return null;
        }
        return conditions.stream().filter(c -> type.equals(c.getType())).findFirst().orElse(null);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VfioBindingPolicyStatus s && Objects.equals(observedGeneration, s.observedGeneration)
                && Objects.equals(conditions, s.conditions) && Objects.equals(matchedNodes, s.matchedNodes)
                && Objects.equals(readyNodes, s.readyNodes) && Objects.equals(matchedDevices, s.matchedDevices)
                && Objects.equals(readyDevices, s.readyDevices) && Objects.equals(nodes, s.nodes)
                && Objects.equals(devices, s.devices) && Objects.equals(failingNodes, s.failingNodes);
    }

    @Override
    public int hashCode() {
        return Objects.hash(observedGeneration, conditions, matchedNodes, readyNodes, matchedDevices, readyDevices, nodes, devices, failingNodes);
    }
}
