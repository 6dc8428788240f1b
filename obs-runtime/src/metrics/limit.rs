//! Series limits: how many label sets a family may hold, and where the rest go.
//!
//! Each family (the request families, a hand-written `CounterVec`/`GaugeVec`/`HistogramVec`, a
//! collector's family) holds at most its limit of label sets: 2,000 unless set otherwise. A label
//! set the family does not hold yet, once the family is full, is not created: what is recorded
//! for it goes to the family's one overflow series, whose only label is
//! `otel_metric_overflow="true"` (the OpenTelemetry metrics SDK's overflow attribute
//! `otel.metric.overflow`, in Prometheus spelling). Label sets made before the limit keep their
//! series, so the sum over a family's series, the overflow one included, is everything recorded.
//!
//! The limit counts ordinary label sets; the overflow series comes on top (the OpenTelemetry SDK
//! counts it within its limit: its 2,000 is 1,999 ordinary points and the overflow one).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::sync;

use super::MetricError;
use super::family::{CounterVec, check_name};

/// The number of label sets a family holds before new ones go to its overflow series, unless
/// [`set_series_limit`] or [`set_default_series_limit`] says otherwise.
pub const DEFAULT_SERIES_LIMIT: usize = 2_000;

/// The largest limit [`set_series_limit`] and [`set_default_series_limit`] take: a limit is a
/// bound on memory, and more series than this in one family is no longer one.
pub const MAX_SERIES_LIMIT: usize = 1_000_000;

/// The label of a family's overflow series (its value is `"true"`): OpenTelemetry's
/// `otel.metric.overflow` attribute, in Prometheus spelling.
pub const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// The self-metric counting label sets sent to an overflow series, by family.
pub(crate) const OVERFLOW_FAMILY: &str = "obs_metric_series_overflow_total";

/// The request families share their series (one per method and endpoint), so they share a limit,
/// set and counted under this name.
pub(crate) const REQUEST_FAMILY: &str = "http_requests_total";

struct Limits {
    default: usize,
    per_family: BTreeMap<String, usize>,
}

static LIMITS: Mutex<Limits> = Mutex::new(Limits { default: DEFAULT_SERIES_LIMIT, per_family: BTreeMap::new() });

/// The name a limit is kept under: the request families are one.
fn canonical(family: &str) -> &str {
    match family {
        "http_request_duration_seconds" | "http_requests_in_flight" => REQUEST_FAMILY,
        other => other,
    }
}

pub(crate) fn check_limit(family: Option<&str>, limit: usize) -> Result<(), MetricError> {
    let reason = if limit == 0 {
        "a family holds at least one label set"
    } else if limit > MAX_SERIES_LIMIT {
        "at most 1,000,000 label sets per family (MAX_SERIES_LIMIT)"
    } else {
        return Ok(());
    };
    Err(MetricError::InvalidSeriesLimit { family: family.map(str::to_owned), limit, reason })
}

/// Sets how many label sets the family `family` holds before new ones go to its overflow series
/// `{otel_metric_overflow="true"}`. Works before or after the family is registered; label sets
/// the family already holds keep their series even past a lower limit.
///
/// `family` is the name the family was registered with (`jobs_total` for a counter, the
/// histogram's name without `_bucket`), or a collector's family. The request families
/// (`http_requests_total`, `http_request_duration_seconds`, `http_requests_in_flight`) share their
/// series, one per method and endpoint, so any of their names sets their one limit.
///
/// A limit of 0, or above [`MAX_SERIES_LIMIT`], is an `Err` naming the family and the limit.
///
/// ```
/// use obs_runtime::metrics::{CounterVec, set_series_limit, series_count};
/// set_series_limit("doc_limited_jobs_total", 2)?;
/// let jobs = CounterVec::register("doc_limited_jobs_total", "Jobs run", &["queue"])?;
/// for queue in ["a", "b", "c", "d"] {
///     jobs.with_labels(&[queue])?.inc();
/// }
/// // "a" and "b", and the overflow series holding the counts of "c" and "d".
/// assert_eq!(series_count("doc_limited_jobs_total"), Some(3));
/// let body = obs_runtime::metrics::encode(obs_runtime::metrics::Format::Text);
/// assert!(body.contains("doc_limited_jobs_total{otel_metric_overflow=\"true\"} 2\n"));
/// assert!(body.contains("obs_metric_series_overflow_total{family=\"doc_limited_jobs_total\"} 2\n"));
///
/// assert!(set_series_limit("doc_limited_jobs_total", 0).is_err());
/// assert!(set_series_limit("not a name", 10).is_err());
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
pub fn set_series_limit(family: &str, limit: usize) -> Result<(), MetricError> {
    check_name(family)?;
    check_limit(Some(family), limit)?;
    let mut limits = sync::lock(&LIMITS);
    limits.per_family.insert(canonical(family).to_owned(), limit);
    Ok(())
}

/// Sets the limit of every family that has none of its own ([`set_series_limit`]); at start,
/// [`DEFAULT_SERIES_LIMIT`]. It applies from the next label set a family creates.
///
/// ```
/// use obs_runtime::metrics::{DEFAULT_SERIES_LIMIT, MetricError, set_default_series_limit};
/// set_default_series_limit(DEFAULT_SERIES_LIMIT)?;
/// assert!(matches!(set_default_series_limit(0), Err(MetricError::InvalidSeriesLimit { .. })));
/// assert!(set_default_series_limit(usize::MAX).is_err());
/// # Ok::<(), MetricError>(())
/// ```
pub fn set_default_series_limit(limit: usize) -> Result<(), MetricError> {
    check_limit(None, limit)?;
    sync::lock(&LIMITS).default = limit;
    Ok(())
}

/// The limit of `family` now.
pub(crate) fn series_limit(family: &str) -> usize {
    let limits = sync::lock(&LIMITS);
    limits.per_family.get(canonical(family)).copied().unwrap_or(limits.default)
}

/// Records that `count` label sets of `family` went to its overflow series: counted in
/// `obs_metric_series_overflow_total{family}`, and said once per family (through `warned`).
/// Never called with a lock of the registry or of a family held.
pub(crate) fn overflowed(family: &str, limit: usize, warned: &AtomicBool, count: u64) {
    if count == 0 {
        return;
    }
    if !warned.swap(true, Ordering::Relaxed) {
        crate::diagnostics::warn(
            "metrics",
            "series_limit",
            &format!(
                "the metric family {family} reached its limit of {limit} label sets: what is recorded for new \
                 ones goes to its series {{{OVERFLOW_LABEL}=\"true\"}} (see obs_metric_series_overflow_total)"
            ),
        );
    }
    // Its own overflow is not counted in itself (there is one label set per family: never, in
    // practice), which also keeps this from recursing.
    if family == OVERFLOW_FAMILY {
        return;
    }
    static COUNTER: OnceLock<Option<CounterVec>> = OnceLock::new();
    let counter = COUNTER.get_or_init(|| {
        CounterVec::register(
            OVERFLOW_FAMILY,
            "Label sets sent to a family's overflow series {otel_metric_overflow=\"true\"} because the family \
             held its limit of series: per with_labels call, per request series resolved (a #[track_request] \
             site once, the tower layer per request), a collector's family by the growth of what it folds",
            &["family"],
        )
        .ok()
    });
    if let Some(counter) = counter
        && let Ok(counter) = counter.with_labels(&[family])
    {
        counter.inc_by(count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_the_request_families_share_one() {
        assert!(matches!(
            set_series_limit("limit_test_total", 0),
            Err(MetricError::InvalidSeriesLimit { family: Some(ref name), limit: 0, .. }) if name == "limit_test_total"
        ));
        assert!(set_series_limit("limit_test_total", MAX_SERIES_LIMIT + 1).is_err());
        assert!(matches!(set_series_limit("9bad", 10), Err(MetricError::InvalidName { .. })));
        assert!(set_default_series_limit(0).is_err());
        set_series_limit("limit_test_total", MAX_SERIES_LIMIT).expect("the largest limit is taken");
        assert_eq!(series_limit("limit_test_total"), MAX_SERIES_LIMIT);
        assert_eq!(series_limit("limit_test_other_total"), LIMITS.lock().expect("not poisoned").default);
        assert_eq!(canonical("http_request_duration_seconds"), REQUEST_FAMILY);
        assert_eq!(canonical("http_requests_in_flight"), REQUEST_FAMILY);
        let message = set_series_limit("limit_test_total", 0).expect_err("0").to_string();
        assert!(message.contains("limit_test_total") && message.contains('0'), "{message}");
    }
}
