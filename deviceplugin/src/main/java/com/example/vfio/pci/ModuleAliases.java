package com.example.vfio.pci;

import java.io.BufferedReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The {@code vfio_pci:} aliases of the host's modules: from {@code modules.alias} and, for built-in
 * modules, {@code modules.builtin.modinfo}. Variant drivers declare their devices with
 * {@code PCI_DRIVER_OVERRIDE_DEVICE_VFIO}, which the build turns into these aliases (kernel 5.15+).
 */
public record ModuleAliases(List<VfioAlias> vfioAliases, List<String> problems) {
    static final String VFIO_PREFIX = "vfio_pci:";
    private static final int MAX_LINE = 4096;

    public ModuleAliases {
        vfioAliases = List.copyOf(vfioAliases);
        problems = List.copyOf(problems);
    }

    public static ModuleAliases none() {
        return new ModuleAliases(List.of(), List.of());
    }

    /** Modules that have at least one vfio_pci alias: the VFIO drivers the host knows. */
    public Set<String> vfioModules() {
        Set<String> modules = new LinkedHashSet<>();
        for (VfioAlias alias : vfioAliases) {
            modules.add(alias.module());
        }
        return modules;
    }

    /**
     * Parses {@code modules.alias} text. Lines that are not {@code alias <pattern> <module>} are
     * reported (the first few) and skipped; only vfio_pci aliases are kept.
     */
    public static ModuleAliases parse(BufferedReader reader, String source) {
        List<VfioAlias> aliases = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        int junk = 0;
        int lineNo = 0;
        try {
            String line;
            while ((line = reader.readLine()) != null) {
                lineNo++;
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                if (line.length() > MAX_LINE) {
                    junk = noteJunk(problems, junk, source, lineNo, "a line of " + line.length() + " characters");
                    continue;
                }
                String[] words = line.trim().split("\\s+");
                if (words.length != 3 || !words[0].equals("alias")) {
                    junk = noteJunk(problems, junk, source, lineNo, Names.quote(line));
                    continue;
                }
                if (!words[1].startsWith(VFIO_PREFIX)) {
                    continue;
                }
                if (!Names.isDriverName(words[2])) {
                    junk = noteJunk(problems, junk, source, lineNo, "module name " + Names.quote(words[2]));
                    continue;
                }
                aliases.add(new VfioAlias(words[1].substring(VFIO_PREFIX.length()), words[2], aliases.size()));
            }
        } catch (IOException e) {
            throw new HostReadException("cannot read " + source + ": " + e.getMessage(), e);
        }
        if (junk > 3) {
            problems.add(source + ": " + (junk - 3) + " more unreadable lines skipped");
        }
        return new ModuleAliases(aliases, problems);
    }

    /**
     * Parses {@code modules.builtin.modinfo}: NUL-separated {@code module.key=value} entries, of which
     * {@code <module>.alias=vfio_pci:...} are kept.
     */
    public static ModuleAliases parseBuiltinModinfo(byte[] content, String source) {
        List<VfioAlias> aliases = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= content.length; i++) {
            if (i == content.length || content[i] == 0) {
                if (i > start) {
                    String entry = new String(content, start, i - start, java.nio.charset.StandardCharsets.ISO_8859_1);
                    int dot = entry.indexOf('.');
                    int eq = entry.indexOf('=');
                    if (dot > 0 && eq > dot && entry.startsWith("alias=" + VFIO_PREFIX, dot + 1)) {
                        String module = entry.substring(0, dot);
                        if (Names.isDriverName(module)) {
                            aliases.add(new VfioAlias(entry.substring(eq + 1 + VFIO_PREFIX.length()), module,
                                    aliases.size()));
                        } else if (problems.isEmpty()) {
                            problems.add(source + ": skipped an entry with module name " + Names.quote(module));
                        }
                    }
                }
                start = i + 1;
            }
        }
        return new ModuleAliases(aliases, problems);
    }

    /** This file's aliases first, then the other's; file order is kept for tie-breaking. */
    public ModuleAliases followedBy(ModuleAliases other) {
        List<VfioAlias> merged = new ArrayList<>(vfioAliases);
        for (VfioAlias alias : other.vfioAliases) {
            merged.add(new VfioAlias(alias.pattern(), alias.module(), merged.size()));
        }
        List<String> allProblems = new ArrayList<>(problems);
        allProblems.addAll(other.problems);
        return new ModuleAliases(merged, allProblems);
    }

    private static int noteJunk(List<String> problems, int junk, String source, int lineNo, String what) {
        if (junk < 3) {
            problems.add(source + " line " + lineNo + ": not an alias line, skipped: " + what);
        }
        return junk + 1;
    }
}
