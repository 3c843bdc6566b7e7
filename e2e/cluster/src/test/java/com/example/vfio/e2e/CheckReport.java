package com.example.vfio.e2e;

import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Prints one line per check as the suite runs, {@code PASS <what>} or {@code FAIL <what>: <why>}, and appends it to
 * the file named by {@code vfio.checks.file}, which e2e/cluster/run counts for its closing {@code N passed, M failed}.
 * A check is a test's display name. A skipped test and a class whose set-up failed are failures: nothing the suite
 * claims may go unproven quietly. Registered through META-INF/services.
 */
public final class CheckReport implements TestExecutionListener {
    private TestPlan plan;

    @Override
    public void testPlanExecutionStarted(TestPlan testPlan) {
        this.plan = testPlan;
    }

    @Override
    public void executionSkipped(TestIdentifier id, String reason) {
        record("FAIL " + name(id) + ": skipped (" + reason + ")");
    }

    @Override
    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        if (id.isTest()) {
            record(result.getStatus() == TestExecutionResult.Status.SUCCESSFUL
                    ? "PASS " + name(id)
                    : "FAIL " + name(id) + ": " + why(result));
        } else if (result.getStatus() != TestExecutionResult.Status.SUCCESSFUL && id.getSource().isPresent()) {
            record("FAIL " + name(id) + " (set-up): " + why(result));
        }
    }

    private String name(TestIdentifier id) {
        String name = readable(id.getDisplayName());
        // a parameterized test's case: "<the test's name>: <the case>"
        if (plan != null && id.getUniqueId().contains("-invocation:")) {
            name = plan.getParent(id).map(p -> readable(p.getDisplayName()) + ": ").orElse("") + name.replaceFirst("^\\[\\d+] ", "");
        }
        return name;
    }

    /** A default display name, {@code method_name()}, reads as "method name". */
    private static String readable(String displayName) {
        return displayName.matches("[A-Za-z_$][\\w$]*\\(.*\\)") ? displayName.substring(0, displayName.indexOf('(')).replace('_', ' ') : displayName;
    }

    /** A line of detail under the checks, e.g. what a check covered; e2e/cluster/run shows it with them. */
    public static void note(String text) {
        System.out.println("  note: " + text);
    }

    private static String why(TestExecutionResult result) {
        return result.getThrowable()
                .map(t -> {
                    String message = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
                    return message.strip().replaceAll("\\s*\\R\\s*", " ");
                })
                .map(m -> m.length() > 400 ? m.substring(0, 400) + "..." : m)
                .orElse(result.getStatus().toString());
    }

    private static synchronized void record(String line) {
        System.out.println(line);
        String file = System.getProperty("vfio.checks.file");
        if (file == null || file.isBlank()) {
            return;
        }
        try {
            Files.writeString(Path.of(file), line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
