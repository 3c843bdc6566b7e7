package com.example.vfio.planning;

import java.util.List;
import java.util.Map;

/**
 * What one policy got on one node.
 *
 * @param policy       name
 * @param nodeMatched  its nodeSelector matches the node
 * @param matched      addresses its device selector matches (sorted)
 * @param assigned     addresses the plan gives to it, with its driver (for a deleting policy: released to host)
 * @param companions   group companions it pulled in
 * @param overriddenBy matched addresses a higher-priority policy took, to that policy's name
 * @param conflicted   matched addresses in an equal-priority conflict (left as they are)
 */
public record PolicyMatch(String policy, boolean nodeMatched, List<String> matched, List<String> assigned,
                          List<String> companions, Map<String, String> overriddenBy, List<String> conflicted) {
    public PolicyMatch {
        matched = List.copyOf(matched);
        assigned = List.copyOf(assigned);
        companions = List.copyOf(companions);
        overriddenBy = Map.copyOf(overriddenBy);
        conflicted = List.copyOf(conflicted);
    }
}
