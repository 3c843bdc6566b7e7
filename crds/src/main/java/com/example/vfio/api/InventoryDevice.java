package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

import java.util.ArrayList;
import java.util.List;

/** One PCI function as the node agent sees it (in {@code VfioNodeState.status.devices}). */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
@JsonPropertyOrder({"address", "vendor", "device", "class", "driver", "hostDriver", "vfio", "group", "numa", "viable",
        "reasons", "recommended", "resource", "health", "allocatedTo"})
public class InventoryDevice {
    private String address;
    @JsonPropertyDescription("PCI vendor id, 4 lower-case hex digits.")
    private String vendor;
    @JsonPropertyDescription("PCI device id, 4 lower-case hex digits.")
    private String device;
    @JsonProperty("class")
    @JsonPropertyDescription("PCI class code, 6 lower-case hex digits.")
    private String classCode;
    @JsonPropertyDescription("Current driver; absent when unbound.")
    private String driver;
    @JsonPropertyDescription("The driver the device had before this project rebound it (from the binding journal); absent when never rebound.")
    private String hostDriver;
    @JsonPropertyDescription("The current driver is a VFIO driver.")
    private Boolean vfio;
    @JsonPropertyDescription("IOMMU group id; absent without an IOMMU.")
    private String group;
    private Integer numa;
    @JsonPropertyDescription("Ready to hand to a VM: VFIO driver, viable group, device nodes present.")
    private Boolean viable;
    @JsonPropertyDescription("Why the device is not viable (or what to watch).")
    private List<String> reasons = new ArrayList<>();
    @JsonPropertyDescription("The driver an auto policy would bind.")
    private String recommended;
    @JsonPropertyDescription("Resource the device is published under; absent when not published.")
    private String resource;
    private Health health;
    @JsonPropertyDescription("Who holds the device: a pod (namespace/name) or a group sibling's allocation.")
    private String allocatedTo;

    public InventoryDevice() {
    }

    public InventoryDevice(String address, String vendor, String device, String classCode, String driver, String group) {
        this.address = address;
        this.vendor = vendor;
        this.device = device;
        this.classCode = classCode;
        this.driver = driver;
        this.group = group;
    }

    public String getAddress() { return address; }
    public void setAddress(String address) { this.address = address; }
    public String getVendor() { return vendor; }
    public void setVendor(String vendor) { this.vendor = vendor; }
    public String getDevice() { return device; }
    public void setDevice(String device) { this.device = device; }
    @JsonProperty("class") public String getClassCode() { return classCode; }
    @JsonProperty("class") public void setClassCode(String classCode) { this.classCode = classCode; }
    public String getDriver() { return driver; }
    public void setDriver(String driver) { this.driver = driver; }
    public String getHostDriver() { return hostDriver; }
    public void setHostDriver(String hostDriver) { this.hostDriver = hostDriver; }
    public Boolean getVfio() { return vfio; }
    public void setVfio(Boolean vfio) { this.vfio = vfio; }
    public String getGroup() { return group; }
    public void setGroup(String group) { this.group = group; }
    public Integer getNuma() { return numa; }
    public void setNuma(Integer numa) { this.numa = numa; }
    public Boolean getViable() { return viable; }
    public void setViable(Boolean viable) { this.viable = viable; }
    public List<String> getReasons() { return reasons; }
    public void setReasons(List<String> reasons) { this.reasons = reasons; }
    public String getRecommended() { return recommended; }
    public void setRecommended(String recommended) { this.recommended = recommended; }
    public String getResource() { return resource; }
    public void setResource(String resource) { this.resource = resource; }
    public Health getHealth() { return health; }
    public void setHealth(Health health) { this.health = health; }
    public String getAllocatedTo() { return allocatedTo; }
    public void setAllocatedTo(String allocatedTo) { this.allocatedTo = allocatedTo; }
}
