//! Formatting an event as one JSON line, into per-thread buffers that are reused: a steady state
//! of events with numbers and short strings allocates nothing.

use std::cell::RefCell;
use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

use super::redact::{REDACTED, Redactor};
use super::{FieldValue, Pipeline};
use crate::context::SpanContext;
use crate::json::Json;

/// The `tracing_subscriber` layer that writes obs's JSON lines. Made by [`ObsGuard::logging_layer`](crate::ObsGuard::logging_layer), or
/// installed by [`ObsBuilder::logging`](crate::ObsBuilder::logging).
#[derive(Clone)]
pub struct JsonLayer {
    pipeline: Arc<Pipeline>,
}

impl fmt::Debug for JsonLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer").finish_non_exhaustive()
    }
}

impl JsonLayer {
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> JsonLayer {
        JsonLayer { pipeline }
    }
}

/// The parts of a line, each already JSON, reused from event to event.
#[derive(Default)]
struct Parts {
    line: Vec<u8>,
    message: Vec<u8>,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    user_id: Vec<u8>,
    request_id: Vec<u8>,
    /// `"key":value,` pairs.
    metadata: Vec<u8>,
    /// Bytes of values written so far, against the line's limit.
    used: usize,
    truncated: bool,
}

impl Parts {
    fn clear(&mut self) {
        let buffers = [&mut self.line, &mut self.message, &mut self.trace_id, &mut self.span_id, &mut self.user_id];
        for buffer in buffers.into_iter().chain([&mut self.request_id, &mut self.metadata]) {
            buffer.clear();
        }
        self.used = 0;
        self.truncated = false;
    }
}

thread_local! {
    static PARTS: RefCell<Parts> = RefCell::new(Parts::default());
}

/// Room the fixed parts of a line take besides the service name: keys, timestamp, level, ids
/// from the context, `null`s, the truncation flag, braces and newline (about 230 bytes).
const OVERHEAD: usize = 240;

/// Where a field's value goes.
enum Slot {
    Message,
    TraceId,
    SpanId,
    UserId,
    RequestId,
    Metadata,
}

fn slot_of(name: &str) -> Slot {
    match name {
        "message" => Slot::Message,
        "trace_id" => Slot::TraceId,
        "span_id" => Slot::SpanId,
        "user_id" => Slot::UserId,
        "request_id" => Slot::RequestId,
        _ => Slot::Metadata,
    }
}

/// Writes one field's value into its part, within the line's budget, redacted as configured.
struct Fields<'p> {
    parts: &'p mut Parts,
    redactor: &'p Redactor,
    /// The line's limit less its fixed parts.
    limit: usize,
}

/// What the values of a line may take: `max_line_bytes` less the fixed parts.
fn values_limit(pipeline: &Pipeline, service_json: &[u8]) -> usize {
    pipeline.max_line_bytes.saturating_sub(OVERHEAD + service_json.len())
}

/// One value, in the forms `tracing` gives them.
pub(super) enum Value<'v> {
    Str(&'v str),
    Fmt(fmt::Arguments<'v>),
    Bytes(&'v [u8]),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Null,
}

/// The entries of the current baggage named by `keys` into `sink` (none when it names none).
#[cfg(feature = "trace")]
pub(super) fn baggage(sink: &mut impl FieldSink, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    let baggage = crate::baggage::Baggage::current();
    for key in keys {
        if let Some(value) = baggage.get(key) {
            sink.field(key, Value::Str(value));
        }
    }
}

impl Fields<'_> {
    fn write(&mut self, name: &str, value: Value<'_>) {
        let redactor = self.redactor;
        self.write_with(name, slot_of(name), |json| write_value(json, redactor, value));
    }

    /// A nested object, its keys redacted like top-level ones. The reserved names are scalars:
    /// an object always goes to metadata under its name.
    fn write_object(&mut self, name: &str, entries: &[(&str, FieldValue<'_>)]) {
        let redactor = self.redactor;
        self.write_with(name, Slot::Metadata, |json| write_object_value(json, redactor, entries));
    }

    /// Writes one field into its part within the line's budget: its key (in metadata), then
    /// `"[REDACTED]"` for a secret, else what `value` writes.
    fn write_with(&mut self, name: &str, slot: Slot, value: impl FnOnce(&mut Json<'_>)) {
        let parts = &mut *self.parts;
        let budget = self.limit.saturating_sub(parts.used);
        // A key, its quotes and comma take room too.
        if budget < name.len() + 24 {
            parts.truncated = true;
            return;
        }
        let buffer = match slot {
            Slot::Message => &mut parts.message,
            Slot::TraceId => &mut parts.trace_id,
            Slot::SpanId => &mut parts.span_id,
            Slot::UserId => &mut parts.user_id,
            Slot::RequestId => &mut parts.request_id,
            Slot::Metadata => &mut parts.metadata,
        };
        let metadata = matches!(slot, Slot::Metadata);
        if !metadata {
            // A field given twice: the last one wins, and the first no longer counts.
            parts.used -= buffer.len();
            buffer.clear();
        }
        let start = buffer.len();
        let mut json = Json::new(buffer, start + budget);
        if metadata {
            json.string(name);
            json.raw(":");
        }
        if !matches!(slot, Slot::Message) && self.redactor.is_secret(name) {
            json.string(REDACTED);
        } else {
            value(&mut json);
        }
        if metadata {
            json.raw(",");
        }
        let truncated = json.truncated;
        parts.used += buffer.len() - start;
        parts.truncated |= truncated;
    }
}

fn write_value(json: &mut Json<'_>, redactor: &Redactor, value: Value<'_>) {
    match value {
        Value::Str(text) => match redactor.mask(text) {
            Some(masked) => json.string(&masked),
            None => json.string(text),
        },
        Value::Fmt(arguments) => {
            if redactor.mask_values {
                // Masking needs the text; only when asked for, and never more than the line's room.
                let text = capped(arguments, json.room());
                match redactor.mask(&text) {
                    Some(masked) => json.string(&masked),
                    None => json.string(&text),
                }
            } else {
                json.string_fmt(arguments);
            }
        }
        Value::Bytes(bytes) => json.string_bytes(bytes),
        Value::I64(value) => json.i64(value),
        Value::U64(value) => json.u64(value),
        Value::F64(value) => json.f64(value),
        Value::Bool(value) => json.bool(value),
        Value::Null => json.null(),
    }
}

impl FieldSink for Fields<'_> {
    fn field(&mut self, name: &str, value: Value<'_>) {
        self.write(name, value);
    }
}

/// Where an event's fields go, one value at a time: a JSON line's parts, an OTLP record's
/// attributes.
pub(super) trait FieldSink {
    fn field(&mut self, name: &str, value: Value<'_>);
}

/// `tracing`'s visitor for any [`FieldSink`]: each field in the form `tracing` gives it.
pub(super) struct Visitor<'s, S>(pub(super) &'s mut S);

impl<S: FieldSink> Visit for Visitor<'_, S> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.field(field.name(), Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.field(field.name(), Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.field(field.name(), Value::U64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.field(field.name(), Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.field(field.name(), Value::Str(value));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.0.field(field.name(), Value::Bytes(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.field(field.name(), Value::Fmt(format_args!("{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.field(field.name(), Value::Fmt(format_args!("{value:?}")));
    }
}

/// `arguments` formatted, stopping at `cap` bytes (at a character boundary).
pub(super) fn capped(arguments: fmt::Arguments<'_>, cap: usize) -> String {
    struct Capped {
        text: String,
        cap: usize,
    }
    impl fmt::Write for Capped {
        fn write_str(&mut self, piece: &str) -> fmt::Result {
            let room = self.cap.saturating_sub(self.text.len());
            if piece.len() <= room {
                self.text.push_str(piece);
                return Ok(());
            }
            let mut cut = room;
            while !piece.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&piece[..cut]);
            Err(fmt::Error)
        }
    }
    let mut capped = Capped { text: String::new(), cap };
    let _ = fmt::write(&mut capped, arguments);
    capped.text
}

fn level_str(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// Puts the parts together into `parts.line`, ending in a newline.
fn assemble(parts: &mut Parts, service_json: &[u8], level: Level) {
    let Parts { line, message, trace_id, span_id, user_id, request_id, metadata, truncated, .. } = parts;
    line.extend_from_slice(b"{\"timestamp\":\"");
    crate::time::write_rfc3339_micros(line, SystemTime::now());
    line.extend_from_slice(b"\",\"service\":");
    line.extend_from_slice(service_json);
    line.extend_from_slice(b",\"level\":\"");
    line.extend_from_slice(level_str(level).as_bytes());
    line.extend_from_slice(b"\",\"message\":");
    if message.is_empty() {
        line.extend_from_slice(b"\"\"");
    } else {
        line.extend_from_slice(message);
    }
    // The current context, unless the event names its own trace: then its ids only (a span id
    // of another trace would mislead).
    let context = if trace_id.is_empty() { SpanContext::current() } else { None };
    line.extend_from_slice(b",\"trace_id\":");
    match (trace_id.is_empty(), context) {
        (false, _) => line.extend_from_slice(trace_id),
        // The ids' own lowercase hex, written in place (no allocation).
        (true, Some(context)) => {
            let _ = write!(line, "\"{}\"", context.trace_id());
        }
        (true, None) => line.extend_from_slice(b"null"),
    }
    line.extend_from_slice(b",\"span_id\":");
    match (span_id.is_empty(), context) {
        (false, _) => line.extend_from_slice(span_id),
        (true, Some(context)) => {
            let _ = write!(line, "\"{}\"", context.span_id());
        }
        (true, None) => line.extend_from_slice(b"null"),
    }
    for (key, value) in [(&b",\"user_id\":"[..], &*user_id), (&b",\"request_id\":"[..], &*request_id)] {
        line.extend_from_slice(key);
        line.extend_from_slice(if value.is_empty() { b"null" } else { value });
    }
    line.extend_from_slice(b",\"metadata\":{");
    if let Some(last_comma) = metadata.len().checked_sub(1) {
        line.extend_from_slice(&metadata[..last_comma]);
    }
    line.push(b'}');
    if *truncated {
        line.extend_from_slice(b",\"truncated\":true");
    }
    line.extend_from_slice(b"}\n");
}

/// Formats with the thread's reused buffers, or fresh ones when this thread is already
/// formatting (a `Debug` impl that logs).
fn with_parts<R>(run: impl FnOnce(&mut Parts) -> R) -> R {
    let mut run = Some(run);
    let result = PARTS.try_with(|cell| {
        let mut parts = cell.try_borrow_mut().ok()?;
        parts.clear();
        run.take().map(|run| run(&mut parts))
    });
    match (result, run.take()) {
        (Ok(Some(result)), _) => result,
        (_, Some(run)) => run(&mut Parts::default()),
        (_, None) => unreachable!("`run` is taken only where it runs"),
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for JsonLayer {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let pipeline = &*self.pipeline;
        if let Some(call) = structured_payload(event) {
            #[cfg(feature = "otlp")]
            if let Some(queue) = &pipeline.otlp {
                super::otlp::record_structured(pipeline, queue, *event.metadata().level(), call);
            }
            write_structured(pipeline, call, *event.metadata().level());
            return;
        }
        #[cfg(feature = "otlp")]
        if let Some(queue) = &pipeline.otlp {
            super::otlp::record_event(pipeline, queue, event);
        }
        if !pipeline.lines {
            return;
        }
        with_parts(|parts| {
            let limit = values_limit(pipeline, &pipeline.service_json);
            let mut fields = Fields { parts, redactor: &pipeline.redactor, limit };
            event.record(&mut Visitor(&mut fields));
            #[cfg(feature = "trace")]
            baggage(&mut fields, &pipeline.baggage_fields);
            assemble(parts, &pipeline.service_json, *event.metadata().level());
            pipeline.sink.push(&parts.line);
        });
    }
}

/// The target of [`super::StructuredLogger`]'s events.
pub(crate) const STRUCTURED_TARGET: &str = "obs::structured";

/// A [`super::StructuredLogger`] call, handed to the layer for the duration of its event.
pub(crate) struct Structured<'a> {
    pub(crate) message: &'a str,
    pub(crate) fields: &'a [(&'a str, FieldValue<'a>)],
}

thread_local! {
    /// The call whose event is being dispatched on this thread, if any.
    static STRUCTURED: std::cell::Cell<*const Structured<'static>> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Runs `emit` (which dispatches the event) with `payload` readable by the layer.
pub(crate) fn with_structured(payload: &Structured<'_>, emit: impl FnOnce()) {
    struct Reset(*const Structured<'static>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0;
            STRUCTURED.with(|slot| slot.set(previous));
        }
    }
    // The lifetime is erased only for the thread-local; `Reset` clears it before `payload` can
    // go away (also if a layer panics).
    let pointer = (payload as *const Structured<'_>).cast::<Structured<'static>>();
    let _reset = Reset(STRUCTURED.with(|slot| slot.replace(pointer)));
    emit();
}

/// The call being dispatched, if the event is one of [`super::StructuredLogger`]'s.
fn structured_payload<'e>(event: &'e Event<'_>) -> Option<&'e Structured<'e>> {
    if event.metadata().target() != STRUCTURED_TARGET {
        return None;
    }
    let pointer = STRUCTURED.try_with(std::cell::Cell::get).ok()?;
    // SAFETY: a non-null pointer was set by `with_structured` on this thread, around the very
    // dispatch that is calling us, from a reference that outlives it; it is reset before that
    // reference ends. The event borrows nothing longer than that dispatch.
    unsafe { pointer.cast::<Structured<'e>>().as_ref() }
}

pub(crate) fn write_structured(pipeline: &Pipeline, call: &Structured<'_>, level: Level) {
    if !pipeline.lines {
        return;
    }
    with_parts(|parts| {
        structured_parts(parts, pipeline, level, call.message, call.fields);
        pipeline.sink.push(&parts.line);
    });
}

fn structured_parts(
    parts: &mut Parts,
    pipeline: &Pipeline,
    level: Level,
    message: &str,
    fields: &[(&str, FieldValue<'_>)],
) {
    let limit = values_limit(pipeline, &pipeline.service_json);
    let mut writer = Fields { parts, redactor: &pipeline.redactor, limit };
    writer.write("message", Value::Str(message));
    for (name, value) in fields {
        match value {
            FieldValue::Object(entries) => writer.write_object(name, entries),
            other => writer.write(name, scalar(other)),
        }
    }
    #[cfg(feature = "trace")]
    baggage(&mut writer, &pipeline.baggage_fields);
    assemble(parts, &pipeline.service_json, level);
}

fn scalar<'v>(value: &'v FieldValue<'_>) -> Value<'v> {
    match value {
        FieldValue::Str(text) => Value::Str(text),
        FieldValue::String(text) => Value::Str(text),
        FieldValue::I64(value) => Value::I64(*value),
        FieldValue::U64(value) => Value::U64(*value),
        FieldValue::F64(value) => Value::F64(*value),
        FieldValue::Bool(value) => Value::Bool(*value),
        FieldValue::Null | FieldValue::Object(_) => Value::Null,
    }
}

fn write_object_value(json: &mut Json<'_>, redactor: &Redactor, entries: &[(&str, FieldValue<'_>)]) {
    json.raw("{");
    for (index, (key, value)) in entries.iter().enumerate() {
        // Room for this entry's key and a short value, and the closing braces of every level:
        // past it the object is closed here and the line marked truncated.
        if json.room() < key.len() + 64 {
            json.truncated = true;
            break;
        }
        if index > 0 {
            json.raw(",");
        }
        json.string(key);
        json.raw(":");
        if redactor.is_secret(key) {
            json.string(REDACTED);
            continue;
        }
        match value {
            FieldValue::Object(inner) => write_object_value(json, redactor, inner),
            other => write_value(json, redactor, scalar(other)),
        }
    }
    json.raw("}");
}
