package com.example.vfio.cli;

import com.example.vfio.pci.HostSnapshot;
import com.example.vfio.pci.PciAddress;
import com.example.vfio.pci.PciDevice;
import com.example.vfio.viability.Blocker;
import com.example.vfio.viability.DeviceVerdict;
import com.example.vfio.viability.GroupVerdict;
import com.example.vfio.viability.HostAssessment;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The two renderings of {@code inspect}: the JSON document of ARCHITECTURE.md, and a table for people. */
final class InspectReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final String NO_GROUP = "none";

    private InspectReport() {
    }

    static String json(HostAssessment assessment) {
        HostSnapshot snapshot = assessment.snapshot();
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("kernelRelease", snapshot.kernelRelease());
        doc.put("iommuEnabled", snapshot.iommuEnabled());
        List<Object> devices = new ArrayList<>();
        for (PciDevice device : snapshot.allDevices()) {
            DeviceVerdict verdict = assessment.verdict(device.address());
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("address", device.address().toString());
            d.put("vendor", device.vendorHex());
            d.put("device", device.deviceHex());
            d.put("class", device.classHex());
            d.put("driver", device.driver());
            d.put("vfioDriver", verdict.vfioDriver());
            d.put("iommuGroup", device.iommuGroup());
            d.put("numaNode", device.numaNode());
            d.put("viable", verdict.viable());
            d.put("reasons", verdict.reasons());
            d.put("recommendedDriver", device.isBridge() ? null : verdict.recommended().driver());
            devices.add(d);
        }
        doc.put("devices", devices);
        List<Object> groups = new ArrayList<>();
        for (GroupVerdict group : sortedGroups(assessment)) {
            Map<String, Object> g = new LinkedHashMap<>();
            g.put("id", group.id());
            g.put("viable", group.viable());
            g.put("devices", group.devices().stream().map(PciAddress::toString).toList());
            List<Object> blockers = new ArrayList<>();
            for (Blocker blocker : group.blockers()) {
                Map<String, Object> b = new LinkedHashMap<>();
                b.put("address", blocker.address().toString());
                b.put("driver", blocker.driver());
                blockers.add(b);
            }
            g.put("blockers", blockers);
            groups.add(g);
        }
        doc.put("groups", groups);
        doc.put("notes", snapshot.notes());
        try {
            return JSON.writeValueAsString(doc) + System.lineSeparator();
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render the inspect document", e);
        }
    }

    static String table(HostAssessment assessment) {
        HostSnapshot snapshot = assessment.snapshot();
        StringBuilder out = new StringBuilder();
        long ready = assessment.devices().values().stream().filter(DeviceVerdict::viable).count();
        out.append("Host ").append(snapshot.root())
                .append(", kernel ").append(snapshot.kernelRelease() == null ? "unknown" : snapshot.kernelRelease())
                .append(", IOMMU ").append(snapshot.iommuEnabled() ? "on" : "off")
                .append(snapshot.deviceNodes().iommufd() ? ", iommufd" : "").append('\n');
        out.append(snapshot.devices().size()).append(" PCI functions in ").append(snapshot.groups().size())
                .append(" IOMMU groups; ").append(ready).append(ready == 1 ? " is" : " are")
                .append(" ready for a VM\n\n");

        Map<String, List<PciDevice>> byGroup = new TreeMap<>(InspectReport::compareGroupIds);
        for (PciDevice device : snapshot.allDevices()) {
            byGroup.computeIfAbsent(device.iommuGroup() == null ? NO_GROUP : device.iommuGroup(), g -> new ArrayList<>())
                    .add(device);
        }
        List<String[]> rows = new ArrayList<>();
        List<List<String>> notesUnderRows = new ArrayList<>();
        rows.add(new String[] {"GROUP", "ADDRESS", "IDS", "CLASS", "DRIVER", "VFIO", "NUMA", "VIABLE", "AUTO DRIVER"});
        notesUnderRows.add(List.of());
        for (Map.Entry<String, List<PciDevice>> entry : byGroup.entrySet()) {
            GroupVerdict group = assessment.groups().get(entry.getKey());
            boolean first = true;
            for (PciDevice device : entry.getValue()) {
                DeviceVerdict verdict = assessment.verdict(device.address());
                rows.add(new String[] {first ? entry.getKey() : "", device.address().toString(),
                        orQuestion(device.vendorHex()) + ":" + orQuestion(device.deviceHex()),
                        orQuestion(device.classHex()), device.driverUnknown() ? "?" : device.driver() == null ? "-" : device.driver(),
                        verdict.vfioDriver() ? "yes" : "no", device.numaNode() < 0 ? "-" : Integer.toString(device.numaNode()),
                        verdict.viable() ? "yes" : "no", device.isBridge() ? "-" : verdict.recommended().driver()});
                List<String> notes = new ArrayList<>();
                for (String reason : verdict.reasons()) {
                    if (group == null || !group.reasons().contains(reason)) {
                        notes.add("- " + reason);
                    }
                }
                first = false;
                boolean lastOfGroup = device == entry.getValue().get(entry.getValue().size() - 1);
                // a one-device group's blocker is the device itself: its own reason already says so
                if (lastOfGroup && group != null && (entry.getValue().size() > 1 || group.noIommu())) {
                    group.reasons().forEach(r -> notes.add("! " + r));
                }
                notesUnderRows.add(notes);
            }
        }
        int[] widths = new int[rows.get(0).length];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                widths[i] = Math.max(widths[i], row[i].length());
            }
        }
        String indent = " ".repeat(widths[0] + 2);
        for (int r = 0; r < rows.size(); r++) {
            StringBuilder line = new StringBuilder();
            String[] row = rows.get(r);
            for (int i = 0; i < row.length; i++) {
                line.append(row[i]);
                if (i < row.length - 1) {
                    line.append(" ".repeat(widths[i] - row[i].length() + 2));
                }
            }
            out.append(line.toString().stripTrailing()).append('\n');
            for (String note : notesUnderRows.get(r)) {
                out.append(indent).append(note).append('\n');
            }
        }
        if (!snapshot.notes().isEmpty()) {
            out.append("\nNotes:\n");
            for (String note : snapshot.notes()) {
                out.append("  - ").append(note).append('\n');
            }
        }
        return out.toString();
    }

    private static List<GroupVerdict> sortedGroups(HostAssessment assessment) {
        List<GroupVerdict> groups = new ArrayList<>(assessment.groups().values());
        groups.sort(Comparator.comparing(GroupVerdict::id, InspectReport::compareGroupIds));
        return groups;
    }

    /** Numeric order for group numbers; devices without a group come last. */
    static int compareGroupIds(String a, String b) {
        if (a.equals(b)) {
            return 0;
        }
        if (a.equals(NO_GROUP) || b.equals(NO_GROUP)) {
            return a.equals(NO_GROUP) ? 1 : -1;
        }
        return a.length() != b.length() ? Integer.compare(a.length(), b.length()) : a.compareTo(b);
    }

    private static String orQuestion(String hex) {
        return hex == null ? "?" : hex;
    }
}
