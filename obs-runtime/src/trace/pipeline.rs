//! The batch processor: ended spans go into a bounded queue (never blocking the caller: a full
//! queue drops and counts), and one worker thread exports them in batches, retrying failures with
//! backoff for a bounded time. The worker owns everything it needs (no async runtime of the
//! application is ever used), so flushing and shutting down cannot deadlock on one. Shutting down
//! has a deadline: the last exports are cut at it, and what is not exported by then is counted.
//! Under load the worker paces itself on its own timer rather than being woken by the push that
//! fills a batch (see [`next_batch`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::data::SpanData;
use super::export::{Resource, SpanExporter};
use super::sampler::Sampler;
use super::span::{Attributes, Live, SPARE_ATTRIBUTES};
use crate::Deadline;
use crate::sync;

static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
/// Exported span records nobody holds any more, emptied, for new spans to reuse (their data
/// already taken; each with an emptied attribute vector of an exported span, while there are).
static RECYCLED: Mutex<Vec<Live>> = Mutex::new(Vec::new());
/// The most records kept for reuse (beyond, the export thread frees them).
const MAX_RECYCLED: usize = 8192;

/// Moves up to `count` recycled records into `into`.
pub(crate) fn take_recycled(into: &mut Vec<Live>, count: usize) {
    let mut recycled = sync::lock(&RECYCLED);
    let keep = recycled.len().saturating_sub(count);
    into.extend(recycled.drain(keep..));
}

/// Keeps the records in `batch` that nobody else holds for reuse (up to the limit), emptied, each
/// with one of the emptied attribute vectors of `spares` while there are (the caller frees the
/// others); drops the rest. The pool's lock is held only to move them in, never while freeing.
fn recycle(batch: &mut Vec<Live>, keep: &mut Vec<Live>, spares: &mut Vec<Attributes>) {
    let room = MAX_RECYCLED.saturating_sub(sync::lock(&RECYCLED).len());
    for mut live in batch.drain(..) {
        if keep.len() < room
            && let Some(record) = Arc::get_mut(&mut live)
        {
            record.tracestate = None;
            // One it kept (its span started with attributes of its own) stays.
            if record.spare_attributes.capacity() == 0
                && let Some(spare) = spares.pop()
            {
                record.spare_attributes = spare;
            }
            keep.push(live);
        }
    }
    sync::lock(&RECYCLED).append(keep);
}

/// An exported span's attribute vector, emptied, if it is worth keeping for another span.
fn spare(mut attributes: Attributes) -> Option<Attributes> {
    attributes.clear();
    (1..=SPARE_ATTRIBUTES).contains(&attributes.capacity()).then_some(attributes)
}

/// Hands `records` back to the pool, within its limit (a thread's stash, when the thread exits).
pub(crate) fn give_back(records: &mut Vec<Live>) {
    if get().is_none() {
        return;
    }
    let mut recycled = sync::lock(&RECYCLED);
    let room = MAX_RECYCLED.saturating_sub(recycled.len()).min(records.len());
    recycled.extend(records.drain(..room));
}

/// Empties the pool (after shutdown nothing takes from it any more).
fn drain_recycled() {
    let records = std::mem::take(&mut *sync::lock(&RECYCLED));
    drop(records);
}

/// Off after shutdown: spans record nothing again.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The installed pipeline, if any and not shut down.
#[inline]
pub(crate) fn get() -> Option<&'static Pipeline> {
    if ENABLED.load(Ordering::Relaxed) { PIPELINE.get() } else { None }
}

pub(crate) struct Pipeline {
    pub(crate) sampler: Sampler,
    /// The baggage keys copied into each recording span's attributes when it starts.
    pub(crate) baggage_attributes: Box<[String]>,
    shared: Arc<Shared>,
}

pub(crate) struct Settings {
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
    pub(crate) schedule_delay: Duration,
    /// Each attempt's (`OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub(crate) export_timeout: Duration,
    /// A batch's, all attempts and pauses included (`OTEL_BSP_EXPORT_TIMEOUT`).
    pub(crate) batch_export_timeout: Duration,
    /// See [`Pipeline::baggage_attributes`].
    pub(crate) baggage_attributes: Box<[String]>,
    /// The most characters of a string attribute value, cut on export (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    pub(crate) value_length_limit: Option<usize>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the worker: a full batch (the high-water mark while it paces itself), a flush, a
    /// shutdown.
    wake: Condvar,
    /// Wakes flushers: a flush generation done, the worker gone.
    done: Condvar,
    max_queue_size: usize,
    batch_size: usize,
    counts: Counts,
}

#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_export_failed: AtomicU64,
    pub(crate) dropped_refused: AtomicU64,
    pub(crate) dropped_rejected: AtomicU64,
    pub(crate) dropped_shutdown: AtomicU64,
    pub(crate) export_failures: AtomicU64,
}

/// Why spans were dropped: the `reason` of `obs_spans_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dropped {
    /// The queue was full (the exporter could not keep up).
    QueueFull,
    /// The export failed after its retries, or ran out of time.
    ExportFailed,
    /// The export failed for good: a certificate not trusted, an HTTP 4xx answer, a proxy's
    /// refusal (one attempt, no retry).
    Refused,
    /// The receiver took the batch but not these spans (an OTLP partial success).
    Rejected,
    /// Shutting down: ended after it began, or not exported by its deadline.
    Shutdown,
}

struct State {
    queue: Vec<Live>,
    /// The queue length at which a push wakes the worker: a full batch while the worker waits
    /// for one, the high-water mark while it paces itself, never while it works.
    wake_at: usize,
    flush_requested: u64,
    flushed: u64,
    /// Set by shutdown: what is queued is exported by then.
    shutdown: Option<Deadline>,
    worker_done: bool,
    /// Spans the worker took from the queue and has not accounted for yet.
    in_flight: u64,
    /// The shutdown gave up waiting for the worker and counted what it held as dropped.
    abandoned: bool,
}

impl Shared {
    fn new(settings: &Settings) -> Shared {
        Shared {
            state: Mutex::new(State {
                queue: Vec::with_capacity(settings.max_queue_size.min(4096)),
                // Set by the worker when it waits (it looks at the queue first).
                wake_at: usize::MAX,
                flush_requested: 0,
                flushed: 0,
                shutdown: None,
                worker_done: false,
                in_flight: 0,
                abandoned: false,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            max_queue_size: settings.max_queue_size,
            batch_size: settings.max_export_batch_size,
            counts: Counts::default(),
        }
    }

    /// The queue length at which a push wakes a pacing worker: half the queue (at least a batch),
    /// so that a burst faster than the pace still finds half the queue free before a span drops.
    fn high_water(&self) -> usize {
        (self.max_queue_size / 2).max(self.batch_size)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the queue consistent (pushes and swaps).
        sync::lock(&self.state)
    }

    fn dropped(&self, reason: Dropped, spans: u64) {
        let counter = match reason {
            Dropped::QueueFull => &self.counts.dropped_queue_full,
            Dropped::ExportFailed => &self.counts.dropped_export_failed,
            Dropped::Refused => &self.counts.dropped_refused,
            Dropped::Rejected => &self.counts.dropped_rejected,
            Dropped::Shutdown => &self.counts.dropped_shutdown,
        };
        counter.fetch_add(spans, Ordering::Relaxed);
        self_metrics::dropped(reason, spans);
    }

    /// Waits (at most `timeout`) until every span ended before the call is exported or dropped.
    fn flush(&self, timeout: Duration) -> bool {
        let shared = self;
        let deadline = Instant::now() + timeout;
        let mut state = shared.lock();
        state.flush_requested += 1;
        let target = state.flush_requested;
        shared.wake.notify_one();
        while state.flushed < target && !state.worker_done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = sync::wait_timeout(&shared.done, state, left);
        }
        state.flushed >= target
    }
}

impl Pipeline {
    /// Waits (at most `timeout`) until every span ended before the call is exported or dropped.
    #[cfg(feature = "testing")]
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.shared.flush(timeout)
    }

    /// Queues an ended span; never blocks on the export. Whether it notified the export thread
    /// (which may not have been waiting).
    #[inline]
    pub(crate) fn push(&self, span: Live) -> bool {
        let shared = &*self.shared;
        let mut state = shared.lock();
        if state.shutdown.is_some() || state.queue.len() >= shared.max_queue_size {
            let reason = if state.shutdown.is_some() { Dropped::Shutdown } else { Dropped::QueueFull };
            drop(state);
            shared.dropped(reason, 1);
            return false;
        }
        state.queue.push(span);
        let wake = state.queue.len() == state.wake_at;
        drop(state);
        if wake {
            shared.wake.notify_one();
        }
        wake
    }
}

/// What the installer keeps: flushes and stops the worker.
pub(crate) struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handle")
    }
}

/// Installs the pipeline and starts its worker. `Err` when one is installed already.
pub(crate) fn install(
    sampler: Sampler,
    settings: Settings,
    exporter: Box<dyn SpanExporter>,
    resource: Resource,
) -> Result<Handle, String> {
    let shared = Arc::new(Shared::new(&settings));
    let pipeline =
        Pipeline { sampler, baggage_attributes: settings.baggage_attributes.clone(), shared: shared.clone() };
    PIPELINE
        .set(pipeline)
        .map_err(|_| "a trace pipeline is installed already (spans go to one place per process)".to_owned())?;
    register_self_metrics();
    let worker = Worker::new(shared.clone(), exporter, resource, settings);
    std::thread::Builder::new()
        .name("obs-spans".into())
        .spawn(move || {
            crate::threads::mark_own();
            worker.run()
        })
        .map_err(|error| format!("cannot start the span export thread: {error}"))?;
    ENABLED.store(true, Ordering::Release);
    Ok(Handle { shared })
}

impl Handle {
    pub(crate) fn counts(&self) -> &Counts {
        &self.shared.counts
    }

    /// Waits (at most `timeout`) until every span ended before the call is exported or dropped.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.shared.flush(timeout)
    }

    /// Stops recording; the worker exports what is queued by `deadline`, then stops. Returns at
    /// once.
    pub(crate) fn signal_shutdown(&self, deadline: Deadline) {
        ENABLED.store(false, Ordering::Release);
        let shared = &*self.shared;
        let mut state = shared.lock();
        if state.shutdown.is_none() {
            state.shutdown = Some(deadline);
        }
        drop(state);
        shared.wake.notify_one();
    }

    /// Waits for the worker to stop: by `deadline` (the one given to
    /// [`signal_shutdown`](Self::signal_shutdown)) and a moment for it to count. If it has not
    /// stopped by then (an exporter that ignores its timeout), what it holds and what is still
    /// queued are counted as dropped now, and it is left to end on its own. `false` then.
    pub(crate) fn wait_shutdown(&self, deadline: Deadline) -> bool {
        let shared = &*self.shared;
        let give_up = deadline.with_grace();
        let mut state = shared.lock();
        while !state.worker_done {
            let left = give_up.remaining();
            if left.is_zero() {
                let lost = state.in_flight + state.queue.len() as u64;
                state.abandoned = true;
                state.in_flight = 0;
                let queue = std::mem::take(&mut state.queue);
                drop(state);
                drop(queue);
                shared.dropped(Dropped::Shutdown, lost);
                if lost > 0 {
                    crate::diagnostics::warn(
                        "trace",
                        "shutdown_dropped",
                        &format!("{lost} span(s) not exported by the shutdown deadline were dropped"),
                    );
                }
                return false;
            }
            state = sync::wait_timeout(&shared.done, state, left);
        }
        true
    }
}

struct Worker {
    shared: Arc<Shared>,
    exporter: Box<dyn SpanExporter>,
    resource: Resource,
    settings: Settings,
    /// Whether the last export failed (failures are reported on stderr when they start and stop).
    failing: bool,
    /// While it paces itself: when the next batch should be full (see [`next_batch`]).
    next_batch: Option<Instant>,
    /// When the worker last took the queue.
    last_take: Instant,
}

/// The shortest sleep of a pacing worker: at most a thousand wakes a second, however fast spans
/// come (past the high-water mark they wake it).
const MIN_PACE: Duration = Duration::from_millis(1);

/// When the next batch of `batch` spans should be full, after the worker took `taken` spans at
/// `now` that gathered since `since`; `None` when they were fewer than a batch.
///
/// While spans come at least that fast (a batch per schedule delay), the worker paces itself: it
/// sleeps until then (at least [`MIN_PACE`]) and no push wakes it before the queue reaches its
/// high-water mark. A push that woke it at every full batch paid, on the instrumented thread, the
/// system call that wakes a sleeping thread: several microseconds on a virtual machine (4 % of a
/// `#[trace_operation]` run's samples in `benches/trace.rs`, 8 % of a bridged span's); the
/// worker's own timer costs the instrumented threads nothing. The price: while it paces, a full
/// batch may wait for the timer (never past the schedule delay). Fewer spans than a batch, and it
/// waits for the push that fills one again, as before.
fn next_batch(since: Instant, now: Instant, taken: usize, batch: usize) -> Option<Instant> {
    (batch > 0 && taken >= batch).then(|| {
        let fill = now.saturating_duration_since(since).mul_f64(batch as f64 / taken as f64);
        now + fill.max(MIN_PACE)
    })
}

/// Attempts per batch: the first and three retries, backing off about 100, 200, 400 ms, or as
/// long as the receiver asks (all within the batch's export timeout).
const RETRY: crate::retry::Policy = crate::retry::Policy { attempts: 4, first_pause: Duration::from_millis(100) };

impl Worker {
    fn new(shared: Arc<Shared>, exporter: Box<dyn SpanExporter>, resource: Resource, settings: Settings) -> Worker {
        Worker { shared, exporter, resource, settings, failing: false, next_batch: None, last_take: Instant::now() }
    }

    fn run(mut self) {
        // Swapped with the queue: it keeps the capacity the queue grew to, so that the queue does
        // not grow again (allocating on the instrumented threads) after every swap.
        let mut batch: Vec<Live> = Vec::with_capacity(self.shared.batch_size);
        let mut spans: Vec<SpanData> = Vec::with_capacity(self.shared.batch_size);
        // The records to recycle, gathered out of the pool's lock, and the exported spans'
        // attribute vectors they take back with them.
        let mut keep: Vec<Live> = Vec::new();
        let mut spares: Vec<Attributes> = Vec::new();
        let clock = crate::clock::clock();
        loop {
            let (flush_target, shutdown, taken) = {
                let shared = &*self.shared;
                let mut state = shared.lock();
                let deadline = Instant::now() + self.settings.schedule_delay;
                let mut pace = self.next_batch.take();
                while state.queue.len() < shared.batch_size
                    && state.flush_requested == state.flushed
                    && state.shutdown.is_none()
                {
                    let now = Instant::now();
                    let left = deadline.saturating_duration_since(now);
                    if left.is_zero() {
                        break;
                    }
                    // Paced: until the batch should be full, woken early only at the high-water
                    // mark; then (or not paced) until a push fills the batch or the delay ends.
                    let (wake_at, wait) = match pace.take() {
                        Some(at) if at < deadline => (shared.high_water(), at.saturating_duration_since(now)),
                        _ => (shared.batch_size, left),
                    };
                    if wait.is_zero() {
                        continue;
                    }
                    state.wake_at = wake_at;
                    state = sync::wait_timeout(&shared.wake, state, wait);
                }
                // No push wakes a worker at work: it looks at the queue before it waits again.
                state.wake_at = usize::MAX;
                let taken = state.queue.len();
                std::mem::swap(&mut state.queue, &mut batch);
                state.in_flight = batch.len() as u64;
                (state.flush_requested, state.shutdown, taken)
            };
            let now = Instant::now();
            self.next_batch = next_batch(self.last_take, now, taken, self.shared.batch_size);
            self.last_take = now;
            // Raw clock readings become wall-clock times against an anchor taken now.
            let anchor = Anchor::now(clock);
            for chunk in batch.chunks(self.shared.batch_size.max(1)) {
                spans.clear();
                spans.extend(chunk.iter().filter_map(|live| {
                    let mut data = sync::lock(&live.data).take()?;
                    anchor.convert(clock, &mut data);
                    if let Some(limit) = self.settings.value_length_limit {
                        data.limit_values(limit);
                    }
                    Some(data)
                }));
                // The live page's ring of recent spans (off unless the page asks for it).
                #[cfg(feature = "page")]
                super::recent::record(&spans);
                // The spans of the traces test scopes started spans in (see `crate::testing`).
                #[cfg(feature = "testing")]
                crate::testing::exported(&spans);
                let outcome = if spans.is_empty() { Ok(0) } else { self.export(&spans, shutdown) };
                if !self.account(chunk.len(), spans.len() as u64, outcome) {
                    // The shutdown counted the rest as dropped: they are not exported after all.
                    break;
                }
                spares.extend(spans.drain(..).filter_map(|span| spare(span.attributes)));
            }
            spans.clear();
            if shutdown.is_some() {
                batch.clear();
            } else {
                recycle(&mut batch, &mut keep, &mut spares);
            }
            spares.clear();
            let mut state = self.shared.lock();
            state.flushed = state.flushed.max(flush_target);
            // Abandoned: the shutdown counted (and emptied) the queue already.
            let finished = shutdown.is_some() && (state.queue.is_empty() || state.abandoned);
            if finished {
                // The pool is emptied before the shutdown is seen to be over: what the spans held
                // is freed by the time it returns (nothing refills the pool once recording stopped).
                drop(state);
                drain_recycled();
                state = self.shared.lock();
                state.worker_done = true;
            }
            drop(state);
            self.shared.done.notify_all();
            if finished {
                self.exporter.shutdown();
                return;
            }
        }
    }

    /// Exports one chunk, retrying within the batch's export timeout, and within the shutdown's
    /// deadline when shutting down: `Ok` with how many of its spans the receiver rejected, or
    /// `Err` with why it was dropped.
    fn export(&mut self, chunk: &[SpanData], shutdown: Option<Deadline>) -> Result<u64, Dropped> {
        let own = Deadline::after(self.settings.batch_export_timeout);
        let deadline = shutdown.map_or(own, |shutdown| shutdown.min(own));
        // Out of time because of the shutdown, not because the collector failed for long enough.
        let out_of_time =
            if shutdown.is_some_and(|shutdown| shutdown <= own) { Dropped::Shutdown } else { Dropped::ExportFailed };
        if deadline.is_passed() {
            return Err(out_of_time);
        }
        for attempt in 1..=RETRY.attempts {
            let timeout = deadline.remaining().min(self.settings.export_timeout);
            let error = match self.exporter.export(chunk, &self.resource, timeout) {
                Ok(()) => {
                    if self.failing {
                        self.failing = false;
                        crate::diagnostics::recovered("trace", "span export works again");
                    }
                    return Ok(self.exporter.take_rejected().min(chunk.len() as u64));
                }
                Err(error) => error,
            };
            self.shared.counts.export_failures.fetch_add(1, Ordering::Relaxed);
            if !self.failing {
                self.failing = true;
                crate::diagnostics::warn(
                    "trace",
                    "export_failed",
                    &format!("span export failed (retrying, then dropping and counting): {error}"),
                );
            }
            // Retry while the deadline allows (so a dead collector holds a shutdown for at most
            // that long), with jittered exponential backoff or the pause the receiver asked for.
            if !error.is_retryable() {
                return Err(Dropped::Refused);
            }
            if attempt == RETRY.attempts {
                return Err(Dropped::ExportFailed);
            }
            let pause = RETRY.pause(attempt, error.retry_after());
            if pause >= deadline.remaining() {
                return Err(out_of_time);
            }
            std::thread::sleep(pause);
        }
        Err(Dropped::ExportFailed)
    }

    /// Counts how a chunk of `taken` queued spans (`spans` of them with data) ended, unless the
    /// shutdown gave up on the worker and counted them already (`false` then).
    fn account(&self, taken: usize, spans: u64, outcome: Result<u64, Dropped>) -> bool {
        let mut state = self.shared.lock();
        if state.abandoned {
            return false;
        }
        state.in_flight = state.in_flight.saturating_sub(taken as u64);
        drop(state);
        match outcome {
            Ok(rejected) => {
                self.shared.counts.exported.fetch_add(spans - rejected, Ordering::Relaxed);
                self_metrics::exported(spans - rejected);
                if rejected > 0 {
                    self.shared.dropped(Dropped::Rejected, rejected);
                }
            }
            Err(reason) => self.shared.dropped(reason, spans),
        }
        true
    }
}

use crate::clock::Anchor;

impl Anchor {
    /// The span's raw readings as wall-clock times (those given as wall-clock times stay).
    fn convert(&self, clock: &quanta::Clock, span: &mut SpanData) {
        use crate::trace::data::{WALL_END, WALL_START};
        if span.wall_times & WALL_START == 0 {
            span.start_unix_nanos = self.wall(clock, span.start_unix_nanos);
        }
        if span.wall_times & WALL_END == 0 {
            span.end_unix_nanos = self.wall(clock, span.end_unix_nanos);
        }
        span.end_unix_nanos = span.end_unix_nanos.max(span.start_unix_nanos);
        for event in span.events.iter_mut().filter(|event| !event.wall) {
            event.time_unix_nanos = self.wall(clock, event.time_unix_nanos);
        }
    }
}

/// Registers `obs_spans_exported_total` and `obs_spans_dropped_total{reason}` (once).
pub(crate) fn register_self_metrics() {
    self_metrics::register();
}

/// `obs_spans_exported_total` and `obs_spans_dropped_total{reason}`.
mod self_metrics {
    use super::Dropped;

    #[cfg(feature = "metrics")]
    struct Counters {
        exported: crate::metrics::Counter,
        queue_full: crate::metrics::Counter,
        export_failed: crate::metrics::Counter,
        refused: crate::metrics::Counter,
        rejected: crate::metrics::Counter,
        shutdown: crate::metrics::Counter,
    }

    #[cfg(feature = "metrics")]
    static COUNTERS: std::sync::OnceLock<Option<Counters>> = std::sync::OnceLock::new();

    pub(super) fn register() {
        #[cfg(feature = "metrics")]
        COUNTERS.get_or_init(|| {
            let exported = crate::metrics::Counter::register("obs_spans_exported_total", "Spans obs exported").ok()?;
            let dropped = crate::metrics::CounterVec::register(
                "obs_spans_dropped_total",
                "Spans obs dropped: queue_full (the exporter could not keep up), export_failed (after \
                 retries), refused (a failure no retry fixes: an untrusted certificate, an HTTP 4xx), \
                 rejected (by the receiver's partial success) or shutdown (not exported by the \
                 shutdown's deadline)",
                &["reason"],
            )
            .ok()?;
            Some(Counters {
                exported,
                queue_full: dropped.with_labels(&["queue_full"]).ok()?,
                export_failed: dropped.with_labels(&["export_failed"]).ok()?,
                refused: dropped.with_labels(&["refused"]).ok()?,
                rejected: dropped.with_labels(&["rejected"]).ok()?,
                shutdown: dropped.with_labels(&["shutdown"]).ok()?,
            })
        });
    }

    pub(super) fn exported(spans: u64) {
        #[cfg(feature = "metrics")]
        if let Some(Some(counters)) = COUNTERS.get() {
            counters.exported.inc_by(spans as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = spans;
    }

    pub(super) fn dropped(reason: Dropped, spans: u64) {
        #[cfg(feature = "metrics")]
        if let Some(Some(counters)) = COUNTERS.get() {
            let counter = match reason {
                Dropped::QueueFull => &counters.queue_full,
                Dropped::ExportFailed => &counters.export_failed,
                Dropped::Refused => &counters.refused,
                Dropped::Rejected => &counters.rejected,
                Dropped::Shutdown => &counters.shutdown,
            };
            counter.inc_by(spans as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (reason, spans);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::trace::span::LiveSpan;

    /// The pool is one per process: the tests that use it take turns, and start it empty.
    pub(crate) fn pool_turn() -> MutexGuard<'static, ()> {
        static TURN: Mutex<()> = Mutex::new(());
        let turn = sync::lock(&TURN);
        drain_recycled();
        turn
    }

    pub(crate) const CAP: usize = MAX_RECYCLED;

    /// Empties the pool (with the turn held).
    pub(crate) fn empty_pool() {
        drain_recycled();
    }

    /// A record as an exported span leaves it (its data taken), with `tracestate`.
    pub(crate) fn exported(tracestate: Option<&str>) -> Live {
        Arc::new(LiveSpan {
            tracestate: tracestate.map(Arc::from),
            data: Mutex::new(None),
            spare_attributes: Vec::new(),
        })
    }

    /// What the export thread does with an exported batch.
    pub(crate) fn recycle_all(batch: &mut Vec<Live>) {
        recycle(batch, &mut Vec::new(), &mut Vec::new());
    }

    /// The same, with the exported spans' attribute vectors as the export thread keeps them.
    pub(crate) fn recycle_with(batch: &mut Vec<Live>, attributes: Vec<Attributes>) {
        let mut spares: Vec<Attributes> = attributes.into_iter().filter_map(spare).collect();
        recycle(batch, &mut Vec::new(), &mut spares);
    }

    /// Installs a pipeline in this process, once: `give_back` keeps records only while one is.
    /// It samples nothing, so that no other test's spans record or export.
    pub(crate) fn installed() {
        static INSTALLED: OnceLock<Handle> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            let settings = Settings {
                max_queue_size: 16,
                max_export_batch_size: 16,
                schedule_delay: Duration::from_secs(3600),
                export_timeout: Duration::from_secs(1),
                batch_export_timeout: Duration::from_secs(1),
                baggage_attributes: Box::default(),
                value_length_limit: None,
            };
            let exporter = Box::new(crate::trace::InMemoryExporter::new());
            install(Sampler::AlwaysOff, settings, exporter, Resource { attributes: Vec::new() }).expect("installs")
        });
    }

    /// The pool's records, by address.
    pub(crate) fn pooled() -> Vec<usize> {
        RECYCLED.lock().expect("the pool").iter().map(|record| Arc::as_ptr(record) as usize).collect()
    }

    /// An exporter that sends the size of each batch it gets; with a gate, it then waits for the
    /// test to let it return (or to drop the gate's sender).
    struct Sizes {
        sizes: std::sync::mpsc::Sender<usize>,
        gate: Option<std::sync::mpsc::Receiver<()>>,
    }

    impl SpanExporter for Sizes {
        fn export(
            &mut self,
            batch: &[SpanData],
            _: &Resource,
            _: Duration,
        ) -> Result<(), crate::trace::export::ExportError> {
            let _ = self.sizes.send(batch.len());
            if let Some(gate) = &self.gate {
                // Bounded: a test that fails before it opens the gate must not hang the worker.
                let _ = gate.recv_timeout(Duration::from_secs(60));
            }
            Ok(())
        }
    }

    /// A pipeline and worker of their own (not the process's), with a queue of 64 spans, batches
    /// of 8 (a high-water mark of 32), a schedule delay of two hours, the worker as `setup` leaves
    /// it, and its exporter behind `gate` if one is given.
    struct Own {
        pipeline: Pipeline,
        exported: std::sync::mpsc::Receiver<usize>,
        worker: Option<std::thread::JoinHandle<()>>,
    }

    const DELAY: Duration = Duration::from_secs(7200);

    fn own_pipeline(setup: impl FnOnce(&mut Worker), gate: Option<std::sync::mpsc::Receiver<()>>) -> Own {
        let settings = Settings {
            max_queue_size: 64,
            max_export_batch_size: 8,
            schedule_delay: DELAY,
            export_timeout: Duration::from_secs(1),
            batch_export_timeout: Duration::from_secs(1),
            baggage_attributes: Box::default(),
            value_length_limit: None,
        };
        let shared = Arc::new(Shared::new(&settings));
        let (sizes, exported) = std::sync::mpsc::channel();
        let mut worker =
            Worker::new(shared.clone(), Box::new(Sizes { sizes, gate }), Resource { attributes: Vec::new() }, settings);
        setup(&mut worker);
        let worker = Some(std::thread::spawn(move || worker.run()));
        let pipeline = Pipeline { sampler: Sampler::AlwaysOff, baggage_attributes: Box::default(), shared };
        Own { pipeline, exported, worker }
    }

    impl Own {
        /// Pushes `count` ended spans; which of them (counted from 1) notified the worker.
        fn push(&self, count: usize) -> Vec<usize> {
            (1..=count).filter(|_| self.pipeline.push(ended())).collect()
        }

        /// The size of the next batch exported (fails after a minute: none is).
        fn next_export(&self) -> usize {
            self.exported.recv_timeout(Duration::from_secs(60)).expect("a batch is exported")
        }

        /// Waits until the worker waits with the queue's wake-up length at `wake_at` (fails after
        /// a minute: a worker that never does).
        fn until_waiting(&self, wake_at: usize) {
            let give_up = Instant::now() + Duration::from_secs(60);
            loop {
                let now = self.pipeline.shared.lock().wake_at;
                if now == wake_at {
                    return;
                }
                assert!(Instant::now() < give_up, "the worker waits with wake_at {now}, not {wake_at}");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    impl Drop for Own {
        /// Stops the worker (not through a `Handle`: that would switch the process's recording
        /// off); unless a test failed, waits for it and empties the pool it may have filled, while
        /// the test still holds the pool's turn.
        fn drop(&mut self) {
            self.pipeline.shared.lock().shutdown = Some(crate::Deadline::after(Duration::from_secs(5)));
            self.pipeline.shared.wake.notify_one();
            if let Some(worker) = self.worker.take()
                && !std::thread::panicking()
            {
                worker.join().expect("the worker ends");
                drain_recycled();
            }
        }
    }

    /// An ended span's record, as a span's end queues it (a trace id of these tests' own).
    fn ended() -> Live {
        let context =
            crate::context::SpanContext::from_traceparent("00-5d1e0b5a17ee4c2b9e2a43a1c0ffee01-0b5e55ed0b5e55ed-01")
                .expect("a valid traceparent");
        Arc::new(LiveSpan {
            tracestate: None,
            data: Mutex::new(Some(SpanData::for_test("ended", context))),
            spare_attributes: Vec::new(),
        })
    }

    #[test]
    fn a_worker_that_does_not_pace_itself_is_woken_by_the_push_that_fills_a_batch() {
        // Catches: a full batch left in the queue until the schedule delay (two hours here) when
        // spans come slower than a batch per delay.
        let _turn = pool_turn();
        let own = own_pipeline(|_| {}, None);
        own.until_waiting(8);
        assert_eq!(own.push(8), [8]);
        assert_eq!(own.next_export(), 8);
        drop(own);
    }

    #[test]
    fn a_pacing_worker_is_woken_at_the_high_water_mark_not_at_a_full_batch() {
        // Catches: pushes waking a pacing worker at every full batch (the system call the pacing
        // saves the instrumented threads), or never (spans would drop, the queue full, before its
        // timer): with a queue of 64, the high-water mark is 32.
        let _turn = pool_turn();
        let own = own_pipeline(|worker| worker.next_batch = Some(Instant::now() + Duration::from_secs(3600)), None);
        own.until_waiting(32);
        assert_eq!(own.push(32), [32], "only the push that reaches the high-water mark notifies");
        let sizes: Vec<usize> = (0..4).map(|_| own.next_export()).collect();
        assert_eq!(sizes, [8, 8, 8, 8], "the 32 queued, in batches");
        drop(own);
    }

    #[test]
    fn a_pace_past_the_schedule_delay_or_run_out_leaves_the_full_batch_to_wake_the_worker() {
        // Catches: a pace past the schedule delay obeyed (spans held past it), and a worker that
        // keeps waiting for the high-water mark after its timer ran out (a full batch would wait
        // for the schedule delay).
        let _turn = pool_turn();
        for pace in [DELAY + Duration::from_secs(3600), Duration::from_millis(20)] {
            let own = own_pipeline(|worker| worker.next_batch = Some(Instant::now() + pace), None);
            own.until_waiting(8);
            assert_eq!(own.push(8), [8], "pace {pace:?}");
            assert_eq!(own.next_export(), 8);
            drop(own);
        }
    }

    #[test]
    fn a_full_batch_taken_starts_the_pacing() {
        // Catches: the pace never set (every full batch woken by a push again): a batch that
        // took a minute to fill paces the worker for about a minute.
        let _turn = pool_turn();
        let own = own_pipeline(
            |worker| {
                worker.last_take =
                    Instant::now().checked_sub(Duration::from_secs(60)).expect("the machine has been up a minute")
            },
            None,
        );
        own.until_waiting(8);
        assert_eq!(own.push(8), [8]);
        assert_eq!(own.next_export(), 8);
        own.until_waiting(32);
        drop(own);
    }

    #[test]
    fn no_push_notifies_a_worker_at_work() {
        // Catches: pushes notifying the worker while it exports (a system call for nothing): it
        // looks at the queue before it waits again, and takes a full batch without being woken.
        let _turn = pool_turn();
        let (release, gate) = std::sync::mpsc::channel();
        let own = own_pipeline(|_| {}, Some(gate));
        own.until_waiting(8);
        assert_eq!(own.push(8), [8]);
        assert_eq!(own.next_export(), 8, "the export has begun and waits at the gate");
        assert_eq!(own.push(16), Vec::<usize>::new(), "no push notifies a worker at work");
        release.send(()).expect("the exporter waits");
        assert_eq!(own.next_export(), 8, "the queue taken without a wake");
        drop(release);
        drop(own);
    }

    #[test]
    fn the_worker_paces_itself_at_the_rate_the_last_batch_filled() {
        // Catches: pacing with fewer spans than a batch (slow traffic would wait for a timer and
        // no longer for the push that fills a batch), a pace off the rate (inverted, or not
        // scaled to one batch), none at the floor, or a division by a batch of none.
        let start = Instant::now();
        let took = start + Duration::from_secs(60);
        assert_eq!(next_batch(start, took, 7, 8), None);
        assert_eq!(next_batch(start, took, 8, 8), Some(took + Duration::from_secs(60)));
        assert_eq!(next_batch(start, took, 16, 8), Some(took + Duration::from_secs(30)));
        assert_eq!(next_batch(start, took, 8_000_000, 8), Some(took + MIN_PACE));
        assert_eq!(next_batch(start, start, 8, 8), Some(start + MIN_PACE));
        assert_eq!(next_batch(start, took, 8, 0), None);
    }

    #[test]
    fn exported_records_nobody_holds_are_kept_emptied_and_the_others_are_not() {
        // Catches: recycling switched off (nothing kept), a record still held elsewhere put in
        // the pool (two spans would share it), or a kept record keeping its tracestate.
        let _turn = pool_turn();
        let shared = exported(Some("vendor=held"));
        let held = shared.clone();
        let mut batch = vec![exported(Some("vendor=a")), shared, exported(None)];
        let unique = [Arc::as_ptr(&batch[0]) as usize, Arc::as_ptr(&batch[2]) as usize];
        recycle_all(&mut batch);
        assert!(batch.is_empty());
        assert_eq!(pooled(), unique);
        assert!(RECYCLED.lock().expect("the pool").iter().all(|record| record.tracestate.is_none()));
        // The held one was let go by the batch, not kept: its holder is its only owner.
        assert_eq!(Arc::strong_count(&held), 1);
        assert_eq!(held.tracestate.as_deref(), Some("vendor=held"));
        drain_recycled();
    }

    #[test]
    fn exported_attribute_vectors_are_kept_emptied_up_to_their_limit() {
        // Catches: attribute vectors freed on the export thread again (what the instrumented
        // thread allocated, the export thread freeing, makes the two contend in the allocator),
        // kept with the old span's attributes in them, or kept however large they grew.
        use crate::trace::data::Value;
        let _turn = pool_turn();
        let attribute = |n: usize| (std::borrow::Cow::Owned(format!("key.{n}")), Value::I64(n as i64));
        let small: Attributes = (0..3).map(attribute).collect();
        let full: Attributes = (0..SPARE_ATTRIBUTES).map(attribute).collect();
        let large: Attributes = (0..=SPARE_ATTRIBUTES).map(attribute).collect();
        let (small_buffer, full_buffer) = (small.as_ptr() as usize, full.as_ptr() as usize);
        let mut batch: Vec<Live> = (0..4).map(|_| exported(None)).collect();
        recycle_with(&mut batch, vec![small, full, large, Vec::new()]);
        let kept: Vec<(usize, usize, usize)> = RECYCLED
            .lock()
            .expect("the pool")
            .iter()
            .map(|record| {
                let spare = &record.spare_attributes;
                (spare.as_ptr() as usize, spare.len(), spare.capacity())
            })
            .collect();
        assert_eq!(kept.len(), 4);
        // The large one and the one that never allocated are not kept: two records go bare.
        let with_spare: Vec<_> = kept.iter().filter(|(_, _, capacity)| *capacity > 0).collect();
        assert_eq!(with_spare.len(), 2, "{kept:?}");
        assert!(with_spare.iter().all(|(_, len, capacity)| *len == 0 && *capacity <= SPARE_ATTRIBUTES));
        let mut buffers: Vec<usize> = with_spare.iter().map(|(buffer, _, _)| *buffer).collect();
        buffers.sort_unstable();
        let mut expected = vec![small_buffer, full_buffer];
        expected.sort_unstable();
        assert_eq!(buffers, expected);
        drain_recycled();
    }

    #[test]
    fn the_pool_keeps_at_most_its_cap_and_hands_out_what_is_asked() {
        // Catches: a pool that grows without bound after a burst of spans, or a refill that takes
        // more (or fewer) records than asked.
        let _turn = pool_turn();
        let mut burst: Vec<Live> = (0..MAX_RECYCLED - 2).map(|_| exported(None)).collect();
        recycle_all(&mut burst);
        assert_eq!(pooled().len(), MAX_RECYCLED - 2);
        let mut more: Vec<Live> = (0..5).map(|_| exported(None)).collect();
        let first_two = [Arc::as_ptr(&more[0]) as usize, Arc::as_ptr(&more[1]) as usize];
        recycle_all(&mut more);
        assert!(more.is_empty(), "the three beyond the cap are freed, not left in the batch");
        let pool = pooled();
        assert_eq!(pool.len(), MAX_RECYCLED);
        assert_eq!(pool[MAX_RECYCLED - 2..], first_two);
        let mut taken = Vec::new();
        take_recycled(&mut taken, 32);
        assert_eq!(taken.len(), 32);
        assert_eq!(pooled().len(), MAX_RECYCLED - 32);
        let mut rest = Vec::new();
        take_recycled(&mut rest, MAX_RECYCLED);
        assert_eq!((rest.len(), pooled().len()), (MAX_RECYCLED - 32, 0));
    }
}
