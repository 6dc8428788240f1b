//! The one registry of a process: request series, hand-written families, and what a scrape reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use super::encode::{Encoder, Format, Kind};
use super::request::RequestSeries;
use super::view::{Labels, Reading};
use super::{DEFAULT_BUCKETS, MetricError, process};

/// A metric family that prints itself at scrape time.
pub(crate) trait Collect: Send + Sync {
    fn encode(&self, encoder: &mut Encoder);
    /// Calls `f` with each series' labels and value. `detach`: not under the family's lock (for
    /// a callback that may be anyone's code), at the cost of taking the series out first.
    fn read(&self, f: &mut dyn FnMut(Labels<'_>, Reading<'_>), detach: bool);
}

/// Families obs writes itself; a hand-written family may not take their names.
const BUILT_IN: &[(&str, Kind)] = &[
    ("http_requests_total", Kind::Counter),
    ("http_request_duration_seconds", Kind::Histogram),
    ("http_requests_in_flight", Kind::Gauge),
    ("active_connections", Kind::Gauge),
    ("memory_usage_bytes", Kind::Gauge),
];

/// Every name a family's samples and metadata use: a histogram `x` writes `x_bucket`, `x_sum` and
/// `x_count`; a counter `x_total` is the family `x` in OpenMetrics. Two families may share none.
fn claimed_names(name: &str, kind: Kind) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    match kind {
        Kind::Histogram => names.extend(["_bucket", "_sum", "_count"].map(|suffix| format!("{name}{suffix}"))),
        Kind::Counter => names.extend(name.strip_suffix("_total").map(str::to_owned)),
        Kind::Gauge => {}
    }
    names
}

pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Indexed by series id.
    series: Vec<&'static RequestSeries>,
    families: BTreeMap<String, Arc<dyn Collect>>,
    /// The names of every family, built-in ones included (see [`claimed_names`]).
    claimed: BTreeSet<String>,
    default_buckets: Vec<f64>,
}

pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        inner: Mutex::new(Inner {
            series: Vec::new(),
            families: BTreeMap::new(),
            claimed: BUILT_IN.iter().flat_map(|(name, kind)| claimed_names(name, *kind)).collect(),
            default_buckets: DEFAULT_BUCKETS.to_vec(),
        }),
    })
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The series of (method, endpoint), made on first use. Call sites that share the labels share
    /// the series; the first one's buckets (or the default buckets at that time) are the series'.
    pub(crate) fn request_series(
        &self,
        method: &'static str,
        endpoint: &'static str,
        buckets: Option<&[f64]>,
    ) -> &'static RequestSeries {
        let mut inner = self.lock();
        if let Some(series) = inner.series.iter().find(|s| s.method == method && s.endpoint == endpoint) {
            return series;
        }
        let id = inner.series.len();
        let bounds = buckets.map_or_else(|| inner.default_buckets.clone(), <[f64]>::to_vec);
        // Leaked on purpose: call sites are statics and keep a pointer to their series.
        let series: &'static RequestSeries = Box::leak(Box::new(RequestSeries::new(id, method, endpoint, &bounds)));
        inner.series.push(series);
        series
    }

    pub(crate) fn set_default_buckets(&self, buckets: &[f64]) -> Result<(), MetricError> {
        super::check_request_buckets(buckets)?;
        self.lock().default_buckets = buckets.to_vec();
        Ok(())
    }

    pub(crate) fn register_family(&self, name: &str, kind: Kind, family: Arc<dyn Collect>) -> Result<(), MetricError> {
        let mut inner = self.lock();
        let names = claimed_names(name, kind);
        // `process_` is the standard process metrics' prefix, written by obs.
        if let Some(taken) = names.iter().find(|claim| claim.starts_with("process_") || inner.claimed.contains(*claim))
        {
            return Err(MetricError::AlreadyRegistered { name: taken.clone() });
        }
        inner.claimed.extend(names);
        inner.families.insert(name.to_owned(), family);
        Ok(())
    }

    /// Every request series so far.
    pub(crate) fn all_request_series(&self) -> Vec<&'static RequestSeries> {
        self.lock().series.clone()
    }

    /// The hand-written family `name` (its sample name: `x_total` for a counter).
    pub(crate) fn family(&self, name: &str) -> Option<Arc<dyn Collect>> {
        self.lock().families.get(name).cloned()
    }

    pub(crate) fn encode(&self, format: Format) -> String {
        let (series, families) = {
            let inner = self.lock();
            (inner.series.clone(), inner.families.values().cloned().collect::<Vec<_>>())
        };
        let mut encoder = Encoder::new(format);
        encode_requests(&mut encoder, &series);
        process::encode(&mut encoder);
        for family in families {
            family.encode(&mut encoder);
        }
        encoder.finish()
    }
}

fn encode_requests(encoder: &mut Encoder, series: &[&'static RequestSeries]) {
    let mut series: Vec<_> = series.iter().map(|series| (*series, series.snapshot())).collect();
    series.sort_by(|(a, _), (b, _)| (a.endpoint, a.method).cmp(&(b.endpoint, b.method)));
    if !series.is_empty() {
        encoder.family("http_requests_total", Kind::Counter, "Total HTTP requests");
        for (series, snapshot) in &series {
            for (status, count) in &snapshot.statuses {
                let status = status.to_string();
                let labels = [("method", series.method), ("endpoint", series.endpoint), ("status", status.as_str())];
                encoder.sample("http_requests_total", &labels, *count as f64);
            }
        }
        encoder.family("http_request_duration_seconds", Kind::Histogram, "HTTP request duration");
        for (series, snapshot) in &series {
            let labels = [("method", series.method), ("endpoint", series.endpoint)];
            encoder.histogram(
                "http_request_duration_seconds",
                &labels,
                &series.bounds_seconds,
                &snapshot.buckets,
                snapshot.sum_seconds,
            );
        }
    }
    let tracked: Vec<_> = series
        .iter()
        .filter(|(series, _)| series.tracks_concurrency.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    if !tracked.is_empty() {
        encoder.family("http_requests_in_flight", Kind::Gauge, "Requests being handled now, per endpoint");
        for (series, snapshot) in &tracked {
            let labels = [("method", series.method), ("endpoint", series.endpoint)];
            encoder.sample("http_requests_in_flight", &labels, snapshot.in_flight as f64);
        }
    }
    let active: i64 = tracked.iter().map(|(_, snapshot)| snapshot.in_flight).sum();
    encoder.family(
        "active_connections",
        Kind::Gauge,
        "Number of active connections: requests in flight in functions with track_concurrency",
    );
    encoder.sample("active_connections", &[], active as f64);
}
