package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;

import java.util.Objects;

/**
 * The desired state of one PCI function of a node (in {@code VfioNodeState.spec.devices}); written by the operator
 * or, in standalone mode, by the node daemon's own planner. Devices not listed are left as they are.
 *
 * <p>Defaults are kept as absent so that a node with thousands of entries stays small: {@code allocationUnit:
 * Device}, {@code publishWith: DevicePlugin}, {@code managed: true} and {@code force: false} read back as null; use the
 * {@code effective*} methods.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(value = "self.driver == 'host' || has(self.resourceName) || has(self.companionOf)",
        message = "resourceName is required unless driver is host or the device is a companion", reason = "FieldValueRequired",
        fieldPath = ".resourceName")
public class DesiredDevice {
    @Required
    @Pattern(DeviceSelector.ADDRESS_REGEX)
    private String address;

    @JsonPropertyDescription("auto | vfio-pci | a variant driver/module name | host")
    @Required
    @Pattern(Drivers.NAME_REGEX)
    private String driver;

    @JsonPropertyDescription("Resource the device is published under (without the vfio.example.com/ prefix); none for host and companions.")
    @Pattern(VfioBindingPolicySpec.RESOURCE_NAME_REGEX)
    private String resourceName;

    @JsonPropertyDescription("The policy this entry comes from.")
    private String policy;

    private AllocationUnit allocationUnit;

    @JsonPropertyDescription("The kubelet API the resource is published through on this node (absent: DevicePlugin).")
    private PublishWith publishWith;

    @JsonPropertyDescription("false: never rebind, only check and publish.")
    private Boolean managed;

    @JsonPropertyDescription("Allow binding a device the node needs itself (boot VGA, disk or network).")
    private Boolean force;

    @JsonPropertyDescription("Set on group companions: the selected device whose IOMMU group pulled this one in.")
    @Pattern(DeviceSelector.ADDRESS_REGEX)
    private String companionOf;

    public DesiredDevice() {
    }

    public DesiredDevice(String address, String driver, String resourceName, String policy, AllocationUnit allocationUnit,
                         Boolean managed, Boolean force, String companionOf) {
        this.address = address;
        this.driver = driver;
        this.resourceName = resourceName;
        this.policy = policy;
        setAllocationUnit(allocationUnit);
        setManaged(managed);
        setForce(force);
        this.companionOf = companionOf;
    }

    public String getAddress() { return address; }
    public void setAddress(String address) { this.address = address; }
    public String getDriver() { return driver; }
    public void setDriver(String driver) { this.driver = driver; }
    public String getResourceName() { return resourceName; }
    public void setResourceName(String resourceName) { this.resourceName = resourceName; }
    public String getPolicy() { return policy; }
    public void setPolicy(String policy) { this.policy = policy; }
    public AllocationUnit getAllocationUnit() { return allocationUnit; }
    public void setAllocationUnit(AllocationUnit allocationUnit) {
        this.allocationUnit = allocationUnit == AllocationUnit.Device ? null : allocationUnit;
    }
    public PublishWith getPublishWith() { return publishWith; }
    public void setPublishWith(PublishWith publishWith) {
        this.publishWith = publishWith == PublishWith.DevicePlugin ? null : publishWith;
    }
    public Boolean getManaged() { return managed; }
    public void setManaged(Boolean managed) { this.managed = Boolean.TRUE.equals(managed) ? null : managed; }
    public Boolean getForce() { return force; }
    public void setForce(Boolean force) { this.force = Boolean.FALSE.equals(force) ? null : force; }
    public String getCompanionOf() { return companionOf; }
    public void setCompanionOf(String companionOf) { this.companionOf = companionOf; }

    @JsonIgnore public boolean effectiveManaged() { return managed == null || managed; }
    @JsonIgnore public boolean effectiveForce() { return force != null && force; }
    @JsonIgnore public AllocationUnit effectiveAllocationUnit() { return allocationUnit == null ? AllocationUnit.Device : allocationUnit; }
    @JsonIgnore public PublishWith effectivePublishWith() { return publishWith == null ? PublishWith.DevicePlugin : publishWith; }
    /** A copy of every field (entries are mutable beans). */
    public DesiredDevice copy() {
        DesiredDevice d = new DesiredDevice(address, driver, resourceName, policy, allocationUnit, managed, force, companionOf);
        d.setPublishWith(publishWith);
        return d;
    }

    @JsonIgnore public boolean isCompanion() { return companionOf != null; }
    @JsonIgnore public boolean isHost() { return Drivers.HOST.equals(driver); }

    @Override
    public boolean equals(Object o) {
        return o instanceof DesiredDevice d && Objects.equals(address, d.address) && Objects.equals(driver, d.driver)
                && Objects.equals(resourceName, d.resourceName) && Objects.equals(policy, d.policy)
                && allocationUnit == d.allocationUnit && publishWith == d.publishWith && Objects.equals(managed, d.managed) && Objects.equals(force, d.force)
                && Objects.equals(companionOf, d.companionOf);
    }

    @Override
    public int hashCode() {
        return Objects.hash(address, driver, resourceName, policy, allocationUnit, publishWith, managed, force, companionOf);
    }

    @Override
    public String toString() {
        return address + "->" + driver + (resourceName == null ? "" : " as " + resourceName
                + (publishWith == null ? "" : " through " + publishWith)) + " (policy " + policy
                + (companionOf == null ? "" : ", companion of " + companionOf) + ")";
    }
}
