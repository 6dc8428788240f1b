//! `tracing` spans as obs spans: the spans of tower-http, HTTP and gRPC clients, database drivers
//! and `#[tracing::instrument]` join obs's traces, both ways.
//!
//! See [`layer`].

mod index;

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::data::{SpanData, SpanKind, Status, Value};
use super::span::{Entered, Parent, Site, push_link, record_error, set};
use super::{RemoteParent, Span};
use crate::secret::{REDACTED, is_secret_name};
use index::{Found, Index};

/// The `tracing` layer that makes `tracing` spans obs spans: a [`tracing_subscriber::Layer`].
/// obs's own subscriber ([`ObsBuilder::logging`](crate::ObsBuilder::logging)) carries it already
/// (switch it off with
/// [`LoggingConfig::tracing_spans`](crate::logging::LoggingConfig::tracing_spans), or build
/// without the `tracing-bridge` feature); a subscriber of one's own adds it:
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let subscriber = tracing_subscriber::registry().with(obs_runtime::trace::layer());
/// # drop(subscriber);
/// ```
///
/// What each `tracing` span becomes (while a trace pipeline is installed; before, nothing):
///
/// - **Parent.** A span with an explicit parent (`parent: &span`): the obs span of the nearest
///   bridged ancestor of that parent. Otherwise the current obs span, which is the innermost of the
///   `tracing` spans entered on this thread and obs's own (`#[trace_operation]`, the tower
///   layer's server span, an entered [`Span`]); none is a new root, decided by the sampler.
///   `parent: None` is always a root; `follows_from` is a span link (to the nearest bridged span
///   of the one followed), not a parent. A span the subscriber's filter leaves out is not bridged
///   and breaks nothing: its children attach to what is current around it.
/// - **Both ways.** While a bridged span is entered it is the current obs span: obs spans started
///   in it are its children, [`inject`](super::inject) and [`client_request`](super::client_request)
///   send its context, and JSON log lines carry its ids.
/// - **Name and kind.** The span's name, or its `otel.name` field; `otel.kind` (`server`, `client`,
///   `producer`, `consumer`, `internal`) sets the kind.
/// - **Status.** `otel.status_code` (`OK`, `ERROR`) and `otel.status_message`; an `error` field
///   marks it failed as an `Err` does (status `Error`, `error.message`, an `exception` event).
/// - **Attributes.** Every other field, with its type (`Span::record` later too); a secret-named
///   field is `[REDACTED]`, as obs's spans redact; `code.file.path` and `code.line.number` from
///   the call site (off with [`TracingLayer::code_attributes`]). Within obs's limits (128
///   attributes, 128 events; past them counted as dropped; string values cut to
///   [`TraceConfig::attribute_value_length_limit`](super::TraceConfig::attribute_value_length_limit)
///   characters when one is set).
/// - **Events.** WARN and ERROR events in it (the level: [`TracingLayer::event_level`]) become
///   span events named by their message; an ERROR event with an `error` field becomes an
///   `exception` event and fails the span.
/// - **Lifetime.** Entered and left any number of times (an instrumented future), on any thread,
///   it is one span, from its creation to its close, exported once when it closes. Nothing is kept
///   once it closes.
/// - **Memory.** The layer keeps the obs spans of the `tracing` spans alive in 3,584 places of its
///   own, seven to a bucket chosen by the span's id (256 KiB, allocated with the layer), so that
///   entering, recording or closing a span does not look it up in the registry (a per-layer filter,
///   [`Layer::with_filter`](tracing_subscriber::Layer::with_filter), still does, for its own
///   decision). A span whose bucket is full is kept in the registry's span extensions, and the
///   spans of that bucket are looked up there until it closes: slower, never lost. With ids spread
///   at random, the first bucket fills at about a thousand spans alive at once (at fewer than 800
///   one time in ten).
/// - **A clone starts empty**: the spans are the layer's, not the registry's. Replacing the layer
///   under a [`reload`](tracing_subscriber::reload) handle ends the spans alive then (those kept
///   in the registry's extensions when they close), and entering them no longer makes them
///   current; to change its settings in place, move it out and back:
///   `handle.modify(|layer| *layer = std::mem::replace(layer, obs_runtime::trace::layer()).event_level(Level::INFO))`.
///
/// obs's own events and spans (targets `obs` and `obs::*`) are never bridged: an export failure
/// must not become a span that is exported.
pub fn layer() -> TracingLayer {
    TracingLayer { event_level: Level::WARN, code_attributes: true, index: Arc::new(Index::new()) }
}

/// See [`layer`].
#[derive(Debug)]
pub struct TracingLayer {
    event_level: Level,
    code_attributes: bool,
    /// The obs spans of the bridged spans alive (256 KiB of places for 3,584 of them; more are
    /// kept in the registry's extensions).
    index: Arc<Index>,
}

impl Clone for TracingLayer {
    /// The same settings, and no spans: the spans are the layer's (see [`layer`]), and a clone is
    /// for another subscriber.
    fn clone(&self) -> TracingLayer {
        TracingLayer {
            event_level: self.event_level,
            code_attributes: self.code_attributes,
            index: Arc::new(Index::new()),
        }
    }
}

impl TracingLayer {
    /// The least severe level of the events that become span events (default WARN: WARN and
    /// ERROR). Events are logged as before whatever this says.
    pub fn event_level(mut self, level: Level) -> TracingLayer {
        self.event_level = level;
        self
    }

    /// Whether spans carry `code.file.path` and `code.line.number` from their call site
    /// (default on).
    pub fn code_attributes(mut self, on: bool) -> TracingLayer {
        self.code_attributes = on;
        self
    }

    /// `f` of the obs span of the `tracing` span `id`, if it is bridged. `f` runs under a lock
    /// and must not call into `tracing`.
    fn bridged<S, R>(&self, id: &Id, ctx: &Context<'_, S>, f: impl FnOnce(&Span) -> R) -> Option<R>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        match self.index.find(id) {
            Found::Place(place) => self.index.with(place, id, f),
            Found::Absent => None,
            Found::Unsure => {
                let tracing_span = ctx.span(id)?;
                let extensions = tracing_span.extensions();
                extensions.get::<Bridged>().filter(|bridged| self.owns(bridged)).map(|bridged| f(&bridged.span))
            }
        }
    }

    /// Whether a [`Bridged`] extension is this layer's (two bridge layers in one subscriber, a
    /// mistake, or the spans a replaced layer left behind, are not).
    fn owns(&self, bridged: &Bridged) -> bool {
        Arc::ptr_eq(&bridged.index, &self.index)
    }

    /// The context of the nearest bridged span among `id` and its ancestors (those the
    /// subscriber's filters let this layer see).
    fn nearest_bridged<S>(&self, ctx: &Context<'_, S>, id: &Id) -> Option<RemoteParent>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let span = ctx.span(id)?;
        span.scope().find_map(|ancestor| {
            let remote = |span: &Span| {
                let context = span.context()?;
                Some(RemoteParent { context, tracestate: span.tracestate() })
            };
            self.bridged(&ancestor.id(), ctx, remote)?
        })
    }
}

/// obs's own targets, never bridged.
fn is_own(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    target == "obs" || target.starts_with("obs::") || target == "obs_runtime" || target.starts_with("obs_runtime::")
}

/// Whether `metadata`'s spans and events stay out of obs's traces: obs's own targets, and
/// anything on obs's own threads (an OTLP export's HTTP/2 client, the log writer).
fn stays_out(metadata: &Metadata<'_>) -> bool {
    is_own(metadata) || crate::threads::is_own() || super::pipeline::get().is_none()
}

/// The obs span of a bridged `tracing` span that found no place in the index, in the registry's
/// extensions, with the index whose bucket counted it: dropped (when the span closes, or when the
/// registry clears the span without this layer seeing it close), it gives the count back.
struct Bridged {
    span: Span,
    index: Arc<Index>,
    id: Id,
}

impl Drop for Bridged {
    fn drop(&mut self) {
        self.index.overflow_closed(&self.id);
    }
}

/// The bridged spans entered on a thread, innermost last, each with what to restore when it is
/// left.
struct Stack(Vec<(Id, Entered<'static>)>);

impl Drop for Stack {
    fn drop(&mut self) {
        // Spans still entered when the thread exits: there is nothing left to restore, and the
        // thread-locals a guard would restore may be gone already (restoring would panic).
        for entry in self.0.drain(..) {
            std::mem::forget(entry);
        }
    }
}

thread_local! {
    static ENTERED: RefCell<Stack> = const { RefCell::new(Stack(Vec::new())) };
}

impl<S> tracing_subscriber::Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        if stays_out(metadata) {
            return;
        }
        let parent = if attrs.is_root() {
            Parent::Root
        } else if let Some(explicit) = attrs.parent() {
            self.nearest_bridged(&ctx, explicit).map_or(Parent::Current, Parent::Explicit)
        } else {
            Parent::Current
        };
        // The name and kind only if a span is made; the other fields only if it records.
        let head = || {
            let mut head = Head::default();
            attrs.record(&mut head);
            (head.name.map_or(Cow::Borrowed(metadata.name()), Cow::Owned), head.kind.unwrap_or(SpanKind::Internal))
        };
        let site =
            if self.code_attributes { Site { file: metadata.file(), line: metadata.line() } } else { Site::default() };
        let span = Span::start_under(parent, head, site);
        if span.context().is_none() {
            // Nothing to record and no context to carry (an unsampled trace's descendant): what
            // is current stays current, and nothing is stored.
            return;
        }
        if span.is_recording() && !attrs.is_empty() {
            let mut fields = Fields::default();
            attrs.record(&mut Visitor(&mut fields));
            span.with_data(|data| fields.apply(data));
        }
        if let Err(span) = self.index.insert(id, span) {
            let mut unkept = Some(Bridged { span, index: Arc::clone(&self.index), id: id.clone() });
            if let Some(tracing_span) = ctx.span(id) {
                let mut extensions = tracing_span.extensions_mut();
                // Taken already by another bridge layer in this subscriber (a mistake: each span
                // would be exported twice): that one keeps its own, and this one's ends now.
                if extensions.get_mut::<Bridged>().is_none()
                    && let Some(bridged) = unkept.take()
                {
                    extensions.insert(bridged);
                }
            }
            // Not kept: it ends, and gives its count back, with no lock held.
            drop(unkept);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if self.bridged(id, &ctx, Span::is_recording) != Some(true) {
            return;
        }
        // Visited with no lock held: a field's `Debug` may itself use `tracing`.
        let mut fields = Fields::default();
        values.record(&mut Visitor(&mut fields));
        self.bridged(id, &ctx, |span| {
            span.with_data(|data| {
                if let Some(name) = fields.name.take() {
                    data.name = Cow::Owned(name);
                }
                if let Some(kind) = fields.kind {
                    data.kind = kind;
                }
                fields.apply(data);
            })
        });
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        // A link to the nearest bridged span of `follows` (which may be of another trace).
        if self.index.find(id) == Found::Absent {
            return;
        }
        let Some(cause) = self.nearest_bridged(&ctx, follows) else { return };
        self.bridged(id, &ctx, |span| span.with_data(|data| push_link(data, cause.context)));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() > self.event_level || stays_out(metadata) {
            return;
        }
        // The event's span (its explicit parent, else the current `tracing` span), and of it and
        // its ancestors the nearest bridged one: obs's own spans get no events from here.
        let Some(tracing_span) = ctx.event_span(event) else { return };
        for ancestor in tracing_span.scope() {
            let Some(recording) = self.bridged(&ancestor.id(), &ctx, Span::is_recording) else { continue };
            if recording {
                // Visited with no lock held: a field's `Debug` may itself use `tracing`.
                let mut fields = EventFields::default();
                event.record(&mut Visitor(&mut fields));
                self.bridged(&ancestor.id(), &ctx, |span| add_event(span, fields, metadata));
            }
            return;
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        // Copied under the place's lock, entered with no lock held.
        let Some(ticket) = self.bridged(id, &ctx, Span::ticket) else { return };
        let entered = ticket.enter();
        ENTERED.with(|stack| stack.borrow_mut().0.push((id.clone(), entered)));
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        // Taken out of the stack before it drops: dropping restores the context (which runs no
        // user code, so the stack is never borrowed twice).
        let left = ENTERED.with(|stack| {
            let stack = &mut stack.borrow_mut().0;
            let position = stack.iter().rposition(|(entered, _)| entered == id)?;
            let (_, left) = stack.remove(position);
            match stack.get_mut(position) {
                // Left out of order, under a span entered after it: that one now restores what
                // this one would have, and the context stays the innermost's.
                Some((_, inner)) => {
                    inner.take_over(left);
                    None
                }
                None => Some(left),
            }
        });
        drop(left);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // Dropped: ended, and queued for export. Out of the index before the registry can hand
        // the id out again.
        match self.index.find(&id) {
            Found::Place(place) => drop(self.index.take(place, &id)),
            Found::Absent => {}
            Found::Unsure => {
                let Some(tracing_span) = ctx.span(&id) else { return };
                let mut extensions = tracing_span.extensions_mut();
                if extensions.get_mut::<Bridged>().is_some_and(|bridged| self.owns(bridged)) {
                    let bridged = extensions.remove::<Bridged>();
                    drop(extensions);
                    // Ended, its count given back.
                    drop(bridged);
                }
            }
        }
    }
}

/// An event (its `fields`) as an event of `span`: named by its message, its other fields as
/// attributes; an ERROR with an `error` field fails the span (an `exception` event).
fn add_event(span: &Span, fields: EventFields, metadata: &Metadata<'_>) {
    match fields.error {
        Some(error) if *metadata.level() == Level::ERROR => span.record_error(&error),
        error => {
            let mut attributes = fields.attributes;
            if let Some(error) = error {
                attributes.push((Cow::Borrowed("error"), Value::Str(error.into())));
            }
            let name = fields.message.map_or(Cow::Borrowed(metadata.name()), Cow::Owned);
            span.add_event(name, attributes);
        }
    }
}

/// Of a new span's fields, only what it starts with: `otel.name` and `otel.kind`.
#[derive(Default)]
struct Head {
    name: Option<String>,
    kind: Option<SpanKind>,
}

impl Visit for Head {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "otel.name" => self.name = Some(value.to_owned()),
            "otel.kind" => self.kind = kind_of(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "otel.name" | "otel.kind") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// A span's fields: the `otel.*` ones read, the others its attributes.
#[derive(Default)]
struct Fields {
    name: Option<String>,
    kind: Option<SpanKind>,
    status: Option<Status>,
    status_message: Option<String>,
    error: Option<String>,
    attributes: Vec<(Cow<'static, str>, Value)>,
}

impl Collect for Fields {
    fn value(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            // `error = true`: failed, with no more to say.
            ("error", Value::Bool(true)) => self.error = Some("error".to_owned()),
            (_, value) => self.attributes.push(attribute(field, value)),
        }
    }

    fn text(&mut self, field: &Field, text: String) {
        match field.name() {
            "otel.name" => self.name = Some(text),
            "otel.kind" => self.kind = kind_of(&text),
            "otel.status_code" => {
                self.status = match text.to_ascii_uppercase().as_str() {
                    "OK" => Some(Status::Ok),
                    "ERROR" => Some(Status::Error(Cow::Borrowed(""))),
                    _ => None,
                }
            }
            "otel.status_message" => self.status_message = Some(text),
            "error" => self.error = Some(text),
            _ => self.attributes.push(attribute(field, Value::Str(Cow::Owned(text)))),
        }
    }
}

impl Fields {
    /// Into the span's record.
    fn apply(self, data: &mut SpanData) {
        for (key, value) in self.attributes {
            set(data, key, value);
        }
        if let Some(error) = self.error {
            record_error(data, error.into(), crate::clock::clock().raw());
        } else if let Some(status) = self.status {
            data.status = match status {
                Status::Error(_) => Status::Error(self.status_message.unwrap_or_default().into()),
                other => other,
            };
        } else if let Some(message) = self.status_message
            && matches!(data.status, Status::Error(_))
        {
            data.status = Status::Error(message.into());
        }
    }
}

fn kind_of(text: &str) -> Option<SpanKind> {
    [SpanKind::Internal, SpanKind::Server, SpanKind::Client, SpanKind::Producer, SpanKind::Consumer]
        .into_iter()
        .find(|kind| kind.as_str().eq_ignore_ascii_case(text))
}

/// An event's fields: its message, its `error`, the rest as the span event's attributes.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    error: Option<String>,
    attributes: Vec<(Cow<'static, str>, Value)>,
}

impl Collect for EventFields {
    fn value(&mut self, field: &Field, value: Value) {
        self.attributes.push(attribute(field, value));
    }

    fn text(&mut self, field: &Field, text: String) {
        match field.name() {
            "message" => self.message = Some(text),
            "error" => self.error = Some(text),
            _ => self.attributes.push(attribute(field, Value::Str(text.into()))),
        }
    }
}

/// What the fields of a span or an event are gathered into: typed values, and text (strings,
/// errors, `Debug`).
trait Collect {
    fn value(&mut self, field: &Field, value: Value);
    fn text(&mut self, field: &Field, text: String);
}

/// An attribute of `field`, `[REDACTED]` if it is named like a secret.
fn attribute(field: &Field, value: Value) -> (Cow<'static, str>, Value) {
    let name = field.name();
    let value = if is_secret_name(name) { Value::Str(Cow::Borrowed(REDACTED)) } else { value };
    (Cow::Borrowed(name), value)
}

/// Visits fields into a [`Collect`].
struct Visitor<'a, C>(&'a mut C);

impl<C: Collect> Visit for Visitor<'_, C> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.text(field, value.to_owned());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.value(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.value(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.0.value(field, Value::I64(value)),
            Err(_) => self.0.value(field, Value::Str(value.to_string().into())),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.value(field, Value::F64(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.text(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.text(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::context::SpanContext;

    #[test]
    fn every_place_and_overflow_count_is_given_back_when_the_spans_close() {
        // Catches: an overflow count never given back (the bucket's ids answered "unsure", and
        // looked up in the registry, for ever after), a place never freed, an overflowed span
        // taken for one that is not bridged.
        crate::trace::pipeline::tests::installed();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer()));
        let census = || dispatch.downcast_ref::<TracingLayer>().expect("the layer").index.census();
        tracing::dispatcher::with_default(&dispatch, || {
            // Roots of unsampled traces (the pipeline samples nothing) carry a context: bridged.
            let crowd: Vec<tracing::Span> =
                (0..5_000).map(|_| tracing::info_span!(target: "bridge_test", parent: None, "crowd")).collect();
            let (held, overflow) = census();
            assert_eq!(held as u64 + overflow, 5_000);
            assert!(overflow > 0, "more spans than places");
            let mut contexts = std::collections::HashSet::new();
            for span in &crowd {
                let context = span.in_scope(SpanContext::current).expect("entered, it is current");
                assert!(contexts.insert(context.span_id()), "each its own");
            }
            drop(crowd);
        });
        assert_eq!(census(), (0, 0));
    }
}
