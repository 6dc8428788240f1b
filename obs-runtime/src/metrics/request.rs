//! Request metrics: the call sites `#[track_request]` creates, the series they record into, and
//! the hot path.
//!
//! Each (method, endpoint) pair is one [`RequestSeries`]. A series keeps one [`Shard`] per thread
//! that has recorded into it; only that thread writes its shard, so recording is a few plain loads
//! and stores (no lock prefix, no cache line shared between cores), and a scrape sums the shards.
//! A thread that exits hands its shard back to the series, where the next new thread reuses it: the
//! counts are kept and the number of shards stays bounded by the number of live threads.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU16, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

#[cfg(feature = "trace")]
pub(crate) use super::exemplar::{EXEMPLARS, Exemplar, ExemplarCell};

use crate::sync::lock;

use super::registry::registry;

/// The most bucket bounds a histogram of request durations may have (`+Inf` comes on top).
pub const MAX_BUCKETS: usize = 32;

/// The status recorded when the function panics.
pub(crate) const STATUS_PANIC: u16 = 500;
/// The status recorded when an `async fn`'s future is dropped before it completes: the client went
/// away (nginx's "client closed request").
pub(crate) const STATUS_CANCELLED: u16 = 499;

const STATUS_SLOTS: usize = 8;

/// Adds to a cell that only the current thread writes: a load and a store, no atomic RMW.
#[inline(always)]
fn bump(cell: &AtomicU64, by: u64) {
    cell.store(cell.load(Ordering::Relaxed).wrapping_add(by), Ordering::Relaxed);
}

pub(crate) use crate::clock::clock;

/// One thread's counts for one series. Aligned so that two threads' shards never share a cache line.
#[repr(align(128))]
pub(crate) struct Shard {
    series: &'static RequestSeries,
    codes: [AtomicU16; STATUS_SLOTS],
    counts: [AtomicU64; STATUS_SLOTS],
    sum_nanos: AtomicU64,
    in_flight: AtomicI64,
    buckets: [AtomicU64; MAX_BUCKETS + 1],
    /// Statuses beyond the slots (a thread that saw more than eight distinct codes here).
    rare: Mutex<Vec<(u16, u64)>>,
    /// The latest call recorded in a sampled span, per bucket: made on the first such call.
    #[cfg(feature = "trace")]
    exemplars: OnceLock<Box<[ExemplarCell]>>,
}

impl Shard {
    fn new(series: &'static RequestSeries) -> Shard {
        Shard {
            series,
            codes: Default::default(),
            counts: Default::default(),
            sum_nanos: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            rare: Mutex::new(Vec::new()),
            #[cfg(feature = "trace")]
            exemplars: OnceLock::new(),
        }
    }

    #[cold]
    fn record_rare(&self, status: u16) {
        add_status(&mut lock(&self.rare), status, 1);
    }

    /// Records one call that ended at the raw clock reading `end`. Only the thread that owns the
    /// shard may call this.
    #[inline(always)]
    fn record(&self, status: u16, nanos: u64, end: u64) {
        let bucket = self.series.bucket_of(nanos);
        bump(&self.buckets[bucket], 1);
        #[cfg(feature = "trace")]
        if EXEMPLARS.load(Ordering::Relaxed)
            && let Some(context) = crate::context::SpanContext::current()
            && context.is_sampled()
        {
            self.store_exemplar(bucket, context, status, nanos, end);
        }
        #[cfg(not(feature = "trace"))]
        let _ = end;
        bump(&self.sum_nanos, nanos);
        for slot in 0..STATUS_SLOTS {
            let code = self.codes[slot].load(Ordering::Relaxed);
            if code == status {
                bump(&self.counts[slot], 1);
                return;
            }
            if code == 0 {
                self.counts[slot].store(1, Ordering::Relaxed);
                // Release: a scraper that sees the code also sees its count.
                self.codes[slot].store(status, Ordering::Release);
                return;
            }
        }
        self.record_rare(status);
    }

    /// Keeps the call as its bucket's exemplar.
    #[cfg(feature = "trace")]
    #[inline(always)]
    fn store_exemplar(&self, bucket: usize, context: crate::context::SpanContext, status: u16, nanos: u64, end: u64) {
        let cells = self
            .exemplars
            .get_or_init(|| (0..=self.series.bounds_nanos.len()).map(|_| ExemplarCell::default()).collect());
        cells[bucket].store(context, status, nanos, end);
    }

    #[inline(always)]
    fn add_in_flight(&self, delta: i64) {
        let cell = &self.in_flight;
        cell.store(cell.load(Ordering::Relaxed).wrapping_add(delta), Ordering::Relaxed);
    }
}

/// What a scrape reads of one series: the sum over its shards.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SeriesSnapshot {
    /// (status code, count), sorted by code.
    pub(crate) statuses: Vec<(u16, u64)>,
    /// Per-bucket (not cumulative) counts; the last is `+Inf`.
    pub(crate) buckets: Vec<u64>,
    pub(crate) sum_seconds: f64,
    pub(crate) in_flight: i64,
}

/// The metrics of one (method, endpoint) pair, shared by every call site with those labels.
pub(crate) struct RequestSeries {
    pub(crate) id: usize,
    pub(crate) method: &'static str,
    pub(crate) endpoint: &'static str,
    /// The request families' overflow series (`method` and `endpoint` empty): what sites whose
    /// (method, endpoint) came past the series limit record into.
    pub(crate) overflow: bool,
    bounds_nanos: Box<[u64]>,
    pub(crate) bounds_seconds: Box<[f64]>,
    pub(crate) tracks_concurrency: AtomicBool,
    /// Every shard ever made for this series, live or free.
    shards: Mutex<Vec<&'static Shard>>,
    /// Shards whose thread has exited, ready for the next new thread.
    free: Mutex<Vec<&'static Shard>>,
    /// Written under `orphan_lock` by threads whose thread-locals are already gone.
    orphan: OnceLock<&'static Shard>,
    orphan_lock: Mutex<()>,
}

impl RequestSeries {
    pub(crate) fn new(
        id: usize,
        method: &'static str,
        endpoint: &'static str,
        bounds: &[f64],
        overflow: bool,
    ) -> RequestSeries {
        RequestSeries {
            id,
            method,
            endpoint,
            overflow,
            bounds_nanos: bounds.iter().map(|seconds| (seconds * 1e9).round() as u64).collect(),
            bounds_seconds: bounds.into(),
            tracks_concurrency: AtomicBool::new(false),
            shards: Mutex::new(Vec::new()),
            free: Mutex::new(Vec::new()),
            orphan: OnceLock::new(),
            orphan_lock: Mutex::new(()),
        }
    }

    /// The bucket a call of `nanos` falls in (the last is `+Inf`).
    #[inline(always)]
    pub(crate) fn bucket_of(&self, nanos: u64) -> usize {
        let bounds = &*self.bounds_nanos;
        let mut bucket = 0;
        while bucket < bounds.len() && nanos > bounds[bucket] {
            bucket += 1;
        }
        bucket
    }

    fn new_shard(&'static self) -> &'static Shard {
        if let Some(shard) = lock(&self.free).pop() {
            return shard;
        }
        // Leaked on purpose: series live for the whole program, and shards are reused, not freed.
        let shard: &'static Shard = Box::leak(Box::new(Shard::new(self)));
        lock(&self.shards).push(shard);
        shard
    }

    /// Runs `f` on the calling thread's shard of this series.
    #[inline(always)]
    fn with_shard(&'static self, f: impl FnOnce(&Shard)) {
        let mut f = Some(f);
        let done = LOCAL.try_with(|local| {
            // SAFETY: only this thread touches its `LocalShards`, and nothing below re-enters it
            // while the reference lives (the closure runs after it is dropped).
            let shard = unsafe { local.get(self) };
            if let Some(f) = f.take() {
                f(shard);
            }
        });
        if done.is_err()
            && let Some(f) = f.take()
        {
            // This thread's locals are being destroyed: write to the shared shard under a lock.
            let _serial = lock(&self.orphan_lock);
            f(self.orphan.get_or_init(|| self.new_shard()));
        }
    }

    pub(crate) fn snapshot(&self) -> SeriesSnapshot {
        let mut snapshot = self.snapshot_of(lock(&self.shards).iter().copied());
        snapshot.statuses.sort_unstable();
        snapshot
    }

    /// The sum over `shards` (of this series); statuses unsorted.
    fn snapshot_of(&self, shards: impl Iterator<Item = &'static Shard>) -> SeriesSnapshot {
        let mut snapshot = SeriesSnapshot { buckets: vec![0; self.bounds_nanos.len() + 1], ..Default::default() };
        let mut sum_nanos: u128 = 0;
        for shard in shards {
            for slot in 0..STATUS_SLOTS {
                let code = shard.codes[slot].load(Ordering::Acquire);
                if code == 0 {
                    break;
                }
                add_status(&mut snapshot.statuses, code, shard.counts[slot].load(Ordering::Relaxed));
            }
            for (total, cell) in snapshot.buckets.iter_mut().zip(&shard.buckets) {
                *total += cell.load(Ordering::Relaxed);
            }
            for &(code, count) in lock(&shard.rare).iter() {
                add_status(&mut snapshot.statuses, code, count);
            }
            sum_nanos += u128::from(shard.sum_nanos.load(Ordering::Relaxed));
            snapshot.in_flight += shard.in_flight.load(Ordering::Relaxed);
        }
        snapshot.sum_seconds = sum_nanos as f64 / 1e9;
        snapshot
    }

    /// Per bucket, the latest exemplar over the shards (for OpenMetrics).
    #[cfg(feature = "trace")]
    pub(crate) fn exemplars(&self) -> Vec<Option<Exemplar>> {
        let mut latest: Vec<Option<Exemplar>> = vec![None; self.bounds_nanos.len() + 1];
        for shard in lock(&self.shards).iter() {
            let Some(cells) = shard.exemplars.get() else { continue };
            for (latest, cell) in latest.iter_mut().zip(cells.iter()) {
                if let Some(exemplar) = cell.load()
                    && latest.as_ref().is_none_or(|known| exemplar.end > known.end)
                {
                    *latest = Some(exemplar);
                }
            }
        }
        latest
    }
}

/// Adds `count` calls answered `code` to `statuses`.
pub(crate) fn add_status(statuses: &mut Vec<(u16, u64)>, code: u16, count: u64) {
    match statuses.iter_mut().find(|(seen, _)| *seen == code) {
        Some((_, total)) => *total += count,
        None => statuses.push((code, count)),
    }
}

/// This thread's shard of each series, indexed by series id.
struct LocalShards {
    by_series: UnsafeCell<Vec<Option<&'static Shard>>>,
    /// The test scope whose shards `by_series` holds while the thread runs in it
    /// ([`ScopedShards`]).
    #[cfg(feature = "testing")]
    scope: UnsafeCell<Option<std::sync::Arc<ScopedShards>>>,
}

impl LocalShards {
    /// # Safety
    /// Only the owning thread may call this, and not re-entrantly.
    #[inline(always)]
    unsafe fn get(&self, series: &'static RequestSeries) -> &'static Shard {
        // SAFETY: the caller guarantees exclusive access to this thread's vector.
        let shards = unsafe { &mut *self.by_series.get() };
        match shards.get(series.id) {
            Some(Some(shard)) => shard,
            // SAFETY: as above, for the scope.
            _ => Self::attach(shards, series, unsafe { self.scope() }),
        }
    }

    /// # Safety
    /// Only the owning thread may call this.
    #[cfg(feature = "testing")]
    #[inline(always)]
    unsafe fn scope(&self) -> Option<&ScopedShards> {
        // SAFETY: the caller guarantees exclusive access to this thread's locals.
        unsafe { (*self.scope.get()).as_deref() }
    }

    #[cfg(not(feature = "testing"))]
    #[inline(always)]
    unsafe fn scope(&self) -> Option<&ScopedShards> {
        None
    }

    #[cold]
    #[inline(never)]
    fn attach(
        shards: &mut Vec<Option<&'static Shard>>,
        series: &'static RequestSeries,
        scope: Option<&ScopedShards>,
    ) -> &'static Shard {
        if shards.len() <= series.id {
            shards.resize(series.id + 1, None);
        }
        let shard = series.new_shard();
        #[cfg(feature = "testing")]
        if let Some(scope) = scope {
            // A reused shard holds what it counted before: the scope counts from here.
            let before = series.snapshot_of(std::iter::once(shard));
            lock(&scope.shards).push((shard, before));
        }
        #[cfg(not(feature = "testing"))]
        let _ = scope;
        shards[series.id] = Some(shard);
        shard
    }
}

impl Drop for LocalShards {
    fn drop(&mut self) {
        // A scope's shards are the scope's to give back (it is still installed only if the
        // thread ended inside it).
        #[cfg(feature = "testing")]
        if self.scope.get_mut().is_some() {
            return;
        }
        for shard in self.by_series.get_mut().drain(..).flatten() {
            // The mutex orders this thread's last writes before the next owner's first.
            lock(&shard.series.free).push(shard);
        }
    }
}

thread_local! {
    static LOCAL: LocalShards = const {
        LocalShards {
            by_series: UnsafeCell::new(Vec::new()),
            #[cfg(feature = "testing")]
            scope: UnsafeCell::new(None),
        }
    };
}

/// Without the `testing` feature, no scope exists.
#[cfg(not(feature = "testing"))]
enum ScopedShards {}

/// A test scope's own shards (`crate::testing::Scope`): while a thread runs in the scope, its
/// calls record into shards made for that scope and thread, which the series sums like any other
/// (so the registry counts them) and the scope sums alone (so a test sees only its own calls).
/// The hot path is the same as outside a scope: only which shards the thread's table holds
/// changes, when the scope is entered and left.
#[cfg(feature = "testing")]
#[derive(Default)]
pub(crate) struct ScopedShards {
    /// Every shard the scope's threads took, on any thread, with what it had counted then.
    shards: Mutex<Vec<(&'static Shard, SeriesSnapshot)>>,
    /// Per thread that ran in the scope, its table while it is out of the scope.
    tables: Mutex<Vec<(std::thread::ThreadId, Table)>>,
}

/// A thread's shard of each series, by series id.
#[cfg(feature = "testing")]
type Table = Vec<Option<&'static Shard>>;

#[cfg(feature = "testing")]
impl std::fmt::Debug for ScopedShards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedShards").field("shards", &lock(&self.shards).len()).finish_non_exhaustive()
    }
}

#[cfg(feature = "testing")]
impl ScopedShards {
    /// What the scope's calls of `series` recorded.
    pub(crate) fn snapshot(&self, series: &RequestSeries) -> SeriesSnapshot {
        let shards = lock(&self.shards);
        let mine = || shards.iter().filter(|(shard, _)| std::ptr::eq(shard.series, series));
        let mut snapshot = series.snapshot_of(mine().map(|(shard, _)| *shard));
        for (_, before) in mine() {
            for &(code, count) in &before.statuses {
                if let Some((_, total)) = snapshot.statuses.iter_mut().find(|(seen, _)| *seen == code) {
                    *total -= count;
                }
            }
            snapshot.buckets.iter_mut().zip(&before.buckets).for_each(|(total, count)| *total -= count);
            snapshot.sum_seconds -= before.sum_seconds;
            snapshot.in_flight -= before.in_flight;
        }
        snapshot.statuses.retain(|(_, count)| *count > 0);
        snapshot.statuses.sort_unstable();
        snapshot
    }

    /// The series the scope's calls recorded into, in the order they were first called.
    pub(crate) fn series(&self) -> Vec<&'static RequestSeries> {
        let mut series: Vec<&'static RequestSeries> = Vec::new();
        for (shard, _) in lock(&self.shards).iter() {
            if !series.iter().any(|known| std::ptr::eq(*known, shard.series)) {
                series.push(shard.series);
            }
        }
        series
    }
}

#[cfg(feature = "testing")]
impl Drop for ScopedShards {
    fn drop(&mut self) {
        // No thread holds them any more: given back to their series, counts kept, for reuse.
        for (shard, _) in crate::sync::get_mut(&mut self.shards).drain(..) {
            lock(&shard.series.free).push(shard);
        }
    }
}

/// What the thread used before it entered a scope, to put back when it leaves.
#[cfg(feature = "testing")]
pub(crate) struct Outside {
    table: Table,
    scope: Option<std::sync::Arc<ScopedShards>>,
}

/// The calling thread records into `scope`'s shards until [`leave_scope`].
#[cfg(feature = "testing")]
pub(crate) fn enter_scope(scope: &std::sync::Arc<ScopedShards>) -> Option<Outside> {
    // In it already (nested in itself): nothing changes.
    // SAFETY: only this thread touches its locals.
    let inside = LOCAL.try_with(|local| {
        unsafe { &*local.scope.get() }.as_ref().is_some_and(|installed| std::sync::Arc::ptr_eq(installed, scope))
    });
    if inside.unwrap_or(true) {
        return None;
    }
    let thread = std::thread::current().id();
    let table = {
        let mut tables = lock(&scope.tables);
        match tables.iter().position(|(owner, _)| *owner == thread) {
            Some(index) => tables.swap_remove(index).1,
            None => Vec::new(),
        }
    };
    LOCAL
        .try_with(|local| {
            // SAFETY: only this thread touches its locals, and no `get` runs meanwhile (entering
            // happens between calls, never inside one).
            let (by_series, installed) = unsafe { (&mut *local.by_series.get(), &mut *local.scope.get()) };
            Outside { table: std::mem::replace(by_series, table), scope: installed.replace(scope.clone()) }
        })
        .ok()
}

/// Puts back what the thread used before [`enter_scope`].
#[cfg(feature = "testing")]
pub(crate) fn leave_scope(outside: Outside) {
    let thread = std::thread::current().id();
    let _ = LOCAL.try_with(|local| {
        // SAFETY: as in `enter_scope`.
        let (by_series, installed) = unsafe { (&mut *local.by_series.get(), &mut *local.scope.get()) };
        let table = std::mem::replace(by_series, outside.table);
        if let Some(scope) = std::mem::replace(installed, outside.scope) {
            lock(&scope.tables).push((thread, table));
        }
    });
}

/// A call site of `#[track_request]`: a `static` in the instrumented function, holding its literal
/// labels, resolved to its series on the first call.
#[derive(Debug)]
pub struct RequestSite {
    method: &'static str,
    endpoint: &'static str,
    buckets: Option<&'static [f64]>,
    track_concurrency: bool,
    log_errors: bool,
    series: AtomicPtr<RequestSeries>,
}

/// Set by [`crate::logging::LoggingConfig::log_request_errors`]: every site logs its errors.
pub(crate) static LOG_ALL_ERRORS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl RequestSite {
    /// A site with literal labels: the default buckets, no in-flight gauge, and its failed calls
    /// logged only when the logging configuration logs every site's. The expansion adds the rest
    /// with the `const` methods below, each only when its option is given (fewer tokens in each
    /// of the user's functions).
    pub const fn new(method: &'static str, endpoint: &'static str) -> RequestSite {
        RequestSite {
            method,
            endpoint,
            buckets: None,
            track_concurrency: false,
            log_errors: false,
            series: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The site with bucket bounds of its own (`buckets = [..]`, checked by the macro).
    pub const fn with_buckets(mut self, buckets: &'static [f64]) -> RequestSite {
        // Evaluated at compile time (the site is a `static`): if the macro and the runtime ever
        // disagreed on the limit, the build fails here instead of a shard overflowing.
        assert!(buckets.len() <= MAX_BUCKETS, "more buckets than MAX_BUCKETS");
        self.buckets = Some(buckets);
        self
    }

    /// The site with an in-flight gauge (`track_concurrency`).
    pub const fn with_concurrency(mut self) -> RequestSite {
        self.track_concurrency = true;
        self
    }

    /// The site logging its failed calls (`log_errors`).
    pub const fn with_error_log(mut self) -> RequestSite {
        self.log_errors = true;
        self
    }

    /// A site already resolved to `series` (for the tower layer, whose routes are not literals).
    #[cfg(feature = "tower")]
    pub(crate) fn for_series(
        method: &'static str,
        endpoint: &'static str,
        series: &'static RequestSeries,
        track_concurrency: bool,
    ) -> RequestSite {
        if track_concurrency {
            series.tracks_concurrency.store(true, Ordering::Relaxed);
        }
        RequestSite {
            method,
            endpoint,
            buckets: None,
            track_concurrency,
            log_errors: false,
            series: AtomicPtr::new((series as *const RequestSeries).cast_mut()),
        }
    }

    /// Whether a failed call (status 500 or more) is logged: `log_errors` on the site, or
    /// [`crate::logging::LoggingConfig::log_request_errors`] for all.
    #[inline(always)]
    pub fn logs_errors(&self) -> bool {
        self.log_errors || LOG_ALL_ERRORS.load(Ordering::Relaxed)
    }

    #[cfg(any(feature = "logging", feature = "trace"))]
    pub(crate) fn method(&self) -> &'static str {
        self.method
    }

    #[cfg(any(feature = "logging", feature = "trace"))]
    pub(crate) fn endpoint(&self) -> &'static str {
        self.endpoint
    }

    #[inline(always)]
    fn series(&'static self) -> &'static RequestSeries {
        let series = self.series.load(Ordering::Acquire);
        if series.is_null() {
            self.resolve()
        } else {
            // SAFETY: only ever set from a `&'static RequestSeries` in `resolve`.
            unsafe { &*series }
        }
    }

    #[cold]
    #[inline(never)]
    fn resolve(&'static self) -> &'static RequestSeries {
        let series = registry().request_series(self.method, self.endpoint, self.buckets);
        if self.track_concurrency {
            series.tracks_concurrency.store(true, Ordering::Relaxed);
        }
        self.series.store((series as *const RequestSeries).cast_mut(), Ordering::Release);
        series
    }
}

impl std::fmt::Debug for RequestSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSeries").field("method", &self.method).field("endpoint", &self.endpoint).finish()
    }
}

/// Times one call and records it. Created before the body runs; `finish` records the outcome, and
/// if the guard is dropped without `finish` (a panic, or a future dropped before completion) `Drop`
/// records that instead.
#[derive(Debug)]
#[must_use = "a guard records the call when finished or dropped"]
pub struct RequestGuard {
    series: &'static RequestSeries,
    start: u64,
    track_concurrency: bool,
}

impl RequestGuard {
    /// Starts timing a call of `site`.
    #[inline(always)]
    pub fn start(site: &'static RequestSite) -> RequestGuard {
        let series = site.series();
        if site.track_concurrency {
            series.with_shard(|shard| shard.add_in_flight(1));
        }
        RequestGuard { series, start: clock().raw(), track_concurrency: site.track_concurrency }
    }

    /// Records the call as finished with `status`.
    #[inline(always)]
    pub fn finish(self, status: u16) {
        let this = std::mem::ManuallyDrop::new(self);
        this.record(status);
    }

    #[inline(always)]
    fn record(&self, status: u16) {
        let clock = clock();
        let end = clock.raw();
        let nanos = clock.delta_as_nanos(self.start, end);
        // 0 marks an empty slot; anything that is no HTTP status counts as a server error.
        let status = if (100..=999).contains(&status) { status } else { STATUS_PANIC };
        let track_concurrency = self.track_concurrency;
        self.series.with_shard(|shard| {
            shard.record(status, nanos, end);
            if track_concurrency {
                shard.add_in_flight(-1);
            }
        });
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.record(if std::thread::panicking() { STATUS_PANIC } else { STATUS_CANCELLED });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    /// Records one call of `site` with `status` on the calling thread, as expanded code does.
    fn call(site: &'static RequestSite, status: u16) {
        RequestGuard::start(site).finish(status);
    }

    #[test]
    fn the_shards_of_exited_threads_are_reused_and_live_threads_have_their_own() {
        // Catches: exited threads' shards not handed back (one more per thread, for ever), a
        // reused shard that loses or doubles its counts, or two live threads sharing one shard.
        static SITE: RequestSite = RequestSite::new("GET", "/request-test/reuse");
        for _ in 0..50 {
            std::thread::spawn(|| (0..10).for_each(|_| call(&SITE, 200))).join().expect("joins");
        }
        let series = SITE.series();
        assert_eq!(lock(&series.shards).len(), 1);
        assert_eq!(lock(&series.free).len(), 1);
        assert_eq!(series.snapshot().statuses, [(200, 500)]);
        // Three threads alive at once: the free shard and two new ones.
        let recorded = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let recorded = recorded.clone();
                std::thread::spawn(move || {
                    call(&SITE, 201);
                    recorded.wait();
                    recorded.wait();
                })
            })
            .collect();
        recorded.wait();
        let shards: Vec<*const Shard> = lock(&series.shards).iter().map(|shard| *shard as *const Shard).collect();
        assert_eq!(shards.len(), 3);
        assert_eq!(lock(&series.free).len(), 0);
        recorded.wait();
        threads.into_iter().for_each(|thread| thread.join().expect("joins"));
        assert_eq!(lock(&series.free).len(), 3);
        assert_eq!(series.snapshot().statuses, [(200, 500), (201, 3)]);
    }

    #[test]
    fn a_thread_with_more_statuses_than_slots_counts_every_one() {
        // Catches: the ninth and later distinct statuses of one thread lost, written past the
        // slots, or counted apart from the same status recorded in another thread's slot.
        static SITE: RequestSite = RequestSite::new("GET", "/request-test/many-statuses");
        std::thread::spawn(|| {
            for status in 200..210u16 {
                (0..status - 199).for_each(|_| call(&SITE, status));
            }
        })
        .join()
        .expect("joins");
        let series = SITE.series();
        // Eight in the shard's slots, the last two beside them.
        let shards = lock(&series.shards).clone();
        assert_eq!(shards.len(), 1);
        assert_eq!(*lock(&shards[0].rare), [(208, 9), (209, 10)]);
        std::thread::spawn(|| call(&SITE, 209)).join().expect("joins");
        let mut expected: Vec<(u16, u64)> = (200..210u16).map(|status| (status, u64::from(status - 199))).collect();
        expected[9].1 += 1;
        assert_eq!(series.snapshot().statuses, expected);
    }

    #[test]
    fn a_call_recorded_from_a_thread_local_destructor_is_counted() {
        // Catches: a call recorded while the thread's own locals are being destroyed (a guard
        // dropped in another thread-local's destructor) that panics, is lost, or re-creates the
        // thread's shards (leaking one per such thread).
        static SITE: RequestSite = RequestSite::new("GET", "/request-test/late");
        struct RecordsOnDrop;
        impl Drop for RecordsOnDrop {
            fn drop(&mut self) {
                call(&SITE, 204);
            }
        }
        thread_local! {
            static LATE: RecordsOnDrop = const { RecordsOnDrop };
        }
        for _ in 0..3 {
            std::thread::spawn(|| {
                // Registered before this thread's shards: destroyed after them.
                LATE.with(|_| ());
                call(&SITE, 200);
            })
            .join()
            .expect("joins");
        }
        let series = SITE.series();
        assert!(series.orphan.get().is_some(), "the destructor ran while the thread's shards were still there");
        assert_eq!(series.snapshot().statuses, [(200, 3), (204, 3)]);
        // The exited threads' shard and the shared one for late calls: no more.
        assert_eq!(lock(&series.shards).len(), 2);
    }
}
