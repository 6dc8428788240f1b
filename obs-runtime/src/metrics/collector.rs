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
use std::sync::{Arc, Mutex, RwLock};

use super::MetricError;
use super::encode::{Encoder, Format, Kind};
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
    /// A counter whose name need not end in `_total` (a bridged `prometheus` counter, served
    /// under the name it has there; OpenMetrics adds `_total` to its samples).
    any_counter_name: bool,
}

impl Desc {
    fn new(name: &str, help: &str, kind: MetricKind, labels: &[&str], buckets: &[f64]) -> Desc {
        Desc {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            labels: labels.iter().map(|label| (*label).to_owned()).collect(),
            buckets: buckets.to_vec(),
            any_counter_name: false,
        }
    }

    /// A counter family named as another library names it: `_total` is not required.
    #[cfg(feature = "prometheus")]
    pub(crate) fn foreign_counter(name: &str, help: &str, labels: &[&str]) -> Desc {
        Desc { any_counter_name: true, ..Desc::counter(name, help, labels) }
    }

    /// The same family: name, type, label names and buckets (the help may differ).
    fn same_family(&self, other: &Desc) -> bool {
        self.name == other.name
            && self.kind == other.kind
            && self.labels == other.labels
            && self.buckets == other.buckets
    }

    /// The names the family's samples and metadata use.
    fn claimed_names(&self) -> Vec<String> {
        claimed_names(&self.name, self.kind.kind())
    }

    /// The name of the family's scalar samples in `format`: a counter not named `..._total` gets
    /// `_total` in OpenMetrics, which requires it.
    fn sample_name(&self, format: Format) -> std::borrow::Cow<'_, str> {
        if self.kind == MetricKind::Counter && format == Format::OpenMetrics && !self.name.ends_with("_total") {
            return format!("{}_total", self.name).into();
        }
        self.name.as_str().into()
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

    /// A histogram's bucket bounds (none for other types).
    #[cfg(feature = "prometheus")]
    pub(crate) fn buckets(&self) -> &[f64] {
        &self.buckets
    }

    pub(crate) fn check(&self) -> Result<(), MetricError> {
        check_name(&self.name)?;
        if self.kind == MetricKind::Counter && !self.any_counter_name && !self.name.ends_with("_total") {
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
    register(collector, false)
}

/// Registers a bridge to another library's registry: left out when obs's registry is itself
/// read by that library ([`super::prometheus::ObsCollector`]).
#[cfg(feature = "prometheus")]
pub(crate) fn register_bridge(collector: Arc<dyn Collector>) -> Result<(), MetricError> {
    register(collector, true)
}

fn register(collector: Arc<dyn Collector>, bridge: bool) -> Result<(), MetricError> {
    // Anyone's code: a panic is an `Err`, not the host's.
    let families =
        catch_unwind(AssertUnwindSafe(|| collector.describe())).map_err(|_| MetricError::CollectorPanicked)?;
    let mut names = Vec::new();
    let mut taken = HashSet::new();
    for desc in &families {
        desc.check()?;
        for name in desc.claimed_names() {
            if !taken.insert(name.clone()) {
                return Err(MetricError::DescribedTwice { name });
            }
            names.push(name);
        }
    }
    let entry = CollectorEntry {
        collector,
        bridge,
        families: RwLock::new(Families {
            described: families.len(),
            index: families.iter().enumerate().map(|(index, desc)| (desc.name.clone(), index)).collect(),
            states: families.into_iter().map(|desc| Arc::new(FamilyState::new(desc))).collect(),
        }),
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

impl Gathered {
    /// Nothing gathered yet for the family `desc`, under its series limit.
    fn of(desc: &Desc) -> Gathered {
        Gathered { limit: limit::series_limit(&desc.name), ..Gathered::default() }
    }
}

/// Problems with what a collector yielded, each counted in
/// `obs_internal_errors_total{component="metrics",reason}` (at scrapes).
const PROBLEMS: [&str; 6] =
    ["undescribed_family", "invalid_sample", "collector_panic", "family_taken", "unsupported_family", "family_limit"];

/// The most families a collector may add while collecting ([`Collected::describe`]): a registry
/// that makes a family per request (a name with an id in it) stops here instead of growing obs's
/// registry without end.
pub const MAX_ADDED_FAMILIES: usize = 1_000;

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
    entry: &'a Arc<CollectorEntry>,
    /// The collector's families when the collection started, and those it added since.
    states: Vec<Arc<FamilyState>>,
    families: Vec<Gathered>,
    problems: [u64; PROBLEMS.len()],
    /// Per problem, the first family it concerned, for the warning.
    first: [Option<String>; PROBLEMS.len()],
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

    /// Adds a family this collector did not describe at [`register_collector`], for a collector
    /// whose families change after it was registered (a `prometheus::Registry` that gets a
    /// metric later): its samples are taken from then on, in this collection and the next ones.
    ///
    /// `desc` is checked as at registration. The family is registered for good (a later family of
    /// that name, hand-written or collected, is refused) when its name and the names its samples
    /// use are free; `Ok` also when this collector has the same family already (same name, type,
    /// label names and buckets). `Err` names what is wrong or taken, and its samples are skipped;
    /// counted in `obs_internal_errors_total{component="metrics",reason}` (at scrapes, once per
    /// collection): a name another family has as `family_taken`, a family of this collector
    /// given again with another type, label names or buckets as `invalid_sample`
    /// ([`MetricError::DescribedTwice`]), one past the [`MAX_ADDED_FAMILIES`] a collector may add
    /// as `family_limit` ([`MetricError::TooManyFamilies`]).
    pub fn describe(&mut self, desc: Desc) -> Result<(), MetricError> {
        if let Some(index) = self.index_of(&desc.name) {
            if self.states[index].desc.same_family(&desc) {
                return Ok(());
            }
            return Err(self.changed(desc.name));
        }
        desc.check()?;
        let state = {
            let mut families = crate::sync::write(&self.entry.families);
            match families.index.get(&desc.name) {
                // Added by a collection running at the same time.
                Some(&index) if families.states[index].desc.same_family(&desc) => families.states[index].clone(),
                Some(_) => {
                    drop(families);
                    return Err(self.changed(desc.name));
                }
                None if families.states.len() - families.described >= MAX_ADDED_FAMILIES => {
                    drop(families);
                    // A taken name is said as such, full or not.
                    if let Err(error) = registry().check_free(&desc.claimed_names()) {
                        self.taken(desc.name);
                        return Err(error);
                    }
                    self.problem(5, &desc.name);
                    return Err(MetricError::TooManyFamilies { limit: MAX_ADDED_FAMILIES });
                }
                None => {
                    let index = families.states.len();
                    if let Err(error) =
                        registry().claim_for_collector(self.entry, index, &desc.name, desc.claimed_names())
                    {
                        drop(families);
                        self.taken(desc.name);
                        return Err(error);
                    }
                    families.index.insert(desc.name.clone(), index);
                    let state = Arc::new(FamilyState::new(desc));
                    families.states.push(state.clone());
                    state
                }
            }
        };
        // In this collection's view from now on.
        self.index_of(&state.desc.name);
        Ok(())
    }

    /// A family of this collector given again with another type, label names or buckets.
    fn changed(&mut self, name: String) -> MetricError {
        self.problem(1, &name);
        MetricError::DescribedTwice { name }
    }

    fn taken(&mut self, name: String) -> MetricError {
        self.problem(3, &name);
        MetricError::AlreadyRegistered { name }
    }

    fn problem(&mut self, which: usize, family: &str) {
        self.problems[which] += 1;
        self.first[which].get_or_insert_with(|| family.to_owned());
    }

    /// A sample of `family` that the bridge cannot give (its label names are not the family's):
    /// skipped and counted as `invalid_sample`.
    #[cfg(feature = "prometheus")]
    pub(crate) fn invalid(&mut self, family: &str) {
        self.problem(1, family);
    }

    /// A family the bridge cannot serve (a summary, a histogram without finite bounds, a name or
    /// label obs refuses): skipped and counted as `unsupported_family`.
    #[cfg(feature = "prometheus")]
    pub(crate) fn unsupported(&mut self, family: &str) {
        self.problem(4, family);
    }

    /// The index of the collector's family `family`, in this collection's view (brought up to
    /// date with families another collection added meanwhile).
    fn index_of(&mut self, family: &str) -> Option<usize> {
        let families = crate::sync::read(&self.entry.families);
        let index = *families.index.get(family)?;
        while self.states.len() <= index {
            let state = families.states[self.states.len()].clone();
            self.families.push(Gathered::of(&state.desc));
            self.states.push(state);
        }
        Some(index)
    }

    fn sample(&mut self, family: &str, kind: MetricKind, labels: &[&str], value: Value) {
        let Some(index) = self.index_of(family) else {
            self.problem(0, family);
            return;
        };
        let state = &self.states[index];
        let desc = &state.desc;
        let fits = match &value {
            Value::Histogram(counts, _) => counts.len() == desc.buckets.len() + 1,
            Value::Scalar(_) => true,
        };
        if desc.kind != kind || labels.len() != desc.labels.len() || !fits {
            self.problems[1] += 1;
            self.first[1].get_or_insert_with(|| family.to_owned());
            return;
        }
        let gathered = &mut self.families[index];
        let key: Vec<String> = labels.iter().map(|label| (*label).to_owned()).collect();
        if gathered.seen.contains(key.as_slice()) {
            self.problems[1] += 1;
            self.first[1].get_or_insert_with(|| family.to_owned());
            return;
        }
        // A label set keeps the series it got in an earlier collection; a new one gets one while
        // the family is under its limit.
        let own = {
            let mut admitted = crate::sync::lock(&state.admitted);
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
    /// A bridge to another library's registry ([`register_bridge`]).
    pub(crate) bridge: bool,
    /// Described at registration, then added while collecting ([`Collected::describe`]).
    families: RwLock<Families>,
    /// Per entry of [`PROBLEMS`]: whether it was said.
    problems_warned: [AtomicBool; PROBLEMS.len()],
}

/// A collector's families: they are only ever added, so an index stays valid.
struct Families {
    states: Vec<Arc<FamilyState>>,
    /// How many were described at registration (the first ones).
    described: usize,
    index: HashMap<String, usize>,
}

/// One family of a collector, and what is kept of it from one collection to the next.
struct FamilyState {
    desc: Desc,
    /// Whether its first overflow was said.
    warned: AtomicBool,
    /// Its series at the last collection, the overflow one included.
    last_count: AtomicUsize,
    /// The label sets that have a series of their own, kept from one collection to the next (at
    /// most the limit): which label sets overflow does not depend on the order a collector yields
    /// them in (a hash map's, say).
    admitted: Mutex<HashSet<Arc<[String]>>>,
    /// How many label sets the last scrape folded into the overflow series.
    last_folded: AtomicU64,
}

impl FamilyState {
    fn new(desc: Desc) -> FamilyState {
        FamilyState {
            desc,
            warned: AtomicBool::new(false),
            last_count: AtomicUsize::new(0),
            admitted: Mutex::new(HashSet::new()),
            last_folded: AtomicU64::new(0),
        }
    }
}

impl CollectorEntry {
    pub(crate) fn family_names(&self) -> Vec<String> {
        crate::sync::read(&self.families).states.iter().map(|state| state.desc.name.clone()).collect()
    }

    fn states(&self) -> Vec<Arc<FamilyState>> {
        crate::sync::read(&self.families).states.clone()
    }

    /// Runs the collector once. `scrape`: count what overflowed and what was wrong (a
    /// `Snapshot` read, which alert evaluations do often, folds the same way but counts nothing).
    pub(crate) fn gather(self: &Arc<Self>, scrape: bool) -> Collection {
        let states = self.states();
        let families = states.iter().map(|state| Gathered::of(&state.desc)).collect();
        let mut out =
            Collected { entry: self, states, families, problems: [0; PROBLEMS.len()], first: Default::default() };
        if catch_unwind(AssertUnwindSafe(|| self.collector.collect(&mut out))).is_err() {
            out.problems[2] += 1;
            out.families.iter_mut().for_each(|gathered| *gathered = Gathered::default());
        }
        let Collected { states, families, problems, first, .. } = out;
        for (state, gathered) in states.iter().zip(&families) {
            let count = gathered.samples.len() + usize::from(gathered.overflow.is_some());
            state.last_count.store(count, Ordering::Relaxed);
            if scrape {
                // Counted as the number folded grows, not again at every scrape.
                let before = state.last_folded.swap(gathered.folded, Ordering::Relaxed);
                let new = gathered.folded.saturating_sub(before);
                limit::overflowed(&state.desc.name, gathered.limit, &state.warned, new);
            }
        }
        if scrape {
            for (which, (count, name)) in problems.into_iter().zip(&first).enumerate() {
                self.problem(which, count, name.as_deref(), &states);
            }
        }
        Collection { states, families }
    }

    /// Counts `count` problems of kind `PROBLEMS[which]`, saying the first. `name`: the first
    /// undescribed or taken family.
    fn problem(&self, which: usize, mut count: u64, name: Option<&str>, states: &[Arc<FamilyState>]) {
        if count == 0 {
            return;
        }
        let reason = PROBLEMS[which];
        if !self.problems_warned[which].swap(true, Ordering::Relaxed) {
            // The first few: a collector may have a thousand families.
            let families = || {
                let mut names =
                    states.iter().take(5).map(|state| state.desc.name.as_str()).collect::<Vec<_>>().join(", ");
                if states.len() > 5 {
                    names.push_str(&format!(" and {} more", states.len() - 5));
                }
                names
            };
            let message = match which {
                0 => format!(
                    "a metrics collector yielded the family {} it did not describe: its samples are skipped",
                    name.unwrap_or("?")
                ),
                1 => format!(
                    "a metrics collector (of {}) yielded samples that do not fit their family (type, label count, \
                     buckets, or a label set given twice): they are skipped",
                    families()
                ),
                2 => format!("a metrics collector (of {}) panicked: that collection yielded nothing", families()),
                3 => format!(
                    "a metrics collector yielded the family {}, whose name another family has: its samples are skipped",
                    name.unwrap_or("?")
                ),
                4 => format!(
                    "a metrics collector yielded the family {}, which obs cannot serve (a summary, a histogram \
                     without finite bounds, or a name or label obs refuses): it is skipped",
                    name.unwrap_or("?")
                ),
                _ => format!(
                    "a metrics collector yielded the family {} past the {MAX_ADDED_FAMILIES} families a collector \
                     may add: it is skipped",
                    name.unwrap_or("?")
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
}

/// What one collection gathered: the collector's families then, and each one's series.
pub(crate) struct Collection {
    states: Vec<Arc<FamilyState>>,
    families: Vec<Gathered>,
}

impl Collection {
    /// Writes every family, in the order they were described.
    pub(crate) fn encode(&self, encoder: &mut Encoder) {
        for index in 0..self.families.len() {
            self.encode_family(encoder, index);
        }
    }

    /// Writes one family.
    fn encode_family(&self, encoder: &mut Encoder, index: usize) {
        let gathered = &self.families[index];
        if gathered.samples.is_empty() && gathered.overflow.is_none() {
            return;
        }
        let desc = &self.states[index].desc;
        encoder.family(&desc.name, desc.kind.kind(), &desc.help);
        let name = desc.sample_name(encoder.format());
        let overflow = gathered.overflow.iter().map(|value| (None, value));
        for (values, value) in gathered.samples.iter().map(|(values, value)| (Some(values), value)).chain(overflow) {
            let labels: Vec<(&str, &str)> = match values {
                Some(values) => desc.labels.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect(),
                None => vec![(OVERFLOW_LABEL, "true")],
            };
            match value {
                Value::Scalar(value) => encoder.sample(&name, &labels, *value),
                Value::Histogram(counts, sum) => encoder.histogram(&desc.name, &labels, &desc.buckets, counts, *sum),
            }
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
        self.entry.gather(true).encode_family(encoder, self.index);
    }

    fn read(&self, f: &mut dyn FnMut(Labels<'_>, Reading<'_>), _detach: bool) {
        // Gathered first, then read: the callback runs with nothing of the collector held.
        let collection = self.entry.gather(false);
        let desc = &collection.states[self.index].desc;
        let gathered = &collection.families[self.index];
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
        let families = crate::sync::read(&self.entry.families);
        families.states[self.index].last_count.load(Ordering::Relaxed)
    }
}
