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
    /// The format a scraper asks for in its `Accept` header, negotiated by RFC 9110 §12.5.1.
    ///
    /// Each media range is weighed by its `q` (default 1; `q=0` means "not acceptable"). Each
    /// format takes the `q` of the most specific range that matches it:
    ///
    /// - Text: `text/plain;version=0.0.4`, then `text/plain` without a version, then `text/*`,
    ///   then `*/*`;
    /// - OpenMetrics: `application/openmetrics-text` with `version=1.0.0` or `version=0.0.1` (the
    ///   same wire format here), then without a version, then `application/*`, then `*/*`.
    ///
    /// A range naming another version (`text/plain;version=1.0.0`,
    /// `application/openmetrics-text;version=2.0.0`) matches neither format, as in the Prometheus
    /// Go client. Other parameters (`charset`, `escaping`) are not compared. Media types and
    /// parameter names are case-insensitive and a value may be quoted. A range that cannot be
    /// parsed, including one whose `q` is not a valid qvalue (`q=abc`, `q=2`, `q=0.5555`), is
    /// ignored as if it were absent: it neither grants nor refuses a format.
    ///
    /// The format with the higher `q` wins; a tie goes to the text format (the default of the
    /// Prometheus client libraries), and so does a header that accepts neither format (no 406:
    /// a scraper gets a body it can report on), or no header.
    ///
    /// ```
    /// use obs_runtime::metrics::Format;
    /// // What Prometheus 2.42 sends.
    /// let prometheus = "application/openmetrics-text;version=1.0.0,\
    ///                   application/openmetrics-text;version=0.0.1;q=0.75,\
    ///                   text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
    /// let prefers_text = "application/openmetrics-text;q=0.1, text/plain";
    /// assert_eq!(Format::from_accept(Some(prefers_text)), Format::Text);
    /// assert_eq!(Format::from_accept(Some("*/*")), Format::Text);
    /// assert_eq!(Format::from_accept(None), Format::Text);
    /// ```
    pub fn from_accept(accept: Option<&str>) -> Format {
        let (mut text, mut openmetrics) = (Weight::NONE, Weight::NONE);
        for range in split_unquoted(accept.unwrap_or_default(), b',').filter_map(MediaRange::parse) {
            text.offer(range.specificity_for(Format::Text), range.q);
            openmetrics.offer(range.specificity_for(Format::OpenMetrics), range.q);
        }
        if openmetrics.q > text.q { Format::OpenMetrics } else { Format::Text }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The `q` a format got from the most specific range that matched it so far, in thousandths.
#[derive(Debug, Clone, Copy)]
struct Weight {
    /// 0 `*/*`, 1 `type/*`, 2 `type/subtype`, 3 `type/subtype;version=V`; `None` before any.
    specificity: Option<u8>,
    q: u16,
}

impl Weight {
    const NONE: Weight = Weight { specificity: None, q: 0 };

    fn offer(&mut self, specificity: Option<u8>, q: u16) {
        let Some(specificity) = specificity else { return };
        match self.specificity {
            Some(current) if current > specificity => {}
            // Two ranges as specific as each other (`version=1.0.0` and `version=0.0.1`): the
            // format is served as well as the better of them.
            Some(current) if current == specificity => self.q = self.q.max(q),
            _ => *self = Weight { specificity: Some(specificity), q },
        }
    }
}

/// One media range of an `Accept` header, borrowed from it.
#[derive(Debug)]
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    version: Option<&'a str>,
    /// Thousandths: 0..=1000.
    q: u16,
}

impl<'a> MediaRange<'a> {
    /// `type/subtype *( OWS ";" OWS name=value )`; `None` when it does not follow that grammar.
    fn parse(range: &'a str) -> Option<MediaRange<'a>> {
        let mut parts = split_unquoted(range, b';');
        let (kind, subtype) = parts.next()?.split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut media = MediaRange { kind, subtype, version: None, q: 1000 };
        for parameter in parts {
            let (name, value) = parameter.split_once('=')?;
            let (name, value) = (name.trim(), value.trim());
            let value = value.strip_prefix('"').and_then(|quoted| quoted.strip_suffix('"')).unwrap_or(value);
            if name.eq_ignore_ascii_case("q") {
                // `q` ends the media type's parameters; what follows are accept extensions.
                media.q = parse_qvalue(value)?;
                break;
            }
            if name.eq_ignore_ascii_case("version") {
                media.version = Some(value);
            }
        }
        Some(media)
    }

    /// How specifically this range names `format`, `None` when it does not match it.
    fn specificity_for(&self, format: Format) -> Option<u8> {
        let (kind, subtype, versions): (_, _, &[&str]) = match format {
            Format::Text => ("text", "plain", &["0.0.4"]),
            Format::OpenMetrics => ("application", "openmetrics-text", &["1.0.0", "0.0.1"]),
        };
        if self.kind == "*" {
            Some(0)
        } else if !self.kind.eq_ignore_ascii_case(kind) {
            None
        } else if self.subtype == "*" {
            Some(1)
        } else if !self.subtype.eq_ignore_ascii_case(subtype) {
            None
        } else {
            match self.version {
                None => Some(2),
                Some(version) => versions.contains(&version).then_some(3),
            }
        }
    }
}

/// RFC 9110 `qvalue`: `0[.ddd]` or `1[.000]`, in thousandths.
fn parse_qvalue(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let thousandths =
        fraction.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0, |q, digit| q * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// RFC 9110 `token`.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

/// The pieces of `text` between the `delimiter`s that are outside quoted strings.
fn split_unquoted(text: &str, delimiter: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (at, byte) in text.bytes().enumerate() {
            match byte {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if byte == delimiter && !quoted => {
                    rest = Some(&text[at + 1..]);
                    return Some(&text[..at]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Writes one exposition body, family after family; or, [`Encoder::structured`], keeps them as
/// data.
pub(crate) struct Encoder {
    out: String,
    format: Format,
    structured: Option<Vec<EncodedFamily>>,
    /// Kept as data, with their exemplars (what OTLP sends).
    structured_exemplars: bool,
}

/// A family as data: what [`Encoder::structured`] keeps.
#[cfg_attr(not(any(feature = "prometheus", feature = "push", feature = "otlp")), allow(dead_code))]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EncodedFamily {
    /// The name as in the text format (`..._total` for a counter that has it).
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) help: String,
    pub(crate) series: Vec<EncodedSeries>,
}

/// One series of an [`EncodedFamily`].
#[cfg_attr(not(any(feature = "prometheus", feature = "push", feature = "otlp")), allow(dead_code))]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EncodedSeries {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: EncodedValue,
    /// Its exemplars (a histogram's in bucket order), when the encoder was asked for them.
    pub(crate) exemplars: Vec<ExemplarText>,
}

#[cfg_attr(not(any(feature = "prometheus", feature = "push", feature = "otlp")), allow(dead_code))]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EncodedValue {
    Scalar(f64),
    /// The finite bounds, the cumulative count at each (then `+Inf`'s: the count), the sum.
    Histogram {
        bounds: Vec<f64>,
        cumulative: Vec<u64>,
        sum: f64,
    },
}

impl Encoder {
    pub(crate) fn new(format: Format) -> Encoder {
        Encoder { out: String::with_capacity(4096), format, structured: None, structured_exemplars: false }
    }

    /// An encoder that keeps families as data ([`Encoder::finish_structured`]), as the text
    /// format names them.
    /// `exemplars`: with each series' exemplars.
    #[cfg(any(feature = "prometheus", feature = "push", feature = "otlp"))]
    pub(crate) fn structured(exemplars: bool) -> Encoder {
        Encoder {
            out: String::new(),
            format: Format::Text,
            structured: Some(Vec::new()),
            structured_exemplars: exemplars,
        }
    }

    #[cfg(any(feature = "prometheus", feature = "push", feature = "otlp"))]
    pub(crate) fn finish_structured(self) -> Vec<EncodedFamily> {
        self.structured.unwrap_or_default()
    }

    /// `families` (as [`Encoder::structured`] kept them) in this encoder's format.
    #[cfg(feature = "push")]
    pub(crate) fn write_families(mut self, families: &[EncodedFamily]) -> String {
        for family in families {
            self.family(&family.name, family.kind, &family.help);
            for series in &family.series {
                let labels: Vec<(&str, &str)> =
                    series.labels.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
                match &series.value {
                    EncodedValue::Scalar(value) => self.sample(&family.name, &labels, *value),
                    EncodedValue::Histogram { bounds, cumulative, sum } => {
                        let counts: Vec<u64> = cumulative
                            .iter()
                            .scan(0u64, |before, total| {
                                let count = total.saturating_sub(*before);
                                *before = *total;
                                Some(count)
                            })
                            .collect();
                        self.histogram(&family.name, &labels, bounds, &counts, *sum);
                    }
                }
            }
        }
        self.finish()
    }

    pub(crate) fn format(&self) -> Format {
        self.format
    }

    /// Whether exemplars are written (OpenMetrics text): worth reading them.
    pub(crate) fn wants_exemplars(&self) -> bool {
        (self.format == Format::OpenMetrics && self.structured.is_none()) || self.structured_exemplars
    }

    /// `# HELP` and `# TYPE` for a family. `name` is the sample name (`..._total` for counters).
    pub(crate) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        if let Some(families) = &mut self.structured {
            families.push(EncodedFamily { name: name.to_owned(), kind, help: help.to_owned(), series: Vec::new() });
            return;
        }
        let family = match (self.format, kind) {
            (Format::OpenMetrics, Kind::Counter) => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let _ = write!(self.out, "# HELP {family} ");
        // OpenMetrics escapes `"` in HELP too; the Prometheus text format does not.
        escape_into(&mut self.out, help, self.format == Format::OpenMetrics);
        let _ = writeln!(self.out, "\n# TYPE {family} {}", kind.as_str());
    }

    /// The family just begun holds about `series` series: room for them, when kept as data.
    pub(crate) fn expect_series(&mut self, series: usize) {
        if let Some(family) = self.structured.as_mut().and_then(|families| families.last_mut()) {
            family.series.reserve(series);
        }
    }

    /// One sample line: `name{labels} value`.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        if let Some(families) = &mut self.structured {
            if let Some(family) = families.last_mut() {
                let value = EncodedValue::Scalar(value);
                family.series.push(EncodedSeries { labels: owned(labels), value, exemplars: Vec::new() });
            }
            return;
        }
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
        self.histogram_with_exemplars(name, labels, bounds, counts, sum, &[]);
    }

    /// An OpenMetrics exemplar after the sample line just written: ` # {trace_id="..",span_id=".."}
    /// value timestamp`. Nothing in the text format, which has none.
    pub(crate) fn exemplar(&mut self, exemplar: Option<&ExemplarText>) {
        let Some(exemplar) = exemplar else { return };
        if let Some(families) = &mut self.structured {
            let series = families.last_mut().and_then(|family| family.series.last_mut());
            if let (true, Some(series)) = (self.structured_exemplars, series) {
                series.exemplars.push(exemplar.clone());
            }
            return;
        }
        if self.format != Format::OpenMetrics || !self.out.ends_with('\n') {
            return;
        }
        self.out.pop();
        let _ = write!(self.out, " # {{trace_id=\"{}\",span_id=\"{}\"}} ", exemplar.trace_id, exemplar.span_id);
        push_float(&mut self.out, exemplar.value);
        let _ = writeln!(self.out, " {}.{:03}", exemplar.unix_millis / 1000, exemplar.unix_millis % 1000);
    }

    /// [`Encoder::histogram`] with an exemplar per bucket (`exemplars` empty: none).
    pub(crate) fn histogram_with_exemplars(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
        exemplars: &[Option<ExemplarText>],
    ) {
        if let Some(families) = &mut self.structured {
            let cumulative = counts.iter().scan(0u64, |total, count| Some(*total + count).inspect(|sum| *total = *sum));
            if let Some(family) = families.last_mut() {
                let value = EncodedValue::Histogram { bounds: bounds.to_vec(), cumulative: cumulative.collect(), sum };
                let exemplars =
                    if self.structured_exemplars { exemplars.iter().flatten().cloned().collect() } else { Vec::new() };
                family.series.push(EncodedSeries { labels: owned(labels), value, exemplars });
            }
            return;
        }
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
            self.exemplar(exemplars.get(index).and_then(Option::as_ref));
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

/// An exemplar as the exposition writes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExemplarText {
    /// 32 and 16 lowercase hex digits.
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) value: f64,
    /// When it was recorded, in milliseconds since the epoch.
    pub(crate) unix_millis: u64,
}

fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
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
pub(crate) fn push_le(out: &mut String, bound: f64) {
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

    use Format::{OpenMetrics, Text};

    fn negotiate(accept: &str) -> Format {
        Format::from_accept(Some(accept))
    }

    /// What Prometheus 2.42 sends, captured from a real scrape (and with
    /// `--enable-feature=native-histograms`, which puts protobuf first).
    const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,\
        application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const PROMETHEUS_2_42_NATIVE_HISTOGRAMS: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,\
        application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,\
        text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn what_scrapers_send() {
        assert_eq!(negotiate(PROMETHEUS_2_42), OpenMetrics);
        assert_eq!(negotiate(PROMETHEUS_2_42_NATIVE_HISTOGRAMS), OpenMetrics);
        // Prometheus 3 style: descending q, an `escaping` parameter, a text version we do not speak.
        let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
            application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
            text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(negotiate(prometheus_3), OpenMetrics);
        let descending_q = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,\
            text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(negotiate(descending_q), OpenMetrics);
        // curl, a browser, no header at all, an empty one.
        assert_eq!(negotiate("*/*"), Text);
        assert_eq!(negotiate("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), Text);
        assert_eq!(Format::from_accept(None), Text);
        assert_eq!(negotiate(""), Text);
    }

    #[test]
    fn the_higher_q_wins_both_ways_and_a_tie_goes_to_text() {
        assert_eq!(negotiate("application/openmetrics-text;q=0.1, text/plain"), Text);
        assert_eq!(negotiate("text/plain, application/openmetrics-text;q=0.1"), Text);
        assert_eq!(negotiate("application/openmetrics-text, text/plain;q=0.999"), OpenMetrics);
        assert_eq!(negotiate("text/plain;q=0.5, application/openmetrics-text;q=0.501"), OpenMetrics);
        assert_eq!(negotiate("application/openmetrics-text, text/plain"), Text);
        assert_eq!(negotiate("text/plain;q=0.3, application/openmetrics-text;q=0.3"), Text);
        assert_eq!(negotiate("application/openmetrics-text"), OpenMetrics);
        assert_eq!(negotiate("text/plain"), Text);
    }

    #[test]
    fn a_refused_format_is_not_served_whatever_the_spelling_of_zero() {
        for zero in ["q=0", "q=0.", "q=0.0", "q=0.000", " q = 0 ", "Q=0", "q=\"0\""] {
            let accept = format!("application/openmetrics-text;{zero},text/plain;q=0.1");
            assert_eq!(negotiate(&accept), Text, "{accept}");
            let accept = format!("text/plain;{zero},*/*;q=0.1");
            assert_eq!(negotiate(&accept), OpenMetrics, "{accept}");
        }
        // Refused, and nothing else acceptable: the default rather than a 406.
        assert_eq!(negotiate("application/openmetrics-text;q=0"), Text);
        assert_eq!(negotiate("text/plain;q=0, application/openmetrics-text;q=0"), Text);
    }

    #[test]
    fn wildcards_and_the_more_specific_range_first() {
        assert_eq!(negotiate("text/*"), Text);
        assert_eq!(negotiate("application/*"), OpenMetrics);
        assert_eq!(negotiate("application/*;q=0.9, text/*;q=0.8"), OpenMetrics);
        assert_eq!(negotiate("text/*;q=0.2, */*;q=0.5"), OpenMetrics);
        // The specific range's q counts, not the wildcard's, whichever is higher.
        assert_eq!(negotiate("*/*, text/plain;q=0.1"), OpenMetrics);
        assert_eq!(negotiate("*/*;q=0.1, application/openmetrics-text;q=0.2"), OpenMetrics);
        assert_eq!(negotiate("text/*;q=0.1, text/plain;q=0.9, application/openmetrics-text;q=0.5"), Text);
        assert_eq!(negotiate("text/plain;version=0.0.4;q=0.9, text/plain;q=0.1, application/*;q=0.5"), Text);
        assert_eq!(negotiate("text/plain;version=0.0.4;q=0.1, text/plain;q=0.9, application/*;q=0.5"), OpenMetrics);
        assert_eq!(negotiate("*/*;q=0, text/plain;q=0.01"), Text);
        assert_eq!(negotiate("*/*;q=0, application/openmetrics-text;q=0.01"), OpenMetrics);
    }

    #[test]
    fn versions_we_do_not_speak_match_nothing() {
        assert_eq!(negotiate("application/openmetrics-text;version=0.0.1"), OpenMetrics);
        assert_eq!(negotiate("application/openmetrics-text;version=1.0.0"), OpenMetrics);
        assert_eq!(negotiate("application/openmetrics-text;version=2.0.0, text/plain;q=0.1"), Text);
        assert_eq!(negotiate("text/plain;version=0.0.1, application/openmetrics-text;q=0.1"), OpenMetrics);
        assert_eq!(negotiate("text/plain;version=1.0.0, application/openmetrics-text;q=0.1"), OpenMetrics);
        assert_eq!(negotiate("text/plain;version=0.0.4, application/openmetrics-text;q=0.9"), Text);
        // An unknown version is not a refusal: the wildcard still applies.
        assert_eq!(negotiate("text/plain;version=0.0.1;q=0, text/*;q=0.5, application/*;q=0.4"), Text);
        // The two OpenMetrics versions are one format: the better q counts.
        assert_eq!(
            negotiate("application/openmetrics-text;version=0.0.1;q=0, application/openmetrics-text;version=1.0.0"),
            OpenMetrics
        );
        assert_eq!(negotiate("application/openmetrics-text;version=0.0.1;q=0.9, text/plain;q=0.8"), OpenMetrics);
    }

    #[test]
    fn whitespace_case_quotes_and_other_parameters() {
        assert_eq!(
            negotiate("  Application/OpenMetrics-Text ; Version=1.0.0 ; Q=0.9 ,\tTEXT/PLAIN ; q=0.8  "),
            OpenMetrics
        );
        assert_eq!(
            negotiate("application/openmetrics-text;version=\"1.0.0\";q=\"0.9\", text/plain;q=0.8"),
            OpenMetrics
        );
        assert_eq!(negotiate("application/openmetrics-text;charset=utf-8;escaping=underscores"), OpenMetrics);
        // A comma or semicolon inside a quoted value does not split the range.
        assert_eq!(
            negotiate("application/openmetrics-text;x=\"a,text/plain;q=1\";q=0.9, text/plain;q=0.8"),
            OpenMetrics
        );
        assert_eq!(negotiate("application/openmetrics-text;x=\"a\\\"b,c\";q=0.9, text/plain;q=0.8"), OpenMetrics);
        // Accept extensions after q are ignored.
        assert_eq!(negotiate("application/openmetrics-text;q=0.9;ext=1, text/plain;q=0.8"), OpenMetrics);
    }

    #[test]
    fn a_range_that_does_not_parse_is_ignored() {
        for malformed in ["q=abc", "q=2", "q=1.5", "q=1.001", "q=0.5555", "q=-0", "q=.5", "q=", "q", "version"] {
            // Neither a grant nor a refusal: the wildcard decides.
            let accept = format!("application/openmetrics-text;{malformed}, */*;q=0.5");
            assert_eq!(negotiate(&accept), Text, "{accept}");
            let accept = format!("text/plain;{malformed}, application/*;q=0.5");
            assert_eq!(negotiate(&accept), OpenMetrics, "{accept}");
        }
        for range in ["openmetrics", "*/openmetrics-text", "application/", "/plain", "appli cation/openmetrics-text"] {
            let accept = format!("{range}, text/plain;q=0.5");
            assert_eq!(negotiate(&accept), Text, "{accept}");
        }
        assert_eq!(negotiate(",, ,application/openmetrics-text,"), OpenMetrics);
    }

    #[test]
    fn qvalues_are_read_exactly() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1."), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.05"), Some(50));
        assert_eq!(parse_qvalue("0.001"), Some(1));
        assert_eq!(parse_qvalue("0"), Some(0));
        for bad in ["", "1.1", "0.0001", "01", "+1", "0.x", "2"] {
            assert_eq!(parse_qvalue(bad), None, "{bad}");
        }
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
