//! The one registry of a process: request series, hand-written families, and what a scrape reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::sync;

use super::collector::{CollectedFamily, CollectorEntry};
use super::encode::{Encoder, ExemplarText, Format, Kind};
use super::limit::{self, OVERFLOW_LABEL, REQUEST_FAMILY};
use super::request::RequestSeries;
use super::view::{Labels, Reading};
use super::{DEFAULT_BUCKETS, MetricError, process};

/// A metric family that prints itself at scrape time.
pub(crate) trait Collect: Send + Sync {
    fn encode(&self, encoder: &mut Encoder);
    /// Calls `f` with each series' labels and value. `detach`: not under the family's lock (for
    /// a callback that may be anyone's code), at the cost of taking the series out first.
    fn read(&self, f: &mut dyn FnMut(Labels<'_>, Reading<'_>), detach: bool);
    /// How many series the family holds, its overflow series included.
    fn series_count(&self) -> usize;
    /// Adds `by` to the series `values` of a counter family; `false` when it is no counter.
    fn add_to_counter(&self, _values: &[&str], _by: f64) -> bool {
        false
    }
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
pub(crate) fn claimed_names(name: &str, kind: Kind) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    match kind {
        Kind::Histogram => names.extend(["_bucket", "_sum", "_count"].map(|suffix| format!("{name}{suffix}"))),
        // A counter not named `_total` (bridged from a library that allows it) gets `_total` in
        // OpenMetrics.
        Kind::Counter => names.push(name.strip_suffix("_total").map_or_else(|| format!("{name}_total"), str::to_owned)),
        Kind::Gauge => {}
    }
    names
}

pub(crate) struct Registry {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Indexed by series id; the overflow series among them.
    series: Vec<&'static RequestSeries>,
    /// The ids of the ordinary request series, by (method, endpoint).
    by_labels: HashMap<(&'static str, &'static str), usize>,
    /// The request families' overflow series, once a series was refused.
    request_overflow: Option<&'static RequestSeries>,
    families: BTreeMap<String, Arc<dyn Collect>>,
    /// Registered collectors, and each family they describe (by name: the family's index).
    collectors: Vec<Arc<CollectorEntry>>,
    collected: BTreeMap<String, (Arc<CollectorEntry>, usize)>,
    /// The names of every family, built-in ones included (see [`claimed_names`]).
    claimed: BTreeSet<String>,
    default_buckets: Vec<f64>,
}

/// When the registry was made, in nanoseconds since the epoch: where its counts start.
#[cfg(feature = "otlp")]
pub(crate) fn started_unix_nanos() -> u64 {
    registry();
    *STARTED.get().unwrap_or(&0)
}

#[cfg(feature = "otlp")]
static STARTED: OnceLock<u64> = OnceLock::new();

pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        #[cfg(feature = "otlp")]
        STARTED.get_or_init(|| {
            let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            since.map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
        });
        new_registry()
    })
}

fn new_registry() -> Registry {
    Registry {
        inner: Mutex::new(Inner {
            series: Vec::new(),
            by_labels: HashMap::new(),
            request_overflow: None,
            families: BTreeMap::new(),
            collectors: Vec::new(),
            collected: BTreeMap::new(),
            claimed: BUILT_IN.iter().flat_map(|(name, kind)| claimed_names(name, *kind)).collect(),
            default_buckets: DEFAULT_BUCKETS.to_vec(),
        }),
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        sync::lock(&self.inner)
    }

    /// The series of (method, endpoint), made on first use. Call sites that share the labels share
    /// the series; the first one's buckets (or the default buckets at that time) are the series'.
    /// Past the request families' series limit, a new pair gets the overflow series (counted).
    pub(crate) fn request_series(
        &self,
        method: &'static str,
        endpoint: &'static str,
        buckets: Option<&[f64]>,
    ) -> &'static RequestSeries {
        match self.request_series_of(method, endpoint, buckets, |endpoint| endpoint) {
            Ok(series) => series,
            Err(overflow) => overflow,
        }
    }

    /// [`Registry::request_series`] for an endpoint that is not `'static`: copied (leaked) only
    /// when a series is made for it. `Err` is the overflow series (the refusal counted).
    pub(crate) fn request_series_of<'a>(
        &self,
        method: &'static str,
        endpoint: &'a str,
        buckets: Option<&[f64]>,
        keep: impl FnOnce(&'a str) -> &'static str,
    ) -> Result<&'static RequestSeries, &'static RequestSeries> {
        static WARNED: AtomicBool = AtomicBool::new(false);
        let limit = {
            let mut inner = self.lock();
            // Shortened to `'a` (the map is covariant in its keys) to look up a borrowed endpoint.
            let by_labels: &HashMap<(&str, &str), usize> = &inner.by_labels;
            if let Some(&id) = by_labels.get(&(method, endpoint)) {
                return Ok(inner.series[id]);
            }
            let limit = limit::series_limit(REQUEST_FAMILY);
            if inner.by_labels.len() < limit {
                let id = inner.series.len();
                let bounds = buckets.map_or_else(|| inner.default_buckets.clone(), <[f64]>::to_vec);
                let endpoint = keep(endpoint);
                // Leaked on purpose: call sites are statics and keep a pointer to their series.
                let series: &'static RequestSeries =
                    Box::leak(Box::new(RequestSeries::new(id, method, endpoint, &bounds, false)));
                inner.series.push(series);
                inner.by_labels.insert((method, endpoint), id);
                return Ok(series);
            }
            limit
        };
        let overflow = self.request_overflow();
        // Out of the registry's lock: counting may register the counter family.
        limit::overflowed(REQUEST_FAMILY, limit, &WARNED, 1);
        Err(overflow)
    }

    /// The request families' overflow series, made on first use with the default buckets then.
    fn request_overflow(&self) -> &'static RequestSeries {
        let mut inner = self.lock();
        if let Some(series) = inner.request_overflow {
            return series;
        }
        let id = inner.series.len();
        let series: &'static RequestSeries =
            Box::leak(Box::new(RequestSeries::new(id, "", "", &inner.default_buckets.clone(), true)));
        inner.series.push(series);
        inner.request_overflow = Some(series);
        series
    }

    /// The buckets of request histograms without buckets of their own.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn default_buckets(&self) -> Vec<f64> {
        self.lock().default_buckets.clone()
    }

    pub(crate) fn set_default_buckets(&self, buckets: &[f64]) -> Result<(), MetricError> {
        super::check_request_buckets(buckets)?;
        self.lock().default_buckets = buckets.to_vec();
        Ok(())
    }

    pub(crate) fn register_family(&self, name: &str, kind: Kind, family: Arc<dyn Collect>) -> Result<(), MetricError> {
        let mut inner = self.lock();
        let names = claimed_names(name, kind);
        inner.check_free(&names)?;
        inner.claimed.extend(names);
        inner.families.insert(name.to_owned(), family);
        Ok(())
    }

    /// Registers every family of a collector, or none: `names` are each family's claimed names
    /// (see [`claimed_names`]), checked against each other by the caller.
    pub(crate) fn register_collector(&self, entry: Arc<CollectorEntry>, names: Vec<String>) -> Result<(), MetricError> {
        // Read before the registry's lock: a collector adding a family locks the entry, then this.
        let families = entry.family_names();
        let mut inner = self.lock();
        inner.check_free(&names)?;
        inner.claimed.extend(names);
        for (index, family) in families.into_iter().enumerate() {
            inner.collected.insert(family, (entry.clone(), index));
        }
        inner.collectors.push(entry);
        Ok(())
    }

    /// `Err` naming the first of `names` that a family has (see [`claimed_names`]).
    pub(crate) fn check_free(&self, names: &[String]) -> Result<(), MetricError> {
        self.lock().check_free(names)
    }

    /// Registers a family a collector adds while collecting, as its family `index`, if `names`
    /// (see [`claimed_names`]) are free.
    pub(crate) fn claim_for_collector(
        &self,
        entry: &Arc<CollectorEntry>,
        index: usize,
        family: &str,
        names: Vec<String>,
    ) -> Result<(), MetricError> {
        let mut inner = self.lock();
        inner.check_free(&names)?;
        inner.claimed.extend(names);
        inner.collected.insert(family.to_owned(), (entry.clone(), index));
        Ok(())
    }

    /// How many series the family `name` holds (see [`super::series_count`]).
    pub(crate) fn series_count(&self, name: &str) -> Option<usize> {
        if matches!(name, "http_requests_total" | "http_request_duration_seconds" | "http_requests_in_flight") {
            return Some(self.lock().series.len());
        }
        if let Some(family) = self.family(name) {
            return Some(family.series_count());
        }
        None
    }

    /// Adds `by` to the series `values` of the counter family `name`, if there is one.
    pub(crate) fn add_to_counter(&self, name: &str, values: &[&str], by: f64) -> bool {
        let family = self.lock().families.get(name).cloned();
        family.is_some_and(|family| family.add_to_counter(values, by))
    }

    /// Every request series so far.
    pub(crate) fn all_request_series(&self) -> Vec<&'static RequestSeries> {
        self.lock().series.clone()
    }

    /// The hand-written or collected family `name` (its sample name: `x_total` for a counter).
    pub(crate) fn family(&self, name: &str) -> Option<Arc<dyn Collect>> {
        let inner = self.lock();
        if let Some(family) = inner.families.get(name) {
            return Some(family.clone());
        }
        let (entry, index) = inner.collected.get(name)?;
        Some(Arc::new(CollectedFamily::new(entry.clone(), *index)))
    }

    pub(crate) fn encode(&self, format: Format) -> String {
        let mut encoder = Encoder::new(format);
        self.write(&mut encoder, true);
        encoder.finish()
    }

    /// Every family as data rather than text; `bridges`: the bridged registries' too (not for the
    /// `prometheus` crate's collector, which would otherwise read a registry that holds it);
    /// `exemplars`: with the series' exemplars.
    #[cfg(any(feature = "prometheus", feature = "push", feature = "otlp"))]
    pub(crate) fn families(&self, bridges: bool, exemplars: bool) -> Vec<super::encode::EncodedFamily> {
        let mut encoder = Encoder::structured(exemplars);
        self.write(&mut encoder, bridges);
        encoder.finish_structured()
    }

    /// Writes every family; `bridges`: those of the collectors that bridge other registries too.
    fn write(&self, encoder: &mut Encoder, bridges: bool) {
        // Collected first, out of every lock (a collector is anyone's code), so that what the
        // collection counted (overflow, problems) is in this scrape's self-metrics already, even
        // when counting it registered the self-metric.
        let mut collectors = self.lock().collectors.clone();
        collectors.retain(|collector| bridges || !collector.bridge);
        let collected: Vec<_> = collectors.iter().map(|collector| collector.gather(true)).collect();
        let (series, families) = {
            let inner = self.lock();
            (inner.series.clone(), inner.families.values().cloned().collect::<Vec<_>>())
        };
        encode_requests(encoder, &series);
        process::encode(encoder);
        for family in families {
            family.encode(encoder);
        }
        for collection in &collected {
            collection.encode(encoder);
        }
    }
}

impl Inner {
    fn check_free(&self, names: &[String]) -> Result<(), MetricError> {
        // `process_` is the standard process metrics' prefix, written by obs.
        match names.iter().find(|claim| claim.starts_with("process_") || self.claimed.contains(*claim)) {
            Some(taken) => Err(MetricError::AlreadyRegistered { name: taken.clone() }),
            None => Ok(()),
        }
    }
}

/// The labels of a request series without its status: method and endpoint, or the overflow label.
fn request_labels(series: &RequestSeries) -> Vec<(&'static str, &'static str)> {
    if series.overflow {
        vec![(OVERFLOW_LABEL, "true")]
    } else {
        vec![("method", series.method), ("endpoint", series.endpoint)]
    }
}

/// Per bucket of a request series, its exemplar and the status of its call (OpenMetrics only;
/// none without traces).
fn request_exemplars(encoder: &Encoder, series: &RequestSeries) -> Vec<Option<(ExemplarText, u16)>> {
    #[cfg(feature = "trace")]
    if encoder.wants_exemplars() && super::request::EXEMPLARS.load(Ordering::Relaxed) {
        let now = super::exemplar::Now::read();
        let text =
            |exemplar: super::request::Exemplar| (exemplar.text(&now, exemplar.nanos as f64 / 1e9), exemplar.status);
        return series.exemplars().into_iter().map(|exemplar| exemplar.map(text)).collect();
    }
    let _ = (encoder, series);
    Vec::new()
}

/// The exemplar of a request counter's series: the latest call among the buckets' exemplars of
/// `status` (of any, for the overflow series, which has no status), counting one.
fn counter_exemplar(exemplars: &[Option<(ExemplarText, u16)>], status: Option<u16>) -> Option<ExemplarText> {
    let latest = exemplars
        .iter()
        .flatten()
        .filter(|(_, of)| status.is_none_or(|status| *of == status))
        .max_by_key(|(text, _)| text.unix_millis)?;
    Some(ExemplarText { value: 1.0, ..latest.0.clone() })
}

fn encode_requests(encoder: &mut Encoder, series: &[&'static RequestSeries]) {
    let mut series: Vec<_> =
        series.iter().map(|series| (*series, series.snapshot(), request_exemplars(encoder, series))).collect();
    // The overflow series last.
    series.sort_by(|(a, ..), (b, ..)| (a.overflow, a.endpoint, a.method).cmp(&(b.overflow, b.endpoint, b.method)));
    if !series.is_empty() {
        encoder.family("http_requests_total", Kind::Counter, "Total HTTP requests");
        for (series, snapshot, exemplars) in &series {
            if series.overflow {
                // One series whatever the status: the overflow series has no other label.
                if !snapshot.statuses.is_empty() {
                    let total: u64 = snapshot.statuses.iter().map(|(_, count)| count).sum();
                    encoder.sample("http_requests_total", &[(OVERFLOW_LABEL, "true")], total as f64);
                    encoder.exemplar(counter_exemplar(exemplars, None).as_ref());
                }
                continue;
            }
            for (status, count) in &snapshot.statuses {
                let code = status.to_string();
                let labels = [("method", series.method), ("endpoint", series.endpoint), ("status", code.as_str())];
                encoder.sample("http_requests_total", &labels, *count as f64);
                encoder.exemplar(counter_exemplar(exemplars, Some(*status)).as_ref());
            }
        }
        encoder.family("http_request_duration_seconds", Kind::Histogram, "HTTP request duration");
        for (series, snapshot, exemplars) in &series {
            let labels = request_labels(series);
            let exemplars: Vec<Option<ExemplarText>> =
                exemplars.iter().map(|exemplar| exemplar.as_ref().map(|(text, _)| text.clone())).collect();
            encoder.histogram_with_exemplars(
                "http_request_duration_seconds",
                &labels,
                &series.bounds_seconds,
                &snapshot.buckets,
                snapshot.sum_seconds,
                &exemplars,
            );
        }
    }
    let tracked: Vec<_> =
        series.iter().filter(|(series, ..)| series.tracks_concurrency.load(Ordering::Relaxed)).collect();
    if !tracked.is_empty() {
        encoder.family("http_requests_in_flight", Kind::Gauge, "Requests being handled now, per endpoint");
        for (series, snapshot, _) in &tracked {
            encoder.sample("http_requests_in_flight", &request_labels(series), snapshot.in_flight as f64);
        }
    }
    let active: i64 = tracked.iter().map(|(_, snapshot, _)| snapshot.in_flight).sum();
    encoder.family(
        "active_connections",
        Kind::Gauge,
        "Number of active connections: requests in flight in functions with track_concurrency",
    );
    encoder.sample("active_connections", &[], active as f64);
}
