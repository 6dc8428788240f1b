//! The [`metrics`] facade on obs's registry: [`ObsRecorder`], a [`metrics::Recorder`] whose
//! `counter!`, `gauge!` and `histogram!` are families of obs's registry, served on `/metrics`
//! beside the request metrics, seen by [`Snapshot`](super::Snapshot) (and so by alert rules), and
//! bounded by the families' series limit.
//!
//! ```
//! use obs_runtime::metrics::metrics_rs::ObsRecorder;
//! use obs_runtime::metrics::{Format, encode};
//!
//! ObsRecorder::new().buckets("doc.upload.size", &[1024.0, 65536.0])?.install()?;
//!
//! metrics::describe_counter!("doc.jobs.done", "Jobs finished");
//! metrics::counter!("doc.jobs.done", "queue" => "email").increment(3);
//! metrics::gauge!("doc.queue.depth").set(7.0);
//! metrics::histogram!("doc.upload.size").record(2048.0);
//!
//! let body = encode(Format::Text);
//! assert!(body.contains("# HELP doc_jobs_done_total Jobs finished\n# TYPE doc_jobs_done_total counter\n"));
//! assert!(body.contains("doc_jobs_done_total{queue=\"email\"} 3\n"));
//! assert!(body.contains("doc_queue_depth 7\n"));
//! assert!(body.contains("doc_upload_size_bucket{le=\"65536.0\"} 1\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a `metrics` key becomes a series
//!
//! - **Names.** A character Prometheus does not allow in a name (anything but `[a-zA-Z0-9_:]`,
//!   `.` and `-` included) becomes `_`, and a name that starts with a digit gets a `_` in front:
//!   `http.client.latency` is `http_client_latency`, `2xx.count` is `_2xx_count`. (The
//!   `metrics-exporter-prometheus` exporter replaces the leading digit instead; obs keeps it, so
//!   that `1a` and `2a` stay apart.) Label keys are fixed the same way (`[a-zA-Z0-9_]`); label
//!   values are kept as they are (the exposition escapes them).
//! - **Counters** are named with `_total` at the end, unless the name has it: `jobs.done` is the
//!   family `jobs_done_total`, like every obs counter. Increments (`u64`) are added as `f64`
//!   (exact up to 2^53). `absolute(v)` raises the counter to `v` when it is below: an obs counter
//!   never goes down, so an `absolute` below the current value is ignored (the source restarted
//!   its count; the counter keeps the larger value). On the overflow series (a label set
//!   past the family's limit) `absolute` is ignored: that series sums many label sets.
//! - **Gauges**: `set`, `increment` and `decrement` do what they say.
//! - **Histograms** have real buckets: the bounds given to [`ObsRecorder::buckets`] for that name,
//!   else [`ObsRecorder::default_buckets`] (at first [`DEFAULT_BUCKETS`], seconds from 5 ms to
//!   10 s). `record_many(v, n)` observes `v` `n` times.
//! - **Units** given to `describe_*` are not used: the name is kept as given (a value is recorded
//!   in whatever unit its emitter chose, e.g. microseconds for tokio-metrics' durations, and obs
//!   converts nothing, so a `_seconds` suffix would be a lie).
//! - **Descriptions** given to `describe_*` become the family's `# HELP` when given before the
//!   family's first series is registered (the first one given is kept); a family registered
//!   without one has its name as HELP, and a description given later is ignored (obs's HELP is
//!   fixed when a family is registered).
//! - **Label names** are fixed by the first key registered under a name, in that key's order. A
//!   later key with the same label names in another order is the same series. A key with other
//!   label names is refused (see below).
//!
//! Every [`ObsRecorder`] puts its families into the one registry of the process, so a family is
//! the same whichever recorder (the global one, one passed to [`metrics::with_local_recorder`])
//! registered it first; its buckets are that recorder's.
//!
//! # What is refused, and counted
//!
//! A key obs cannot take gets a handle that does nothing ([`metrics::Counter::noop`], ...): the
//! application never sees an error nor a panic. Each such registration (each evaluation of a
//! macro; a handle kept, as tokio-metrics keeps its handles, is registered once) is counted in
//! `obs_internal_errors_total{component="metrics",reason}`, and the first of each reason is said
//! once as a warning (under the `obs` target, or on stderr):
//!
//! | `reason` | what was refused |
//! |---|---|
//! | `metrics_rs_labels` | a key whose label names are not those the family was registered with |
//! | `metrics_rs_type` | a name used as another type (a counter `x`, then a gauge `x`) |
//! | `metrics_rs_name_taken` | a name another family holds: obs's own (`http_requests_total`, `process_*`, ...), a hand-written one, a collector's |
//! | `metrics_rs_invalid` | a name or label that cannot be fixed: an empty name, a label key starting with `__`, `le` on a histogram, `otel_metric_overflow`, a label key given twice |
//!
//! # The series limit
//!
//! Each family holds at most its series limit of label sets ([`set_series_limit`]); what is
//! recorded for a new label set past it goes to the family's `{otel_metric_overflow="true"}`
//! series, counted in `obs_metric_series_overflow_total{family}` at each registration, as for
//! every obs family (see [the module](super)).
//!
//! # Cost
//!
//! A registration looks the key up in a table (a read lock and a hash the key already holds); a
//! key is resolved and put into the table the first time only. The table is bounded: a family
//! keeps at most its series limit of keys there, and keys sent to the overflow series or refused
//! are resolved again at each registration. Updates on a handle are one atomic operation
//! (`absolute` also takes a lock of its own series).
//!
//! [`set_series_limit`]: super::set_series_limit

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use metrics::{Key, KeyName, Metadata, SharedString, Unit};

use crate::sync;

use super::encode::Kind;
use super::registry::registry;
use super::{CounterVec, DEFAULT_BUCKETS, GaugeVec, HistogramVec, MetricError, check_buckets, limit};

/// A [`metrics::Recorder`] that records into obs's registry: see [the module](self).
///
/// ```
/// use obs_runtime::metrics::metrics_rs::ObsRecorder;
///
/// let recorder = ObsRecorder::new()
///     .default_buckets(&[0.01, 0.1, 1.0])?
///     .buckets("db.query.rows", &[1.0, 10.0, 100.0, 1000.0])?;
/// metrics::with_local_recorder(&recorder, || {
///     metrics::histogram!("db.query.rows", "table" => "users").record(42.0);
/// });
/// let body = obs_runtime::metrics::encode(obs_runtime::metrics::Format::Text);
/// assert!(body.contains("db_query_rows_bucket{table=\"users\",le=\"100.0\"} 1\n"));
///
/// let unsorted = ObsRecorder::new().buckets("db.query.rows", &[10.0, 1.0]);
/// assert_eq!(unsorted.expect_err("refused").to_string(), "invalid buckets: bounds must be strictly increasing");
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ObsRecorder {
    default_buckets: Arc<[f64]>,
    /// By family name (fixed as names are).
    buckets: BTreeMap<String, Arc<[f64]>>,
}

impl Default for ObsRecorder {
    fn default() -> Self {
        ObsRecorder::new()
    }
}

impl ObsRecorder {
    /// A recorder whose histograms have the buckets [`DEFAULT_BUCKETS`] (seconds, from 5 ms to
    /// 10 s) unless [`ObsRecorder::buckets`] names them.
    pub fn new() -> ObsRecorder {
        ObsRecorder { default_buckets: DEFAULT_BUCKETS.as_slice().into(), buckets: BTreeMap::new() }
    }

    /// The buckets of the histograms [`ObsRecorder::buckets`] does not name. Bounds that are
    /// empty, not finite, or not strictly increasing are an `Err` saying which.
    pub fn default_buckets(mut self, bounds: &[f64]) -> Result<ObsRecorder, MetricError> {
        check_buckets(bounds)?;
        self.default_buckets = bounds.into();
        Ok(self)
    }

    /// The buckets of the histogram `name`: its `metrics` name (`db.query.rows`) or the family's
    /// (`db_query_rows`), which are the same after the name is fixed (see [the module](self)). Bad
    /// bounds are an `Err` saying what is wrong, and so is an empty name. Buckets are read when a
    /// histogram's family is registered: they do not change a family that exists.
    pub fn buckets(mut self, name: &str, bounds: &[f64]) -> Result<ObsRecorder, MetricError> {
        if name.is_empty() {
            return Err(MetricError::InvalidName { name: String::new(), reason: "a metric name is not empty" });
        }
        check_buckets(bounds)?;
        self.buckets.insert(sanitize_name(name), bounds.into());
        Ok(self)
    }

    /// Makes this recorder the process's `metrics` recorder ([`metrics::set_global_recorder`]).
    /// A process has one: an `Err` when another one (obs's or not) was installed before.
    pub fn install(self) -> Result<(), InstallError> {
        metrics::set_global_recorder(self).map_err(|_| InstallError { _private: () })
    }

    fn buckets_of(&self, family: &str) -> &[f64] {
        self.buckets.get(family).unwrap_or(&self.default_buckets)
    }
}

/// [`ObsRecorder::install`] found a `metrics` recorder installed already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallError {
    _private: (),
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a `metrics` recorder is already installed (a process has one global recorder): obs's recorder was \
             not installed",
        )
    }
}

impl std::error::Error for InstallError {}

/// Why a key was refused: the `reason` of `obs_internal_errors_total`. Its discriminant is its
/// index in [`Shared::warned`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Labels,
    Type,
    NameTaken,
    Invalid,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Labels => "metrics_rs_labels",
            Reason::Type => "metrics_rs_type",
            Reason::NameTaken => "metrics_rs_name_taken",
            Reason::Invalid => "metrics_rs_invalid",
        }
    }
}

/// A refused key: why, and what to say about it (names and label keys, never label values).
#[derive(Debug)]
struct Refusal {
    reason: Reason,
    message: String,
}

/// A resolved handle, of the type asked for.
#[derive(Clone)]
enum Handle {
    Counter(metrics::Counter),
    Gauge(metrics::Gauge),
    Histogram(metrics::Histogram),
}

#[derive(Debug, Clone)]
enum Vector {
    Counter(CounterVec),
    Gauge(GaugeVec),
    Histogram(HistogramVec),
}

/// A family this module registered.
struct Family {
    kind: Kind,
    name: String,
    label_names: Vec<String>,
    vector: Vector,
    /// The handles of the label sets that have a series of their own (at most the series limit
    /// of them, give or take the registrations racing at the limit): one handle per series.
    own: Mutex<HashMap<Vec<String>, Handle>>,
    /// How many keys of this family are in the key tables (at most the series limit).
    keys: AtomicUsize,
}

enum Entry {
    Family(Arc<Family>),
    /// A name that cannot be registered (taken, used as another type, invalid).
    Refused(Reason, &'static str),
}

#[derive(Default)]
struct Tables {
    /// By family name (`jobs_done_total`).
    families: HashMap<String, Entry>,
    /// Descriptions of families not registered yet, by family name.
    descriptions: HashMap<String, String>,
}

/// What every `ObsRecorder` shares: the registry they record into is the process's.
#[derive(Default)]
struct Shared {
    tables: Mutex<Tables>,
    counters: RwLock<HashMap<Key, metrics::Counter>>,
    gauges: RwLock<HashMap<Key, metrics::Gauge>>,
    histograms: RwLock<HashMap<Key, metrics::Histogram>>,
    /// Whether the first refusal of each [`Reason`] was said.
    warned: [AtomicBool; 4],
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(Shared::default)
}

/// A metric name as Prometheus takes it: `[a-zA-Z_:][a-zA-Z0-9_:]*`, any other character `_`, a
/// leading digit kept behind a `_`.
fn sanitize_name(name: &str) -> String {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A label name as Prometheus takes it: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn sanitize_label(label: &str) -> String {
    sanitize(label, |c| c.is_ascii_alphanumeric() || c == '_')
}

fn sanitize(text: &str, allowed: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(text.chars().map(|c| if allowed(c) { c } else { '_' }));
    out
}

/// The family name of a `metrics` name of the given kind.
fn family_name(kind: Kind, name: &str) -> String {
    let mut family = sanitize_name(name);
    if kind == Kind::Counter && !family.ends_with("_total") {
        family.push_str("_total");
    }
    family
}

/// Says and counts a refusal: the first of each reason as a warning (which counts it), the
/// others counted only. Called with no lock of this module held: a warning goes to `tracing`,
/// whose subscriber may be anyone's code, and may record metrics.
fn report(refusal: &Refusal) {
    let reason = refusal.reason.as_str();
    if !shared().warned[refusal.reason as usize].swap(true, Ordering::Relaxed) {
        crate::diagnostics::warn(
            "metrics",
            reason,
            &format!(
                "{}: what is recorded through it is dropped (each such registration is counted in \
                 obs_internal_errors_total{{component=\"metrics\",reason=\"{reason}\"}})",
                refusal.message
            ),
        );
    } else {
        registry().add_to_counter("obs_internal_errors_total", &["metrics", reason], 1.0);
    }
}

impl ObsRecorder {
    /// The handle of `key`, from the key table or resolved; `None` when refused (said and counted).
    fn handle(&self, kind: Kind, key: &Key) -> Option<Handle> {
        let shared = shared();
        let cached = match kind {
            Kind::Counter => sync::read(&shared.counters).get(key).cloned().map(Handle::Counter),
            Kind::Gauge => sync::read(&shared.gauges).get(key).cloned().map(Handle::Gauge),
            Kind::Histogram => sync::read(&shared.histograms).get(key).cloned().map(Handle::Histogram),
        };
        if cached.is_some() {
            return cached;
        }
        match self.resolve(kind, key) {
            Ok((handle, family)) => {
                if let Some(family) = family {
                    keep(&family, key, &handle);
                }
                Some(handle)
            }
            Err(refusal) => {
                report(&refusal);
                None
            }
        }
    }

    /// Resolves `key` to its series' handle, registering its family the first time; with the
    /// family when the key may go into the key table (its label set has a series of its own).
    fn resolve(&self, kind: Kind, key: &Key) -> Result<(Handle, Option<Arc<Family>>), Refusal> {
        if key.name().is_empty() {
            // Not fixed into `_total` (a counter) nor `_` (the others): there is nothing to name.
            let message = format!("a `metrics` {} with an empty name is refused", kind.as_str());
            return Err(Refusal { reason: Reason::Invalid, message });
        }
        let name = family_name(kind, key.name());
        let labels: Vec<(String, &str)> =
            key.labels().map(|label| (sanitize_label(label.key()), label.value())).collect();
        let family = self.family(kind, &name, key.name(), &labels)?;
        let values = label_values(&family, &labels).ok_or_else(|| Refusal {
            reason: Reason::Labels,
            message: format!(
                "the `metrics` {} {} has the labels [{}]; a key with the labels [{}] is refused",
                kind.as_str(),
                family.name,
                family.label_names.join(", "),
                labels.iter().map(|(label, _)| label.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })?;
        if let Some(handle) = sync::lock(&family.own).get(&values) {
            return Ok((handle.clone(), Some(family.clone())));
        }
        // Out of the lock: past the limit, `with_labels` says so (a warning, to anyone's code).
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let made = match &family.vector {
            Vector::Counter(vector) => vector.with_labels(&refs).map(|counter| {
                let overflow = vector.is_overflow(&counter);
                Handle::Counter(metrics::Counter::from_arc(Arc::new(CounterHandle {
                    counter,
                    absolute: Mutex::new(()),
                    overflow,
                })))
            }),
            Vector::Gauge(vector) => vector
                .with_labels(&refs)
                .map(|gauge| Handle::Gauge(metrics::Gauge::from_arc(Arc::new(GaugeHandle(gauge))))),
            Vector::Histogram(vector) => vector
                .with_labels(&refs)
                .map(|histogram| Handle::Histogram(metrics::Histogram::from_arc(Arc::new(HistogramHandle(histogram))))),
        };
        let handle = made.map_err(|error| Refusal {
            reason: Reason::Labels,
            message: format!("the `metrics` {} {} refused a label set: {error}", kind.as_str(), family.name),
        })?;
        let mut own = sync::lock(&family.own);
        if let Some(existing) = own.get(&values) {
            return Ok((existing.clone(), Some(family.clone())));
        }
        // The family held fewer label sets than its limit: `with_labels` made a series of its own
        // (not the overflow series), which the key table may keep.
        if own.len() < limit::series_limit(&family.name) {
            own.insert(values, handle.clone());
            drop(own);
            return Ok((handle, Some(family)));
        }
        Ok((handle, None))
    }

    /// The family `name`, registered by the first key of that name.
    fn family(&self, kind: Kind, name: &str, given: &str, labels: &[(String, &str)]) -> Result<Arc<Family>, Refusal> {
        let mut tables = sync::lock(&shared().tables);
        let refused = |reason: Reason, why: &str| Refusal {
            reason,
            message: format!("the `metrics` {} {given:?} (family {name}) is refused: {why}", kind.as_str()),
        };
        match tables.families.get(name) {
            Some(Entry::Family(family)) if family.kind == kind => return Ok(family.clone()),
            Some(Entry::Family(family)) => {
                return Err(refused(Reason::Type, &format!("it is a {} already", family.kind.as_str())));
            }
            Some(Entry::Refused(reason, why)) => return Err(refused(*reason, why)),
            None => {}
        }
        // The same `metrics` name as another type: a counter `x` is `x_total`, the others `x`.
        let sibling = match kind {
            Kind::Counter => name.strip_suffix("_total").map(str::to_owned),
            Kind::Gauge | Kind::Histogram => Some(format!("{name}_total")),
        };
        if let Some(Entry::Family(other)) = sibling.and_then(|sibling| tables.families.get(&sibling))
            && other.kind != kind
        {
            let why = match other.kind {
                Kind::Counter => "the name is a counter already",
                Kind::Gauge => "the name is a gauge already",
                Kind::Histogram => "the name is a histogram already",
            };
            tables.families.insert(name.to_owned(), Entry::Refused(Reason::Type, why));
            return Err(refused(Reason::Type, why));
        }
        let help = tables.descriptions.get(name).cloned().unwrap_or_else(|| name.to_owned());
        let label_names: Vec<&str> = labels.iter().map(|(label, _)| label.as_str()).collect();
        let registered = match kind {
            Kind::Counter => CounterVec::register(name, &help, &label_names).map(Vector::Counter),
            Kind::Gauge => GaugeVec::register(name, &help, &label_names).map(Vector::Gauge),
            Kind::Histogram => {
                HistogramVec::register(name, &help, &label_names, self.buckets_of(name)).map(Vector::Histogram)
            }
        };
        match registered {
            Ok(vector) => {
                tables.descriptions.remove(name);
                let family = Arc::new(Family {
                    kind,
                    name: name.to_owned(),
                    label_names: label_names.iter().map(|label| (*label).to_owned()).collect(),
                    vector,
                    own: Mutex::new(HashMap::new()),
                    keys: AtomicUsize::new(0),
                });
                tables.families.insert(name.to_owned(), Entry::Family(family.clone()));
                Ok(family)
            }
            // The name is at fault: refused for good.
            Err(MetricError::AlreadyRegistered { .. }) => {
                let why = "another family has that name";
                tables.families.insert(name.to_owned(), Entry::Refused(Reason::NameTaken, why));
                Err(refused(Reason::NameTaken, why))
            }
            Err(MetricError::InvalidName { reason, .. }) => {
                tables.families.insert(name.to_owned(), Entry::Refused(Reason::Invalid, reason));
                Err(refused(Reason::Invalid, reason))
            }
            // A label of this key is at fault: a key with other labels may register the family.
            Err(error) => Err(refused(Reason::Invalid, &error.to_string())),
        }
    }

    fn describe(&self, kind: Kind, key: KeyName, description: SharedString) {
        if key.as_str().is_empty() || description.is_empty() {
            return;
        }
        let name = family_name(kind, key.as_str());
        let mut tables = sync::lock(&shared().tables);
        if tables.families.contains_key(&name) {
            return;
        }
        tables.descriptions.entry(name).or_insert_with(|| description.to_string());
    }
}

/// The key's label values in the family's label order; `None` when its label names are not the
/// family's.
fn label_values(family: &Family, labels: &[(String, &str)]) -> Option<Vec<String>> {
    if labels.len() != family.label_names.len() {
        return None;
    }
    let in_order = labels.iter().zip(&family.label_names).all(|((label, _), name)| label == name);
    if in_order {
        return Some(labels.iter().map(|(_, value)| (*value).to_owned()).collect());
    }
    let mut values = Vec::with_capacity(labels.len());
    for name in &family.label_names {
        let mut matching = labels.iter().filter(|(label, _)| label == name);
        let (_, value) = matching.next()?;
        if matching.next().is_some() {
            return None;
        }
        values.push((*value).to_owned());
    }
    Some(values)
}

/// Puts `key` into the key table of its kind, unless its family has its limit of keys there.
fn keep(family: &Family, key: &Key, handle: &Handle) {
    if family.keys.load(Ordering::Relaxed) >= limit::series_limit(&family.name) {
        return;
    }
    let shared = shared();
    let added = match handle {
        Handle::Counter(counter) => sync::write(&shared.counters).insert(key.clone(), counter.clone()).is_none(),
        Handle::Gauge(gauge) => sync::write(&shared.gauges).insert(key.clone(), gauge.clone()).is_none(),
        Handle::Histogram(histogram) => {
            sync::write(&shared.histograms).insert(key.clone(), histogram.clone()).is_none()
        }
    };
    if added {
        family.keys.fetch_add(1, Ordering::Relaxed);
    }
}

impl metrics::Recorder for ObsRecorder {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(Kind::Counter, key, description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(Kind::Gauge, key, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(Kind::Histogram, key, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Counter {
        match self.handle(Kind::Counter, key) {
            Some(Handle::Counter(counter)) => counter,
            _ => metrics::Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Gauge {
        match self.handle(Kind::Gauge, key) {
            Some(Handle::Gauge(gauge)) => gauge,
            _ => metrics::Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Histogram {
        match self.handle(Kind::Histogram, key) {
            Some(Handle::Histogram(histogram)) => histogram,
            _ => metrics::Histogram::noop(),
        }
    }
}

struct CounterHandle {
    counter: super::Counter,
    /// Serializes `absolute` updates, which read the value and then add to it.
    absolute: Mutex<()>,
    /// The family's overflow series, the sum of many label sets: an absolute value of one of
    /// them says nothing of it, and is ignored.
    overflow: bool,
}

impl metrics::CounterFn for CounterHandle {
    fn increment(&self, value: u64) {
        self.counter.inc_by(value as f64);
    }

    fn absolute(&self, value: u64) {
        if self.overflow {
            return;
        }
        let _serialized = sync::lock(&self.absolute);
        let current = self.counter.get();
        let target = value as f64;
        if target > current {
            self.counter.inc_by(target - current);
        }
    }
}

struct GaugeHandle(super::Gauge);

impl metrics::GaugeFn for GaugeHandle {
    fn increment(&self, value: f64) {
        self.0.add(value);
    }

    fn decrement(&self, value: f64) {
        self.0.add(-value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

struct HistogramHandle(super::Histogram);

impl metrics::HistogramFn for HistogramHandle {
    fn record(&self, value: f64) {
        self.0.observe(value);
    }

    fn record_many(&self, value: f64, count: usize) {
        self.0.observe_n(value, count as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_fixed_as_prometheus_takes_them() {
        assert_eq!(sanitize_name("http.client-latency"), "http_client_latency");
        assert_eq!(sanitize_name("2xx.count"), "_2xx_count");
        assert_eq!(sanitize_name("ns:sub.é"), "ns:sub__");
        assert_eq!(sanitize_label("a:b"), "a_b");
        assert_eq!(sanitize_label("9lives"), "_9lives");
        assert_eq!(family_name(Kind::Counter, "jobs.done"), "jobs_done_total");
        assert_eq!(family_name(Kind::Counter, "jobs.done_total"), "jobs_done_total");
        assert_eq!(family_name(Kind::Gauge, "jobs.done"), "jobs_done");
    }

    #[test]
    fn each_reason_has_its_warned_flag() {
        let reasons = [Reason::Labels, Reason::Type, Reason::NameTaken, Reason::Invalid];
        let indexes: Vec<usize> = reasons.iter().map(|reason| *reason as usize).collect();
        assert_eq!(indexes, vec![0, 1, 2, 3]);
        assert_eq!(shared().warned.len(), reasons.len());
    }
}
