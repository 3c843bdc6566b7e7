package com.example.vfio.planning;

import com.example.vfio.api.DeviceSelector;
import com.example.vfio.api.Drivers;
import com.example.vfio.api.VfioBindingPolicy;
import com.example.vfio.api.VfioBindingPolicySpec;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The CRD schema's rules (patterns, bounds, CEL) in Java, so the standalone daemon refuses what the API server
 * would refuse and the operator degrades a policy the mock or an old schema let through. Keep in step with the
 * annotations on the api types.
 *
 * <p>Only what would hurt someone is refused: names and ids that become sysfs paths, a selector that names no
 * list (every device of the node) or an emptied list (read as absent, it would select more), a VFIO driver
 * without a resource (devices taken from the host that no pod can request). A state an admin reaches by editing
 * a working policy is valid whenever it has a meaning: {@code driver: host} with {@code companions: Bind} gives
 * the companions back too, with {@code managed: false} it checks that someone else gave the devices back.
 */
public final class PolicyValidator {
    private static final Pattern ID = Pattern.compile(DeviceSelector.ID_REGEX);
    private static final Pattern CLASS = Pattern.compile(DeviceSelector.CLASS_REGEX);
    private static final Pattern ADDRESS = Pattern.compile(DeviceSelector.ADDRESS_REGEX);
    private static final Pattern RESOURCE = Pattern.compile(VfioBindingPolicySpec.RESOURCE_NAME_REGEX);
    private static final Pattern OBJECT_NAME = Pattern.compile("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$");

    private PolicyValidator() {
    }

    /** Every problem found, each as "field.path: what is wrong"; empty when the policy is valid. */
    public static List<String> problems(VfioBindingPolicy policy) {
        List<String> p = new ArrayList<>();
        String name = policy.getMetadata() == null ? null : policy.getMetadata().getName();
        if (name == null || name.isEmpty()) {
            p.add("metadata.name: required");
        } else if (name.length() > 253 || !OBJECT_NAME.matcher(name).matches()) {
            p.add("metadata.name: '" + name + "' is not a DNS-1123 subdomain");
        }
        VfioBindingPolicySpec spec = policy.getSpec();
        if (spec == null) {
            p.add("spec: required");
            return p;
        }
        p.addAll(NodeSelectors.problems(spec.getNodeSelector(), "spec.nodeSelector"));
        DeviceSelector s = spec.getSelector();
        if (s == null) {
            p.add("spec.selector: required");
        } else {
            if (DeviceSelectors.isEmpty(s)) {
                p.add("spec.selector: must name at least one of vendors, devices, classes, addresses, drivers");
            }
            entries(p, "spec.selector.vendors", s.getVendors(), ID, "4 hex digits");
            entries(p, "spec.selector.devices", s.getDevices(), ID, "4 hex digits");
            entries(p, "spec.selector.classes", s.getClasses(), CLASS, "2, 4 or 6 hex digits");
            entries(p, "spec.selector.addresses", s.getAddresses(), ADDRESS, "a PCI address like 0000:41:00.0 (lower case)");
            entries(p, "spec.selector.drivers", s.getDrivers(), Pattern.compile(Drivers.NAME_REGEX), "a driver name ([A-Za-z0-9_-]{1,64})");
        }
        String driver = spec.effectiveDriver();
        if (!Drivers.isValidName(driver)) {
            p.add("spec.driver: '" + driver + "' is not auto, host or a driver/module name ([A-Za-z0-9_-]{1,64})");
        }
        boolean host = Drivers.HOST.equals(driver);
        if (spec.getResourceName() != null) {
            if (!RESOURCE.matcher(spec.getResourceName()).matches()) {
                p.add("spec.resourceName: '" + spec.getResourceName() + "' is not a DNS-1123 label (lower case, digits, '-', at most 63)");
            }
        } else if (!host) {
            p.add("spec.resourceName: required unless driver is host");
        }
        int priority = spec.effectivePriority();
        if (priority < VfioBindingPolicySpec.MIN_PRIORITY || priority > VfioBindingPolicySpec.MAX_PRIORITY) {
            p.add("spec.priority: " + priority + " is outside " + VfioBindingPolicySpec.MIN_PRIORITY + ".." + VfioBindingPolicySpec.MAX_PRIORITY);
        }
        return p;
    }

    private static void entries(List<String> p, String field, List<String> values, Pattern pattern, String expected) {
        if (values == null) {
            return;
        }
        if (values.isEmpty()) {
            p.add(field + ": must not be empty when given");
        }
        if (values.size() > DeviceSelector.MAX_ENTRIES) {
            p.add(field + ": at most " + DeviceSelector.MAX_ENTRIES + " entries");
        }
        for (int i = 0; i < values.size(); i++) {
            String v = values.get(i);
            if (v == null || !pattern.matcher(v).matches()) {
                p.add(field + "[" + i + "]: '" + v + "' is not " + expected);
            }
        }
    }
}
