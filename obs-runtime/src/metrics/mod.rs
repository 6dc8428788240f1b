//! Metrics: the request metrics `#[track_request]` records, hand-written metrics on the same
//! registry, process metrics, and the exposition formats.
//!
//! What a scrape shows (the chapter's names and labels):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method`, `endpoint`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `endpoint` |
//! | `http_requests_in_flight` | gauge | `method`, `endpoint` (sites with `track_concurrency`) |
//! | `active_connections` | gauge | none: the sum of the in-flight gauges |
//! | `memory_usage_bytes` | gauge | none: resident memory |
//! | `process_*` | | the standard process metrics (CPU, memory, fds, threads, start time) |
//!
//! A request series appears after its first call. Request metrics are recorded into per-thread
//! shards and summed when scraped, so instrumented code on many cores does not contend.
//!
//! ```
//! #[obs_runtime::track_request("GET", "/doc/users")]
//! fn get_users() -> Result<Vec<String>, std::io::Error> {
//!     Ok(vec!["ada".into()])
//! }
//!
//! get_users()?;
//! let body = obs_runtime::metrics::encode(obs_runtime::metrics::Format::Text);
//! assert!(body.contains(r#"http_requests_total{method="GET",endpoint="/doc/users",status="200"} 1"#));
//! # Ok::<(), std::io::Error>(())
//! ```

#[cfg(feature = "metrics")]
mod encode;
#[cfg(feature = "metrics")]
mod family;
mod outcome;
#[cfg(feature = "metrics")]
mod process;
#[cfg(feature = "metrics")]
mod registry;
#[cfg(feature = "metrics")]
pub(crate) mod request;
#[cfg(feature = "metrics")]
mod samples;
#[cfg(feature = "metrics")]
mod view;

#[cfg(feature = "metrics")]
use std::fmt;

#[cfg(feature = "metrics")]
pub use encode::Format;
#[cfg(feature = "metrics")]
pub use family::{Counter, CounterVec, Gauge, GaugeVec, Histogram, HistogramVec};
pub use outcome::RequestOutcome;
#[doc(hidden)]
pub use outcome::rules;
#[cfg(feature = "metrics")]
pub use request::MAX_BUCKETS;
#[cfg(feature = "metrics")]
pub use samples::Samples;
#[cfg(feature = "metrics")]
pub use view::{Labels, Snapshot};

/// The default buckets of `http_request_duration_seconds`, in seconds: the Prometheus client
/// libraries' defaults, from 5 ms to 10 s. Change them with [`crate::ObsBuilder::default_buckets`]
/// or per site with `buckets = [..]`.
pub const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[cfg(feature = "metrics")]
/// Everything registered, in the given exposition format: what `/metrics` serves. Use it to serve
/// metrics from your own HTTP server instead of the embedded one.
pub fn encode(format: Format) -> String {
    registry::registry().encode(format)
}

#[cfg(feature = "metrics")]
/// Why a metric could not be registered or resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricError {
    /// The metric name breaks the Prometheus naming rules.
    InvalidName {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A label name breaks the rules, or is listed twice.
    InvalidLabel {
        /// The label as given.
        label: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A family of that name, or one whose samples use it (`x_count` of a histogram `x`), exists
    /// already. obs's own names, and the `process_` prefix, are taken from the start.
    AlreadyRegistered {
        /// The name.
        name: String,
    },
    /// `with_labels` got a different number of values than the family has label names.
    LabelCount {
        /// The family.
        name: String,
        /// How many label names the family has.
        expected: usize,
        /// How many values were given.
        got: usize,
    },
    /// Histogram buckets that are empty, not finite, or not strictly increasing.
    InvalidBuckets {
        /// What is wrong.
        reason: &'static str,
    },
}

#[cfg(feature = "metrics")]
impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricError::InvalidName { name, reason } => write!(f, "invalid metric name {name:?}: {reason}"),
            MetricError::InvalidLabel { label, reason } => write!(f, "invalid label name {label:?}: {reason}"),
            MetricError::AlreadyRegistered { name } => write!(f, "a metric named {name:?} is already registered"),
            MetricError::LabelCount { name, expected, got } => {
                write!(f, "{name} has {expected} label(s), got {got} value(s)")
            }
            MetricError::InvalidBuckets { reason } => write!(f, "invalid buckets: {reason}"),
        }
    }
}

#[cfg(feature = "metrics")]
impl std::error::Error for MetricError {}

#[cfg(feature = "metrics")]
pub(crate) fn check_buckets(buckets: &[f64]) -> Result<(), MetricError> {
    if buckets.is_empty() {
        return Err(MetricError::InvalidBuckets { reason: "at least one bound is needed" });
    }
    if buckets.iter().any(|bound| !bound.is_finite()) {
        return Err(MetricError::InvalidBuckets { reason: "bounds must be finite (+Inf is always added)" });
    }
    if buckets.windows(2).any(|pair| pair[1] <= pair[0]) {
        return Err(MetricError::InvalidBuckets { reason: "bounds must be strictly increasing" });
    }
    Ok(())
}

/// [`check_buckets`], and few enough for a request-duration histogram.
#[cfg(feature = "metrics")]
pub(crate) fn check_request_buckets(buckets: &[f64]) -> Result<(), MetricError> {
    check_buckets(buckets)?;
    if buckets.len() > MAX_BUCKETS {
        return Err(MetricError::InvalidBuckets { reason: "at most 32 bucket bounds for request durations" });
    }
    Ok(())
}

#[cfg(feature = "metrics")]
pub(crate) fn set_default_buckets(buckets: &[f64]) -> Result<(), MetricError> {
    registry::registry().set_default_buckets(buckets)
}

#[cfg(feature = "metrics")]
/// Starts the hot path's clock now (calibrating the TSC takes a few milliseconds) rather than in
/// the first instrumented call.
pub(crate) fn warm_up() {
    let _ = request::clock();
}
