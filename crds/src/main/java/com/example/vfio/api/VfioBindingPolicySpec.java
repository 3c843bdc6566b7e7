package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.LabelSelector;

import java.util.Objects;

/** Which devices on which nodes go to which driver and which kubelet resource. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(value = "self.driver == 'host' || has(self.resourceName)",
        message = "resourceName is required unless driver is host", reason = "FieldValueRequired",
        fieldPath = ".resourceName")
public class VfioBindingPolicySpec {
    public static final int MIN_PRIORITY = -1000;
    public static final int MAX_PRIORITY = 1000;
    public static final String RESOURCE_NAME_REGEX = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";

    @JsonPropertyDescription("Nodes the policy applies to; all nodes when omitted.")
    private LabelSelector nodeSelector;

    @JsonPropertyDescription("Devices of a matching node the policy selects.")
    @Required
    private DeviceSelector selector;

    @JsonPropertyDescription("auto (the node picks vfio-pci or a variant from modules.alias), vfio-pci, a variant driver/module name, or host.")
    @Default(Drivers.AUTO)
    @Pattern(Drivers.NAME_REGEX)
    private String driver;

    @JsonPropertyDescription("Kubelet resource vfio.example.com/<resourceName>; a DNS-1123 label. Required unless driver is host.")
    @Pattern(RESOURCE_NAME_REGEX)
    private String resourceName;

    @JsonPropertyDescription("false: never rebind, only check the devices and publish the ones already on a VFIO driver (with driver host: check that they are back on host drivers).")
    @Default("true")
    private Boolean managed;

    @JsonPropertyDescription("Bind: the other functions of each selected device's IOMMU group go along: to vfio-pci (no resource of their own), or with driver host back to their own host drivers.")
    @Default("Ignore")
    private Companions companions;

    @JsonPropertyDescription("Device: one device per allocation; Group: a whole IOMMU group per allocation.")
    @Default("Device")
    private AllocationUnit allocationUnit;

    @JsonPropertyDescription("Which kubelet API publishes the resource: DevicePlugin (any Kubernetes release) or DRA (ResourceSlices of driver vfio.example.com and a DeviceClass serving the extended resource, Kubernetes 1.37+). The oldest policy naming a resource decides for all of them.")
    @Default("DevicePlugin")
    private PublishWith publishWith;

    @JsonPropertyDescription("Higher wins where policies overlap; equal priorities wanting different drivers or resources are a conflict.")
    @Default("0")
    @Min(MIN_PRIORITY)
    @Max(MAX_PRIORITY)
    private Integer priority;

    @JsonPropertyDescription("Allow binding devices the node needs itself (boot VGA, devices backing its disks or network).")
    @Default("false")
    private Boolean force;

    public LabelSelector getNodeSelector() { return nodeSelector; }
    public void setNodeSelector(LabelSelector nodeSelector) { this.nodeSelector = nodeSelector; }
    public DeviceSelector getSelector() { return selector; }
    public void setSelector(DeviceSelector selector) { this.selector = selector; }
    public String getDriver() { return driver; }
    public void setDriver(String driver) { this.driver = driver; }
    public String getResourceName() { return resourceName; }
    public void setResourceName(String resourceName) { this.resourceName = resourceName; }
    public Boolean getManaged() { return managed; }
    public void setManaged(Boolean managed) { this.managed = managed; }
    public Companions getCompanions() { return companions; }
    public void setCompanions(Companions companions) { this.companions = companions; }
    public AllocationUnit getAllocationUnit() { return allocationUnit; }
    public void setAllocationUnit(AllocationUnit allocationUnit) { this.allocationUnit = allocationUnit; }
    public PublishWith getPublishWith() { return publishWith; }
    public void setPublishWith(PublishWith publishWith) { this.publishWith = publishWith; }
    public Integer getPriority() { return priority; }
    public void setPriority(Integer priority) { this.priority = priority; }
    public Boolean getForce() { return force; }
    public void setForce(Boolean force) { this.force = force; }

    // Effective values: the API server applies the schema defaults, the standalone parser and hand-built objects may not.
    @JsonIgnore public String effectiveDriver() { return driver == null ? Drivers.AUTO : driver; }
    @JsonIgnore public boolean effectiveManaged() { return managed == null || managed; }
    @JsonIgnore public Companions effectiveCompanions() { return companions == null ? Companions.Ignore : companions; }
    @JsonIgnore public AllocationUnit effectiveAllocationUnit() { return allocationUnit == null ? AllocationUnit.Device : allocationUnit; }
    @JsonIgnore public PublishWith effectivePublishWith() { return publishWith == null ? PublishWith.DevicePlugin : publishWith; }
    @JsonIgnore public int effectivePriority() { return priority == null ? 0 : priority; }
    @JsonIgnore public boolean effectiveForce() { return force != null && force; }

    @Override
    public boolean equals(Object o) {
        return o instanceof VfioBindingPolicySpec s && Objects.equals(nodeSelector, s.nodeSelector) && Objects.equals(selector, s.selector)
                && Objects.equals(driver, s.driver) && Objects.equals(resourceName, s.resourceName) && Objects.equals(managed, s.managed)
                && companions == s.companions && allocationUnit == s.allocationUnit && publishWith == s.publishWith
                && Objects.equals(priority, s.priority)
                && Objects.equals(force, s.force);
    }

    @Override
    public int hashCode() {
        return Objects.hash(nodeSelector, selector, driver, resourceName, managed, companions, allocationUnit, publishWith, priority,
                force);
    }
}
