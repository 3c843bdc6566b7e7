package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** Desired driver and resource per PCI address of one node; owned by the operator. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class VfioNodeStateSpec {
    @JsonPropertyDescription("Desired state per PCI address, sorted by address, each address once. Devices not listed are"
            + " left as they are. Written as a whole by the operator (an atomic list).")
    private List<DesiredDevice> devices = new ArrayList<>();

    public VfioNodeStateSpec() {
    }

    public VfioNodeStateSpec(List<DesiredDevice> devices) {
        this.devices = new ArrayList<>(devices);
    }

    public List<DesiredDevice> getDevices() { return devices; }
    /** null reads as an empty list. */
    public void setDevices(List<DesiredDevice> devices) { this.devices = devices == null ? new ArrayList<>() : devices; }

    @Override
    public boolean equals(Object o) {
        return o instanceof VfioNodeStateSpec s && Objects.equals(normalized(devices), normalized(s.devices));
    }

    private static List<DesiredDevice> normalized(List<DesiredDevice> devices) {
        return devices == null ? List.of() : devices;
    }

    @Override
    public int hashCode() {
        return normalized(devices).hashCode();
    }

    @Override
    public String toString() {
        return "VfioNodeStateSpec" + devices;
    }
}
