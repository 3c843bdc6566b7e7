package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;

import java.util.Objects;

/** One node where a policy is not in effect, and why (in a policy's status). */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class NodeProblem {
    private String node;
    private String message;

    public NodeProblem() {
    }

    public NodeProblem(String node, String message) {
        this.node = node;
        this.message = message;
    }

    public String getNode() { return node; }
    public void setNode(String node) { this.node = node; }
    public String getMessage() { return message; }
    public void setMessage(String message) { this.message = message; }

    @Override
    public boolean equals(Object o) {
        return o instanceof NodeProblem p && Objects.equals(node, p.node) && Objects.equals(message, p.message);
    }

    @Override
    public int hashCode() {
        return Objects.hash(node, message);
    }

    @Override
    public String toString() {
        return node + ": " + message;
    }
}
