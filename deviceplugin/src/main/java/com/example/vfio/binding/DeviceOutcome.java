package com.example.vfio.binding;

import com.example.vfio.api.BindResult;
import com.example.vfio.api.BindState;
import java.time.Instant;

/**
 * What binding did for one device; {@link #toBindResult()} is what the node agent puts in
 * {@code VfioNodeState.status.bindResults}.
 *
 * @param fromDriver the driver before, null when unbound
 * @param toDriver   the driver after, null when unbound
 */
public record DeviceOutcome(String address, String desiredDriver, BindState state, String fromDriver,
        String toDriver, String message, Instant time) {

    public BindResult toBindResult() {
        return new BindResult(address, desiredDriver, state, message, time.toString());
    }

    public boolean isProblem() {
        return state == BindState.Failed || state == BindState.Refused;
    }
}
