//! Spans: what `#[trace_operation]` opens around a call, and the manual API for blocks.

use std::borrow::{Borrow, Cow};
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use super::data::{Event, SpanData, SpanKind, Status, Value};
use super::pipeline::{self, Pipeline};
use crate::context::{SpanContext, SpanId, TraceId};

/// The recording part of a sampled span, shared with whoever may add to it while it runs
/// (`span_attributes!`, a task the context was carried into). Queued as it is when the span ends;
/// the export thread takes the data out (`None` then). Its times are raw clock readings until the
/// export thread converts them.
pub(crate) type Live = Arc<LiveSpan>;

#[derive(Debug)]
pub(crate) struct LiveSpan {
    /// Read by children when they start: outside the lock, which they never take.
    pub(crate) tracestate: Option<Arc<str>>,
    pub(crate) data: Mutex<Option<SpanData>>,
}

thread_local! {
    /// The recording span entered on this thread, if any (the context itself is in
    /// [`crate::context`], which the logs read).
    static LIVE: RefCell<Option<Live>> = const { RefCell::new(None) };
    /// Records the export thread handed back, for this thread's next spans: a span allocates
    /// no record in the steady state, and the export thread frees none (a free on one thread of
    /// what another allocated makes the two contend in the allocator).
    static SPARE: RefCell<Stash> = const { RefCell::new(Stash(Vec::new())) };
}

/// A thread's spare records; what is left when the thread exits goes back to the pool.
struct Stash(Vec<Live>);

impl Drop for Stash {
    fn drop(&mut self) {
        pipeline::give_back(&mut self.0);
    }
}

/// Records taken from the pool at a time.
const SPARE_REFILL: usize = 32;

/// A record for a new span: a spare one if there is one, else a new allocation.
#[inline]
fn new_live(tracestate: Option<Arc<str>>, data: SpanData) -> Live {
    let spare = SPARE
        .try_with(|spare| {
            let mut spare = spare.try_borrow_mut().ok()?;
            if spare.0.is_empty() {
                pipeline::take_recycled(&mut spare.0, SPARE_REFILL);
            }
            spare.0.pop()
        })
        .ok()
        .flatten();
    let record = LiveSpan { tracestate, data: Mutex::new(Some(data)) };
    // Unique by construction (the pool keeps only records nobody else holds); rebuilt whole, so
    // nothing of the span before (a poisoned lock included) carries over.
    if let Some(mut live) = spare
        && let Some(slot) = Arc::get_mut(&mut live)
    {
        *slot = record;
        return live;
    }
    Arc::new(record)
}

/// A parent from another process: the context of an incoming `traceparent` and its `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteParent {
    pub(crate) context: SpanContext,
    pub(crate) tracestate: Option<Arc<str>>,
}

impl RemoteParent {
    /// A remote parent of this context (and `tracestate` header value, if one came).
    pub fn new(context: SpanContext, tracestate: Option<&str>) -> RemoteParent {
        RemoteParent { context, tracestate: tracestate.filter(|state| !state.is_empty()).map(Arc::from) }
    }

    /// The remote span's context.
    pub fn context(&self) -> SpanContext {
        self.context
    }

    /// The `tracestate` that came with it.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }
}

/// A span: started when made, ended when dropped (or by [`Span::end`]). The work it covers is
/// *in* it while it is [entered](Span::enter) (a block) or while a future it [scopes](Span::scope)
/// runs: spans opened meanwhile are its children, and logs carry its trace and span ids.
///
/// When no trace pipeline is installed, or the trace is not sampled, a span records nothing; a
/// span of an unsampled trace still carries the context on, so that downstream services see the
/// decision.
///
/// ```
/// use obs_runtime::trace::{Span, SpanKind};
///
/// let span = Span::builder("database_query").kind(SpanKind::Client).start();
/// span.set_attribute("db.system", "postgresql");
/// {
///     let _in_span = span.enter();
///     // ... the query ...
/// }
/// span.end();
/// ```
pub struct Span {
    context: Option<SpanContext>,
    live: Option<Live>,
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Span").field("context", &self.context).field("recording", &self.live.is_some()).finish()
    }
}

/// How a span starts; see [`Span::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `start`"]
pub struct SpanBuilder {
    name: Cow<'static, str>,
    kind: SpanKind,
    parent: Option<RemoteParent>,
    operation: bool,
}

impl SpanBuilder {
    /// Its kind (default [`SpanKind::Internal`]).
    pub fn kind(mut self, kind: SpanKind) -> SpanBuilder {
        self.kind = kind;
        self
    }

    /// Its parent: a span of another process (from [`super::extract`]) instead of the current span.
    pub fn parent(mut self, parent: RemoteParent) -> SpanBuilder {
        self.parent = Some(parent);
        self
    }

    /// Records it as the chapter's operations are: `operation.name` and `operation.status`
    /// (`success` or `error`) attributes.
    pub fn operation(mut self) -> SpanBuilder {
        self.operation = true;
        self
    }

    /// Starts it now.
    pub fn start(self) -> Span {
        match pipeline::get() {
            Some(pipeline) => start(pipeline, self.name, self.kind, self.parent, self.operation),
            None => Span::none(),
        }
    }
}

/// A raw clock reading; the export thread makes it a wall-clock time.
#[inline(always)]
fn raw_now() -> u64 {
    crate::clock::clock().raw()
}

#[inline]
fn start(
    pipeline: &Pipeline,
    name: Cow<'static, str>,
    kind: SpanKind,
    remote: Option<RemoteParent>,
    operation: bool,
) -> Span {
    // The common unsampled case, cheaply: under a local parent that is not sampled, with the
    // default parent-based sampler, a span would record nothing and change no context (the
    // parent's context already carries the decision on), so none is made.
    if remote.is_none()
        && let Some(parent) = SpanContext::current()
        && !parent.is_sampled()
        && pipeline.sampler.follows_parent()
    {
        return Span::none();
    }
    start_slow(pipeline, name, kind, remote, operation)
}

#[inline(never)]
fn start_slow(
    pipeline: &Pipeline,
    name: Cow<'static, str>,
    kind: SpanKind,
    remote: Option<RemoteParent>,
    operation: bool,
) -> Span {
    let (parent, tracestate) = match remote {
        Some(remote) => (Some(remote.context), remote.tracestate),
        None => match SpanContext::current() {
            Some(parent) => {
                (Some(parent), LIVE.with(|live| live.borrow().as_ref().and_then(|live| live.tracestate.clone())))
            }
            None => (None, None),
        },
    };
    let trace_id = match parent {
        Some(parent) => parent.trace_id(),
        None => random_trace_id(),
    };
    let sampled = pipeline.sampler.should_sample(parent, trace_id);
    let context = SpanContext::new(trace_id, random_span_id(), sampled);
    if !sampled {
        return Span { context: Some(context), live: None };
    }
    let data = SpanData {
        name,
        kind,
        context,
        parent: parent.map(|parent| parent.span_id()),
        tracestate: tracestate.clone(),
        start_unix_nanos: raw_now(),
        end_unix_nanos: 0,
        attributes: Vec::new(),
        events: Vec::new(),
        status: Status::Unset,
        operation,
        dropped_attributes: 0,
        dropped_events: 0,
    };
    Span { context: Some(context), live: Some(new_live(tracestate, data)) }
}

impl Span {
    /// A span named `name`, of kind internal, a child of the current span. Same as
    /// `Span::builder(name).start()`.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Span {
        Span::builder(name).start()
    }

    /// A span to configure before it starts.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        SpanBuilder { name: name.into(), kind: SpanKind::Internal, parent: None, operation: false }
    }

    /// A span of a static call site (what the macros expand to): no allocation for the name.
    #[inline]
    pub(crate) fn of_site(name: &'static str, kind: SpanKind, operation: bool) -> Span {
        match pipeline::get() {
            Some(pipeline) => start(pipeline, Cow::Borrowed(name), kind, None, operation),
            None => Span::none(),
        }
    }

    /// A span that is nothing: records nothing and carries no context.
    #[inline]
    pub fn none() -> Span {
        Span { context: None, live: None }
    }

    /// Its context: `None` when no trace pipeline is installed.
    pub fn context(&self) -> Option<SpanContext> {
        self.context
    }

    /// Whether it records (a pipeline is installed, the trace is sampled, and it has not ended).
    /// Work done only to describe the span can be skipped when it does not.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.live.is_some()
    }

    fn with_data(&self, update: impl FnOnce(&mut SpanData)) {
        if let Some(live) = &self.live
            && let Ok(mut data) = live.data.lock()
            && let Some(data) = data.as_mut()
        {
            update(data);
        }
    }

    /// Sets an attribute (a later value of the same key replaces it). Values are written as given:
    /// [`span_attributes!`](crate::span_attributes) is the form that redacts secrets.
    pub fn set_attribute(&self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if self.live.is_none() {
            return;
        }
        let (key, value) = (key.into(), value.into());
        self.with_data(|data| set(data, key, value));
    }

    /// Adds an event at this moment.
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<(Cow<'static, str>, Value)>) {
        if self.live.is_none() {
            return;
        }
        let event = Event { name: name.into(), time_unix_nanos: raw_now(), attributes };
        self.with_data(|data| push_event(data, event));
    }

    /// Ends it as failed: the span status `Error` with `message`, an `error.message` attribute, and
    /// an `exception` event with `exception.message` (the OpenTelemetry semantic conventions).
    pub fn record_error(&self, message: &dyn fmt::Display) {
        if self.live.is_none() {
            return;
        }
        let message: Cow<'static, str> = message.to_string().into();
        let time_unix_nanos = raw_now();
        self.with_data(|data| {
            push_event(
                data,
                Event {
                    name: Cow::Borrowed("exception"),
                    time_unix_nanos,
                    attributes: vec![(Cow::Borrowed("exception.message"), Value::Str(message.clone()))],
                },
            );
            set(data, Cow::Borrowed("error.message"), Value::Str(message.clone()));
            data.status = Status::Error(message);
        });
    }

    /// Sets its status to `Error` with this description (no event; see [`Span::record_error`]).
    pub fn set_error_status(&self, description: impl Into<Cow<'static, str>>) {
        if self.live.is_none() {
            return;
        }
        let description = description.into();
        self.with_data(|data| data.status = Status::Error(description));
    }

    /// Its kind; `None` when it does not record.
    pub fn kind(&self) -> Option<SpanKind> {
        let mut kind = None;
        self.with_data(|data| kind = Some(data.kind));
        kind
    }

    /// The `tracestate` it carries (from the remote parent of its trace).
    pub(crate) fn tracestate(&self) -> Option<Arc<str>> {
        self.live.as_ref()?.tracestate.clone()
    }

    /// Sets its status to `Ok` unless it was set to an error.
    #[inline]
    pub fn set_ok(&self) {
        self.with_data(|data| {
            if !matches!(data.status, Status::Error(_)) {
                data.status = Status::Ok;
            }
        });
    }

    /// Makes it the current span of this thread until the guard drops.
    #[inline]
    pub fn enter(&self) -> Entered<'_> {
        let previous_context = self.context.map(|context| crate::context::swap_current(Some(context)));
        let previous_live = self.context.map(|_| LIVE.with(|live| live.replace(self.live.clone())));
        Entered { previous_context, previous_live, _span: PhantomData }
    }

    /// Runs `body` in it.
    pub fn in_scope<R>(&self, body: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        body()
    }

    /// `future` run in this span (entered at each poll, on whichever thread); the span ends when
    /// the returned future is dropped, after completing or not.
    pub fn scope<F: Future>(self, future: F) -> Instrumented<Span, F> {
        Instrumented { span: self, future }
    }

    /// `future` run in this span, which the caller keeps (and ends).
    pub fn scope_ref<F: Future>(&self, future: F) -> Instrumented<&Span, F> {
        Instrumented { span: self, future }
    }

    /// The current span: a handle that adds to the span entered on this thread, without ending
    /// it when dropped. A span that records nothing when there is none.
    pub fn current() -> CurrentSpan {
        CurrentSpan(Span {
            context: crate::context::SpanContext::current(),
            live: LIVE.with(|live| live.borrow().clone()),
        })
    }

    /// Ends it now (the same as dropping it).
    pub fn end(self) {}

    /// Ends it as succeeded (unless an error was recorded): one lock for the status and the end.
    #[inline]
    pub(crate) fn end_ok(mut self) {
        self.finish(true);
    }

    #[inline]
    fn finish(&mut self, succeeded: bool) {
        let Some(mut live) = self.live.take() else { return };
        {
            // Nobody else holds it (the usual case: the call is over): no lock to take.
            let mut locked;
            let data = match Arc::get_mut(&mut live) {
                Some(record) => record.data.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner),
                None => {
                    locked = live.data.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    &mut *locked
                }
            };
            let Some(data) = data.as_mut() else { return };
            data.end_unix_nanos = raw_now();
            if succeeded && data.status == Status::Unset {
                data.status = Status::Ok;
            }
            // A call the macros saw complete has its status; a panic, or a future dropped before
            // completing (cancelled, or dropped after a `catch_unwind`), is an error.
            let unfinished = data.operation && data.status == Status::Unset;
            if (std::thread::panicking() || unfinished) && !matches!(data.status, Status::Error(_)) {
                let why = if std::thread::panicking() { "panicked" } else { "cancelled" };
                data.status = Status::Error(Cow::Borrowed(why));
                set(data, Cow::Borrowed("error.message"), Value::Str(Cow::Borrowed(why)));
            }
        }
        if let Some(pipeline) = pipeline::get() {
            pipeline.push(live);
        }
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// The most attributes and events a span keeps (the OpenTelemetry SDKs' default limits); past them,
/// what is added is dropped and counted in the exported span (`dropped_*_count`).
pub(crate) const MAX_ATTRIBUTES: usize = 128;
pub(crate) const MAX_EVENTS: usize = 128;

/// Sets `key` (a later value replaces an earlier one: OTLP keys are unique), within the limit.
fn set(data: &mut SpanData, key: Cow<'static, str>, value: Value) {
    if let Some(slot) = data.attributes.iter_mut().find(|(existing, _)| *existing == key) {
        slot.1 = value;
    } else if data.attributes.len() < MAX_ATTRIBUTES {
        data.attributes.push((key, value));
    } else {
        data.dropped_attributes += 1;
    }
}

fn push_event(data: &mut SpanData, event: Event) {
    if data.events.len() < MAX_EVENTS {
        data.events.push(event);
    } else {
        data.dropped_events += 1;
    }
}

/// The span current when [`Span::current`] was called: adds to it, never ends it. Derefs to
/// [`Span`].
#[derive(Debug)]
pub struct CurrentSpan(Span);

impl std::ops::Deref for CurrentSpan {
    type Target = Span;

    fn deref(&self) -> &Span {
        &self.0
    }
}

impl Drop for CurrentSpan {
    fn drop(&mut self) {
        // Not ours to end.
        self.0.live = None;
    }
}

impl CurrentSpan {
    /// `future` run in this span (entered at each poll): carries the current span into
    /// `tokio::spawn`. The span still ends when its owner ends it.
    pub fn scope<F: Future>(self, future: F) -> Instrumented<CurrentSpan, F> {
        Instrumented { span: self, future }
    }

    /// `body` wrapped to run in this span: carries the current span into `std::thread::spawn`.
    pub fn bind<R>(self, body: impl FnOnce() -> R) -> impl FnOnce() -> R {
        move || self.0.in_scope(body)
    }
}

impl Borrow<Span> for CurrentSpan {
    fn borrow(&self) -> &Span {
        &self.0
    }
}

/// The current span of this thread until dropped; see [`Span::enter`]. Cannot move to another
/// thread.
#[derive(Debug)]
#[must_use = "the span is left when the guard drops"]
pub struct Entered<'a> {
    previous_context: Option<Option<SpanContext>>,
    previous_live: Option<Option<Live>>,
    _span: PhantomData<(&'a Span, *const ())>,
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(previous) = self.previous_context.take() {
            crate::context::swap_current(previous);
        }
        if let Some(previous) = self.previous_live.take() {
            LIVE.with(|live| *live.borrow_mut() = previous);
        }
    }
}

/// A future run in a span; see [`Span::scope`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<S, F> {
    // Dropped first: what the future holds ends before its span does.
    future: F,
    span: S,
}

impl<S: Borrow<Span>, F: Future> Future for Instrumented<S, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out of `self`, which is pinned
        // (Instrumented has no Drop and no Unpin impl of its own); `span` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _entered = this.span.borrow().enter();
        // SAFETY: see above.
        unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx)
    }
}

// Ids: a per-thread xorshift generator, seeded from the process's random hasher keys. Not
// cryptographic (trace ids need not be); unique enough that collisions are negligible.
thread_local! {
    static RNG: std::cell::Cell<u64> = std::cell::Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64));
    hasher.write_usize(&hasher as *const _ as usize);
    hasher.finish() | 1
}

fn next_random() -> u64 {
    RNG.with(|rng| {
        // xorshift64*
        let mut x = rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        rng.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

fn random_trace_id() -> TraceId {
    loop {
        let (high, low) = (next_random(), next_random());
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&high.to_be_bytes());
        bytes[8..].copy_from_slice(&low.to_be_bytes());
        if let Some(id) = TraceId::from_bytes(bytes) {
            return id;
        }
    }
}

fn random_span_id() -> SpanId {
    loop {
        if let Some(id) = SpanId::from_bytes(next_random().to_be_bytes()) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::pipeline::tests::{CAP, empty_pool, exported, installed, pool_turn, pooled, recycle_all};

    fn data() -> SpanData {
        SpanData {
            name: Cow::Borrowed("pooled"),
            kind: SpanKind::Internal,
            context: SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .expect("a valid traceparent"),
            parent: None,
            tracestate: None,
            start_unix_nanos: 0,
            end_unix_nanos: 0,
            attributes: Vec::new(),
            events: Vec::new(),
            status: Status::Unset,
            operation: false,
            dropped_attributes: 0,
            dropped_events: 0,
        }
    }

    #[test]
    fn a_new_span_reuses_a_pooled_record_and_nothing_of_its_tracestate() {
        // Catches: records never taken from the pool (recycling that saves nothing), or a reused
        // record that keeps the tracestate of the span it served before.
        let _turn = pool_turn();
        for (before, now) in [(Some("vendor=old"), None), (Some("vendor=old"), Some("vendor=new")), (None, Some("b=2"))]
        {
            let mut batch = vec![exported(before)];
            let record = Arc::as_ptr(&batch[0]) as usize;
            recycle_all(&mut batch);
            // A new thread: its spare records come from the pool, which holds just that one.
            let (reused, tracestate) = std::thread::spawn(move || {
                let live = new_live(now.map(Arc::from), data());
                (Arc::as_ptr(&live) as usize == record, live.tracestate.as_deref().map(str::to_owned))
            })
            .join()
            .expect("joins");
            assert!(reused, "a new allocation while the pool had a record ({before:?} -> {now:?})");
            assert_eq!(tracestate.as_deref(), now, "{before:?} -> {now:?}");
        }
    }

    #[test]
    fn a_threads_spare_records_go_back_to_the_pool_when_it_exits_within_the_cap() {
        // Catches: a thread's spare records lost when it exits (each short-lived thread would
        // take records from the pool for good), or handed back past the pool's cap.
        let _turn = pool_turn();
        installed();
        for pool_before_exit in [0, CAP - 2] {
            empty_pool();
            let mut batch: Vec<Live> = (0..5).map(|_| exported(None)).collect();
            let records: Vec<usize> = batch.iter().map(|record| Arc::as_ptr(record) as usize).collect();
            recycle_all(&mut batch);
            let (used, took) = std::sync::mpsc::channel();
            let exit = Arc::new(std::sync::Barrier::new(2));
            let at_exit = exit.clone();
            let thread = std::thread::spawn(move || {
                // Its first span takes the pool's five into its spares and uses one.
                let live = new_live(None, data());
                let _ = used.send(Arc::as_ptr(&live) as usize);
                drop(live);
                at_exit.wait();
            });
            let used = took.recv().expect("the thread made its span");
            assert!(records.contains(&used));
            assert!(pooled().is_empty(), "the thread took all five");
            let mut others: Vec<Live> = (0..pool_before_exit).map(|_| exported(None)).collect();
            recycle_all(&mut others);
            exit.wait();
            thread.join().expect("joins");
            let pool = pooled();
            let given_back: Vec<usize> = pool[pool_before_exit..].to_vec();
            // The four spares, or as many as fit under the cap.
            assert_eq!(given_back.len(), 4.min(CAP - pool_before_exit), "{pool_before_exit} before");
            assert!(given_back.iter().all(|record| records.contains(record) && *record != used), "{pool_before_exit}");
            assert_eq!(pool.len(), (pool_before_exit + 4).min(CAP));
        }
    }
}
