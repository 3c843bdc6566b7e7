package com.example.vfio.plugin.prometheus;

import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * One scrape of a {@code /metrics} endpoint as a Prometheus server reads it, parsed strictly. The Prometheus Java
 * client (1.x, and simpleclient before it) only writes the formats, so this is a minimal parser of the two text
 * formats it writes: the text format 0.0.4 and OpenMetrics 1.0 (without exemplars, which our metrics do not
 * record). Anything the formats do not allow is an {@link IllegalArgumentException} naming the line: metadata
 * after samples or given twice, a sample that does not belong to its family's type, interleaved families, a
 * repeated series, bad label syntax or escapes, a malformed number, histogram buckets that are not cumulative or
 * whose {@code +Inf} bucket is not {@code _count}, and in OpenMetrics blank lines, a missing {@code # EOF}, a
 * unit the name does not end with, or negative counts.
 */
public final class Scrape {

    /** The two formats, as a scraper asks for them (Accept) and as the client answers (Content-Type). */
    public enum Format {
        TEXT("text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "text/plain; version=0.0.4; charset=utf-8"),
        OPENMETRICS("application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                "application/openmetrics-text; version=1.0.0; charset=utf-8");

        final String accept;
        final String contentType;

        Format(String accept, String contentType) {
            this.accept = accept;
            this.contentType = contentType;
        }
    }

    public record Sample(String name, Map<String, String> labels, double value) {
    }

    public record Family(String name, String type, String help, String unit, List<Sample> samples) {
        /** The value of the sample of that name with exactly these labels ({@code k1, v1, k2, v2, ...}). */
        public double value(String sampleName, String... labelPairs) {
            Map<String, String> want = new TreeMap<>();
            for (int i = 0; i < labelPairs.length; i += 2) {
                want.put(labelPairs[i], labelPairs[i + 1]);
            }
            return samples.stream().filter(s -> s.name.equals(sampleName) && s.labels.equals(want))
                    .findFirst().orElseThrow(() -> new AssertionError("no sample " + sampleName + want + " in "
                            + samples)).value;
        }

        /** The {@code le} bounds of the buckets of the series with these other labels, in order. */
        public List<String> bucketBounds(String... labelPairs) {
            Map<String, String> want = new TreeMap<>();
            for (int i = 0; i < labelPairs.length; i += 2) {
                want.put(labelPairs[i], labelPairs[i + 1]);
            }
            List<String> bounds = new ArrayList<>();
            for (Sample s : samples) {
                Map<String, String> rest = new TreeMap<>(s.labels);
                String le = rest.remove("le");
                if (s.name.equals(name + "_bucket") && rest.equals(want)) {
                    bounds.add(le);
                }
            }
            return bounds;
        }
    }

    private static final Pattern METRIC_NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    private static final Pattern NUMBER =
            Pattern.compile("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?|[+-]?Inf|NaN");
    private static final Set<String> TEXT_TYPES = Set.of("counter", "gauge", "histogram", "summary", "untyped");
    private static final Set<String> OPENMETRICS_TYPES =
            Set.of("counter", "gauge", "histogram", "gaugehistogram", "stateset", "info", "summary", "unknown");

    public final String contentType;
    private final Map<String, Family> families;

    private Scrape(String contentType, Map<String, Family> families) {
        this.contentType = contentType;
        this.families = families;
    }

    /** GET {@code http://127.0.0.1:port/metrics} asking for the format; it must answer 200 in that format. */
    public static Scrape of(int port, Format format) throws IOException, InterruptedException {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + port + "/metrics")).header("Accept", format.accept).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new AssertionError("/metrics answered " + r.statusCode() + ": " + r.body());
        }
        String type = r.headers().firstValue("Content-Type").orElse("");
        if (!type.equals(format.contentType)) {
            throw new AssertionError("asked for " + format + ", got Content-Type " + type);
        }
        return new Scrape(type, parse(r.body(), format));
    }

    /** The registry as the text format writes it, without HTTP. */
    public static Scrape of(PrometheusRegistry registry) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            PrometheusTextFormatWriter.create().write(out, registry.scrape(), EscapingScheme.DEFAULT);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Scrape(PrometheusTextFormatWriter.CONTENT_TYPE, parse(out.toString(StandardCharsets.UTF_8),
                Format.TEXT));
    }

    public Set<String> names() {
        return families.keySet();
    }

    public Family family(String name) {
        Family f = families.get(name);
        if (f == null) {
            throw new AssertionError("no metric family " + name + " among " + families.keySet());
        }
        return f;
    }

    public List<Family> families() {
        return List.copyOf(families.values());
    }

    /** The families of a body, by name in their order; strict (see the class comment). */
    public static Map<String, Family> parse(String body, Format format) {
        boolean om = format == Format.OPENMETRICS;
        Map<String, Family> done = new LinkedHashMap<>();
        Set<String> series = new HashSet<>();
        String[] lines = body.split("\n", -1);
        if (!body.isEmpty() && !body.endsWith("\n")) { // an empty text exposition is valid: no metric
            throw new IllegalArgumentException("the body does not end with a newline");
        }
        Builder current = null;
        boolean eof = false;
        for (int n = 0; n < lines.length - 1; n++) {
            String line = lines[n];
            String where = "line " + (n + 1) + " '" + line + "': ";
            if (eof) {
                throw new IllegalArgumentException(where + "after # EOF");
            }
            if (line.isEmpty()) {
                if (om) {
                    throw new IllegalArgumentException(where + "blank line in OpenMetrics");
                }
                continue;
            }
            if (line.startsWith("#")) {
                if (om && line.equals("# EOF")) {
                    eof = true;
                    continue;
                }
                String[] parts = line.split(" ", 4);
                boolean meta = parts.length >= 3 && parts[0].equals("#")
                        && (parts[1].equals("HELP") || parts[1].equals("TYPE") || (om && parts[1].equals("UNIT")));
                if (!meta) {
                    if (om) {
                        throw new IllegalArgumentException(where + "not a HELP, TYPE or UNIT line");
                    }
                    continue; // a comment, allowed in the text format
                }
                String name = parts[2];
                String rest = parts.length > 3 ? parts[3] : "";
                if (!METRIC_NAME.matcher(name).matches()) {
                    throw new IllegalArgumentException(where + "bad metric name " + name);
                }
                if (current != null && current.name.equals(name)) {
                    if (!current.samples.isEmpty()) {
                        throw new IllegalArgumentException(where + "metadata of " + name + " after its samples");
                    }
                } else {
                    if (current != null) {
                        done.put(current.name, current.build(om, where));
                    }
                    if (done.containsKey(name)) {
                        throw new IllegalArgumentException(where + "family " + name + " given twice");
                    }
                    current = new Builder(name);
                }
                switch (parts[1]) {
                    case "HELP" -> {
                        if (current.help != null) {
                            throw new IllegalArgumentException(where + "second HELP");
                        }
                        current.help = unescape(rest, false, where);
                    }
                    case "TYPE" -> {
                        if (current.type != null) {
                            throw new IllegalArgumentException(where + "second TYPE");
                        }
                        if (!(om ? OPENMETRICS_TYPES : TEXT_TYPES).contains(rest)) {
                            throw new IllegalArgumentException(where + "unknown type " + rest);
                        }
                        current.type = rest;
                    }
                    default -> {
                        if (current.unit != null) {
                            throw new IllegalArgumentException(where + "second UNIT");
                        }
                        if (!name.endsWith("_" + rest)) {
                            throw new IllegalArgumentException(where + "the name does not end with its unit " + rest);
                        }
                        current.unit = rest;
                    }
                }
                continue;
            }
            Sample s = sample(line, where);
            if (current == null || !belongs(current, s.name, om)) {
                // a sample without metadata is its own untyped/unknown family (not one our client writes)
                if (current != null) {
                    done.put(current.name, current.build(om, where));
                }
                if (done.containsKey(s.name)) {
                    throw new IllegalArgumentException(where + "family " + s.name + " is interleaved with another");
                }
                current = new Builder(s.name);
                current.type = om ? "unknown" : "untyped";
            }
            if (!series.add(s.name + s.labels)) {
                throw new IllegalArgumentException(where + "series given twice");
            }
            if (om && s.value < 0 && (current.type.equals("counter") || s.name.endsWith("_count")
                    || s.name.endsWith("_bucket"))) {
                throw new IllegalArgumentException(where + "negative count");
            }
            current.samples.add(s);
        }
        if (current != null) {
            done.put(current.name, current.build(om, "at the end: "));
        }
        if (om && !eof) {
            throw new IllegalArgumentException("OpenMetrics without # EOF");
        }
        return done;
    }

    private static boolean belongs(Builder f, String sample, boolean om) {
        String type = f.type == null ? (om ? "unknown" : "untyped") : f.type;
        List<String> suffixes = switch (type) {
            case "counter" -> om ? List.of("_total", "_created") : List.of("");
            case "histogram", "gaugehistogram" -> om ? List.of("_bucket", "_count", "_sum", "_created",
                    "_gcount", "_gsum") : List.of("_bucket", "_count", "_sum");
            case "summary" -> om ? List.of("", "_count", "_sum", "_created") : List.of("", "_count", "_sum");
            case "info" -> List.of("_info");
            default -> List.of("");
        };
        return suffixes.stream().anyMatch(x -> sample.equals(f.name + x));
    }

    private static Sample sample(String line, String where) {
        int i = 0;
        while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') {
            i++;
        }
        String name = line.substring(0, i);
        if (!METRIC_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException(where + "bad metric name " + name);
        }
        Map<String, String> labels = new TreeMap<>();
        if (i < line.length() && line.charAt(i) == '{') {
            i++;
            while (line.charAt(i) != '}') {
                int eq = line.indexOf('=', i);
                if (eq < 0) {
                    throw new IllegalArgumentException(where + "label without =");
                }
                String label = line.substring(i, eq);
                if (!LABEL_NAME.matcher(label).matches()) {
                    throw new IllegalArgumentException(where + "bad label name " + label);
                }
                if (eq + 1 >= line.length() || line.charAt(eq + 1) != '"') {
                    throw new IllegalArgumentException(where + "label value not quoted");
                }
                StringBuilder raw = new StringBuilder();
                int j = eq + 2;
                for (; j < line.length() && line.charAt(j) != '"'; j++) {
                    raw.append(line.charAt(j));
                    if (line.charAt(j) == '\\' && j + 1 < line.length()) {
                        raw.append(line.charAt(++j));
                    }
                }
                if (j >= line.length()) {
                    throw new IllegalArgumentException(where + "unterminated label value");
                }
                if (labels.put(label, unescape(raw.toString(), true, where)) != null) {
                    throw new IllegalArgumentException(where + "label " + label + " given twice");
                }
                i = j + 1;
                if (i < line.length() && line.charAt(i) == ',') {
                    i++;
                } else if (i >= line.length() || line.charAt(i) != '}') {
                    throw new IllegalArgumentException(where + "expected , or } after a label");
                }
            }
            i++;
        }
        if (i >= line.length() || line.charAt(i) != ' ') {
            throw new IllegalArgumentException(where + "no space before the value");
        }
        String[] rest = line.substring(i + 1).split(" ", -1);
        if (rest.length > 2 || !NUMBER.matcher(rest[0]).matches()
                || rest.length == 2 && !NUMBER.matcher(rest[1]).matches()) {
            throw new IllegalArgumentException(where + "expected a value and an optional timestamp");
        }
        String v = rest[0].replace("Inf", "Infinity");
        return new Sample(name, labels, Double.parseDouble(v));
    }

    private static String unescape(String s, boolean quotes, String where) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\') {
                out.append(c);
                continue;
            }
            char next = i + 1 < s.length() ? s.charAt(++i) : ' ';
            switch (next) {
                case '\\' -> out.append('\\');
                case 'n' -> out.append('\n');
                case '"' -> {
                    if (!quotes) {
                        throw new IllegalArgumentException(where + "\\\" outside a label value");
                    }
                    out.append('"');
                }
                default -> throw new IllegalArgumentException(where + "bad escape \\" + next);
            }
        }
        return out.toString();
    }

    private static final class Builder {
        final String name;
        String type;
        String help;
        String unit;
        final List<Sample> samples = new ArrayList<>();

        Builder(String name) {
            this.name = name;
        }

        Family build(boolean om, String where) {
            String t = type == null ? (om ? "unknown" : "untyped") : type;
            if (t.equals("histogram")) {
                checkHistogram(where);
            }
            return new Family(name, t, help, unit, List.copyOf(samples));
        }

        /** Per series: ascending bounds, cumulative counts, a +Inf bucket equal to _count, and a _sum. */
        private void checkHistogram(String where) {
            Map<Map<String, String>, List<Sample>> buckets = new LinkedHashMap<>();
            Map<Map<String, String>, Double> counts = new LinkedHashMap<>();
            Set<Map<String, String>> sums = new HashSet<>();
            for (Sample s : samples) {
                Map<String, String> rest = new TreeMap<>(s.labels);
                if (s.name.equals(name + "_bucket")) {
                    if (rest.remove("le") == null) {
                        throw new IllegalArgumentException(where + name + ": a bucket without le");
                    }
                    buckets.computeIfAbsent(rest, k -> new ArrayList<>()).add(s);
                } else if (s.name.equals(name + "_count")) {
                    counts.put(rest, s.value);
                } else if (s.name.equals(name + "_sum")) {
                    sums.add(rest);
                }
            }
            if (!buckets.keySet().equals(counts.keySet()) || !sums.equals(counts.keySet())) {
                throw new IllegalArgumentException(where + name + ": series with buckets, _count and _sum differ");
            }
            buckets.forEach((labels, list) -> {
                double lastBound = Double.NEGATIVE_INFINITY;
                double lastCount = 0;
                for (Sample b : list) {
                    String le = b.labels.get("le");
                    if (!NUMBER.matcher(le).matches()) {
                        throw new IllegalArgumentException(where + name + ": le=" + le + " is not a number");
                    }
                    double bound = Double.parseDouble(le.replace("Inf", "Infinity"));
                    if (bound <= lastBound || b.value < lastCount) {
                        throw new IllegalArgumentException(where + name + labels
                                + ": buckets not ascending or not cumulative at le=" + b.labels.get("le"));
                    }
                    lastBound = bound;
                    lastCount = b.value;
                }
                if (lastBound != Double.POSITIVE_INFINITY || lastCount != counts.get(labels)) {
                    throw new IllegalArgumentException(where + name + labels + ": the +Inf bucket is not _count");
                }
            });
        }
    }
}
