//! Hand-written metrics: counters, gauges and histograms the application records itself, with or
//! without labels, on the same registry as the request metrics.
//!
//! Each `register` validates the name, labels and buckets and returns an `Err` naming what is
//! wrong; `with_labels` resolves a label set to a handle once, so the handle's updates are a single
//! atomic operation with no hashing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::sync;

use super::MetricError;
use super::encode::{Encoder, Kind};
use super::limit::{self, OVERFLOW_LABEL};
use super::registry::{Collect, registry};
use super::view::{Labels, Reading};

#[cfg(feature = "trace")]
use super::exemplar::Slots;

/// Without traces there is no span to take an exemplar from: nothing is kept.
#[cfg(not(feature = "trace"))]
#[derive(Debug, Default)]
struct Slots(());

#[cfg(not(feature = "trace"))]
impl Slots {
    fn set(&self, _on: bool) {}
    #[inline(always)]
    fn offer(&self, _len: usize, _index: usize, _value: f64) {}
    fn texts(&self) -> Vec<Option<super::encode::ExemplarText>> {
        Vec::new()
    }
}

/// An `f64` updated atomically.
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
    fn add(&self, delta: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + delta).to_bits()));
    }
}

/// A counter's value, and its exemplar when the family opted in.
#[derive(Debug, Default)]
struct CounterCell {
    value: AtomicF64,
    exemplars: Slots,
}

impl CounterCell {
    fn add(&self, delta: f64) {
        self.value.add(delta);
        self.exemplars.offer(1, 0, delta);
    }
}

#[derive(Debug)]
struct HistogramCell {
    bounds: Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    sum: AtomicF64,
    exemplars: Slots,
}

impl HistogramCell {
    fn new(bounds: Arc<[f64]>) -> HistogramCell {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        HistogramCell { bounds, counts, sum: AtomicF64::default(), exemplars: Slots::default() }
    }
    fn observe(&self, value: f64) {
        self.observe_n(value, 1);
    }
    fn observe_n(&self, value: f64, count: u64) {
        if count == 0 {
            return;
        }
        let bucket = self.bounds.iter().position(|bound| value <= *bound).unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(count, Ordering::Relaxed);
        self.sum.add(value * count as f64);
        self.exemplars.offer(self.counts.len(), bucket, value);
    }
}

/// What a family holds per label set, and how it prints.
trait Cell: Send + Sync + 'static {
    fn make(family: &FamilyInfo) -> Self;
    /// Adds to a counter's value; nothing for a histogram.
    fn add_value(&self, _by: f64) {}
    fn encode(&self, encoder: &mut Encoder, name: &str, labels: &[(&str, &str)]);
    fn read(&self, labels: Labels<'_>, f: &mut dyn FnMut(Labels<'_>, Reading<'_>));
    /// The series' exemplars, if its type has any.
    #[cfg_attr(not(feature = "trace"), allow(dead_code))]
    fn exemplars(&self) -> Option<&Slots> {
        None
    }
}

/// A gauge's value.
impl Cell for AtomicF64 {
    fn make(_: &FamilyInfo) -> Self {
        AtomicF64::default()
    }
    fn encode(&self, encoder: &mut Encoder, name: &str, labels: &[(&str, &str)]) {
        encoder.sample(name, labels, self.get());
    }
    fn read(&self, labels: Labels<'_>, f: &mut dyn FnMut(Labels<'_>, Reading<'_>)) {
        f(labels, Reading::Scalar(self.get()));
    }
}

impl Cell for CounterCell {
    fn make(family: &FamilyInfo) -> Self {
        let cell = CounterCell::default();
        cell.exemplars.set(family.exemplars.load(Ordering::Relaxed));
        cell
    }
    fn add_value(&self, by: f64) {
        self.value.add(by);
    }
    fn encode(&self, encoder: &mut Encoder, name: &str, labels: &[(&str, &str)]) {
        encoder.sample(name, labels, self.value.get());
        if encoder.wants_exemplars() {
            encoder.exemplar(self.exemplars.texts().first().and_then(Option::as_ref));
        }
    }
    fn read(&self, labels: Labels<'_>, f: &mut dyn FnMut(Labels<'_>, Reading<'_>)) {
        f(labels, Reading::Scalar(self.value.get()));
    }
    fn exemplars(&self) -> Option<&Slots> {
        Some(&self.exemplars)
    }
}

impl Cell for HistogramCell {
    fn make(family: &FamilyInfo) -> Self {
        let cell = HistogramCell::new(family.buckets.clone());
        cell.exemplars.set(family.exemplars.load(Ordering::Relaxed));
        cell
    }
    fn encode(&self, encoder: &mut Encoder, name: &str, labels: &[(&str, &str)]) {
        let counts: Vec<u64> = self.counts.iter().map(|count| count.load(Ordering::Relaxed)).collect();
        let exemplars = if encoder.wants_exemplars() { self.exemplars.texts() } else { Vec::new() };
        encoder.histogram_with_exemplars(name, labels, &self.bounds, &counts, self.sum.get(), &exemplars);
    }
    fn exemplars(&self) -> Option<&Slots> {
        Some(&self.exemplars)
    }
    fn read(&self, labels: Labels<'_>, f: &mut dyn FnMut(Labels<'_>, Reading<'_>)) {
        let counts: Vec<u64> = self.counts.iter().map(|count| count.load(Ordering::Relaxed)).collect();
        f(labels, Reading::Histogram { bounds: &self.bounds, counts: &counts });
    }
}

#[derive(Debug)]
struct FamilyInfo {
    name: String,
    help: String,
    kind: Kind,
    label_names: Vec<String>,
    buckets: Arc<[f64]>,
    /// Whether its series keep exemplars (`with_exemplars`), the ones made later included.
    exemplars: AtomicBool,
}

#[derive(Debug)]
struct Family<C> {
    info: FamilyInfo,
    /// Keys are shared so that a reader can take the children out of the lock cheaply. At most
    /// the family's series limit of them (more if the limit was lowered after they were made).
    children: Mutex<BTreeMap<Arc<[String]>, Arc<C>>>,
    /// The series `{otel_metric_overflow="true"}`: what handles of label sets past the limit
    /// update. Made on the first such label set.
    overflow: OnceLock<Arc<C>>,
    /// Whether the family's first overflow was said.
    warned: AtomicBool,
}

impl<C: Cell> Family<C> {
    fn register(
        name: &str,
        help: &str,
        kind: Kind,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<Arc<Self>, MetricError> {
        check_name(name)?;
        if kind == Kind::Counter && !name.ends_with("_total") {
            return Err(MetricError::InvalidName {
                name: name.to_owned(),
                reason: "a counter's name ends in `_total`",
            });
        }
        check_labels(labels, kind)?;
        if kind == Kind::Histogram {
            super::check_buckets(buckets)?;
        }
        let family = Arc::new(Family {
            info: FamilyInfo {
                name: name.to_owned(),
                help: help.to_owned(),
                kind,
                label_names: labels.iter().map(|label| (*label).to_owned()).collect(),
                buckets: buckets.into(),
                exemplars: AtomicBool::new(false),
            },
            children: Mutex::new(BTreeMap::new()),
            overflow: OnceLock::new(),
            warned: AtomicBool::new(false),
        });
        registry().register_family(name, kind, family.clone())?;
        Ok(family)
    }

    /// Turns exemplars on for the family's series, those made before and after.
    #[cfg(feature = "trace")]
    fn keep_exemplars(&self) {
        self.info.exemplars.store(true, Ordering::Relaxed);
        for child in sync::lock(&self.children).values().chain(self.overflow.get()) {
            if let Some(slots) = child.exemplars() {
                slots.set(true);
            }
        }
    }

    fn child(&self, values: &[&str]) -> Result<Arc<C>, MetricError> {
        if values.len() != self.info.label_names.len() {
            return Err(MetricError::LabelCount {
                name: self.info.name.clone(),
                expected: self.info.label_names.len(),
                got: values.len(),
            });
        }
        let key: Vec<String> = values.iter().map(|value| (*value).to_owned()).collect();
        let mut children = sync::lock(&self.children);
        if let Some(child) = children.get(key.as_slice()) {
            return Ok(child.clone());
        }
        let limit = limit::series_limit(&self.info.name);
        if children.len() >= limit {
            drop(children);
            let overflow = self.overflow.get_or_init(|| Arc::new(C::make(&self.info))).clone();
            // Made while `with_exemplars` ran, it may have missed the flag.
            if self.info.exemplars.load(Ordering::Relaxed)
                && let Some(slots) = overflow.exemplars()
            {
                slots.set(true);
            }
            limit::overflowed(&self.info.name, limit, &self.warned, 1);
            return Ok(overflow);
        }
        let child = Arc::new(C::make(&self.info));
        children.insert(key.into(), child.clone());
        Ok(child)
    }
}

impl<C: Cell> Collect for Family<C> {
    fn encode(&self, encoder: &mut Encoder) {
        // The series are taken out of the lock first: the application's `with_labels` on this
        // family does not wait for the whole family to be encoded.
        let children: Vec<(Arc<[String]>, Arc<C>)> =
            sync::lock(&self.children).iter().map(|(values, cell)| (values.clone(), cell.clone())).collect();
        if children.is_empty() {
            return;
        }
        encoder.family(&self.info.name, self.info.kind, &self.info.help);
        encoder.expect_series(children.len() + usize::from(self.overflow.get().is_some()));
        for (values, cell) in &children {
            let labels: Vec<(&str, &str)> =
                self.info.label_names.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect();
            cell.encode(encoder, &self.info.name, &labels);
        }
        if let Some(overflow) = self.overflow.get() {
            overflow.encode(encoder, &self.info.name, &[(OVERFLOW_LABEL, "true")]);
        }
    }

    fn series_count(&self) -> usize {
        let children = sync::lock(&self.children).len();
        children + usize::from(self.overflow.get().is_some())
    }

    fn add_to_counter(&self, values: &[&str], by: f64) -> bool {
        if self.info.kind != Kind::Counter {
            return false;
        }
        let Ok(child) = self.child(values) else { return false };
        // Only counters hold `CounterCell`s, whose `Cell::add_value` adds as `Counter::inc_by` does.
        child.add_value(by);
        true
    }

    fn read(&self, f: &mut dyn FnMut(Labels<'_>, Reading<'_>), detach: bool) {
        let children = sync::lock(&self.children);
        if !detach {
            for (values, cell) in children.iter() {
                cell.read(Labels::named(&self.info.label_names, values), f);
            }
            if let Some(overflow) = self.overflow.get() {
                overflow.read(Labels::overflow(), f);
            }
            return;
        }
        // Out of the lock first: the callback may be anyone's code (a custom alert condition),
        // and the application's `with_labels` must not wait for it, nor deadlock with it.
        let detached: Vec<(Arc<[String]>, Arc<C>)> =
            children.iter().map(|(values, cell)| (values.clone(), cell.clone())).collect();
        drop(children);
        for (values, cell) in &detached {
            cell.read(Labels::named(&self.info.label_names, values), f);
        }
        if let Some(overflow) = self.overflow.get() {
            overflow.read(Labels::overflow(), f);
        }
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), MetricError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if valid {
        Ok(())
    } else {
        Err(MetricError::InvalidName { name: name.to_owned(), reason: "names match [a-zA-Z_:][a-zA-Z0-9_:]*" })
    }
}

pub(crate) fn check_labels(labels: &[&str], kind: Kind) -> Result<(), MetricError> {
    for (index, label) in labels.iter().enumerate() {
        let mut chars = label.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        let reason = if !valid {
            Some("label names match [a-zA-Z_][a-zA-Z0-9_]*")
        } else if label.starts_with("__") {
            Some("label names starting with `__` are reserved")
        } else if kind == Kind::Histogram && *label == "le" {
            Some("`le` is the bucket label of histograms")
        } else if *label == OVERFLOW_LABEL {
            Some("`otel_metric_overflow` is the label of a family's overflow series")
        } else if labels[..index].contains(label) {
            Some("the label is listed twice")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(MetricError::InvalidLabel { label: (*label).to_owned(), reason });
        }
    }
    Ok(())
}

/// A counter: a value that only goes up. A handle; clones update the same value.
///
/// ```
/// use obs_runtime::metrics::Counter;
/// let logins = Counter::register("doc_logins_total", "Successful logins")?;
/// logins.inc();
/// logins.inc_by(2.0);
/// assert_eq!(logins.get(), 3.0);
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Counter(Arc<CounterCell>);

impl Counter {
    /// Registers a counter without labels. The name must end in `_total`.
    pub fn register(name: &str, help: &str) -> Result<Counter, MetricError> {
        CounterVec::register(name, help, &[])?.with_labels(&[])
    }
    /// Adds one.
    pub fn inc(&self) {
        self.0.add(1.0);
    }
    /// Adds `delta`; a negative or NaN `delta` is ignored, since a counter never goes down.
    pub fn inc_by(&self, delta: f64) {
        if delta >= 0.0 {
            self.0.add(delta);
        }
    }
    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.value.get()
    }
    /// This series keeps an exemplar: see [`CounterVec::with_exemplars`].
    #[cfg(feature = "trace")]
    pub fn with_exemplars(self) -> Counter {
        self.0.exemplars.set(true);
        self
    }
}

/// A counter with labels: one series per label set, each resolved once with `with_labels`.
///
/// ```
/// use obs_runtime::metrics::CounterVec;
/// let jobs = CounterVec::register("doc_jobs_total", "Jobs run", &["queue", "outcome"])?;
/// let sent = jobs.with_labels(&["email", "ok"])?; // resolve once, update often
/// sent.inc();
/// assert!(jobs.with_labels(&["email"]).is_err()); // wrong number of values
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CounterVec(Arc<Family<CounterCell>>);

impl CounterVec {
    /// Registers a labelled counter family. The name must end in `_total`.
    pub fn register(name: &str, help: &str, labels: &[&str]) -> Result<CounterVec, MetricError> {
        Family::register(name, help, Kind::Counter, labels, &[]).map(CounterVec)
    }
    /// The counter of one label set, one value per label name, in order. Past the family's
    /// series limit ([`set_series_limit`](super::set_series_limit)), a label set the family does
    /// not hold gets its overflow series `{otel_metric_overflow="true"}` (each such call counted in
    /// `obs_metric_series_overflow_total{family}`). The same holds for every `with_labels`.
    pub fn with_labels(&self, values: &[&str]) -> Result<Counter, MetricError> {
        self.0.child(values).map(Counter)
    }

    /// Whether `counter` is this family's overflow series.
    #[cfg(feature = "metrics-rs")]
    pub(crate) fn is_overflow(&self, counter: &Counter) -> bool {
        self.0.overflow.get().is_some_and(|overflow| Arc::ptr_eq(overflow, &counter.0))
    }

    /// Each series keeps an exemplar, as `http_requests_total` does: the trace id and span id of
    /// the latest increment made while a sampled span was current (of two made at the same moment
    /// on two threads, one), with the increment and its time, served in OpenMetrics after the
    /// series' value (never in the text format). For the series made before and after. Costs an
    /// increment in no sampled span a thread-local read, one in a sampled span a compare-and-swap,
    /// a clock read and a few stores (BENCHMARKS.md); off with
    /// [`set_exemplars`](super::set_exemplars)`(false)`.
    ///
    /// ```
    /// use obs_runtime::context::SpanContext;
    /// use obs_runtime::metrics::{CounterVec, Format, encode};
    ///
    /// let charges = CounterVec::register("doc_charges_total", "Card charges", &["outcome"])?.with_exemplars();
    /// let declined = charges.with_labels(&["declined"])?;
    /// let context = SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// {
    ///     let _current = context.attach();
    ///     declined.inc();
    /// }
    /// let body = encode(Format::OpenMetrics);
    /// let exemplar = r#"doc_charges_total{outcome="declined"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 1 "#;
    /// assert!(body.contains(exemplar), "{body}");
    /// # Ok::<(), obs_runtime::metrics::MetricError>(())
    /// ```
    #[cfg(feature = "trace")]
    pub fn with_exemplars(self) -> CounterVec {
        self.0.keep_exemplars();
        self
    }
}

/// A gauge: a value that goes up and down.
///
/// ```
/// use obs_runtime::metrics::Gauge;
/// let queue = Gauge::register("doc_queue_depth", "Jobs waiting")?;
/// queue.set(10.0);
/// queue.dec();
/// assert_eq!(queue.get(), 9.0);
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Gauge(Arc<AtomicF64>);

impl Gauge {
    /// Registers a gauge without labels.
    pub fn register(name: &str, help: &str) -> Result<Gauge, MetricError> {
        GaugeVec::register(name, help, &[])?.with_labels(&[])
    }
    /// Sets the value.
    pub fn set(&self, value: f64) {
        self.0.set(value);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.0.add(1.0);
    }
    /// Subtracts one.
    pub fn dec(&self) {
        self.0.add(-1.0);
    }
    /// Adds `delta` (which may be negative).
    pub fn add(&self, delta: f64) {
        self.0.add(delta);
    }
    /// The current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A gauge with labels.
#[derive(Debug, Clone)]
pub struct GaugeVec(Arc<Family<AtomicF64>>);

impl GaugeVec {
    /// Registers a labelled gauge family.
    pub fn register(name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, MetricError> {
        Family::register(name, help, Kind::Gauge, labels, &[]).map(GaugeVec)
    }
    /// The gauge of one label set.
    pub fn with_labels(&self, values: &[&str]) -> Result<Gauge, MetricError> {
        self.0.child(values).map(Gauge)
    }
}

/// A histogram of observed values, in buckets with upper bounds (`le`, inclusive).
///
/// ```
/// use obs_runtime::metrics::Histogram;
/// let sizes = Histogram::register("doc_payload_bytes", "Payload sizes", &[100.0, 1000.0, 10000.0])?;
/// sizes.observe(512.0);
/// assert!(Histogram::register("doc_bad", "unsorted", &[2.0, 1.0]).is_err());
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramCell>);

impl Histogram {
    /// Registers a histogram without labels.
    pub fn register(name: &str, help: &str, buckets: &[f64]) -> Result<Histogram, MetricError> {
        HistogramVec::register(name, help, &[], buckets)?.with_labels(&[])
    }
    /// Records one observation.
    pub fn observe(&self, value: f64) {
        self.0.observe(value);
    }

    /// Records `count` observations of `value` at once (one update of the bucket and the sum).
    ///
    /// ```
    /// use obs_runtime::metrics::{Format, Histogram, encode};
    /// let rows = Histogram::register("doc_observe_n_rows", "Rows per batch", &[10.0, 100.0])?;
    /// rows.observe_n(50.0, 3);
    /// let body = encode(Format::Text);
    /// assert!(body.contains("doc_observe_n_rows_bucket{le=\"100.0\"} 3\n"));
    /// assert!(body.contains("doc_observe_n_rows_sum 150\n"));
    /// # Ok::<(), obs_runtime::metrics::MetricError>(())
    /// ```
    pub fn observe_n(&self, value: f64, count: u64) {
        self.0.observe_n(value, count);
    }

    /// This series keeps exemplars: see [`HistogramVec::with_exemplars`].
    #[cfg(feature = "trace")]
    pub fn with_exemplars(self) -> Histogram {
        self.0.exemplars.set(true);
        self
    }
}

/// A histogram with labels.
#[derive(Debug, Clone)]
pub struct HistogramVec(Arc<Family<HistogramCell>>);

impl HistogramVec {
    /// Registers a labelled histogram family.
    pub fn register(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> Result<HistogramVec, MetricError> {
        Family::register(name, help, Kind::Histogram, labels, buckets).map(HistogramVec)
    }
    /// Each bucket of each series keeps an exemplar, as `http_request_duration_seconds` does: the
    /// trace id and span id of the latest value observed in it while a sampled span was current,
    /// with the value and its time, served in OpenMetrics (never in the text format). For the
    /// series made before and after; costs as [`CounterVec::with_exemplars`] says.
    ///
    /// ```
    /// use obs_runtime::context::SpanContext;
    /// use obs_runtime::metrics::{Format, HistogramVec, encode};
    ///
    /// let rows = HistogramVec::register("doc_query_rows", "Rows", &["table"], &[10.0, 100.0])?.with_exemplars();
    /// let context = SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// {
    ///     let _current = context.attach();
    ///     rows.with_labels(&["users"])?.observe(42.0);
    /// }
    /// let body = encode(Format::OpenMetrics);
    /// let exemplar = r#"doc_query_rows_bucket{table="users",le="100.0"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 42 "#;
    /// assert!(body.contains(exemplar), "{body}");
    /// # Ok::<(), obs_runtime::metrics::MetricError>(())
    /// ```
    #[cfg(feature = "trace")]
    pub fn with_exemplars(self) -> HistogramVec {
        self.0.keep_exemplars();
        self
    }

    /// The histogram of one label set.
    pub fn with_labels(&self, values: &[&str]) -> Result<Histogram, MetricError> {
        self.0.child(values).map(Histogram)
    }
}

#[cfg(all(test, feature = "trace"))]
mod exemplar_tests {
    use super::*;
    use crate::context::SpanContext;
    use crate::metrics::{Format, encode, set_exemplars};

    fn sampled() -> SpanContext {
        SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("the W3C example")
    }

    fn line<'a>(body: &'a str, start: &str) -> &'a str {
        body.lines().find(|line| line.starts_with(start)).unwrap_or_else(|| panic!("no {start} in {body}"))
    }

    #[test]
    fn series_made_before_and_after_with_exemplars_keep_them_and_set_exemplars_false_serves_none() {
        // Catches: `with_exemplars` that only reaches the series made after it (or only those
        // before), an unlabelled handle's own switch that does nothing, a series that did not opt
        // in keeping one, and exemplars still served when they are off.
        let family = CounterVec::register("exemplar_unit_jobs_total", "Jobs", &["queue"]).expect("registers");
        let before = family.with_labels(&["before"]).expect("a series");
        let family = family.with_exemplars();
        let after = family.with_labels(&["after"]).expect("a series");
        let single = Counter::register("exemplar_unit_single_total", "One").expect("registers").with_exemplars();
        let plain = Counter::register("exemplar_unit_plain_total", "Did not opt in").expect("registers");
        {
            let _current = sampled().attach();
            for counter in [&before, &after, &single, &plain] {
                counter.inc();
            }
        }
        let body = encode(Format::OpenMetrics);
        let ids = "# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 1 ";
        for start in [
            "exemplar_unit_jobs_total{queue=\"before\"} 1 ",
            "exemplar_unit_jobs_total{queue=\"after\"} 1 ",
            "exemplar_unit_single_total 1 ",
        ] {
            assert!(line(&body, start).contains(ids), "{start}: {body}");
        }
        assert_eq!(line(&body, "exemplar_unit_plain_total"), "exemplar_unit_plain_total 1");
        // The text format never has them.
        assert!(!encode(Format::Text).contains("exemplar_unit_jobs_total{queue=\"after\"} 1 #"));
        set_exemplars(false);
        let off = encode(Format::OpenMetrics);
        set_exemplars(true);
        assert_eq!(
            line(&off, "exemplar_unit_jobs_total{queue=\"after\"}"),
            "exemplar_unit_jobs_total{queue=\"after\"} 1"
        );
    }
}
