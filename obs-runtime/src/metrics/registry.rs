//! The one registry of a process: request series, hand-written families, and what a scrape reads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use super::encode::{Encoder, Format, Kind};
use super::request::RequestSeries;
use super::{DEFAULT_BUCKETS, MetricError, process};

/// A metric family that prints itself at scrape time.
pub(crate) trait Collect: Send + Sync {
    fn encode(&self, encoder: &mut Encoder);
}

/// Names obs writes itself; a hand-written family may not take them.
const BUILT_IN: &[&str] = &[
    "http_requests_total",
    "http_request_duration_seconds",
    "http_requests_in_flight",
    "active_connections",
    "memory_usage_bytes",
];

pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Indexed by series id.
    series: Vec<&'static RequestSeries>,
    families: BTreeMap<String, Arc<dyn Collect>>,
    default_buckets: Vec<f64>,
}

pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        inner: Mutex::new(Inner {
            series: Vec::new(),
            families: BTreeMap::new(),
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
        super::check_buckets(buckets)?;
        if buckets.len() > super::MAX_BUCKETS {
            return Err(MetricError::InvalidBuckets { reason: "at most 32 bucket bounds for request durations" });
        }
        self.lock().default_buckets = buckets.to_vec();
        Ok(())
    }

    pub(crate) fn register_family(&self, name: &str, family: Arc<dyn Collect>) -> Result<(), MetricError> {
        let mut inner = self.lock();
        let taken = BUILT_IN.contains(&name) || name.starts_with("process_") || inner.families.contains_key(name);
        if taken {
            return Err(MetricError::AlreadyRegistered { name: name.to_owned() });
        }
        inner.families.insert(name.to_owned(), family);
        Ok(())
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
