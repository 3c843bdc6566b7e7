package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Written by the node agent: what the node has, what is usable, what binding did. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class VfioNodeStateStatus {
    @JsonPropertyDescription("metadata.generation of the spec the agent last acted on.")
    private Long observedGeneration;
    private SyncStatus syncStatus;
    private String lastSyncError;
    @JsonPropertyDescription("RFC 3339 time of the last completed pass.")
    private String lastSyncTime;
    private String kernelRelease;
    private Boolean iommuEnabled;
    @JsonInclude(JsonInclude.Include.NON_EMPTY)
    @JsonPropertyDescription("One line per PCI function: <address> <vendor>:<device> <class> <driver or -> [vfio] [viable]"
            + " [group=G] [numa=N] [auto=D] [host=D] [resource=R] [dra] [health=Healthy|Unhealthy] [held=TEXT];"
            + " dra: published through DRA, then held=claim:<namespace>/<name> is the ResourceClaim it is prepared for.")
    private List<InventoryDevice> devices = new ArrayList<>();
    @JsonInclude(JsonInclude.Include.NON_EMPTY)
    @JsonPropertyDescription("Why devices are not usable: only devices with something their line does not say.")
    private List<DeviceProblem> problems = new ArrayList<>();
    @JsonInclude(JsonInclude.Include.NON_EMPTY)
    @JsonPropertyDescription("IOMMU groups that need explaining: not viable, blocked, or in no-IOMMU mode.")
    private List<GroupStatus> groups = new ArrayList<>();
    @JsonInclude(JsonInclude.Include.NON_EMPTY)
    private List<BindResult> bindResults = new ArrayList<>();
    @JsonInclude(JsonInclude.Include.NON_EMPTY)
    private List<Condition> conditions = new ArrayList<>();
    private Integer deviceCount;
    private Integer viableCount;
    private Integer publishedCount;

    public Long getObservedGeneration() { return observedGeneration; }
    public void setObservedGeneration(Long observedGeneration) { this.observedGeneration = observedGeneration; }
    public SyncStatus getSyncStatus() { return syncStatus; }
    public void setSyncStatus(SyncStatus syncStatus) { this.syncStatus = syncStatus; }
    public String getLastSyncError() { return lastSyncError; }
    public void setLastSyncError(String lastSyncError) { this.lastSyncError = lastSyncError; }
    public String getLastSyncTime() { return lastSyncTime; }
    public void setLastSyncTime(String lastSyncTime) { this.lastSyncTime = lastSyncTime; }
    public String getKernelRelease() { return kernelRelease; }
    public void setKernelRelease(String kernelRelease) { this.kernelRelease = kernelRelease; }
    public Boolean getIommuEnabled() { return iommuEnabled; }
    public void setIommuEnabled(Boolean iommuEnabled) { this.iommuEnabled = iommuEnabled; }
    public List<InventoryDevice> getDevices() { return devices; }
    public void setDevices(List<InventoryDevice> devices) { this.devices = devices; }
    public List<DeviceProblem> getProblems() { return problems; }
    public void setProblems(List<DeviceProblem> problems) { this.problems = problems; }
    public List<GroupStatus> getGroups() { return groups; }
    public void setGroups(List<GroupStatus> groups) { this.groups = groups; }
    public List<BindResult> getBindResults() { return bindResults; }
    public void setBindResults(List<BindResult> bindResults) { this.bindResults = bindResults; }
    public List<Condition> getConditions() { return conditions; }
    public void setConditions(List<Condition> conditions) { this.conditions = conditions; }
    public Integer getDeviceCount() { return deviceCount; }
    public void setDeviceCount(Integer deviceCount) { this.deviceCount = deviceCount; }
    public Integer getViableCount() { return viableCount; }
    public void setViableCount(Integer viableCount) { this.viableCount = viableCount; }
    public Integer getPublishedCount() { return publishedCount; }
    public void setPublishedCount(Integer publishedCount) { this.publishedCount = publishedCount; }

    public Optional<InventoryDevice> device(String address) {
        return devices == null ? Optional.empty() : devices.stream().filter(d -> address.equals(d.getAddress())).findFirst();
    }

    /** The reasons listed for a device in {@code problems}; empty when it has none. */
    public List<String> reasonsOf(String address) {
        if (problems == null) {
            return List.of();
        }
        return problems.stream().filter(p -> address.equals(p.getAddress())).findFirst()
                .map(p -> p.getReasons() == null ? List.<String>of() : p.getReasons()).orElse(List.of());
    }

    public Optional<BindResult> bindResult(String address) {
        return bindResults == null ? Optional.empty() : bindResults.stream().filter(b -> address.equals(b.getAddress())).findFirst();
    }
}
