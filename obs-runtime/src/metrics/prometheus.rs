//! The `prometheus` crate and obs's registry, both ways (feature `prometheus`).
//!
//! - [`register_registry`]: a `prometheus::Registry` (its default one, or yours) is served on
//!   obs's `/metrics` with obs's own families, in both exposition formats. It goes through
//!   [`register_collector`](super::register_collector): its families keep obs's name rules and
//!   series limits, and are visible to [`Snapshot`](super::Snapshot), so alert rules can use them.
//! - [`ObsCollector`]: obs's registry as a `prometheus` collector, for an application that serves
//!   its own `prometheus::Registry`.
//!
//! A name that both define is refused when the registry is registered (an `Err` naming it); as a
//! registry can get metrics later, a family it gets afterwards whose name is taken is skipped at
//! each scrape, and counted in `obs_internal_errors_total{component="metrics",reason="family_taken"}`.
//!
//! What is served as it is in the `prometheus` crate's text encoder: names (a counter not named
//! `..._total` keeps its name in the text format; OpenMetrics, which requires it, adds `_total` to
//! its samples), help, label names and values, histogram buckets. Untyped families are served as
//! gauges. Summaries (which the crate's own metrics never are), histograms without a finite
//! bucket, and families whose name or labels obs refuses are skipped, each scrape, and counted as
//! `unsupported_family`; a sample whose label names are not its family's (the first sample's) as
//! `invalid_sample`. Timestamps are dropped. A family is registered in obs for good once it was
//! served, even if the registry drops it later.
//!
//! ```
//! use prometheus::{IntCounterVec, Opts, Registry};
//! use obs_runtime::metrics::{Format, encode, prometheus::register_registry};
//!
//! let registry = Registry::new();
//! let jobs = IntCounterVec::new(Opts::new("doc_jobs_total", "Jobs run"), &["queue"])?;
//! registry.register(Box::new(jobs.clone()))?;
//! jobs.with_label_values(&["email"]).inc_by(3);
//! register_registry(&registry)?;
//!
//! let body = encode(Format::Text);
//! assert!(body.contains("# TYPE doc_jobs_total counter\ndoc_jobs_total{queue=\"email\"} 3\n"));
//!
//! // A metric the registry gets later is served too.
//! let depth = prometheus::Gauge::new("doc_queue_depth", "Jobs waiting")?;
//! registry.register(Box::new(depth.clone()))?;
//! depth.set(7.0);
//! assert!(encode(Format::Text).contains("doc_queue_depth 7\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use prometheus::proto::{self, MetricType};

use super::MetricError;
use super::collector::{Collected, Collector, Desc, register_bridge};
use super::encode::{EncodedFamily, EncodedValue, Kind};
use super::registry::registry;

thread_local! {
    /// Set while obs gathers a bridged registry: an [`ObsCollector`] in it yields nothing then
    /// (obs serves its own families already, and reading them again would read the registry
    /// again).
    static IN_BRIDGE: Cell<bool> = const { Cell::new(false) };
}

/// `registry.gather()` with [`IN_BRIDGE`] set, and put back as it was however it ends (a
/// collector of the registry may panic: the scrape catches it, and this thread must not keep
/// the flag).
fn gather_bridged(registry: &prometheus::Registry) -> Vec<proto::MetricFamily> {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_BRIDGE.set(self.0);
        }
    }
    let _restore = Restore(IN_BRIDGE.replace(true));
    registry.gather()
}

/// Serves `registry` on obs's `/metrics` (and in [`encode`](super::encode)), with obs's own
/// families: `prometheus::default_registry()` for the metrics of the crate's `register_*!`
/// macros, or a registry of yours.
///
/// `Err` names the first family of the registry whose name is taken (by obs, a hand-written
/// family, a collector) or breaks obs's rules; nothing is registered then. See the
/// [module](self) for what is served, and what is done with families the registry gets later.
pub fn register_registry(registry: &prometheus::Registry) -> Result<(), MetricError> {
    register_bridge(Arc::new(Bridged { registry: registry.clone() }))
}

/// A `prometheus::Registry` as an obs collector.
struct Bridged {
    registry: prometheus::Registry,
}

impl Collector for Bridged {
    fn describe(&self) -> Vec<Desc> {
        // What cannot be described is left to the scrapes, which skip and count it.
        gather_bridged(&self.registry).iter().filter_map(|family| desc(family).ok()).collect()
    }

    fn collect(&self, out: &mut Collected<'_>) {
        for family in gather_bridged(&self.registry) {
            let name = family.name();
            let desc = match desc(&family) {
                Ok(desc) => desc,
                Err(()) => {
                    out.unsupported(name);
                    continue;
                }
            };
            match out.describe(desc.clone()) {
                Ok(()) => {}
                // Counted by `describe`.
                Err(
                    MetricError::AlreadyRegistered { .. }
                    | MetricError::DescribedTwice { .. }
                    | MetricError::TooManyFamilies { .. },
                ) => continue,
                Err(_) => {
                    out.unsupported(name);
                    continue;
                }
            }
            let names = label_names(family.get_metric().first());
            for metric in family.get_metric() {
                if label_names(Some(metric)) != names {
                    out.invalid(name);
                    continue;
                }
                let values: Vec<&str> = metric.get_label().iter().map(|pair| pair.value()).collect();
                match family.get_field_type() {
                    MetricType::COUNTER => out.counter(name, &values, metric.counter.value()),
                    MetricType::GAUGE => out.gauge(name, &values, metric.gauge.value()),
                    MetricType::UNTYPED => out.gauge(name, &values, metric.untyped.value()),
                    MetricType::HISTOGRAM => match histogram(&metric.histogram, desc.buckets()) {
                        Some((counts, sum)) => out.histogram(name, &values, &counts, sum),
                        None => out.invalid(name),
                    },
                    MetricType::SUMMARY => out.unsupported(name),
                }
            }
        }
    }
}

fn label_names(metric: Option<&proto::Metric>) -> Vec<&str> {
    metric.map(|metric| metric.get_label().iter().map(|pair| pair.name()).collect()).unwrap_or_default()
}

/// The obs family of a `prometheus` family, from its first metric's labels (and buckets).
fn desc(family: &proto::MetricFamily) -> Result<Desc, ()> {
    let (name, help) = (family.name(), family.help());
    let labels = label_names(family.get_metric().first());
    let desc = match family.get_field_type() {
        MetricType::COUNTER => Desc::foreign_counter(name, help, &labels),
        MetricType::GAUGE | MetricType::UNTYPED => Desc::gauge(name, help, &labels),
        MetricType::HISTOGRAM => {
            let first = family.get_metric().first().ok_or(())?;
            Desc::histogram(name, help, &labels, &bounds(&first.histogram))
        }
        MetricType::SUMMARY => return Err(()),
    };
    desc.check().map_err(|_| ())?;
    Ok(desc)
}

/// A histogram's finite bucket bounds (the crate leaves `+Inf` out; a collector may not).
fn bounds(histogram: &proto::Histogram) -> Vec<f64> {
    histogram.get_bucket().iter().map(|bucket| bucket.upper_bound()).filter(|bound| bound.is_finite()).collect()
}

/// Per-bucket counts (not cumulative, `+Inf` last) and the sum, if the bounds are `expected`.
fn histogram(histogram: &proto::Histogram, expected: &[f64]) -> Option<(Vec<u64>, f64)> {
    if bounds(histogram) != expected {
        return None;
    }
    let mut counts = Vec::with_capacity(expected.len() + 1);
    let mut before = 0u64;
    for bucket in histogram.get_bucket().iter().filter(|bucket| bucket.upper_bound().is_finite()) {
        let cumulative = bucket.cumulative_count();
        counts.push(cumulative.checked_sub(before)?);
        before = cumulative;
    }
    counts.push(histogram.get_sample_count().checked_sub(before)?);
    Some((counts, histogram.get_sample_sum()))
}

/// obs's registry as a `prometheus` collector: register it into the `prometheus::Registry` your
/// application serves, and obs's families (request metrics, process metrics, hand-written
/// families, collectors, obs's self-metrics) are in its `gather()`.
///
/// The families obs has when the collector is made, and the request families, are its
/// descriptors, so the registry refuses it if it has one of those names already; a family
/// registered in obs later is gathered without that check (the `prometheus` crate's `gather`
/// merges two families of one name without looking: register obs's families before making the
/// collector, or keep their names apart). Registries bridged into obs with [`register_registry`] are left out of what it gathers
/// (register them into yours directly), and it yields nothing when obs gathers a bridged registry
/// that holds it: a registry that holds obs and is served by obs has each family once, and
/// neither reads itself forever.
///
/// ```
/// use obs_runtime::metrics::{Counter, prometheus::ObsCollector};
/// use prometheus::{Encoder, Registry, TextEncoder};
///
/// let orders = Counter::register("doc_collector_orders_total", "Orders placed")?;
/// orders.inc_by(2.0);
///
/// let registry = Registry::new();
/// registry.register(Box::new(ObsCollector::new()))?;
/// let mut body = Vec::new();
/// TextEncoder::new().encode(&registry.gather(), &mut body)?;
/// assert!(String::from_utf8(body)?.contains("doc_collector_orders_total 2\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ObsCollector {
    descs: Vec<prometheus::core::Desc>,
}

impl fmt::Debug for ObsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObsCollector").field("descs", &self.descs.len()).finish()
    }
}

impl Default for ObsCollector {
    fn default() -> Self {
        ObsCollector::new()
    }
}

impl ObsCollector {
    /// A collector of obs's registry, described by the families obs has now.
    pub fn new() -> ObsCollector {
        let mut families: Vec<(String, String, Vec<String>)> = obs_families()
            .into_iter()
            .map(|family| {
                let labels = family.series.first().map(|series| series.labels.iter().map(|(name, _)| name.clone()));
                (family.name, family.help, labels.into_iter().flatten().collect())
            })
            .collect();
        // The request families appear with the first request: described now, so that a registry
        // that has their names refuses obs rather than mixing them into its own later.
        for (name, help, labels) in REQUEST_FAMILIES {
            if !families.iter().any(|(known, ..)| known == name) {
                families.push((
                    name.to_owned(),
                    help.to_owned(),
                    labels.iter().map(|label| (*label).to_owned()).collect(),
                ));
            }
        }
        let descs = families
            .into_iter()
            .filter_map(|(name, help, labels)| {
                let help = if help.is_empty() { name.clone() } else { help };
                prometheus::core::Desc::new(name, help, labels, HashMap::new()).ok()
            })
            .collect();
        ObsCollector { descs }
    }
}

/// The families `#[track_request]` and the tower layer write: name, help, label names.
const REQUEST_FAMILIES: [(&str, &str, &[&str]); 3] = [
    ("http_requests_total", "Total HTTP requests", &["method", "endpoint", "status"]),
    ("http_request_duration_seconds", "HTTP request duration", &["method", "endpoint"]),
    ("http_requests_in_flight", "Requests being handled now, per endpoint", &["method", "endpoint"]),
];

fn obs_families() -> Vec<EncodedFamily> {
    registry().families(false, false)
}

impl prometheus::core::Collector for ObsCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        if IN_BRIDGE.get() {
            return Vec::new();
        }
        obs_families().into_iter().filter(|family| !family.series.is_empty()).map(metric_family).collect()
    }
}

fn metric_family(family: EncodedFamily) -> proto::MetricFamily {
    let mut out = proto::MetricFamily::default();
    out.set_name(family.name);
    out.set_help(family.help);
    out.set_field_type(match family.kind {
        Kind::Counter => MetricType::COUNTER,
        Kind::Gauge => MetricType::GAUGE,
        Kind::Histogram => MetricType::HISTOGRAM,
    });
    let metrics = family
        .series
        .into_iter()
        .map(|series| {
            let mut metric = proto::Metric::default();
            let labels = series.labels.into_iter().map(|(name, value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name(name);
                pair.set_value(value);
                pair
            });
            metric.set_label(labels.collect());
            match (family.kind, series.value) {
                (Kind::Counter, EncodedValue::Scalar(value)) => {
                    let mut counter = proto::Counter::default();
                    counter.set_value(value);
                    metric.set_counter(counter);
                }
                (_, EncodedValue::Scalar(value)) => {
                    let mut gauge = proto::Gauge::default();
                    gauge.set_value(value);
                    metric.set_gauge(gauge);
                }
                (_, EncodedValue::Histogram { bounds, cumulative, sum }) => {
                    let mut histogram = proto::Histogram::default();
                    histogram.set_sample_count(cumulative.last().copied().unwrap_or_default());
                    histogram.set_sample_sum(sum);
                    let buckets = bounds.iter().zip(&cumulative).map(|(bound, count)| {
                        let mut bucket = proto::Bucket::default();
                        bucket.set_upper_bound(*bound);
                        bucket.set_cumulative_count(*count);
                        bucket
                    });
                    histogram.set_bucket(buckets.collect());
                    metric.set_histogram(histogram);
                }
            }
            metric
        })
        .collect();
    out.set_metric(metrics);
    out
}
