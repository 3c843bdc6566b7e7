package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;

import java.util.ArrayList;
import java.util.List;

/** One IOMMU group of the node (in {@code VfioNodeState.status.groups}). */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class GroupStatus {
    private String id;
    private Boolean viable;
    private List<String> devices = new ArrayList<>();
    private List<GroupBlocker> blockers = new ArrayList<>();

    public GroupStatus() {
    }

    public GroupStatus(String id, boolean viable, List<String> devices, List<GroupBlocker> blockers) {
        this.id = id;
        this.viable = viable;
        this.devices = new ArrayList<>(devices);
        this.blockers = new ArrayList<>(blockers);
    }

    public String getId() { return id; }
    public void setId(String id) { this.id = id; }
    public Boolean getViable() { return viable; }
    public void setViable(Boolean viable) { this.viable = viable; }
    public List<String> getDevices() { return devices; }
    public void setDevices(List<String> devices) { this.devices = devices; }
    public List<GroupBlocker> getBlockers() { return blockers; }
    public void setBlockers(List<GroupBlocker> blockers) { this.blockers = blockers; }
}
