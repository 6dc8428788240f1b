//! Every sample of the registry, copied at one moment, for tests: take one before the code under
//! test runs and one after, and assert on the difference. Read from the text exposition, the
//! same bytes a scrape gets, so nothing on the hot path knows about it.

use super::Format;

/// A sample's identity: its name and labels.
type Key<'a> = (&'a str, &'a [(String, String)]);

/// A sample's labels, (name, value) pairs.
type Labels = Vec<(String, String)>;

/// One sample: its name (`http_requests_total`, `x_bucket`), its labels in exposition order and
/// its value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

/// The samples of the whole registry at one moment, or the differences between two such moments.
///
/// ```
/// use obs_runtime::metrics::{RequestOutcome, Samples};
/// use obs_runtime::track_request;
///
/// #[derive(Debug)]
/// struct NotFound;
/// impl RequestOutcome for NotFound {
///     fn http_status(&self) -> u16 { 404 }
/// }
///
/// #[track_request("GET", "/doc/samples/{id}")]
/// fn find(id: u32) -> Result<u32, NotFound> {
///     if id == 7 { Ok(id) } else { Err(NotFound) }
/// }
///
/// let before = Samples::take();
/// find(7).ok();
/// find(8).ok();
/// find(9).ok();
/// let made = Samples::take().since(&before);
/// let requests = |status| made.get("http_requests_total", &[("endpoint", "/doc/samples/{id}"), ("status", status)]);
/// assert_eq!((requests("200"), requests("404")), (1.0, 2.0));
/// assert_eq!(made.get("http_request_duration_seconds_count", &[("endpoint", "/doc/samples/{id}")]), 3.0);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    samples: Vec<Sample>,
}

impl Samples {
    /// Every sample of the registry now.
    pub fn take() -> Samples {
        Samples { samples: parse(&super::encode(Format::Text)) }
    }

    /// Samples made of (name, labels, value).
    #[cfg(feature = "testing")]
    pub(crate) fn from_parts<'a>(parts: impl IntoIterator<Item = (&'a str, Labels, f64)>) -> Samples {
        Samples {
            samples: parts
                .into_iter()
                .map(|(name, labels, value)| Sample { name: name.to_owned(), labels, value })
                .collect(),
        }
    }

    /// The sum of the samples named `name` whose labels include every `matchers` pair; 0 when
    /// none matches (a difference that did not move, or a series never made).
    pub fn get(&self, name: &str, matchers: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|sample| {
                sample.name == name
                    && matchers.iter().all(|(key, value)| {
                        sample.labels.iter().any(|(have_key, have_value)| have_key == key && have_value == value)
                    })
            })
            .map(|sample| sample.value)
            .sum()
    }

    /// What moved since `earlier`: each sample minus its value then (a series made since, or one
    /// that was NaN then, counts from 0). Gauges move both ways; a counter's difference is what
    /// was counted in between. Values are `f64`: a difference of sums of fractions (`_sum`) may
    /// carry rounding, so compare those with a tolerance.
    pub fn since(&self, earlier: &Samples) -> Samples {
        let before: std::collections::HashMap<Key<'_>, f64> =
            earlier.samples.iter().map(|old| ((old.name.as_str(), old.labels.as_slice()), old.value)).collect();
        let samples = self
            .samples
            .iter()
            .filter_map(|sample| {
                let then = before
                    .get(&(sample.name.as_str(), sample.labels.as_slice()))
                    .copied()
                    .filter(|then| !then.is_nan())
                    .unwrap_or(0.0);
                let moved = sample.value - then;
                (moved != 0.0 && !moved.is_nan()).then(|| Sample { value: moved, ..sample.clone() })
            })
            .collect();
        Samples { samples }
    }

    /// The names and labels of the samples (with their values), for messages.
    pub fn iter(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = (&str, &str)>, f64)> {
        self.samples.iter().map(|sample| {
            (
                sample.name.as_str(),
                sample.labels.iter().map(|(key, value)| (key.as_str(), value.as_str())),
                sample.value,
            )
        })
    }
}

/// The samples of a text exposition (format 0.0.4); lines it cannot read are skipped (obs writes
/// none).
fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter(|line| !line.is_empty() && !line.starts_with('#')).filter_map(sample).collect()
}

fn sample(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(at) => line.split_at(at),
        None => return None,
    };
    let mut labels = Vec::new();
    let rest = if let Some(mut rest) = rest.strip_prefix('{') {
        loop {
            rest = rest.trim_start_matches(',');
            if let Some(after) = rest.strip_prefix('}') {
                break after;
            }
            let (key, after) = rest.split_once("=\"")?;
            let (value, after) = quoted(after)?;
            labels.push((key.to_owned(), value));
            rest = after;
        }
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    Some(Sample { name: name.to_owned(), labels, value })
}

/// A label value up to its closing quote, unescaped, and what follows the quote.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[at + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_text_exposition_with_escapes() {
        let text = "# HELP x_total X\n# TYPE x_total counter\nx_total{a=\"q\\\"uote\",b=\"back\\\\slash\\nline\"} 3\nup 1\nh_bucket{le=\"+Inf\"} 2\ng -Inf\n";
        let samples = Samples { samples: parse(text) };
        assert_eq!(samples.get("x_total", &[("a", "q\"uote"), ("b", "back\\slash\nline")]), 3.0);
        assert_eq!(samples.get("up", &[]), 1.0);
        assert_eq!(samples.get("h_bucket", &[("le", "+Inf")]), 2.0);
        assert_eq!(samples.get("g", &[]), f64::NEG_INFINITY);
        assert_eq!(samples.get("absent", &[]), 0.0);
    }

    #[test]
    fn differences_count_from_zero_for_new_series_and_drop_what_did_not_move() {
        let before = Samples { samples: parse("a 1\nb{x=\"1\"} 5\nage NaN\n") };
        let after = Samples { samples: parse("a 1\nb{x=\"1\"} 7\nb{x=\"2\"} 2\nage 3\n") };
        let moved = after.since(&before);
        assert_eq!(moved.get("b", &[]), 4.0);
        assert_eq!(moved.get("b", &[("x", "2")]), 2.0);
        assert_eq!(moved.get("age", &[]), 3.0, "NaN then counts from 0");
        assert_eq!(moved.iter().count(), 3, "a did not move");
    }
}
