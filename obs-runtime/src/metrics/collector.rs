//! Collectors: families whose values another piece of code computes when they are read (a
//! bridge from the `prometheus` or `metrics` crates, a pool's statistics, a cache's size).
//!
//! A collector says once, at [`register_collector`], which families it yields ([`Desc`]); at each
//! scrape (and each [`Snapshot`](super::Snapshot) read) obs calls [`Collector::collect`], which
//! writes the current values into a [`Collected`]. Its families are encoded in both exposition
//! formats like obs's own, are visible to `Snapshot` (so alert rules can use them), and keep the
//! series limit: past a family's limit, the label sets yielded later in a collection are summed
//! into its overflow series `{otel_metric_overflow="true"}`.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::MetricError;
use super::encode::{Encoder, Kind};
use super::family::{check_labels, check_name};
use super::limit::{self, OVERFLOW_LABEL};
use super::registry::{Collect, claimed_names, registry};
use super::view::{Labels, Reading};

/// The type of a family a collector yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricKind {
    /// A value that only goes up; the name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations in buckets, with their sum and count.
    Histogram,
}

impl MetricKind {
    fn kind(self) -> Kind {
        match self {
            MetricKind::Counter => Kind::Counter,
            MetricKind::Gauge => Kind::Gauge,
            MetricKind::Histogram => Kind::Histogram,
        }
    }
}

/// The description of one family a collector yields: name, help, type, label names and, for a
/// histogram, its bucket bounds. Checked when the collector is registered.
#[derive(Debug, Clone, PartialEq)]
pub struct Desc {
    name: String,
    help: String,
    kind: MetricKind,
    labels: Vec<String>,
    buckets: Vec<f64>,
}

impl Desc {
    fn new(name: &str, help: &str, kind: MetricKind, labels: &[&str], buckets: &[f64]) -> Desc {
        Desc {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            labels: labels.iter().map(|label| (*label).to_owned()).collect(),
            buckets: buckets.to_vec(),
        }
    }

    /// A counter family; `name` ends in `_total`.
    pub fn counter(name: &str, help: &str, labels: &[&str]) -> Desc {
        Desc::new(name, help, MetricKind::Counter, labels, &[])
    }

    /// A gauge family.
    pub fn gauge(name: &str, help: &str, labels: &[&str]) -> Desc {
        Desc::new(name, help, MetricKind::Gauge, labels, &[])
    }

    /// A histogram family with these bucket upper bounds (`+Inf` comes on top); every series of
    /// the family has them.
    pub fn histogram(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> Desc {
        Desc::new(name, help, MetricKind::Histogram, labels, buckets)
    }

    /// The family's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The family's type.
    pub fn kind(&self) -> MetricKind {
        self.kind
    }

    fn check(&self) -> Result<(), MetricError> {
        check_name(&self.name)?;
        if self.kind == MetricKind::Counter && !self.name.ends_with("_total") {
            return Err(MetricError::InvalidName {
                name: self.name.clone(),
                reason: "a counter's name ends in `_total`",
            });
        }
        let labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        check_labels(&labels, self.kind.kind())?;
        if self.kind == MetricKind::Histogram {
            super::check_buckets(&self.buckets)?;
        }
        Ok(())
    }
}

/// Code that yields metric families when they are read: what bridges from other metrics
/// libraries, and your own computed metrics, implement. Register one with
/// [`register_collector`].
///
/// `collect` runs at each scrape and each [`Snapshot`](super::Snapshot) read, on the reading
/// thread, with no lock of obs held: it may use obs's metrics itself. It should be quick (a scrape
/// waits for it). A panic in it is caught: that collection yields nothing, and it is counted in
/// `obs_internal_errors_total{component="metrics",reason="collector_panic"}`.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use obs_runtime::metrics::{Collected, Collector, Desc, register_collector};
///
/// /// A connection pool's statistics, read when scraped.
/// struct Pool {
///     idle: AtomicU64,
///     opened: AtomicU64,
/// }
///
/// impl Collector for Pool {
///     fn describe(&self) -> Vec<Desc> {
///         vec![
///             Desc::gauge("doc_pool_idle_connections", "Idle connections", &["pool"]),
///             Desc::counter("doc_pool_opened_total", "Connections opened", &["pool"]),
///         ]
///     }
///     fn collect(&self, out: &mut Collected<'_>) {
///         out.gauge("doc_pool_idle_connections", &["main"], self.idle.load(Ordering::Relaxed) as f64);
///         out.counter("doc_pool_opened_total", &["main"], self.opened.load(Ordering::Relaxed) as f64);
///     }
/// }
///
/// let pool = Arc::new(Pool { idle: AtomicU64::new(3), opened: AtomicU64::new(7) });
/// register_collector(pool.clone())?;
/// let body = obs_runtime::metrics::encode(obs_runtime::metrics::Format::Text);
/// assert!(body.contains("# TYPE doc_pool_idle_connections gauge\ndoc_pool_idle_connections{pool=\"main\"} 3\n"));
/// assert!(body.contains("doc_pool_opened_total{pool=\"main\"} 7\n"));
///
/// // A name obs or another collector has is refused, naming it.
/// let again = register_collector(pool);
/// assert_eq!(again.expect_err("taken").to_string(), "a metric named \"doc_pool_idle_connections\" is already registered");
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
pub trait Collector: Send + Sync {
    /// The families this collector yields. Called once, by [`register_collector`].
    fn describe(&self) -> Vec<Desc>;

    /// Writes the current value of each series into `out`.
    fn collect(&self, out: &mut Collected<'_>);
}

/// Registers `collector`: its families are read at each scrape from then on.
///
/// Each [`Desc`] is checked like a hand-written family (the name, a counter's `_total`, the label
/// names, a histogram's buckets); a family whose name (or one its samples use: a histogram `x`
/// writes `x_count`) is taken already, by obs, a hand-written family or another collector, or is
/// described twice by this collector, is an `Err` naming it, and nothing of the collector is
/// registered. See [`Collector`] for an example.
pub fn register_collector(collector: Arc<dyn Collector>) -> Result<(), MetricError> {
    let families = collector.describe();
    let mut names = Vec::new();
    let mut taken = HashSet::new();
    for desc in &families {
        desc.check()?;
        for name in claimed_names(&desc.name, desc.kind.kind()) {
            if !taken.insert(name.clone()) {
                return Err(MetricError::DescribedTwice { name });
            }
            names.push(name);
        }
    }
    let entry = CollectorEntry {
        collector,
        index: families.iter().enumerate().map(|(index, desc)| (desc.name.clone(), index)).collect(),
        warned: families.iter().map(|_| AtomicBool::new(false)).collect(),
        last_counts: families.iter().map(|_| AtomicUsize::new(0)).collect(),
        admitted: families.iter().map(|_| Mutex::new(HashSet::new())).collect(),
        last_folded: families.iter().map(|_| AtomicU64::new(0)).collect(),
        families,
        problems_warned: Default::default(),
    };
    registry().register_collector(Arc::new(entry), names)
}

/// A value a collector gave for one series.
#[derive(Debug, Clone)]
enum Value {
    Scalar(f64),
    /// Per-bucket counts (not cumulative; the last is `+Inf`) and the sum.
    Histogram(Vec<u64>, f64),
}

impl Value {
    fn fold(&mut self, other: Value) {
        match (self, other) {
            (Value::Scalar(total), Value::Scalar(value)) => *total += value,
            (Value::Histogram(counts, sum), Value::Histogram(more, more_sum)) => {
                counts.iter_mut().zip(more).for_each(|(count, more)| *count += more);
                *sum += more_sum;
            }
            // `Collected` checks each sample against its family's type first.
            _ => {}
        }
    }
}

/// What one collection of one family gathered.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    limit: usize,
    /// The label sets given their own series, in the order they came.
    samples: Vec<(Arc<[String]>, Value)>,
    seen: HashSet<Arc<[String]>>,
    overflow: Option<Value>,
    /// How many label sets went to the overflow series.
    folded: u64,
}

/// Problems with what a collector yielded, each counted in
/// `obs_internal_errors_total{component="metrics",reason}` (at scrapes).
const PROBLEMS: [&str; 3] = ["undescribed_family", "invalid_sample", "collector_panic"];

/// Where a [`Collector`] writes its values during one collection.
///
/// A sample is skipped, and counted in `obs_internal_errors_total{component="metrics",reason}`,
/// when its family was not described (`undescribed_family`), or it does not fit its family
/// (`invalid_sample`): another type, another number of label values, a histogram with another
/// number of buckets, or a label set given a second time in this collection. The first problem
/// of each kind is also said once (a warning).
///
/// Past its family's series limit, a new label set is summed into the family's overflow series
/// `{otel_metric_overflow="true"}`. A label set that got a series of its own keeps it in later
/// collections (the first `limit` distinct label sets yielded, whatever the order of later
/// collections), so series do not come and go between scrapes.
pub struct Collected<'a> {
    entry: &'a CollectorEntry,
    families: Vec<Gathered>,
    problems: [u64; 3],
    /// The first undescribed family seen, for the warning.
    undescribed: Option<String>,
}

impl std::fmt::Debug for Collected<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collected").finish_non_exhaustive()
    }
}

impl Collected<'_> {
    /// The value of a counter family's series `labels` (one value per label name, in order).
    pub fn counter(&mut self, family: &str, labels: &[&str], value: f64) {
        self.sample(family, MetricKind::Counter, labels, Value::Scalar(value));
    }

    /// The value of a gauge family's series `labels`.
    pub fn gauge(&mut self, family: &str, labels: &[&str], value: f64) {
        self.sample(family, MetricKind::Gauge, labels, Value::Scalar(value));
    }

    /// A histogram family's series `labels`: the count of each bucket (not cumulative: one more
    /// than the family's bounds, the last is `+Inf`) and the sum of the observations.
    pub fn histogram(&mut self, family: &str, labels: &[&str], counts: &[u64], sum: f64) {
        self.sample(family, MetricKind::Histogram, labels, Value::Histogram(counts.to_vec(), sum));
    }

    fn sample(&mut self, family: &str, kind: MetricKind, labels: &[&str], value: Value) {
        let Some(&index) = self.entry.index.get(family) else {
            self.problems[0] += 1;
            self.undescribed.get_or_insert_with(|| family.to_owned());
            return;
        };
        let desc = &self.entry.families[index];
        let fits = match &value {
            Value::Histogram(counts, _) => counts.len() == desc.buckets.len() + 1,
            Value::Scalar(_) => true,
        };
        if desc.kind != kind || labels.len() != desc.labels.len() || !fits {
            self.problems[1] += 1;
            return;
        }
        let gathered = &mut self.families[index];
        let key: Vec<String> = labels.iter().map(|label| (*label).to_owned()).collect();
        if gathered.seen.contains(key.as_slice()) {
            self.problems[1] += 1;
            return;
        }
        // A label set keeps the series it got in an earlier collection; a new one gets one while
        // the family is under its limit.
        let own = {
            let mut admitted = crate::sync::lock(&self.entry.admitted[index]);
            match admitted.get(key.as_slice()) {
                Some(known) => Some(known.clone()),
                None if admitted.len() < gathered.limit => {
                    let key: Arc<[String]> = key.into();
                    admitted.insert(key.clone());
                    Some(key)
                }
                None => None,
            }
        };
        if let Some(key) = own {
            gathered.seen.insert(key.clone());
            gathered.samples.push((key, value));
            return;
        }
        gathered.folded += 1;
        match &mut gathered.overflow {
            Some(total) => total.fold(value),
            None => gathered.overflow = Some(value),
        }
    }
}

/// A registered collector and what it described.
pub(crate) struct CollectorEntry {
    collector: Arc<dyn Collector>,
    families: Vec<Desc>,
    index: HashMap<String, usize>,
    /// Per family: whether its first overflow was said.
    warned: Vec<AtomicBool>,
    /// Per family: its series at the last collection, the overflow one included.
    last_counts: Vec<AtomicUsize>,
    /// Per family: the label sets that have a series of their own, kept from one collection to
    /// the next (at most the limit): which label sets overflow does not depend on the order a
    /// collector yields them in (a hash map's, say).
    admitted: Vec<Mutex<HashSet<Arc<[String]>>>>,
    /// Per family: how many label sets the last scrape folded into the overflow series.
    last_folded: Vec<AtomicU64>,
    /// Per entry of [`PROBLEMS`]: whether it was said.
    problems_warned: [AtomicBool; 3],
}

impl CollectorEntry {
    pub(crate) fn family_names(&self) -> impl Iterator<Item = &str> {
        self.families.iter().map(|desc| desc.name.as_str())
    }

    /// Runs the collector once. `scrape`: count what overflowed and what was wrong (a
    /// `Snapshot` read, which alert evaluations do often, folds the same way but counts nothing).
    pub(crate) fn gather(&self, scrape: bool) -> Vec<Gathered> {
        let families = self
            .families
            .iter()
            .map(|desc| Gathered { limit: limit::series_limit(&desc.name), ..Gathered::default() })
            .collect();
        let mut out = Collected { entry: self, families, problems: [0; 3], undescribed: None };
        if catch_unwind(AssertUnwindSafe(|| self.collector.collect(&mut out))).is_err() {
            out.problems[2] += 1;
            out.families.iter_mut().for_each(|gathered| *gathered = Gathered::default());
        }
        let Collected { families, problems, undescribed, .. } = out;
        for (index, gathered) in families.iter().enumerate() {
            let count = gathered.samples.len() + usize::from(gathered.overflow.is_some());
            self.last_counts[index].store(count, Ordering::Relaxed);
            if scrape {
                // Counted as the number folded grows, not again at every scrape.
                let before = self.last_folded[index].swap(gathered.folded, Ordering::Relaxed);
                let new = gathered.folded.saturating_sub(before);
                limit::overflowed(&self.families[index].name, gathered.limit, &self.warned[index], new);
            }
        }
        if scrape {
            for (which, count) in problems.into_iter().enumerate() {
                self.problem(which, count, undescribed.as_deref());
            }
        }
        families
    }

    /// Counts `count` problems of kind `PROBLEMS[which]`, saying the first.
    fn problem(&self, which: usize, mut count: u64, undescribed: Option<&str>) {
        if count == 0 {
            return;
        }
        let reason = PROBLEMS[which];
        if !self.problems_warned[which].swap(true, Ordering::Relaxed) {
            let message = match which {
                0 => format!(
                    "a metrics collector yielded the family {} it did not describe: its samples are skipped",
                    undescribed.unwrap_or("?")
                ),
                1 => format!(
                    "a metrics collector (of {}) yielded samples that do not fit their family (type, label count, \
                     buckets, or a label set given twice): they are skipped",
                    self.families.iter().map(|desc| desc.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
                _ => format!(
                    "a metrics collector (of {}) panicked: that collection yielded nothing",
                    self.families.iter().map(|desc| desc.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            };
            // Counts one, and registers the counter if it was not yet.
            crate::diagnostics::warn("metrics", reason, &message);
            count -= 1;
        }
        if count > 0 {
            registry().add_to_counter("obs_internal_errors_total", &["metrics", reason], count as f64);
        }
    }

    /// Writes one family of a collection.
    fn encode_family(&self, encoder: &mut Encoder, index: usize, gathered: &Gathered) {
        if gathered.samples.is_empty() && gathered.overflow.is_none() {
            return;
        }
        let desc = &self.families[index];
        encoder.family(&desc.name, desc.kind.kind(), &desc.help);
        let overflow = gathered.overflow.iter().map(|value| (None, value));
        for (values, value) in gathered.samples.iter().map(|(values, value)| (Some(values), value)).chain(overflow) {
            let labels: Vec<(&str, &str)> = match values {
                Some(values) => desc.labels.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect(),
                None => vec![(OVERFLOW_LABEL, "true")],
            };
            match value {
                Value::Scalar(value) => encoder.sample(&desc.name, &labels, *value),
                Value::Histogram(counts, sum) => encoder.histogram(&desc.name, &labels, &desc.buckets, counts, *sum),
            }
        }
    }

    /// A scrape's collection ([`CollectorEntry::gather`]): every family, in the order described.
    pub(crate) fn encode(&self, encoder: &mut Encoder, gathered: &[Gathered]) {
        for (index, gathered) in gathered.iter().enumerate() {
            self.encode_family(encoder, index, gathered);
        }
    }
}

/// One family of a collector, as [`registry().family(name)`](super::registry::Registry::family)
/// gives it to `Snapshot`.
pub(crate) struct CollectedFamily {
    entry: Arc<CollectorEntry>,
    index: usize,
}

impl CollectedFamily {
    pub(crate) fn new(entry: Arc<CollectorEntry>, index: usize) -> CollectedFamily {
        CollectedFamily { entry, index }
    }
}

impl Collect for CollectedFamily {
    fn encode(&self, encoder: &mut Encoder) {
        let gathered = self.entry.gather(true);
        self.entry.encode_family(encoder, self.index, &gathered[self.index]);
    }

    fn read(&self, f: &mut dyn FnMut(Labels<'_>, Reading<'_>), _detach: bool) {
        // Gathered first, then read: the callback runs with nothing of the collector held.
        let gathered = self.entry.gather(false);
        let desc = &self.entry.families[self.index];
        let gathered = &gathered[self.index];
        fn reading<'a>(desc: &'a Desc, value: &'a Value) -> Reading<'a> {
            match value {
                Value::Scalar(value) => Reading::Scalar(*value),
                Value::Histogram(counts, _) => Reading::Histogram { bounds: &desc.buckets, counts },
            }
        }
        for (values, value) in &gathered.samples {
            f(Labels::named(&desc.labels, values), reading(desc, value));
        }
        if let Some(value) = &gathered.overflow {
            f(Labels::overflow(), reading(desc, value));
        }
    }

    fn series_count(&self) -> usize {
        self.entry.last_counts[self.index].load(Ordering::Relaxed)
    }
}
