package com.example.vfio.api;

import com.fasterxml.jackson.annotation.JsonInclude;

/** The last binding step the node agent took (or refused) for one address. */
@JsonInclude(JsonInclude.Include.NON_EMPTY)
public class BindResult {
    private String address;
    private String desiredDriver;
    private BindState state;
    private String message;
    /** RFC 3339. */
    private String time;

    public BindResult() {
    }

    public BindResult(String address, String desiredDriver, BindState state, String message, String time) {
        this.address = address;
        this.desiredDriver = desiredDriver;
        this.state = state;
        this.message = message;
        this.time = time;
    }

    public String getAddress() { return address; }
    public void setAddress(String address) { this.address = address; }
    public String getDesiredDriver() { return desiredDriver; }
    public void setDesiredDriver(String desiredDriver) { this.desiredDriver = desiredDriver; }
    public BindState getState() { return state; }
    public void setState(BindState state) { this.state = state; }
    public String getMessage() { return message; }
    public void setMessage(String message) { this.message = message; }
    public String getTime() { return time; }
    public void setTime(String time) { this.time = time; }
}
