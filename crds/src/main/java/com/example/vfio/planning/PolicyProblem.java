package com.example.vfio.planning;

/**
 * A policy the planner leaves out entirely, and why.
 *
 * @param policy  the policy's name
 * @param reason  CamelCase, for a condition: InvalidSpec, ResourceUnitMismatch, ResourcePublishMismatch
 * @param message for a person
 */
public record PolicyProblem(String policy, String reason, String message) {
    public static final String INVALID_SPEC = "InvalidSpec";
    public static final String RESOURCE_UNIT_MISMATCH = "ResourceUnitMismatch";
    public static final String RESOURCE_PUBLISH_MISMATCH = "ResourcePublishMismatch";
}
