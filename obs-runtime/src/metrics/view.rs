//! Reading the live registry from code: what alert conditions (and a user's closures) see.

use std::cell::{Cell, OnceCell};

use super::limit::OVERFLOW_LABEL;
use super::process::{self, ProcessStats};
use super::registry::registry;
use super::request::{RequestSeries, SeriesSnapshot};

/// One series' value as a [`Collect`](super::registry::Collect) family reads it.
pub(crate) enum Reading<'a> {
    /// A counter's or gauge's value.
    Scalar(f64),
    /// A histogram: bucket upper bounds (without `+Inf`) and per-bucket counts (not cumulative;
    /// one more than the bounds, the last is `+Inf`).
    Histogram { bounds: &'a [f64], counts: &'a [u64] },
}

/// The labels of one series, valid for the duration of a callback.
///
/// ```
/// # use obs_runtime::metrics::{GaugeVec, Snapshot};
/// let depth = GaugeVec::register("doc_view_queue_depth", "Jobs waiting", &["queue"])?;
/// depth.with_labels(&["email"])?.set(3.0);
/// Snapshot::take().for_each("doc_view_queue_depth", |labels, value| {
///     assert_eq!(labels.get("queue"), Some("email"));
///     assert_eq!(value, 3.0);
/// });
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a>(LabelsRepr<'a>);

#[derive(Debug, Clone, Copy)]
enum LabelsRepr<'a> {
    Named {
        names: &'a [String],
        values: &'a [String],
    },
    Request {
        method: &'a str,
        endpoint: &'a str,
        status: Option<&'a str>,
    },
    /// A family's overflow series: `otel_metric_overflow="true"` and nothing else.
    Overflow,
}

impl<'a> Labels<'a> {
    pub(crate) fn named(names: &'a [String], values: &'a [String]) -> Labels<'a> {
        Labels(LabelsRepr::Named { names, values })
    }

    fn request(method: &'a str, endpoint: &'a str, status: Option<&'a str>) -> Labels<'a> {
        Labels(LabelsRepr::Request { method, endpoint, status })
    }

    /// The labels of a family's overflow series.
    pub(crate) fn overflow() -> Labels<'a> {
        Labels(LabelsRepr::Overflow)
    }

    /// The labels of a request series without its status (the overflow series' if it is that).
    fn of_series(series: &'a RequestSeries) -> Labels<'a> {
        if series.overflow { Labels::overflow() } else { Labels::request(series.method, series.endpoint, None) }
    }

    /// The value of label `name`, if the series has it.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        match self.0 {
            LabelsRepr::Named { names, values } => {
                names.iter().position(|label| label == name).map(|index| values[index].as_str())
            }
            LabelsRepr::Request { method, endpoint, status } => match name {
                "method" => Some(method),
                "endpoint" => Some(endpoint),
                "status" => status,
                _ => None,
            },
            LabelsRepr::Overflow => (name == OVERFLOW_LABEL).then_some("true"),
        }
    }

    /// Every (name, value) pair, in the family's label order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let (named, request) = match self.0 {
            LabelsRepr::Named { names, values } => {
                (Some(names.iter().map(String::as_str).zip(values.iter().map(String::as_str))), None)
            }
            LabelsRepr::Request { method, endpoint, status } => {
                let pairs = [("method", Some(method)), ("endpoint", Some(endpoint)), ("status", status)];
                (None, Some(pairs))
            }
            LabelsRepr::Overflow => (None, Some([(OVERFLOW_LABEL, Some("true")), ("", None), ("", None)])),
        };
        let request = request.into_iter().flatten().filter_map(|(name, value)| Some((name, value?)));
        named.into_iter().flatten().chain(request)
    }

    /// Whether every `(name, value)` in `matchers` is a label of the series with that value.
    pub fn matches(&self, matchers: &[(&str, &str)]) -> bool {
        self.matches_all(matchers)
    }

    /// [`Labels::matches`] for owned or borrowed pairs.
    pub(crate) fn matches_all(&self, matchers: &[(impl AsRef<str>, impl AsRef<str>)]) -> bool {
        matchers.iter().all(|(name, value)| self.get(name.as_ref()) == Some(value.as_ref()))
    }
}

/// The three ASCII digits of an HTTP status.
fn status_digits(status: u16) -> [u8; 3] {
    let status = status.min(999);
    [b'0' + (status / 100) as u8, b'0' + (status / 10 % 10) as u8, b'0' + (status % 10) as u8]
}

/// A view of everything registered, as a scrape would show it, for code that decides on metrics
/// (alert conditions, a closure passed to `alerts::Condition::custom`).
///
/// Values are read when asked for; the request series and the process statistics are read once
/// per `Snapshot` and kept, so one evaluation pass sees one consistent set of them.
///
/// ```
/// # use obs_runtime::metrics::{Counter, Snapshot};
/// let sent = Counter::register("doc_view_sent_total", "Mails sent")?;
/// sent.inc_by(2.0);
/// let snapshot = Snapshot::take();
/// assert_eq!(snapshot.sum("doc_view_sent_total", &[]), Some(2.0));
/// assert_eq!(snapshot.sum("doc_view_absent_total", &[]), None);
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
pub struct Snapshot {
    requests: OnceCell<Vec<(&'static RequestSeries, SeriesSnapshot)>>,
    process: OnceCell<Option<ProcessStats>>,
    /// Whether callbacks may be anyone's code: then a family's series are read out of its lock
    /// first. Only obs's own evaluation turns it off, around its own callbacks.
    detach: Cell<bool>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot {
    /// A view of the registry now.
    pub fn take() -> Snapshot {
        Snapshot { requests: OnceCell::new(), process: OnceCell::new(), detach: Cell::new(true) }
    }

    /// A view for obs's own callbacks, which never call back into a family.
    #[cfg(feature = "alerts")]
    pub(crate) fn internal() -> Snapshot {
        Snapshot { detach: Cell::new(false), ..Snapshot::take() }
    }

    /// Runs `f` (a user's code) with callbacks detached from the families' locks.
    #[cfg(feature = "alerts")]
    pub(crate) fn for_user<T>(&self, f: impl FnOnce(&Snapshot) -> T) -> T {
        let before = self.detach.replace(true);
        let result = f(self);
        self.detach.set(before);
        result
    }

    fn requests(&self) -> &[(&'static RequestSeries, SeriesSnapshot)] {
        self.requests.get_or_init(|| {
            registry().all_request_series().into_iter().map(|series| (series, series.snapshot())).collect()
        })
    }

    pub(crate) fn process(&self) -> Option<&ProcessStats> {
        self.process.get_or_init(process::read).as_ref()
    }

    /// Calls `f` with each series of the counter or gauge family `name` (the sample name:
    /// `http_requests_total`, `memory_usage_bytes`, `process_cpu_seconds_total`, a family you
    /// registered). Histogram families are read with [`Snapshot::for_each_histogram`].
    pub fn for_each(&self, name: &str, mut f: impl FnMut(Labels<'_>, f64)) {
        match name {
            "http_requests_total" => {
                for (series, snapshot) in self.requests() {
                    if series.overflow {
                        // One series whatever the status, as a scrape shows it.
                        if !snapshot.statuses.is_empty() {
                            let total: u64 = snapshot.statuses.iter().map(|(_, count)| count).sum();
                            f(Labels::overflow(), total as f64);
                        }
                        continue;
                    }
                    for &(status, count) in &snapshot.statuses {
                        let digits = status_digits(status);
                        let status = std::str::from_utf8(&digits).unwrap_or("000");
                        f(Labels::request(series.method, series.endpoint, Some(status)), count as f64);
                    }
                }
            }
            "http_requests_in_flight" => {
                for (series, snapshot) in self.requests() {
                    f(Labels::of_series(series), snapshot.in_flight as f64);
                }
            }
            "active_connections" => {
                let total: i64 = self.requests().iter().map(|(_, snapshot)| snapshot.in_flight).sum();
                f(Labels::named(&[], &[]), total as f64);
            }
            _ if name == "memory_usage_bytes" || name.starts_with("process_") => {
                if let Some(value) = self.process().and_then(|stats| stats.value(name)) {
                    f(Labels::named(&[], &[]), value);
                }
            }
            _ => {
                if let Some(family) = registry().family(name) {
                    family.read(
                        &mut |labels, reading| {
                            if let Reading::Scalar(value) = reading {
                                f(labels, value);
                            }
                        },
                        self.detach.get(),
                    );
                }
            }
        }
    }

    /// Whether a family `name` exists (obs's own, the process's, or a registered one), with or
    /// without series yet.
    #[cfg(feature = "alerts")]
    pub(crate) fn knows(&self, name: &str) -> bool {
        matches!(
            name,
            "http_requests_total" | "http_request_duration_seconds" | "http_requests_in_flight" | "active_connections"
        ) || self.process().is_some_and(|stats| stats.value(name).is_some())
            || registry().family(name).is_some()
    }

    /// Calls `f` with each series of the histogram family `name`
    /// (`http_request_duration_seconds`, or one you registered): its labels, the bucket upper
    /// bounds (without `+Inf`) and the per-bucket counts (not cumulative; the last is `+Inf`).
    pub fn for_each_histogram(&self, name: &str, mut f: impl FnMut(Labels<'_>, &[f64], &[u64])) {
        if name == "http_request_duration_seconds" {
            for (series, snapshot) in self.requests() {
                f(Labels::of_series(series), &series.bounds_seconds, &snapshot.buckets);
            }
        } else if let Some(family) = registry().family(name) {
            family.read(
                &mut |labels, reading| {
                    if let Reading::Histogram { bounds, counts } = reading {
                        f(labels, bounds, counts);
                    }
                },
                self.detach.get(),
            );
        }
    }

    /// The sum of the series of `name` whose labels include every `matchers` pair; `None` when
    /// no series matches.
    pub fn sum(&self, name: &str, matchers: &[(&str, &str)]) -> Option<f64> {
        self.fold(name, matchers, |total, value| total + value)
    }

    /// The largest value among the matching series of `name`; `None` when none matches.
    pub fn max(&self, name: &str, matchers: &[(&str, &str)]) -> Option<f64> {
        self.fold(name, matchers, f64::max)
    }

    /// The smallest value among the matching series of `name`; `None` when none matches.
    pub fn min(&self, name: &str, matchers: &[(&str, &str)]) -> Option<f64> {
        self.fold(name, matchers, f64::min)
    }

    pub(crate) fn fold(
        &self,
        name: &str,
        matchers: &[(impl AsRef<str>, impl AsRef<str>)],
        combine: impl Fn(f64, f64) -> f64,
    ) -> Option<f64> {
        let mut result = None;
        self.for_each(name, |labels, value| {
            if labels.matches_all(matchers) {
                result = Some(result.map_or(value, |so_far| combine(so_far, value)));
            }
        });
        result
    }
}

impl ProcessStats {
    fn value(&self, name: &str) -> Option<f64> {
        Some(match name {
            "memory_usage_bytes" | "process_resident_memory_bytes" => self.resident_bytes as f64,
            "process_cpu_seconds_total" => self.cpu_seconds,
            "process_virtual_memory_bytes" => self.virtual_bytes as f64,
            "process_start_time_seconds" => self.start_time_seconds,
            "process_threads" => self.threads as f64,
            "process_open_fds" => self.open_fds? as f64,
            "process_max_fds" => self.max_fds? as f64,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_labels_read_like_a_scrape() {
        let digits = status_digits(503);
        let labels = Labels::request("GET", "/x", Some(std::str::from_utf8(&digits).expect("ASCII digits")));
        assert_eq!(labels.get("status"), Some("503"));
        assert!(labels.matches(&[("method", "GET"), ("endpoint", "/x")]));
        assert!(!labels.matches(&[("method", "POST")]));
        let pairs: Vec<_> = labels.iter().collect();
        assert_eq!(pairs, [("method", "GET"), ("endpoint", "/x"), ("status", "503")]);
    }
}
