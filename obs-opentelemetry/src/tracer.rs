//! Code written against the `opentelemetry` API, in obs's traces: an obs-backed
//! `TracerProvider` whose spans are obs spans.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use obs_runtime::context::{SpanContext, SpanId};
use obs_runtime::trace::{RemoteParent, Span, SpanKind, Value};

use crate::{obs_context, remote_parent};
use opentelemetry::trace::{self as otel, TraceContextExt};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

/// An OpenTelemetry `TracerProvider` whose spans are obs spans: in obs's pipeline (sampled,
/// batched and exported as obs's own, with obs's resource), children of the current obs span,
/// and parents of the obs spans started inside them. Install it as the global provider and
/// `opentelemetry::global::tracer(..)`, in your code or a library's, makes obs spans.
///
/// Parents: a span started through the API takes the span of the context it is given (the
/// current OpenTelemetry context for `start`) when there is one, else the current obs span;
/// when the current obs span was itself started inside that span, the obs span (the innermost)
/// is the parent. An obs span (`#[trace_operation]`, `Span::new`) started while an API span is
/// current in OpenTelemetry's context (`in_span`, `Context::attach`) and was started under the
/// current obs span (or there is none) is that span's child. Deeper alternations than one obs
/// span inside one API span and back are resolved by these two rules, which see one level.
///
/// Each span carries its tracer's scope as `otel.scope.name` and `otel.scope.version`
/// attributes (obs exports one scope, its own). Link attributes are not kept; an array
/// attribute is kept as its text.
///
/// ```
/// use obs_opentelemetry::ObsTracerProvider;
/// use obs_runtime::trace::{InMemoryExporter, Span, SpanOutput, TraceConfig};
/// use opentelemetry::trace::{Tracer, TracerProvider};
///
/// let spans = InMemoryExporter::new();
/// let obs = obs_runtime::Obs::builder()
///     .without_http_server()
///     .tracing(TraceConfig::new().output(SpanOutput::Exporter(Box::new(spans.clone()))))
///     .init()?;
/// opentelemetry::global::set_tracer_provider(ObsTracerProvider::new());
///
/// let request = Span::new("handle_request");
/// request.in_scope(|| {
///     opentelemetry::global::tracer("my-library").in_span("library_call", |_cx| {
///         let _inner = Span::new("inner"); // an obs span, the library call's child
///     });
/// });
/// request.end();
/// assert!(obs.traces().expect("tracing is on").flush());
///
/// let [call] = spans.named("library_call").try_into().expect("one span");
/// assert_eq!(spans.parent_of(&call).expect("a parent").name(), "handle_request");
/// let [inner] = spans.named("inner").try_into().expect("one span");
/// assert_eq!(spans.parent_of(&inner).expect("a parent").name(), "library_call");
/// # Ok::<(), obs_runtime::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ObsTracerProvider {
    _private: (),
}

impl ObsTracerProvider {
    /// The provider; the first one made also makes obs ask OpenTelemetry's context when an obs
    /// span starts (see [`obs_runtime::trace::set_foreign_parent`]; a process has one such hook,
    /// and another bridge's, set first, would stay).
    pub fn new() -> ObsTracerProvider {
        obs_runtime::trace::set_foreign_parent(foreign_parent);
        ObsTracerProvider { _private: () }
    }
}

impl Default for ObsTracerProvider {
    fn default() -> ObsTracerProvider {
        ObsTracerProvider::new()
    }
}

impl otel::TracerProvider for ObsTracerProvider {
    type Tracer = ObsTracer;

    fn tracer_with_scope(&self, scope: InstrumentationScope) -> ObsTracer {
        ObsTracer { scope: Arc::new(scope) }
    }
}

/// A tracer of [`ObsTracerProvider`].
#[derive(Debug, Clone)]
pub struct ObsTracer {
    scope: Arc<InstrumentationScope>,
}

impl otel::Tracer for ObsTracer {
    type Span = ObsSpan;

    fn build_with_context(&self, builder: otel::SpanBuilder, parent_cx: &Context) -> ObsSpan {
        let mut start =
            Span::builder(builder.name).kind(obs_kind(builder.span_kind.unwrap_or(otel::SpanKind::Internal)));
        let given = parent_cx.span().span_context().clone();
        if given.is_valid()
            && !innermost_is_obs(&given)
            && let Some(parent) = remote_parent(&given)
        {
            start = start.parent(parent);
        }
        if let Some(time) = builder.start_time {
            start = start.start_time(time);
        }
        let span = start.start();
        if span.is_recording() {
            span.set_attribute("otel.scope.name", self.scope.name().to_owned());
            if let Some(version) = self.scope.version() {
                span.set_attribute("otel.scope.version", version.to_owned());
            }
            for attribute in builder.attributes.into_iter().flatten() {
                set_attribute(&span, attribute);
            }
            for event in builder.events.into_iter().flatten() {
                span.add_event_at(event.name, event.timestamp, event.attributes.into_iter().map(pair).collect());
            }
            for link in builder.links.into_iter().flatten() {
                if let Some(context) = obs_context(&link.span_context) {
                    span.add_link(context);
                }
            }
        }
        ObsSpan::new(span)
    }
}

/// Whether the current obs span is the given span or was entered inside it: then it, the
/// innermost, is the parent. When the given span is the API span current in OpenTelemetry's
/// context, the obs span is inside it unless it is the span the API span was started under (any
/// obs span entered since, however deep, is inside); for another context, only a direct child
/// is seen.
fn innermost_is_obs(given: &otel::SpanContext) -> bool {
    let Some(current) = SpanContext::current() else { return false };
    let given_id = given.span_id().to_bytes();
    if current.span_id().to_bytes() == given_id {
        return true;
    }
    let is_current = Context::map_current(|cx| cx.span().span_context().span_id().to_bytes() == given_id);
    let started_under = read_open_spans().get(&given_id).copied();
    match started_under {
        Some(parent) if is_current => parent != Some(current.span_id().to_bytes()),
        _ => Span::current().parent_span_id().is_some_and(|parent| parent.to_bytes() == given_id),
    }
}

/// The API spans that are open (that record), by span id, with their parents' span ids.
type OpenSpanMap = HashMap<[u8; 8], Option<[u8; 8]>>;
type OpenSpans = RwLock<OpenSpanMap>;

/// The [`OpenSpans`]: what the [`foreign_parent`] hook asks.
fn open_spans() -> &'static OpenSpans {
    static OPEN: OnceLock<OpenSpans> = OnceLock::new();
    OPEN.get_or_init(RwLock::default)
}

/// The open spans, to read. A poisoned lock's data is taken: a panic elsewhere leaves the map
/// whole between any two statements, and refusing it would break every later span.
fn read_open_spans() -> RwLockReadGuard<'static, OpenSpanMap> {
    open_spans().read().unwrap_or_else(PoisonError::into_inner)
}

/// The open spans, to change (a poisoned lock's data taken, as in [`read_open_spans`]).
fn write_open_spans() -> RwLockWriteGuard<'static, OpenSpanMap> {
    open_spans().write().unwrap_or_else(PoisonError::into_inner)
}

/// obs's hook: the span current in OpenTelemetry's context is the parent of an obs span that
/// starts when obs has no current span, or when it is an API span started under obs's current one.
fn foreign_parent(current: Option<SpanContext>) -> Option<RemoteParent> {
    let otel = Context::map_current(|cx| cx.span().span_context().clone());
    if !otel.is_valid() {
        return None;
    }
    let Some(current) = current else { return remote_parent(&otel) };
    let id = otel.span_id().to_bytes();
    if current.span_id().to_bytes() == id {
        return None;
    }
    let parent = *read_open_spans().get(&id)?;
    if parent == Some(current.span_id().to_bytes()) { remote_parent(&otel) } else { None }
}

/// An OpenTelemetry API span that is an obs span.
#[derive(Debug)]
pub struct ObsSpan {
    span: Option<Span>,
    context: otel::SpanContext,
    /// `Ok` was set: final, as the API says (a later `Error` is ignored).
    ok: bool,
}

impl ObsSpan {
    fn new(span: Span) -> ObsSpan {
        // A span that records nothing under an unsampled parent has no context of its own: the
        // parent's carries the decision on (to what API-instrumented code injects, too).
        let (context, state) = match span.context() {
            Some(context) => (Some(context), span.tracestate()),
            None => (SpanContext::current(), Span::current().tracestate()),
        };
        let context = match context {
            Some(context) => crate::sdk_context(&context, crate::trace_state(state.as_deref()), false),
            None => otel::SpanContext::empty_context(),
        };
        if span.is_recording() {
            let parent = span.parent_span_id().map(SpanId::to_bytes);
            write_open_spans().insert(context.span_id().to_bytes(), parent);
        }
        ObsSpan { span: Some(span), context, ok: false }
    }

    /// The obs span, until it ends: to enter it in obs too (`span.obs().map(|span| span.enter())`)
    /// where OpenTelemetry's context is not the one that carries it.
    pub fn obs(&self) -> Option<&Span> {
        self.span.as_ref()
    }

    fn end_at(&mut self, time: Option<SystemTime>) {
        let Some(span) = self.span.take() else { return };
        if span.is_recording() {
            write_open_spans().remove(&self.context.span_id().to_bytes());
        }
        match time {
            Some(time) => span.end_at(time),
            None => span.end(),
        }
    }
}

impl Drop for ObsSpan {
    fn drop(&mut self) {
        self.end_at(None);
    }
}

impl otel::Span for ObsSpan {
    fn add_event_with_timestamp<T>(&mut self, name: T, timestamp: SystemTime, attributes: Vec<KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(span) = &self.span {
            span.add_event_at(name, timestamp, attributes.into_iter().map(pair).collect());
        }
    }

    fn span_context(&self) -> &otel::SpanContext {
        &self.context
    }

    fn is_recording(&self) -> bool {
        self.span.as_ref().is_some_and(Span::is_recording)
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        if let Some(span) = &self.span {
            set_attribute(span, attribute);
        }
    }

    fn set_status(&mut self, status: otel::Status) {
        let Some(span) = &self.span else { return };
        match status {
            otel::Status::Ok => {
                self.ok = true;
                span.set_status_ok();
            }
            otel::Status::Error { description } if !self.ok => span.set_error_status(description),
            _ => {}
        }
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        if let Some(span) = &self.span {
            span.set_name(new_name);
        }
    }

    fn add_link(&mut self, span_context: otel::SpanContext, _attributes: Vec<KeyValue>) {
        if let (Some(span), Some(context)) = (&self.span, obs_context(&span_context)) {
            span.add_link(context);
        }
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        self.end_at(Some(timestamp));
    }
}

/// An OpenTelemetry `Context` whose span is the current obs span (the context as it is
/// otherwise): for code that takes a `Context` explicitly, so that what it starts is a child of
/// obs's current span. Reads obs's context; writes nothing into OpenTelemetry's.
pub fn current_context() -> Context {
    match SpanContext::current() {
        Some(current) => {
            let state = crate::trace_state(Span::current().tracestate().as_deref());
            Context::current().with_remote_span_context(crate::sdk_context(&current, state, false))
        }
        None => Context::current(),
    }
}

fn set_attribute(span: &Span, attribute: KeyValue) {
    let (key, value) = pair(attribute);
    span.set_attribute(key, value);
}

fn pair(attribute: KeyValue) -> (Cow<'static, str>, Value) {
    let key = Cow::Owned(attribute.key.as_str().to_owned());
    let value = match attribute.value {
        opentelemetry::Value::Bool(flag) => Value::Bool(flag),
        opentelemetry::Value::I64(number) => Value::I64(number),
        opentelemetry::Value::F64(number) => Value::F64(number),
        opentelemetry::Value::String(text) => Value::Str(Cow::Owned(text.to_string())),
        other => Value::Str(Cow::Owned(other.as_str().into_owned())),
    };
    (key, value)
}

fn obs_kind(kind: otel::SpanKind) -> SpanKind {
    match kind {
        otel::SpanKind::Client => SpanKind::Client,
        otel::SpanKind::Server => SpanKind::Server,
        otel::SpanKind::Producer => SpanKind::Producer,
        otel::SpanKind::Consumer => SpanKind::Consumer,
        otel::SpanKind::Internal => SpanKind::Internal,
    }
}
