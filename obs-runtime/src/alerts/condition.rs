//! What a rule watches: a value read from the live registry (over a window, for rates, ratios and
//! quantiles), compared with a threshold.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crate::metrics::Snapshot;

/// The tokio runtime's families that [`Condition::runtime_busy_percent`] reads (see
/// `metrics::register_tokio_runtime`).
pub(crate) const RUNTIME_BUSY: &str = "tokio_runtime_worker_busy_seconds_total";
pub(crate) const RUNTIME_WORKERS: &str = "tokio_runtime_workers";

/// The default window of rates, error ratios and quantiles.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
/// The default window of [`Condition::cpu_usage_percent`] and [`Condition::runtime_busy_percent`].
pub const DEFAULT_CPU_WINDOW: Duration = Duration::from_secs(60);
/// About the most samples a windowed condition keeps per window: with a short interval and a long
/// window, samples closer than `window / SAMPLES_PER_WINDOW` replace the newest instead of adding
/// one, so a rule's memory stays bounded whatever the ratio.
const SAMPLES_PER_WINDOW: u32 = 256;

type CustomFn = dyn Fn(&Snapshot) -> Option<f64> + Send + Sync;

/// A condition: a [`Query`] and a threshold. Build one with the constructors here, then
/// [`Query::above`] or [`Query::below`].
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::alerts::Condition;
///
/// // CPU, memory and error rate.
/// let cpu = Condition::cpu_usage_percent().above(80.0);
/// let memory = Condition::memory_usage_percent().above(90.0);
/// let errors = Condition::error_rate_percent().window(Duration::from_secs(300)).above(5.0);
/// // And the others.
/// let slow = Condition::latency_quantile(0.99).endpoint("/users/{id}").above(0.5);
/// let queue = Condition::gauge("queue_depth").with_label("queue", "email").above(1000.0);
/// let retries = Condition::counter_rate("job_retries_total").below(0.1);
/// let custom = Condition::custom("free_slots", |snapshot| {
///     Some(snapshot.sum("pool_size", &[])? - snapshot.sum("pool_in_use", &[])?)
/// })
/// .below(2.0);
/// ```
#[derive(Clone)]
pub struct Condition {
    pub(crate) query: Query,
    pub(crate) comparison: Comparison,
    pub(crate) threshold: f64,
}

/// How a value compares with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Above,
    Below,
}

impl Comparison {
    pub(crate) fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Above => value > threshold,
            Comparison::Below => value < threshold,
        }
    }

    pub(crate) fn operator(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::Below => "<",
        }
    }
}

/// What a condition reads. Made by the [`Condition`] constructors; narrowed with
/// [`with_label`](Query::with_label), [`endpoint`](Query::endpoint), [`method`](Query::method)
/// and [`window`](Query::window); finished with [`above`](Query::above) or
/// [`below`](Query::below).
#[derive(Clone)]
pub struct Query {
    pub(crate) kind: Kind,
    pub(crate) matchers: Vec<(String, String)>,
    pub(crate) window: Option<Duration>,
}

/// Which calls an error rate counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Calls {
    /// HTTP requests and gRPC calls served.
    All,
    /// HTTP requests (`http_requests_total`).
    Http,
    /// gRPC calls served (`rpc_server_duration_seconds`).
    Rpc,
}

impl Calls {
    pub(crate) fn http(self) -> bool {
        self != Calls::Rpc
    }

    pub(crate) fn rpc(self) -> bool {
        self != Calls::Http
    }
}

#[derive(Clone)]
pub(crate) enum Kind {
    Gauge(String),
    CounterRate(String),
    ErrorRatePercent(Calls),
    Quantile {
        histogram: String,
        quantile: f64,
    },
    CpuUsagePercent,
    MemoryUsagePercent,
    RuntimeBusyPercent,
    Custom {
        name: String,
        f: Arc<CustomFn>,
    },
    /// An objective's burn rate over `long` while it is also above the threshold over `short`
    /// (made by [`AlertManagerBuilder::slo`](crate::alerts::AlertManagerBuilder::slo)).
    BurnRate {
        tracker: Arc<super::slo::Tracker>,
        long: Duration,
        short: Duration,
    },
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.query.describe(), self.comparison.operator(), self.threshold)
    }
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Condition {
    fn query(kind: Kind) -> Query {
        Query { kind, matchers: Vec::new(), window: None }
    }

    /// The value of a gauge (or any counter or gauge family): the largest of the matching
    /// series for [`above`](Query::above), the smallest for [`below`](Query::below). The value's
    /// placeholder is the metric's name.
    pub fn gauge(name: impl Into<String>) -> Query {
        Condition::query(Kind::Gauge(name.into()))
    }

    /// A counter's per-second rate over the window (default 5 minutes), summed over the matching
    /// series. Placeholder: `{rate}`.
    pub fn counter_rate(name: impl Into<String>) -> Query {
        Condition::query(Kind::CounterRate(name.into()))
    }

    /// The share of calls served that failed over the window (default 5 minutes), in percent:
    /// HTTP requests with a 5xx status (`http_requests_total`) and gRPC calls with a server-error
    /// code (`UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`,
    /// `DATA_LOSS`, by the RPC conventions; `rpc_server_duration_seconds`), out of both. Narrow
    /// it with [`endpoint`](Query::endpoint) and [`method`](Query::method) (HTTP labels: the
    /// gRPC calls then count for nothing), [`with_label`](Query::with_label)`("rpc_service", ..)`,
    /// or to one kind of call with [`http_error_rate_percent`](Condition::http_error_rate_percent)
    /// and [`rpc_error_rate_percent`](Condition::rpc_error_rate_percent). No calls in the window
    /// is no value (the rule is not active). Placeholder: `{error_rate_percent}`.
    pub fn error_rate_percent() -> Query {
        Condition::query(Kind::ErrorRatePercent(Calls::All))
    }

    /// [`error_rate_percent`](Condition::error_rate_percent) of HTTP requests alone.
    pub fn http_error_rate_percent() -> Query {
        Condition::query(Kind::ErrorRatePercent(Calls::Http))
    }

    /// [`error_rate_percent`](Condition::error_rate_percent) of gRPC calls served alone.
    pub fn rpc_error_rate_percent() -> Query {
        Condition::query(Kind::ErrorRatePercent(Calls::Rpc))
    }

    /// A quantile (0 to 1) of request durations in seconds over the window (default 5 minutes),
    /// from `http_request_duration_seconds`, interpolated in its buckets as Prometheus'
    /// `histogram_quantile` does. Placeholder: `{latency_seconds}`.
    pub fn latency_quantile(quantile: f64) -> Query {
        Condition::histogram_quantile("http_request_duration_seconds", quantile)
    }

    /// A quantile (0 to 1) over the window of any histogram family. Placeholder: `{quantile}`.
    pub fn histogram_quantile(histogram: impl Into<String>, quantile: f64) -> Query {
        Condition::query(Kind::Quantile { histogram: histogram.into(), quantile })
    }

    /// The process's CPU use over the window (default 1 minute), in percent of one core (as `top`
    /// shows it), from `process_cpu_seconds_total`. Placeholder: `{cpu_usage_percent}`.
    pub fn cpu_usage_percent() -> Query {
        Condition::query(Kind::CpuUsagePercent)
    }

    /// The process's resident memory in percent of what it may use: the cgroup's memory limit
    /// when there is one (a container), else the machine's memory. Placeholder:
    /// `{memory_usage_percent}`.
    pub fn memory_usage_percent() -> Query {
        Condition::query(Kind::MemoryUsagePercent)
    }

    /// How busy the app's tokio runtime is over the window (default 1 minute), in percent of its
    /// workers' time: the busy seconds of every worker per second
    /// (`tokio_runtime_worker_busy_seconds_total`) over the number of workers
    /// (`tokio_runtime_workers`). Near 100 the runtime cannot take more work: a task waits for a
    /// worker. tokio adds a worker's busy time when it finishes a batch of polls, so a worker
    /// stuck in one long poll (blocking code in a task) shows as idle until that poll returns:
    /// watch `Condition::gauge("tokio_runtime_global_queue_depth")` too, which grows then. Needs
    /// `metrics::register_tokio_runtime` (feature `runtime-metrics`; call it before obs starts its
    /// alerts, or the first evaluation warns that the metric is missing); without it, no
    /// value (the rule is not active). Placeholder: `{runtime_busy_percent}`.
    ///
    /// ```
    /// use obs_runtime::alerts::{AlertRule, Condition};
    /// let rule = AlertRule::builder("runtime_saturated")
    ///     .condition(Condition::runtime_busy_percent().above(90.0))
    ///     .message("the runtime is {runtime_busy_percent:.0}% busy")
    ///     .build()?;
    /// assert_eq!(
    ///     rule.promql()?,
    ///     "sum without (worker) (rate(tokio_runtime_worker_busy_seconds_total[1m])) / tokio_runtime_workers * 100 > 90"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn runtime_busy_percent() -> Query {
        Condition::query(Kind::RuntimeBusyPercent)
    }

    /// Anything else: `f` computes the value from a [`Snapshot`] of the registry; `None` means
    /// no value (the rule is not active). `name` is the value's placeholder in the message.
    pub fn custom(name: impl Into<String>, f: impl Fn(&Snapshot) -> Option<f64> + Send + Sync + 'static) -> Query {
        Condition::query(Kind::Custom { name: name.into(), f: Arc::new(f) })
    }

    /// A burn-rate alert's condition: above the alert's factor over both its windows.
    pub(crate) fn burn_rate(tracker: Arc<super::slo::Tracker>, alert: &super::slo::BurnRateAlert) -> Condition {
        Condition::query(Kind::BurnRate { tracker, long: alert.long_window, short: alert.short_window })
            .above(alert.factor)
    }

    /// The name of the value in message templates.
    pub(crate) fn value_name(&self) -> &str {
        match &self.query.kind {
            Kind::Gauge(name) => name,
            Kind::CounterRate(_) => "rate",
            Kind::ErrorRatePercent(_) => "error_rate_percent",
            Kind::Quantile { histogram, .. } if histogram == "http_request_duration_seconds" => "latency_seconds",
            Kind::Quantile { .. } => "quantile",
            Kind::CpuUsagePercent => "cpu_usage_percent",
            Kind::MemoryUsagePercent => "memory_usage_percent",
            Kind::RuntimeBusyPercent => "runtime_busy_percent",
            Kind::Custom { name, .. } => name,
            Kind::BurnRate { .. } => "burn_rate",
        }
    }

    /// What is wrong with the condition, if anything.
    pub(crate) fn check(&self) -> Result<(), String> {
        let query = &self.query;
        if !self.threshold.is_finite() {
            return Err(format!("the threshold {} is not a finite number", self.threshold));
        }
        let metric = match &query.kind {
            Kind::Gauge(name) | Kind::CounterRate(name) | Kind::Quantile { histogram: name, .. } => Some(name),
            _ => None,
        };
        if let Some(name) = metric
            && !is_metric_name(name)
        {
            return Err(format!("{name:?} is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"));
        }
        if let Kind::Quantile { quantile, .. } = query.kind
            && !(0.0..=1.0).contains(&quantile)
        {
            return Err(format!("the quantile {quantile} is not between 0 and 1"));
        }
        if let Kind::Custom { name, .. } = &query.kind
            && !is_placeholder_name(name)
        {
            return Err(format!("the custom value's name {name:?} is not a placeholder name ([a-zA-Z_][a-zA-Z0-9_]*)"));
        }
        match (&query.kind, query.window) {
            (Kind::Gauge(_) | Kind::MemoryUsagePercent | Kind::Custom { .. }, Some(_)) => {
                return Err(
                    "a window applies to rates, error rates, quantiles, CPU use and runtime busy time, not to this \
                     condition"
                        .into(),
                );
            }
            (_, Some(window)) if window.is_zero() => return Err("the window is zero".into()),
            _ => {}
        }
        if !query.matchers.is_empty()
            && matches!(
                query.kind,
                Kind::CpuUsagePercent | Kind::MemoryUsagePercent | Kind::RuntimeBusyPercent | Kind::Custom { .. }
            )
        {
            return Err("labels apply to metric queries, not to this condition".into());
        }
        for (label, _) in &query.matchers {
            if !is_placeholder_name(label) {
                return Err(format!("{label:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"));
            }
        }
        Ok(())
    }

    /// The metric family the condition reads by name, if it names one.
    pub(crate) fn metric(&self) -> Option<&str> {
        match &self.query.kind {
            Kind::Gauge(name) | Kind::CounterRate(name) | Kind::Quantile { histogram: name, .. } => Some(name),
            Kind::RuntimeBusyPercent => Some(RUNTIME_BUSY),
            _ => None,
        }
    }

    /// The window of a windowed condition.
    pub(crate) fn window(&self) -> Option<Duration> {
        match self.query.kind {
            Kind::CounterRate(_) | Kind::ErrorRatePercent(_) | Kind::Quantile { .. } => {
                Some(self.query.window.unwrap_or(DEFAULT_WINDOW))
            }
            Kind::CpuUsagePercent | Kind::RuntimeBusyPercent => Some(self.query.window.unwrap_or(DEFAULT_CPU_WINDOW)),
            _ => None,
        }
    }

    /// Reads the value now, adding a sample to `history` for windowed conditions.
    pub(crate) fn observe(&self, snapshot: &Snapshot, now: SystemTime, history: &mut History) -> Option<f64> {
        let matchers = self.query.matchers.as_slice();
        let window = self.window().unwrap_or_default();
        match &self.query.kind {
            Kind::Gauge(name) => match self.comparison {
                Comparison::Above => snapshot.fold(name, matchers, f64::max),
                Comparison::Below => snapshot.fold(name, matchers, f64::min),
            },
            Kind::MemoryUsagePercent => {
                let resident = snapshot.process()?.resident_bytes as f64;
                Some(resident / memory_limit()? as f64 * 100.0)
            }
            Kind::Custom { f, .. } => snapshot.for_user(|snapshot| f(snapshot)).filter(|value| !value.is_nan()),
            Kind::BurnRate { tracker, long, short } => {
                // Both windows above the factor, or the lower of the two (which is not): the value
                // shown is the long window's, as Prometheus' `$value` of the exported rule is.
                if !tracker.covers(*long) {
                    return None;
                }
                let (long, short) = (tracker.burn_rate(*long)?, tracker.burn_rate(*short)?);
                Some(if short > self.threshold { long } else { long.min(short) })
            }
            Kind::CounterRate(name) => {
                let total = snapshot.fold(name, matchers, |total, value| total + value)?;
                let (base, elapsed) = history.push(now, window, |sample| sample.push(total))?;
                Some((total - base[0]).max(0.0) / elapsed)
            }
            Kind::RuntimeBusyPercent => {
                let all: &[(&str, &str)] = &[];
                let busy = snapshot.fold(RUNTIME_BUSY, all, |total, value| total + value)?;
                let workers = snapshot.fold(RUNTIME_WORKERS, all, |total, value| total + value)?;
                let (base, elapsed) = history.push(now, window, |sample| sample.push(busy))?;
                (workers > 0.0).then(|| (busy - base[0]).max(0.0) / elapsed / workers * 100.0)
            }
            Kind::CpuUsagePercent => {
                let seconds = snapshot.process()?.cpu_seconds;
                let (base, elapsed) = history.push(now, window, |sample| sample.push(seconds))?;
                Some((seconds - base[0]).max(0.0) / elapsed * 100.0)
            }
            Kind::ErrorRatePercent(calls) => {
                let (mut total, mut errors) = (0.0, 0.0);
                if calls.http() {
                    snapshot.for_each("http_requests_total", |labels, count| {
                        if labels.matches_all(matchers) {
                            total += count;
                            if labels.get("status").is_some_and(|status| status.starts_with('5')) {
                                errors += count;
                            }
                        }
                    });
                }
                if calls.rpc() {
                    snapshot.for_each_histogram(crate::metrics::rpc_names::SERVER_FAMILY, |labels, _, counts| {
                        if labels.matches_all(matchers) {
                            let count = counts.iter().sum::<u64>() as f64;
                            total += count;
                            let code =
                                labels.get(crate::metrics::rpc_names::STATUS_LABEL).and_then(|code| code.parse().ok());
                            if code.is_some_and(crate::metrics::rpc_names::is_server_error) {
                                errors += count;
                            }
                        }
                    });
                }
                let (base, _) = history.push(now, window, |sample| sample.extend([total, errors]))?;
                let requests = total - base[0];
                (requests > 0.0).then(|| (errors - base[1]).max(0.0) / requests * 100.0)
            }
            Kind::Quantile { histogram, quantile } => {
                let mut cumulative: Option<Vec<f64>> = None;
                snapshot.for_each_histogram(histogram, |labels, bounds, counts| {
                    if labels.matches_all(matchers) {
                        merge_cumulative(&mut cumulative, bounds, counts);
                    }
                });
                let now_counts = cumulative?;
                let (base, _) = history.push(now, window, |sample| sample.extend_from_slice(&now_counts))?;
                quantile_of(*quantile, &now_counts, base)
            }
        }
    }
}

impl Query {
    /// Only series with label `name` equal to `value`.
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Query {
        self.matchers.push((name.into(), value.into()));
        self
    }

    /// Only the requests of this endpoint (the `endpoint` label: a route template).
    pub fn endpoint(self, endpoint: impl Into<String>) -> Query {
        self.with_label("endpoint", endpoint)
    }

    /// Only the requests with this method.
    pub fn method(self, method: impl Into<String>) -> Query {
        self.with_label("method", method)
    }

    /// The window of a rate, error rate, quantile or CPU use.
    pub fn window(mut self, window: Duration) -> Query {
        self.window = Some(window);
        self
    }

    /// Active while the value is above `threshold`.
    pub fn above(self, threshold: f64) -> Condition {
        Condition { query: self, comparison: Comparison::Above, threshold }
    }

    /// Active while the value is below `threshold`.
    pub fn below(self, threshold: f64) -> Condition {
        Condition { query: self, comparison: Comparison::Below, threshold }
    }

    fn describe(&self) -> String {
        let labels: Vec<String> = self.matchers.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let labels = if labels.is_empty() { String::new() } else { format!("{{{}}}", labels.join(",")) };
        match &self.kind {
            Kind::Gauge(name) => format!("{name}{labels}"),
            Kind::CounterRate(name) => format!("rate({name}{labels})"),
            Kind::ErrorRatePercent(Calls::All) => format!("error_rate_percent{labels}"),
            Kind::ErrorRatePercent(Calls::Http) => format!("http_error_rate_percent{labels}"),
            Kind::ErrorRatePercent(Calls::Rpc) => format!("rpc_error_rate_percent{labels}"),
            Kind::Quantile { histogram, quantile } => format!("quantile({quantile}, {histogram}{labels})"),
            Kind::CpuUsagePercent => "cpu_usage_percent".into(),
            Kind::MemoryUsagePercent => "memory_usage_percent".into(),
            Kind::RuntimeBusyPercent => "runtime_busy_percent".into(),
            Kind::Custom { name, .. } => format!("custom {name}"),
            Kind::BurnRate { tracker, long, short } => format!(
                "burn_rate({}, {}, {})",
                tracker.slo.name(),
                super::slo::window_name(*long),
                super::slo::window_name(*short)
            ),
        }
    }
}

pub(crate) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub(crate) fn is_placeholder_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The samples of a windowed condition: one per evaluation, the oldest at or just before the
/// window's start. Sample buffers are reused, so a steady rule allocates nothing per pass.
#[derive(Debug, Default)]
pub(crate) struct History {
    samples: VecDeque<(SystemTime, Vec<f64>)>,
    spare: Vec<Vec<f64>>,
}

impl History {
    /// Adds the sample `fill` writes at `now`, drops those older than the window needs, and
    /// returns the baseline (the oldest kept) with the seconds since it; `None` with no baseline
    /// before `now` yet.
    fn push(&mut self, now: SystemTime, window: Duration, fill: impl FnOnce(&mut Vec<f64>)) -> Option<(&[f64], f64)> {
        if self.samples.back().is_some_and(|(last, _)| *last > now) {
            // The clock went back: what was kept is not comparable any more.
            while let Some((_, buffer)) = self.samples.pop_front() {
                self.spare.push(buffer);
            }
        }
        // Too close to the sample before the newest: the newest is replaced, not kept.
        let spacing = window / SAMPLES_PER_WINDOW;
        let len = self.samples.len();
        if len >= 2
            && now.duration_since(self.samples[len - 2].0).unwrap_or_default() < spacing
            && let Some((_, buffer)) = self.samples.pop_back()
        {
            self.spare.push(buffer);
        }
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.clear();
        fill(&mut buffer);
        self.samples.push_back((now, buffer));
        let start = now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
        while self.samples.len() > 1 && self.samples[1].0 <= start {
            if let Some((_, buffer)) = self.samples.pop_front() {
                self.spare.push(buffer);
            }
        }
        let (base_time, base) = self.samples.front()?;
        let elapsed = now.duration_since(*base_time).ok()?.as_secs_f64();
        (elapsed > 0.0).then_some((base.as_slice(), elapsed))
    }
}

/// Adds one histogram series to `into`: pairs (upper bound, cumulative count), `+Inf` last. Series
/// with other bounds are merged on the bounds they share, where cumulative counts add up exactly.
fn merge_cumulative(into: &mut Option<Vec<f64>>, bounds: &[f64], counts: &[u64]) {
    let mut cumulative = 0u64;
    let series: Vec<(f64, f64)> = counts
        .iter()
        .enumerate()
        .map(|(index, count)| {
            cumulative += count;
            (bounds.get(index).copied().unwrap_or(f64::INFINITY), cumulative as f64)
        })
        .collect();
    match into {
        None => *into = Some(series.iter().flat_map(|(bound, count)| [*bound, *count]).collect()),
        Some(pairs) => {
            let mut merged = Vec::with_capacity(pairs.len());
            for pair in pairs.chunks_exact(2) {
                if let Some((_, count)) = series.iter().find(|(bound, _)| *bound == pair[0]) {
                    merged.extend([pair[0], pair[1] + count]);
                }
            }
            *pairs = merged;
        }
    }
}

/// Prometheus' `histogram_quantile` over the increase from `base` to `now` (pairs of upper bound
/// and cumulative count, `+Inf` last).
fn quantile_of(quantile: f64, now: &[f64], base: &[f64]) -> Option<f64> {
    let increase: Vec<(f64, f64)> = now
        .chunks_exact(2)
        .map(|pair| {
            let before = base.chunks_exact(2).find(|old| old[0] == pair[0]).map_or(0.0, |old| old[1]);
            (pair[0], (pair[1] - before).max(0.0))
        })
        .collect();
    let total = increase.last()?.1;
    // Only `+Inf` left (series with no bound in common): no quantile, as in Prometheus.
    if total <= 0.0 || increase.len() < 2 {
        return None;
    }
    let rank = quantile * total;
    let mut previous = (0.0, 0.0);
    for (index, &(bound, count)) in increase.iter().enumerate() {
        if count >= rank {
            if bound.is_infinite() {
                // Above the highest finite bound: that bound is the best answer there is.
                return Some(previous.0);
            }
            // The first bucket starts at 0 (or is its bound, if that is not above 0).
            let lower = match index {
                0 if bound > 0.0 => 0.0,
                0 => return Some(bound),
                _ => previous.0,
            };
            let width = count - previous.1;
            return Some(if width > 0.0 { lower + (bound - lower) * (rank - previous.1) / width } else { bound });
        }
        previous = (bound, count);
    }
    Some(previous.0)
}

/// What the process may use: the cgroup v2 (or v1) memory limit, else the machine's memory.
fn memory_limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let machine = std::fs::read_to_string("/proc/meminfo").ok().and_then(|meminfo| {
            let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
            Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
        });
        let cgroup = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
            .iter()
            .find_map(|path| std::fs::read_to_string(path).ok()?.trim().parse::<u64>().ok());
        match (cgroup, machine) {
            // v1 writes a huge number for "no limit".
            (Some(cgroup), Some(machine)) => Some(cgroup.min(machine)),
            (limit, machine) => limit.or(machine),
        }
        .filter(|limit| *limit > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(bounds: &[f64], cumulative: &[f64]) -> Vec<f64> {
        bounds.iter().chain([f64::INFINITY].iter()).zip(cumulative).flat_map(|(b, c)| [*b, *c]).collect()
    }

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        let now = pairs(&[0.1, 0.5, 1.0], &[50.0, 90.0, 100.0, 100.0]);
        let base = pairs(&[0.1, 0.5, 1.0], &[0.0, 0.0, 0.0, 0.0]);
        // rank 50 is the whole first bucket: its upper bound.
        assert_eq!(quantile_of(0.5, &now, &base), Some(0.1));
        // rank 70 is half way through (0.1, 0.5].
        assert!((quantile_of(0.7, &now, &base).expect("a quantile") - 0.3).abs() < 1e-9);
        // In +Inf: the highest finite bound.
        let tail = pairs(&[0.1], &[1.0, 10.0]);
        assert_eq!(quantile_of(0.99, &tail, &pairs(&[0.1], &[0.0, 0.0])), Some(0.1));
        // Nothing in the window: no value.
        assert_eq!(quantile_of(0.5, &now, &now), None);
        // Only +Inf in common: no value, not 0.
        assert_eq!(quantile_of(0.5, &[f64::INFINITY, 5.0], &[f64::INFINITY, 0.0]), None);
    }

    #[test]
    fn histograms_with_other_bounds_merge_on_the_shared_ones() {
        let mut merged = None;
        merge_cumulative(&mut merged, &[0.1, 0.5], &[1, 1, 1]);
        merge_cumulative(&mut merged, &[0.5, 1.0], &[2, 0, 1]);
        assert_eq!(merged.expect("merged"), vec![0.5, 4.0, f64::INFINITY, 6.0]);
    }

    #[test]
    fn history_keeps_one_sample_at_or_before_the_window_start() {
        let mut history = History::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let window = Duration::from_secs(10);
        assert!(history.push(t0, window, |s| s.push(0.0)).is_none());
        for second in 1..=30u64 {
            let now = t0 + Duration::from_secs(second);
            let (base, elapsed) = history.push(now, window, |s| s.push(second as f64)).expect("a baseline");
            let expected_base = second.saturating_sub(10) as f64;
            assert_eq!((base[0], elapsed), (expected_base, (second as f64 - expected_base)));
        }
        assert_eq!(history.samples.len(), 11);
        // Many samples per window: about SAMPLES_PER_WINDOW are kept, spread over the window.
        let mut dense = History::default();
        let hour = Duration::from_secs(3600);
        for tenth in 0..100_000u64 {
            let now = t0 + Duration::from_millis(100 * tenth);
            dense.push(now, hour, |s| s.push(tenth as f64));
        }
        let kept = dense.samples.len();
        assert!(kept <= SAMPLES_PER_WINDOW as usize + 3, "{kept}");
        let (oldest, newest) = (dense.samples[0].0, dense.samples[kept - 1].0);
        assert!(newest.duration_since(oldest).unwrap_or_default() >= hour, "the window is covered");
        // A clock that goes back starts over.
        assert!(history.push(t0, window, |s| s.push(0.0)).is_none());
    }

    #[test]
    fn bad_conditions_say_what_is_wrong() {
        let cases = [
            (Condition::gauge("bad name").above(1.0), "not a metric name"),
            (Condition::latency_quantile(1.5).above(1.0), "not between 0 and 1"),
            (Condition::gauge("g").window(Duration::from_secs(1)).above(1.0), "a window applies"),
            (Condition::counter_rate("c_total").window(Duration::ZERO).above(1.0), "the window is zero"),
            (Condition::cpu_usage_percent().with_label("a", "b").above(1.0), "labels apply"),
            (Condition::gauge("g").above(f64::NAN), "not a finite number"),
            (Condition::custom("has space", |_| None).above(1.0), "not a placeholder name"),
        ];
        for (condition, expected) in cases {
            let error = condition.check().expect_err(expected);
            assert!(error.contains(expected), "{error}");
        }
    }
}
