//! How a span starts: [`SpanBuilder`], the [`RemoteParent`] it may start under, and the start
//! itself (parent, sampling decision, ids, record).

use std::borrow::Cow;
use std::sync::Arc;

use super::id::{random_span_id, random_trace_id};
use super::record::{LIVE, new_live};
use super::{Span, raw_now};
use crate::context::SpanContext;
use crate::trace::data::{SpanData, SpanKind, Status};
use crate::trace::pipeline::{self, Pipeline};

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

/// Where a span attaches.
#[derive(Debug)]
pub(crate) enum Parent {
    /// The current span of this thread, if any.
    Current,
    /// This one (remote, or a local span that is not the current one).
    Explicit(RemoteParent),
    /// None: a new trace (only the `tracing` bridge asks for one).
    #[cfg_attr(not(feature = "tracing-bridge"), allow(dead_code))]
    Root,
}

/// How a span starts; see [`Span::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `start`"]
pub struct SpanBuilder {
    name: Cow<'static, str>,
    kind: SpanKind,
    parent: Option<RemoteParent>,
    operation: bool,
    start_unix_nanos: Option<u64>,
}

impl SpanBuilder {
    pub(super) fn new(name: Cow<'static, str>) -> SpanBuilder {
        SpanBuilder { name, kind: SpanKind::Internal, parent: None, operation: false, start_unix_nanos: None }
    }

    /// Its start: `time` (a wall-clock time, kept as given) instead of the moment it starts.
    pub fn start_time(mut self, time: std::time::SystemTime) -> SpanBuilder {
        self.start_unix_nanos = Some(super::unix_nanos(time));
        self
    }

    /// Its kind (default [`SpanKind::Internal`]).
    pub fn kind(mut self, kind: SpanKind) -> SpanBuilder {
        self.kind = kind;
        self
    }

    /// Its parent: a span of another process (from [`crate::trace::extract`]) instead of the current span.
    pub fn parent(mut self, parent: RemoteParent) -> SpanBuilder {
        self.parent = Some(parent);
        self
    }

    /// Records it as an operation, as `#[trace_operation]` does: `operation.name` and
    /// `operation.status` (`success` or `error`) attributes.
    pub fn operation(mut self) -> SpanBuilder {
        self.operation = true;
        self
    }

    /// Starts it now.
    pub fn start(self) -> Span {
        match pipeline::get() {
            Some(pipeline) => {
                let parent = self.parent.map_or(Parent::Current, Parent::Explicit);
                let span = start(pipeline, self.name, self.kind, parent, self.operation);
                if let Some(start) = self.start_unix_nanos {
                    span.with_data(|data| {
                        data.start_unix_nanos = start;
                        data.wall_times |= crate::trace::data::WALL_START;
                    });
                }
                span
            }
            None => Span::none(),
        }
    }
}

/// Where a span's code is: a `tracing` span's call site, exported as `code.file.path` and
/// `code.line.number`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Site {
    pub(crate) file: Option<&'static str>,
    pub(crate) line: Option<u32>,
}

#[inline]
pub(super) fn start(
    pipeline: &Pipeline,
    name: Cow<'static, str>,
    kind: SpanKind,
    parent: Parent,
    operation: bool,
) -> Span {
    if makes_none(pipeline, &parent) {
        return Span::none();
    }
    start_slow(pipeline, name, kind, parent, operation, Site::default())
}

/// The common unsampled case, cheaply: under a local parent that is not sampled, with the
/// default parent-based sampler, a span would record nothing and change no context (the
/// parent's context already carries the decision on), so none is made.
#[inline(always)]
pub(super) fn makes_none(pipeline: &Pipeline, parent: &Parent) -> bool {
    matches!(parent, Parent::Current)
        && SpanContext::current().is_some_and(|parent| !parent.is_sampled())
        && pipeline.sampler.follows_parent()
}

/// Another library's idea of the current span, asked when a span starts under the current one
/// (set by a bridge: `obs-opentelemetry` answers with the OpenTelemetry API span that is current
/// in OpenTelemetry's context and was started under obs's current span). Given obs's current
/// span context; `Some` makes the span a child of the answer instead.
pub type ForeignParent = fn(Option<SpanContext>) -> Option<RemoteParent>;

static FOREIGN_PARENT: std::sync::OnceLock<ForeignParent> = std::sync::OnceLock::new();

/// Sets the [`ForeignParent`] hook, once per process (a second call is ignored: `false`). Spans
/// that start while no hook is set never pay for it beyond one load, on the path that records.
pub fn set_foreign_parent(hook: ForeignParent) -> bool {
    FOREIGN_PARENT.set(hook).is_ok()
}

#[inline(never)]
pub(super) fn start_slow(
    pipeline: &Pipeline,
    name: Cow<'static, str>,
    kind: SpanKind,
    parent: Parent,
    operation: bool,
    site: Site,
) -> Span {
    let parent = match (parent, FOREIGN_PARENT.get()) {
        (Parent::Current, Some(hook)) => hook(SpanContext::current()).map_or(Parent::Current, Parent::Explicit),
        (parent, _) => parent,
    };
    let (parent, tracestate) = match parent {
        Parent::Explicit(remote) => (Some(remote.context), remote.tracestate),
        Parent::Root => (None, None),
        Parent::Current => match SpanContext::current() {
            Some(parent) => {
                let live = LIVE.with(|live| live.borrow().as_ref().map(|live| live.tracestate.clone()));
                // Under an unsampled parent, its tracestate is kept apart.
                let state = live.unwrap_or_else(|| Span::unsampled_tracestate(parent.trace_id()));
                (Some(parent), state)
            }
            None => (None, None),
        },
    };
    let trace_id = match parent {
        Some(parent) => parent.trace_id(),
        None => random_trace_id(),
    };
    let sampled = pipeline.sampler.should_sample(parent, trace_id);
    // W3C Level 2: obs's trace ids are random; a parent's says whether its trace id is.
    let random = parent.is_none_or(|parent| parent.is_random());
    let context = SpanContext::new(trace_id, random_span_id(), sampled)
        .with_random_trace_id(random)
        // B3's debug flag goes on with the trace (while it is sampled: a sampler may say otherwise).
        .with_b3_debug(sampled && parent.is_some_and(|parent| parent.is_b3_debug()));
    if !sampled {
        return Span { context: Some(context), live: None, state: tracestate };
    }
    // A test's scope keeps the spans of the traces started in it (see `crate::testing`).
    #[cfg(feature = "testing")]
    if crate::testing::in_scope() {
        crate::testing::span_started(trace_id);
    }
    let data = SpanData {
        name,
        kind,
        context,
        parent: parent.map(|parent| parent.span_id()),
        tracestate: tracestate.clone(),
        start_unix_nanos: raw_now(),
        end_unix_nanos: 0,
        attributes: if pipeline.baggage_attributes.is_empty() {
            Vec::new()
        } else {
            crate::baggage::named_attributes(&pipeline.baggage_attributes)
        },
        events: Vec::new(),
        links: Vec::new(),
        status: Status::Unset,
        operation,
        dropped_attributes: 0,
        dropped_events: 0,
        dropped_links: 0,
        wall_times: 0,
        code_file: site.file,
        code_line: site.line,
        value_limit: None,
    };
    Span { context: Some(context), live: Some(new_live(tracestate, data)), state: None }
}
