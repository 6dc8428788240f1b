//! The Prometheus text exposition format (0.0.4) and OpenMetrics 1.0.

use std::fmt::Write as _;

/// Which exposition format a scrape gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4: what `promtool check metrics` reads.
    Text,
    /// OpenMetrics 1.0 text: counters' family names drop `_total`, and the body ends in `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The format a scraper asks for in its `Accept` header: OpenMetrics when it lists
    /// `application/openmetrics-text`, else the Prometheus text format.
    ///
    /// ```
    /// use obs_runtime::metrics::Format;
    /// let prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    /// assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
    /// assert_eq!(Format::from_accept(Some("text/plain")), Format::Text);
    /// assert_eq!(Format::from_accept(None), Format::Text);
    /// ```
    pub fn from_accept(accept: Option<&str>) -> Format {
        let wants_openmetrics = accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut params = range.split(';').map(str::trim);
                let media = params.next().unwrap_or_default();
                let refused = params.any(|param| {
                    let param = param.replace(' ', "");
                    param.strip_prefix("q=").and_then(|q| q.parse::<f64>().ok()).is_some_and(|q| q <= 0.0)
                });
                media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
        if wants_openmetrics { Format::OpenMetrics } else { Format::Text }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Writes one exposition body, family after family.
pub(crate) struct Encoder {
    out: String,
    format: Format,
}

impl Encoder {
    pub(crate) fn new(format: Format) -> Encoder {
        Encoder { out: String::with_capacity(4096), format }
    }

    /// `# HELP` and `# TYPE` for a family. `name` is the sample name (`..._total` for counters).
    pub(crate) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let family = match (self.format, kind) {
            (Format::OpenMetrics, Kind::Counter) => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let _ = write!(self.out, "# HELP {family} ");
        // OpenMetrics escapes `"` in HELP too; the Prometheus text format does not.
        escape_into(&mut self.out, help, self.format == Format::OpenMetrics);
        let _ = writeln!(self.out, "\n# TYPE {family} {}", kind.as_str());
    }

    /// One sample line: `name{labels} value`.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (index, (label, label_value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_into(&mut self.out, label_value, true);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        push_float(&mut self.out, value);
        self.out.push('\n');
    }

    /// A histogram's `_bucket`, `_sum` and `_count` lines from per-bucket (not cumulative) counts.
    pub(crate) fn histogram(&mut self, name: &str, labels: &[(&str, &str)], bounds: &[f64], counts: &[u64], sum: f64) {
        let bucket_name = format!("{name}_bucket");
        let mut cumulative = 0u64;
        let mut le = String::new();
        for (index, count) in counts.iter().enumerate() {
            cumulative += count;
            le.clear();
            match bounds.get(index) {
                Some(bound) => push_le(&mut le, *bound),
                None => le.push_str("+Inf"),
            }
            let mut with_le: Vec<(&str, &str)> = Vec::with_capacity(labels.len() + 1);
            with_le.extend_from_slice(labels);
            with_le.push(("le", le.as_str()));
            self.sample(&bucket_name, &with_le, cumulative as f64);
        }
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, cumulative as f64);
    }

    pub(crate) fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// Escapes `\`, newline and (in label values) `"`, as both formats require.
fn escape_into(out: &mut String, text: &str, quote: bool) {
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            ch => out.push(ch),
        }
    }
}

fn push_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
}

/// A bucket bound as a float with a decimal point (`1.0`, not `1`), the canonical `le` form.
fn push_le(out: &mut String, bound: f64) {
    if bound.fract() == 0.0 && bound.abs() < 1e15 {
        let _ = write!(out, "{bound:.1}");
    } else {
        push_float(out, bound);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut encoder = Encoder::new(Format::Text);
        encoder.family("x_total", Kind::Counter, "a \\ b\nc \"q\"");
        encoder.sample("x_total", &[("path", "a\"b\\c\nd")], 1.0);
        assert_eq!(
            encoder.finish(),
            "# HELP x_total a \\\\ b\\nc \"q\"\n# TYPE x_total counter\nx_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
    }

    #[test]
    fn openmetrics_help_escapes_quotes() {
        let mut encoder = Encoder::new(Format::OpenMetrics);
        encoder.family("x_total", Kind::Counter, "say \"hi\"");
        assert_eq!(encoder.finish(), "# HELP x say \\\"hi\\\"\n# TYPE x counter\n# EOF\n");
    }

    #[test]
    fn a_refused_openmetrics_is_not_served_whatever_the_spelling_of_zero() {
        for refused in ["q=0", "q=0.0", "q=0.000", " q = 0 "] {
            let accept = format!("application/openmetrics-text;{refused},text/plain");
            assert_eq!(Format::from_accept(Some(&accept)), Format::Text, "{accept}");
        }
        let wanted = "application/openmetrics-text;q=0.1,text/plain";
        assert_eq!(Format::from_accept(Some(wanted)), Format::OpenMetrics);
    }

    #[test]
    fn openmetrics_counter_family_drops_total_and_body_ends_with_eof() {
        let mut encoder = Encoder::new(Format::OpenMetrics);
        encoder.family("x_total", Kind::Counter, "h");
        encoder.sample("x_total", &[], 2.0);
        assert_eq!(encoder.finish(), "# HELP x h\n# TYPE x counter\nx_total 2\n# EOF\n");
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_float_le() {
        let mut encoder = Encoder::new(Format::Text);
        encoder.histogram("d_seconds", &[("m", "GET")], &[0.5, 1.0], &[1, 2, 3], 4.25);
        let body = encoder.finish();
        assert_eq!(
            body,
            "d_seconds_bucket{m=\"GET\",le=\"0.5\"} 1\nd_seconds_bucket{m=\"GET\",le=\"1.0\"} 3\n\
             d_seconds_bucket{m=\"GET\",le=\"+Inf\"} 6\nd_seconds_sum{m=\"GET\"} 4.25\nd_seconds_count{m=\"GET\"} 6\n"
        );
    }
}
