package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** Why one PCI function is not usable, or what to watch (in {@code VfioNodeState.status.problems}). */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class DeviceProblem {
    private String address;
    @JsonPropertyDescription("What the device's line in status.devices does not already say.")
    private List<String> reasons = new ArrayList<>();

    public DeviceProblem() {
    }

    public DeviceProblem(String address, List<String> reasons) {
        this.address = address;
        this.reasons = new ArrayList<>(reasons);
    }

    public String getAddress() { return address; }
    public void setAddress(String address) { this.address = address; }
    public List<String> getReasons() { return reasons; }
    public void setReasons(List<String> reasons) { this.reasons = reasons; }

    @Override
    public boolean equals(Object o) {
        return o instanceof DeviceProblem p && Objects.equals(address, p.address) && Objects.equals(reasons, p.reasons);
    }

    @Override
    public int hashCode() {
        return Objects.hash(address, reasons);
    }

    @Override
    public String toString() {
        return address + ": " + reasons;
    }
}
