package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;

/** A group member whose driver makes the IOMMU group unusable for VFIO. */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class GroupBlocker {
    private String address;
    private String driver;

    public GroupBlocker() {
    }

    public GroupBlocker(String address, String driver) {
        this.address = address;
        this.driver = driver;
    }

    public String getAddress() { return address; }
    public void setAddress(String address) { this.address = address; }
    public String getDriver() { return driver; }
    public void setDriver(String driver) { this.driver = driver; }
}
