//! Spans: what `#[trace_operation]` opens around a call, and the manual API for blocks.
//!
//! One concept a file: [`Span`] and what it records (here), how it starts ([`builder`]), the
//! guards that put work in it ([`guard`]), its record and the pool of spare ones ([`record`]),
//! and the ids ([`id`]).

mod builder;
mod guard;
mod id;
mod record;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

pub use builder::{ForeignParent, RemoteParent, SpanBuilder, set_foreign_parent};
#[cfg(feature = "tracing-bridge")]
pub(crate) use builder::{Parent, Site};
pub use guard::{CurrentSpan, Entered, Instrumented};
#[cfg(test)]
pub(crate) use record::LiveSpan;
pub(crate) use record::{Attributes, Live, SPARE_ATTRIBUTES};
use record::{LIVE, UNSAMPLED_STATE};

use super::data::{Event, SpanData, SpanKind, Status, Value};
use super::pipeline;
use crate::context::SpanContext;
use crate::sync;

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
    /// The `tracestate` of an unsampled span (a sampled one keeps it in its record).
    state: Option<Arc<str>>,
}

/// See [`Span::ticket`].
#[cfg(feature = "tracing-bridge")]
pub(crate) struct EnterTicket {
    context: Option<SpanContext>,
    live: Option<Live>,
    state: Option<Arc<str>>,
}

#[cfg(feature = "tracing-bridge")]
impl EnterTicket {
    /// [`Span::enter`] for a caller that cannot hold the guard in a scope (the `tracing` bridge
    /// enters on one callback and leaves on another): the guard must drop on this thread, in the
    /// reverse order of entering. The span stays its owner's: this ends nothing.
    pub(crate) fn enter(self) -> Entered<'static> {
        let EnterTicket { context, live, state } = self;
        let Some(context) = context else {
            return Entered { previous_context: None, previous_live: None, previous_state: None, _span: PhantomData };
        };
        let previous_context = Some(crate::context::swap_current(Some(context)));
        let previous_live = Some(LIVE.with(|current| current.replace(live)));
        let previous_state =
            state.map(|state| UNSAMPLED_STATE.with(|current| current.replace(Some((context.trace_id(), state)))));
        Entered { previous_context, previous_live, previous_state, _span: PhantomData }
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Span").field("context", &self.context).field("recording", &self.live.is_some()).finish()
    }
}

/// A raw clock reading; the export thread makes it a wall-clock time.
#[inline(always)]
fn raw_now() -> u64 {
    crate::clock::clock().raw()
}

impl Span {
    /// A span named `name`, of kind internal, a child of the current span. Same as
    /// `Span::builder(name).start()`.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Span {
        Span::builder(name).start()
    }

    /// A span to configure before it starts.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        SpanBuilder::new(name.into())
    }

    /// A span of a static call site (what the macros expand to): no allocation for the name.
    #[inline]
    pub(crate) fn of_site(name: &'static str, kind: SpanKind, operation: bool) -> Span {
        match pipeline::get() {
            Some(pipeline) => builder::start(pipeline, Cow::Borrowed(name), kind, builder::Parent::Current, operation),
            None => Span::none(),
        }
    }

    /// A span under `parent`, not the current span's child necessarily, with its code's `site`
    /// (the `tracing` bridge); its name and kind are asked for only if one is made.
    #[cfg(feature = "tracing-bridge")]
    #[inline]
    pub(crate) fn start_under(
        parent: Parent,
        head: impl FnOnce() -> (Cow<'static, str>, SpanKind),
        site: Site,
    ) -> Span {
        match pipeline::get() {
            Some(pipeline) if !builder::makes_none(pipeline, &parent) => {
                let (name, kind) = head();
                builder::start_slow(pipeline, name, kind, parent, false, site)
            }
            _ => Span::none(),
        }
    }

    /// A span that is nothing: records nothing and carries no context.
    #[inline]
    pub fn none() -> Span {
        Span { context: None, live: None, state: None }
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

    pub(crate) fn with_data(&self, update: impl FnOnce(&mut SpanData)) {
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
        let event = Event { name: name.into(), time_unix_nanos: raw_now(), attributes, wall: false };
        self.with_data(|data| push_event(data, event));
    }

    /// Adds an event that happened at `time` (a wall-clock time, kept as given: for events
    /// recorded elsewhere first, as the OpenTelemetry API bridge's).
    pub fn add_event_at(
        &self,
        name: impl Into<Cow<'static, str>>,
        time: std::time::SystemTime,
        attributes: Vec<(Cow<'static, str>, Value)>,
    ) {
        if self.live.is_none() {
            return;
        }
        let event = Event { name: name.into(), time_unix_nanos: unix_nanos(time), attributes, wall: true };
        self.with_data(|data| push_event(data, event));
    }

    /// Renames it.
    pub fn set_name(&self, name: impl Into<Cow<'static, str>>) {
        if self.live.is_none() {
            return;
        }
        let name = name.into();
        self.with_data(|data| data.name = name);
    }

    /// Links it to `context`: a span it follows from (of this trace or another), not its parent.
    pub fn add_link(&self, context: SpanContext) {
        if self.live.is_none() {
            return;
        }
        self.with_data(|data| push_link(data, context));
    }

    /// Sets its status to `Ok`, whatever it was (see [`Span::set_ok`], which keeps an error).
    pub fn set_status_ok(&self) {
        self.with_data(|data| data.status = Status::Ok);
    }

    /// Ends it at `time` (a wall-clock time, kept as given) instead of now.
    pub fn end_at(mut self, time: std::time::SystemTime) {
        self.finish_at(false, Some(unix_nanos(time)));
    }

    /// Ends it as failed: the span status `Error` with `message`, an `error.message` attribute, and
    /// an `exception` event with `exception.message` (the OpenTelemetry semantic conventions).
    pub fn record_error(&self, message: &dyn fmt::Display) {
        if self.live.is_none() {
            return;
        }
        let message: Cow<'static, str> = message.to_string().into();
        let time_unix_nanos = raw_now();
        self.with_data(|data| record_error(data, message, time_unix_nanos));
    }

    /// Sets its status to `Error` with this description (no event; see [`Span::record_error`]).
    pub fn set_error_status(&self, description: impl Into<Cow<'static, str>>) {
        if self.live.is_none() {
            return;
        }
        let description = description.into();
        self.with_data(|data| data.status = Status::Error(description));
    }

    /// Its parent's span id; `None` for a root span, or when it does not record.
    pub fn parent_span_id(&self) -> Option<crate::context::SpanId> {
        let mut parent = None;
        self.with_data(|data| parent = data.parent);
        parent
    }

    /// Its kind; `None` when it does not record.
    pub fn kind(&self) -> Option<SpanKind> {
        let mut kind = None;
        self.with_data(|data| kind = Some(data.kind));
        kind
    }

    /// The W3C `tracestate` it carries (from the remote parent of its trace), sampled or not.
    pub fn tracestate(&self) -> Option<Arc<str>> {
        match &self.live {
            Some(live) => live.tracestate.clone(),
            None => self.state.clone(),
        }
    }

    /// The `tracestate` of the unsampled span of trace `trace_id` entered on this thread.
    pub(crate) fn unsampled_tracestate(trace_id: crate::context::TraceId) -> Option<Arc<str>> {
        UNSAMPLED_STATE.with(|state| {
            state.borrow().as_ref().filter(|(trace, _)| *trace == trace_id).map(|(_, state)| state.clone())
        })
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
        self.entered()
    }

    /// What entering it takes, copied out of it (the `tracing` bridge copies it under a lock,
    /// and enters with no lock held: entering uses thread-locals, which can panic while the thread
    /// exits). No more atomic work than [`Span::enter`]: the record's handle is cloned here and
    /// moved into the thread's context by [`EnterTicket::enter`]. (`Span::enter` does not go
    /// through a ticket: measured, that cost obs's own unsampled `#[trace_operation]` 10 ns more,
    /// 17 against 7.)
    #[cfg(feature = "tracing-bridge")]
    pub(crate) fn ticket(&self) -> EnterTicket {
        EnterTicket { context: self.context, live: self.live.clone(), state: self.state.clone() }
    }

    /// Makes it current; the guard, of whichever lifetime the caller promises, restores.
    #[inline]
    fn entered<'a>(&self) -> Entered<'a> {
        let previous_context = self.context.map(|context| crate::context::swap_current(Some(context)));
        let previous_live = self.context.map(|_| LIVE.with(|live| live.replace(self.live.clone())));
        let previous_state = match (&self.state, self.context) {
            (Some(state), Some(context)) => {
                Some(UNSAMPLED_STATE.with(|current| current.replace(Some((context.trace_id(), state.clone())))))
            }
            _ => None,
        };
        Entered { previous_context, previous_live, previous_state, _span: PhantomData }
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
        let context = crate::context::SpanContext::current();
        let live = LIVE.with(|live| live.borrow().clone());
        // Unsampled, its tracestate is kept apart: carried with it into tasks and threads.
        let state = match (&live, context) {
            (None, Some(context)) => Span::unsampled_tracestate(context.trace_id()),
            _ => None,
        };
        CurrentSpan(Span { context, live, state })
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
        self.finish_at(succeeded, None);
    }

    /// Ends it now, or at `end_unix_nanos` (a wall-clock time) when given.
    #[inline(always)]
    fn finish_at(&mut self, succeeded: bool, end_unix_nanos: Option<u64>) {
        let Some(mut live) = self.live.take() else { return };
        {
            // Nobody else holds it (the usual case: the call is over): no lock to take.
            let mut locked;
            let data = match Arc::get_mut(&mut live) {
                Some(record) => sync::get_mut(&mut record.data),
                None => {
                    locked = sync::lock(&live.data);
                    &mut *locked
                }
            };
            let Some(data) = data.as_mut() else { return };
            match end_unix_nanos {
                None => data.end_unix_nanos = raw_now(),
                Some(end) => {
                    data.end_unix_nanos = end;
                    data.wall_times |= super::data::WALL_END;
                }
            }
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

/// The most attributes, events and links a span keeps (the OpenTelemetry SDKs' default limits); past them,
/// what is added is dropped and counted in the exported span (`dropped_*_count`).
pub(crate) const MAX_ATTRIBUTES: usize = 128;
pub(crate) const MAX_EVENTS: usize = 128;
pub(crate) const MAX_LINKS: usize = 128;

/// A wall-clock time in nanoseconds since the Unix epoch (0 before it).
pub(crate) fn unix_nanos(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64)
}

/// Sets `key` (a later value replaces an earlier one: OTLP keys are unique), within the limit,
/// which the call site's `code.*` attributes count towards.
pub(crate) fn set(data: &mut SpanData, key: Cow<'static, str>, value: Value) {
    if let Some(slot) = data.attributes.iter_mut().find(|(existing, _)| *existing == key) {
        slot.1 = value;
        return;
    }
    // The call site's attribute of that name is replaced: this one takes its place.
    if data.code_file.is_some() || data.code_line.is_some() {
        match key.as_ref() {
            "code.file.path" => data.code_file = None,
            "code.line.number" => data.code_line = None,
            _ => {}
        }
    }
    if data.attributes.len() + data.site_attributes() < MAX_ATTRIBUTES {
        data.attributes.push((key, value));
    } else {
        data.dropped_attributes += 1;
    }
}

/// Links `data` to `context`, within the limit.
pub(crate) fn push_link(data: &mut SpanData, context: SpanContext) {
    if data.links.len() < MAX_LINKS {
        data.links.push(context);
    } else {
        data.dropped_links += 1;
    }
}

/// Failed with `message` at `time_unix_nanos` (a raw clock reading): the status `Error`, an
/// `error.message` attribute and an `exception` event (the OpenTelemetry semantic conventions).
pub(crate) fn record_error(data: &mut SpanData, message: Cow<'static, str>, time_unix_nanos: u64) {
    push_event(
        data,
        Event {
            name: Cow::Borrowed("exception"),
            time_unix_nanos,
            attributes: vec![(Cow::Borrowed("exception.message"), Value::Str(message.clone()))],
            wall: false,
        },
    );
    set(data, Cow::Borrowed("error.message"), Value::Str(message.clone()));
    data.status = Status::Error(message);
}

pub(crate) fn push_event(data: &mut SpanData, event: Event) {
    if data.events.len() < MAX_EVENTS {
        data.events.push(event);
    } else {
        data.dropped_events += 1;
    }
}
