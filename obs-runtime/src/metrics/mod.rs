//! Metrics: the request metrics `#[track_request]` records, hand-written metrics on the same
//! registry, process metrics, and the exposition formats.
//!
//! What a scrape shows:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method`, `endpoint`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `endpoint` |
//! | `http_requests_in_flight` | gauge | `method`, `endpoint` (sites with `track_concurrency`) |
//! | `active_connections` | gauge | none: the sum of the in-flight gauges |
//! | `memory_usage_bytes` | gauge | none: resident memory |
//! | `process_*` | | the standard process metrics (CPU, memory, fds, threads, start time) |
//! | `obs_metric_series_overflow_total` | counter | `family`: label sets sent to its overflow series |
//!
//! A request series appears after its first call. Request metrics are recorded into per-thread
//! shards and summed when scraped, so instrumented code on many cores does not contend.
//!
//! **Every family is bounded.** A family holds at most its series limit of label sets
//! ([`DEFAULT_SERIES_LIMIT`], 2,000; [`set_series_limit`] per family, [`set_default_series_limit`]):
//! the request families count (method, endpoint) pairs, from `#[track_request]` sites and the
//! tower layer's routes together; a hand-written `*Vec` counts its `with_labels` label sets; a
//! collector's family, the label sets of one collection. Past the limit, a new label set is not
//! created: what is recorded for it goes to the family's one overflow series, whose only label is
//! `otel_metric_overflow="true"` (OpenTelemetry's `otel.metric.overflow`; the limit counts the
//! ordinary series, the overflow one comes on top). The series made before keep counting, so
//! the sum over a family's series is everything recorded. The limit is checked only when a series
//! would be made: a resolved `#[track_request]` site and a `with_labels` handle record as before.
//!
//! `obs_metric_series_overflow_total{family}` counts each label set sent to the overflow series,
//! where it is resolved: each `with_labels` call that got the overflow series (not each update
//! of the handle it returns), each `#[track_request]` site resolved to it (once: a site resolves
//! once), each tower-layer request whose route has no series of its own, and, for a collector's
//! family, each label set more than the last scrape folded (the growth of the overflow, not again
//! at every scrape; a [`Snapshot`] read counts nothing).
//! The first overflow of each family is also said once as a warning, counted in
//! `obs_internal_errors_total{component="metrics",reason="series_limit"}`.
//!
//! **Collectors** ([`Collector`], [`register_collector`]) yield families computed when read: a
//! bridge from another metrics library, a pool's statistics. Their families are encoded like the
//! others, visible to [`Snapshot`] (and so to alert rules), and keep the same name rules.
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
mod build_info;
#[cfg(feature = "metrics")]
mod collector;
#[cfg(feature = "metrics")]
mod encode;
#[cfg(all(feature = "metrics", feature = "trace"))]
mod exemplar;
#[cfg(feature = "metrics")]
mod family;
#[cfg(feature = "metrics")]
pub(crate) mod limit;
#[cfg(feature = "metrics-rs")]
pub mod metrics_rs;
#[cfg(all(feature = "metrics", feature = "otlp"))]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub mod otlp;
mod outcome;
#[cfg(feature = "metrics")]
pub(crate) mod pillar;
#[cfg(feature = "metrics")]
mod process;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "metrics")]
pub(crate) mod registry;
#[cfg(feature = "metrics")]
pub(crate) mod request;
#[cfg(any(feature = "tower", feature = "alerts", all(test, feature = "tonic")))]
pub(crate) mod rpc_names;
#[cfg(feature = "runtime-metrics")]
mod runtime;
#[cfg(feature = "metrics")]
mod samples;
#[cfg(feature = "metrics")]
mod target_info;
#[cfg(feature = "metrics")]
mod view;

#[cfg(feature = "metrics")]
use std::fmt;

#[cfg(feature = "metrics")]
pub use build_info::{BuildInfo, register_build_info};
#[cfg(feature = "metrics")]
pub use collector::{Collected, Collector, Desc, MAX_ADDED_FAMILIES, MetricKind, register_collector};
#[cfg(feature = "metrics")]
pub use encode::Format;
#[cfg(any(feature = "alerts", feature = "testing"))]
pub(crate) use encode::push_le;
#[cfg(all(feature = "metrics", feature = "trace"))]
pub use exemplar::set_exemplars;
#[cfg(feature = "metrics")]
pub use family::{Counter, CounterVec, Gauge, GaugeVec, Histogram, HistogramVec};
#[cfg(feature = "metrics")]
pub use limit::{DEFAULT_SERIES_LIMIT, MAX_SERIES_LIMIT, OVERFLOW_LABEL, set_default_series_limit, set_series_limit};
pub use outcome::RequestOutcome;
#[cfg(feature = "metrics")]
pub(crate) use pillar::Pillar;
#[cfg(feature = "metrics")]
pub use request::MAX_BUCKETS;
#[cfg(feature = "runtime-metrics")]
pub use runtime::register_tokio_runtime;
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
/// How many series the family `name` holds now, its overflow series included: the label sets
/// of a hand-written family, the (method, endpoint) pairs of the request families (any of their
/// names), or what a collector's family yielded at the last scrape or read, after the limit.
/// `None` for a name no family has.
///
/// ```
/// use obs_runtime::metrics::{GaugeVec, series_count};
/// let depth = GaugeVec::register("doc_count_queue_depth", "Jobs waiting", &["queue"])?;
/// assert_eq!(series_count("doc_count_queue_depth"), Some(0));
/// depth.with_labels(&["email"])?.set(3.0);
/// assert_eq!(series_count("doc_count_queue_depth"), Some(1));
/// assert_eq!(series_count("doc_count_absent"), None);
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
pub fn series_count(name: &str) -> Option<usize> {
    registry::registry().series_count(name)
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
    /// A series limit of 0, or above [`MAX_SERIES_LIMIT`].
    InvalidSeriesLimit {
        /// The family, or `None` for the default limit.
        family: Option<String>,
        /// The limit as given.
        limit: usize,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A collector describes two families that take one name (the same name, or a histogram `x`
    /// and a family `x_count`, ...).
    DescribedTwice {
        /// The name.
        name: String,
    },
    /// A collector's `describe` panicked (the panic was caught): nothing of it is registered.
    CollectorPanicked,
    /// A collector added more families while collecting than it may ([`MAX_ADDED_FAMILIES`]).
    TooManyFamilies {
        /// The limit.
        limit: usize,
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
            MetricError::InvalidSeriesLimit { family: Some(family), limit, reason } => {
                write!(f, "invalid series limit {limit} for {family}: {reason}")
            }
            MetricError::InvalidSeriesLimit { family: None, limit, reason } => {
                write!(f, "invalid default series limit {limit}: {reason}")
            }
            MetricError::DescribedTwice { name } => {
                write!(f, "the collector describes more than one family named {name:?}")
            }
            MetricError::CollectorPanicked => {
                write!(f, "the collector's `describe` panicked: nothing of it is registered")
            }
            MetricError::TooManyFamilies { limit } => {
                write!(f, "a collector may add at most {limit} families while collecting")
            }
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
