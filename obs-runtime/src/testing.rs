//! Tests of instrumented code in isolation (feature `testing`: turn it on in `[dev-dependencies]`,
//! so that release builds do not carry it).
//!
//! Every `#[track_request]` site records into the process-wide registry, so two tests that call
//! the same handler at the same time see each other's counts there. A [`Scope`] also keeps, apart,
//! the request metrics of the calls made inside it (counts by status, latency histograms) and the
//! spans of the traces started inside it. Tests running in parallel then each assert on their own.
//!
//! - Sync code runs in [`Scope::run`]; a future in [`Scope::instrument`] (each poll runs in the
//!   scope, on whatever thread polls it). A task spawned from inside is not in the scope unless it
//!   is instrumented too.
//! - [`Scope::requests`] reads one endpoint's counts; [`Scope::metrics`] gives the request
//!   families as [`Samples`], the same assertions as on the whole registry.
//! - [`Scope::spans`] (with the `trace` feature and a span pipeline installed) flushes the
//!   pipeline and returns the spans of the traces a span was started in inside the scope, to look
//!   up by name and parent.
//! - In nested scopes, the innermost records. Calls served by a real server (its connection
//!   tasks) are not in the test's scope: drive the service in the test's future (`oneshot`).
//! - What is scoped: the request metrics (`#[track_request]`, the tower layer's routes) and
//!   spans. Hand-written counters, gauges and histograms, and the client and gRPC layers'
//!   metrics, count only in the registry: assert on those with a [`Samples`] difference.
//! - [`AlertRecorder`] (with the `alerts` feature) is a channel that keeps every notification,
//!   to wait for a firing and assert on it.
//!
//! Cost: none on the request metrics' hot path, in a scope or not: a thread in a scope records
//! into shards of its own for that scope (which the registry sums with the others, and the scope
//! alone), so only which shards it writes changes, when it enters and leaves the scope. A span's
//! start reads one thread-local flag more. See BENCHMARKS.md.
//!
//! ```
//! use obs_runtime::testing::Scope;
//!
//! #[obs_runtime::track_request("GET", "/doc/scope/{id}")]
//! fn get_item(id: u32) -> http::StatusCode {
//!     if id == 1 { http::StatusCode::OK } else { http::StatusCode::NOT_FOUND }
//! }
//!
//! let mine = Scope::new();
//! mine.run(|| {
//!     get_item(1);
//!     get_item(2);
//! });
//! get_item(3); // outside: the registry counts it, the scope does not
//! let requests = mine.requests("GET", "/doc/scope/{id}");
//! assert_eq!(requests.statuses(), [(200, 1), (404, 1)]);
//! assert_eq!(requests.count(), 2);
//! assert_eq!(mine.metrics().get("http_requests_total", &[("status", "404")]), 1.0);
//! ```

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
#[cfg(any(feature = "trace", feature = "alerts"))]
use std::sync::Mutex;
#[cfg(feature = "trace")]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use crate::metrics::Samples;
use crate::metrics::request::{self, ScopedShards};
#[cfg(any(feature = "trace", feature = "alerts"))]
use crate::sync::lock;

/// How many scopes are alive: the span export thread looks for their traces only when one is.
#[cfg(feature = "trace")]
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The scope code on this thread runs in, innermost last.
    static CURRENT: RefCell<Vec<Arc<Inner>>> = const { RefCell::new(Vec::new()) };
    /// Whether `CURRENT` holds a scope: what a sampled span's start reads, a thread-local without
    /// a destructor (one load, no registration check).
    static IN_SCOPE: Cell<bool> = const { Cell::new(false) };
}

/// Whether code on this thread runs in a scope.
#[cfg(feature = "trace")]
#[inline(always)]
pub(crate) fn in_scope() -> bool {
    IN_SCOPE.with(Cell::get)
}

/// The scopes alive, for the span export thread to hand each its traces' spans.
#[cfg(feature = "trace")]
static LIVE: Mutex<Vec<std::sync::Weak<Inner>>> = Mutex::new(Vec::new());

/// What code run in a scope recorded, kept apart from the registry's totals. Clones share it
/// (one can go into an alert condition, say). See the [module](self).
#[derive(Debug, Clone)]
pub struct Scope {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The shards the scope's calls record into (see `ScopedShards`).
    shards: Arc<ScopedShards>,
    #[cfg(feature = "trace")]
    traces: Mutex<std::collections::HashSet<crate::context::TraceId>>,
    #[cfg(feature = "trace")]
    spans: crate::trace::InMemoryExporter,
}

impl Default for Scope {
    fn default() -> Scope {
        Scope::new()
    }
}

#[cfg(feature = "trace")]
impl Drop for Inner {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Scope {
    /// An empty scope; code is in it only inside [`run`](Self::run) and
    /// [`instrument`](Self::instrument).
    pub fn new() -> Scope {
        #[cfg(feature = "trace")]
        ACTIVE.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::new(Inner {
            shards: Arc::default(),
            #[cfg(feature = "trace")]
            traces: Mutex::default(),
            #[cfg(feature = "trace")]
            spans: crate::trace::InMemoryExporter::new(),
        });
        #[cfg(feature = "trace")]
        {
            let mut live = lock(&LIVE);
            live.retain(|scope| scope.strong_count() > 0);
            live.push(Arc::downgrade(&inner));
        }
        Scope { inner }
    }

    /// Runs `f` in the scope, on this thread.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let _entered = Entered::new(&self.inner);
        f()
    }

    /// `future`, each of whose polls (and its drop) runs in the scope, on whichever thread.
    pub fn instrument<F: Future>(&self, future: F) -> Scoped<F> {
        Scoped { future: Some(Box::pin(future)), inner: self.inner.clone() }
    }

    /// The calls of the `#[track_request]` sites (and of the tower layer's routes, when the test
    /// drives the service in its own future: `oneshot`, not a server's connection task) with this
    /// method and endpoint made in the scope. In nested scopes, the innermost records.
    pub fn requests(&self, method: &str, endpoint: &str) -> Requests {
        let mut found = Requests::default();
        for series in self.inner.shards.series() {
            if series.method != method || series.endpoint != endpoint {
                continue;
            }
            let snapshot = self.inner.shards.snapshot(series);
            for &(status, count) in &snapshot.statuses {
                request::add_status(&mut found.statuses, status, count);
            }
            found.sum_seconds += snapshot.sum_seconds;
            if found.bounds.is_empty() {
                found.bounds = series.bounds_seconds.to_vec();
                found.buckets = vec![0; snapshot.buckets.len()];
            }
            if found.buckets.len() == snapshot.buckets.len() {
                found.buckets.iter_mut().zip(&snapshot.buckets).for_each(|(total, count)| *total += count);
            }
        }
        found.statuses.sort_unstable();
        found
    }

    /// The request families (`http_requests_total`, `http_request_duration_seconds_bucket`,
    /// `_count` and `_sum`) as a scrape would show them, counting only the scope's calls: assert
    /// with [`Samples::get`].
    pub fn metrics(&self) -> Samples {
        let mut samples = Vec::new();
        for series in self.inner.shards.series() {
            let snapshot = self.inner.shards.snapshot(series);
            let labels = |extra: Option<(&str, String)>| {
                let mut labels = vec![("method".to_owned(), series.method.to_owned())];
                labels.push(("endpoint".to_owned(), series.endpoint.to_owned()));
                labels.extend(extra.map(|(name, value)| (name.to_owned(), value)));
                labels
            };
            for &(status, count) in &snapshot.statuses {
                samples.push(("http_requests_total", labels(Some(("status", status.to_string()))), count as f64));
            }
            let mut cumulative = 0;
            for (index, count) in snapshot.buckets.iter().enumerate() {
                cumulative += count;
                let mut le = String::new();
                match series.bounds_seconds.get(index) {
                    Some(&bound) => crate::metrics::push_le(&mut le, bound),
                    None => le.push_str("+Inf"),
                }
                samples.push(("http_request_duration_seconds_bucket", labels(Some(("le", le))), cumulative as f64));
            }
            samples.push(("http_request_duration_seconds_count", labels(None), cumulative as f64));
            samples.push(("http_request_duration_seconds_sum", labels(None), snapshot.sum_seconds));
        }
        Samples::from_parts(samples)
    }

    /// The spans of the traces a span was started in while in the scope (their spans made
    /// elsewhere too: a spawned task's), once the pipeline has taken what ended before this call:
    /// it blocks until then (the export runs on obs's own thread), at most 10 s (an exporter
    /// retrying a collector that is down can hold the pipeline that long; what was handed over by
    /// then is returned). Empty without a span pipeline (`ObsBuilder::tracing`), and for unsampled
    /// traces (they are not exported).
    #[cfg(feature = "trace")]
    pub fn spans(&self) -> crate::trace::InMemoryExporter {
        if let Some(pipeline) = crate::trace::pipeline::get() {
            // Scopes get the spans before the exporter does: a flush that times out (an exporter
            // retrying a collector that is down) has handed them over already.
            pipeline.flush(std::time::Duration::from_secs(10));
        }
        self.inner.spans.clone()
    }
}

/// The scope entered on this thread until dropped.
struct Entered {
    /// The request shards the thread used before.
    outside: Option<request::Outside>,
}

impl Entered {
    /// `None` while the thread's locals are being destroyed (a future dropped then): not entered.
    fn new(inner: &Arc<Inner>) -> Option<Entered> {
        CURRENT.try_with(|current| current.borrow_mut().push(inner.clone())).ok()?;
        IN_SCOPE.set(true);
        Some(Entered { outside: request::enter_scope(&inner.shards) })
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(outside) = self.outside.take() {
            request::leave_scope(outside);
        }
        let left = CURRENT.try_with(|current| {
            let mut current = current.borrow_mut();
            current.pop();
            current.len()
        });
        IN_SCOPE.set(left.is_ok_and(|left| left > 0));
    }
}

/// A future each of whose polls, and its drop, runs in a [`Scope`] ([`Scope::instrument`]).
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Scoped<F> {
    /// `None` once dropped (or after it completed).
    future: Option<Pin<Box<F>>>,
    inner: Arc<Inner>,
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = Entered::new(&self.inner);
        let Some(future) = self.future.as_mut() else { panic!("`Scoped` polled after it completed") };
        let output = future.as_mut().poll(cx);
        if output.is_ready() {
            // Dropped here, in the scope: what its drop records is the scope's.
            self.future = None;
        }
        output
    }
}

impl<F> Drop for Scoped<F> {
    fn drop(&mut self) {
        // A future dropped before it completed (a timeout, a cancelled test) records its end
        // (a 499, a cancelled span) as it drops: in the scope.
        if let Some(future) = self.future.take() {
            let _entered = Entered::new(&self.inner);
            drop(future);
        }
    }
}

/// One endpoint's calls made in a scope ([`Scope::requests`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requests {
    statuses: Vec<(u16, u64)>,
    bounds: Vec<f64>,
    buckets: Vec<u64>,
    sum_seconds: f64,
}

impl Requests {
    /// How many calls there were.
    pub fn count(&self) -> u64 {
        self.statuses.iter().map(|(_, count)| count).sum()
    }

    /// How many answered `status`.
    pub fn with_status(&self, status: u16) -> u64 {
        self.statuses.iter().find(|(code, _)| *code == status).map_or(0, |(_, count)| *count)
    }

    /// (status, calls), by status.
    pub fn statuses(&self) -> Vec<(u16, u64)> {
        self.statuses.clone()
    }

    /// How many took at most `seconds` (a bucket bound of the site's histogram; `None` when it
    /// is not one).
    pub fn at_most(&self, seconds: f64) -> Option<u64> {
        let index = self.bounds.iter().position(|bound| *bound == seconds)?;
        Some(self.buckets[..=index].iter().sum())
    }

    /// The calls' durations added up, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_seconds
    }
}

/// Called when a sampled span starts on a thread in a scope: its trace is the innermost scope's.
#[cfg(feature = "trace")]
#[cold]
#[inline(never)]
pub(crate) fn span_started(trace_id: crate::context::TraceId) {
    let Some(inner) = CURRENT.try_with(|current| current.borrow().last().cloned()).ok().flatten() else { return };
    lock(&inner.traces).insert(trace_id);
}

/// Called by the span export thread with each batch: each scope alive keeps its traces' spans.
#[cfg(feature = "trace")]
pub(crate) fn exported(spans: &[crate::trace::SpanData]) {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return;
    }
    let scopes: Vec<Arc<Inner>> = lock(&LIVE).iter().filter_map(std::sync::Weak::upgrade).collect();
    for scope in scopes {
        let traces = lock(&scope.traces);
        let mine: Vec<crate::trace::SpanData> =
            spans.iter().filter(|span| traces.contains(&span.context().trace_id())).cloned().collect();
        drop(traces);
        if !mine.is_empty() {
            scope.spans.keep(mine);
        }
    }
}

/// A channel that keeps every notification it is given, for tests: wait for a firing and assert
/// on it. Clones share what they kept.
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::alerts::{AlertManager, AlertRule, AlertStatus, Condition, Severity};
/// use obs_runtime::testing::AlertRecorder;
///
/// let recorded = AlertRecorder::new();
/// let manager = AlertManager::builder()
///     .rule(AlertRule::builder("queue_full")
///         .condition(Condition::custom("depth", |_| Some(12.0)).above(10.0))
///         .severity(Severity::Critical)
///         .message("{depth} jobs queued")
///         .build()?)
///     .channel(recorded.clone())
///     .interval(Duration::from_millis(20))
///     .build()?;
/// let running = manager.start()?;
/// let fired = recorded.wait_for("queue_full", AlertStatus::Firing, Duration::from_secs(10)).expect("fired");
/// assert_eq!(fired.message, "12 jobs queued");
/// assert_eq!(recorded.names(AlertStatus::Firing), ["queue_full"]);
/// # drop(running);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "alerts")]
#[derive(Debug, Clone, Default)]
pub struct AlertRecorder {
    kept: Arc<(Mutex<Vec<crate::alerts::Alert>>, std::sync::Condvar)>,
}

#[cfg(feature = "alerts")]
impl AlertRecorder {
    /// A recorder that kept nothing yet.
    pub fn new() -> AlertRecorder {
        AlertRecorder::default()
    }

    /// Every notification so far, in the order they came.
    pub fn alerts(&self) -> Vec<crate::alerts::Alert> {
        lock(&self.kept.0).clone()
    }

    /// The names of the alerts notified with `status`, in the order they came, each once.
    pub fn names(&self, status: crate::alerts::AlertStatus) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for alert in lock(&self.kept.0).iter().filter(|alert| alert.status == status) {
            if !names.contains(&alert.name) {
                names.push(alert.name.clone());
            }
        }
        names
    }

    /// The first notification of alert `name` with `status`, waiting for it at most `timeout`.
    pub fn wait_for(
        &self,
        name: &str,
        status: crate::alerts::AlertStatus,
        timeout: std::time::Duration,
    ) -> Option<crate::alerts::Alert> {
        let deadline = std::time::Instant::now() + timeout;
        let (kept, arrived) = &*self.kept;
        let mut alerts = lock(kept);
        loop {
            if let Some(alert) = alerts.iter().find(|alert| alert.name == name && alert.status == status) {
                return Some(alert.clone());
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            alerts = crate::sync::wait_timeout(arrived, alerts, left);
        }
    }
}

#[cfg(feature = "alerts")]
impl crate::alerts::Channel for AlertRecorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn send<'a>(&'a self, alert: &'a crate::alerts::Alert) -> crate::alerts::SendFuture<'a> {
        lock(&self.kept.0).push(alert.clone());
        self.kept.1.notify_all();
        Box::pin(std::future::ready(Ok(())))
    }
}
