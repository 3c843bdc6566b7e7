package com.example.vfio.plugin.prometheus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.example.vfio.plugin.prometheus.Scrape.Format;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The test parser is strict: what the formats forbid is refused, naming the line. */
class ScrapeTest {

    private static final String HISTOGRAM_TEXT = """
            # HELP d_seconds Time.
            # TYPE d_seconds histogram
            d_seconds_bucket{r="a",le="0.1"} 1
            d_seconds_bucket{r="a",le="+Inf"} 2
            d_seconds_count{r="a"} 2
            d_seconds_sum{r="a"} 0.3
            """;

    @Test
    void reads_families_samples_labels_and_escapes_of_both_formats() {
        Map<String, Scrape.Family> text = Scrape.parse("""
                # HELP e_total Errors "by" kind.\\nSecond line.
                # TYPE e_total counter
                e_total{kind="a\\"b\\\\c\\nd"} 3.0
                # a comment
                """ + HISTOGRAM_TEXT, Format.TEXT);
        assertThat(text.get("e_total").help()).isEqualTo("Errors \"by\" kind.\nSecond line.");
        assertThat(text.get("e_total").value("e_total", "kind", "a\"b\\c\nd")).isEqualTo(3.0);
        assertThat(text.get("d_seconds").bucketBounds("r", "a")).containsExactly("0.1", "+Inf");

        Map<String, Scrape.Family> om = Scrape.parse("""
                # TYPE e counter
                # HELP e Errors.
                e_total 1
                # TYPE d_seconds histogram
                # UNIT d_seconds seconds
                d_seconds_bucket{le="+Inf"} 0
                d_seconds_count 0
                d_seconds_sum 0.0
                # EOF
                """, Format.OPENMETRICS);
        assertThat(om.get("e").type()).isEqualTo("counter");
        assertThat(om.get("d_seconds").unit()).isEqualTo("seconds");
    }

    @Test
    void refuses_what_the_formats_forbid() {
        refused(Format.OPENMETRICS, "# TYPE e counter\ne_total 1\n", "without # EOF");
        refused(Format.OPENMETRICS, "# TYPE e counter\n\ne_total 1\n# EOF\n", "blank line");
        refused(Format.OPENMETRICS, "# TYPE e counter\ne_total -1\n# EOF\n", "negative count");
        refused(Format.OPENMETRICS, "# TYPE d histogram\n# UNIT d seconds\n# EOF\n", "does not end with its unit");
        refused(Format.TEXT, "# TYPE g gauge\ng 1\n# HELP g late\n", "after its samples");
        refused(Format.TEXT, "# TYPE g gauge\n# TYPE g counter\n", "second TYPE");
        refused(Format.TEXT, "# TYPE g gauge\ng 1\ng 2\n", "series given twice");
        refused(Format.TEXT, "# TYPE g gauge\ng 1\n# TYPE h gauge\nh 1\ng{a=\"b\"} 1\n", "interleaved");
        refused(Format.TEXT, "# TYPE g gauge\ng{a=\"b\",a=\"c\"} 1\n", "given twice");
        refused(Format.TEXT, "# TYPE g gauge\ng{a=\"\\t\"} 1\n", "bad escape");
        refused(Format.TEXT, "# TYPE g gauge\ng{a=b} 1\n", "not quoted");
        refused(Format.TEXT, "# TYPE g gauge\ng{1a=\"b\"} 1\n", "bad label name");
        refused(Format.TEXT, "# TYPE g gauge\ng 0x10\n", "expected a value");
        refused(Format.TEXT, "# TYPE g gauge\ng 1", "newline");
        refused(Format.TEXT, "# TYPE g meter\n", "unknown type");
        refused(Format.TEXT, HISTOGRAM_TEXT.replace("le=\"0.1\"} 1", "le=\"0.1\"} 3"), "not cumulative");
        refused(Format.TEXT, HISTOGRAM_TEXT.replace("_count{r=\"a\"} 2", "_count{r=\"a\"} 5"), "+Inf bucket");
        refused(Format.TEXT, HISTOGRAM_TEXT.replace("le=\"+Inf\"", "le=\"0.05\""), "not ascending");
        refused(Format.TEXT, HISTOGRAM_TEXT.replace("d_seconds_sum{r=\"a\"} 0.3\n", ""), "_sum differ");
    }

    private static void refused(Format format, String body, String why) {
        assertThatThrownBy(() -> Scrape.parse(body, format)).as(body)
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(why);
    }
}
