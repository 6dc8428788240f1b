//! Where batches of ended spans go: the exporter trait, the resource, and the JSON-lines exporter
//! used when no OTLP endpoint is configured.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::time::Duration;

use super::data::{SpanData, Status, Value, ValueRef};
use crate::json::Json;

/// The instrumentation scope of the spans obs exports: its name...
pub const SCOPE_NAME: &str = "obs";
/// ...and its version (obs-runtime's).
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Receives batches of ended spans on obs's export thread (never on the application's threads).
/// `Err` says whether the batch may be retried; obs retries with backoff, then drops it and
/// counts the drop.
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::trace::{ExportError, Resource, SpanData, SpanExporter};
///
/// struct Count(usize);
///
/// impl SpanExporter for Count {
///     fn export(&mut self, batch: &[SpanData], _: &Resource, _: Duration) -> Result<(), ExportError> {
///         self.0 += batch.len();
///         Ok(())
///     }
/// }
/// ```
pub trait SpanExporter: Send + 'static {
    /// Exports one batch, within `timeout`.
    fn export(&mut self, batch: &[SpanData], resource: &Resource, timeout: Duration) -> Result<(), ExportError>;

    /// How many spans of the batch just exported (`Ok`) the receiver did not accept (an OTLP
    /// partial success): counted as dropped with reason `rejected` instead of exported. Asked once
    /// after each successful export; none by default.
    fn take_rejected(&mut self) -> u64 {
        0
    }

    /// Called once, after the last batch.
    fn shutdown(&mut self) {}
}

/// A failed export.
#[derive(Debug, Clone)]
pub struct ExportError {
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl ExportError {
    /// A failure worth retrying (the receiver is down or overloaded).
    pub fn retryable(message: impl Into<String>) -> ExportError {
        ExportError { message: message.into(), retryable: true, retry_after: None }
    }

    /// A failure a retry would repeat (the receiver refuses the data).
    pub fn permanent(message: impl Into<String>) -> ExportError {
        ExportError { message: message.into(), retryable: false, retry_after: None }
    }

    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The receiver asked to be retried after `wait` (HTTP `Retry-After`, gRPC `RetryInfo`): the
    /// next attempt waits that long (at most 30 s, and within the batch's export timeout) instead
    /// of the backoff (at most 5 min; the batch is dropped when that is past its export timeout).
    pub fn with_retry_after(mut self, wait: Duration) -> ExportError {
        self.retry_after = Some(wait);
        self
    }

    /// What [`with_retry_after`](Self::with_retry_after) set.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// [`with_retry_after`](Self::with_retry_after) when the receiver gave a wait.
    #[cfg(feature = "otlp")]
    pub(crate) fn after(mut self, wait: Option<Duration>) -> ExportError {
        self.retry_after = wait.or(self.retry_after);
        self
    }

    /// The same error with its message rewritten (scrubbed of what must not be printed).
    #[cfg(feature = "otlp")]
    pub(crate) fn map_message(mut self, rewrite: impl FnOnce(&str) -> String) -> ExportError {
        self.message = rewrite(&self.message);
        self
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExportError {}

/// What produced the spans: `service.name`, the SDK's attributes, and those of
/// `OTEL_RESOURCE_ATTRIBUTES` and the configuration.
#[derive(Debug, Clone)]
pub struct Resource {
    pub(crate) attributes: Vec<(Cow<'static, str>, Value)>,
}

impl Resource {
    /// The attributes, `service.name` first.
    pub fn attributes(&self) -> &[(Cow<'static, str>, Value)] {
        &self.attributes
    }

    /// `service.name`.
    pub fn service_name(&self) -> &str {
        match self.attributes.first() {
            Some((_, Value::Str(name))) => name,
            _ => "unknown_service",
        }
    }
}

/// Writes each span as one JSON object a line to stdout or a file.
pub(crate) struct JsonLines {
    pub(crate) out: Box<dyn Write + Send>,
    pub(crate) buffer: Vec<u8>,
}

impl SpanExporter for JsonLines {
    fn export(&mut self, batch: &[SpanData], resource: &Resource, _: Duration) -> Result<(), ExportError> {
        self.buffer.clear();
        for span in batch {
            write_json(&mut self.buffer, span, resource);
        }
        self.out
            .write_all(&self.buffer)
            .and_then(|()| self.out.flush())
            .map_err(|error| ExportError::retryable(format!("cannot write spans: {error}")))
    }
}

/// One span as a JSON line: `{"service":..,"name":..,"kind":..,"trace_id":..,"span_id":..,
/// "parent_span_id":..,"start_time_unix_nano":..,"end_time_unix_nano":..,"duration_ms":..,
/// "attributes":{..},"events":[..],"links":[{"trace_id":..,"span_id":..}],"status":{"code":..,
/// "message":..}}`.
pub(crate) fn write_json(out: &mut Vec<u8>, span: &SpanData, resource: &Resource) {
    let mut json = Json::new(out, usize::MAX);
    json.raw("{\"service\":");
    json.string(resource.service_name());
    json.raw(",\"name\":");
    json.string(span.name());
    json.raw(",\"kind\":");
    json.string(span.kind().as_str());
    json.raw(",\"trace_id\":");
    json.string_fmt(format_args!("{}", span.context.trace_id()));
    json.raw(",\"span_id\":");
    json.string_fmt(format_args!("{}", span.context.span_id()));
    json.raw(",\"parent_span_id\":");
    match span.parent {
        Some(parent) => json.string_fmt(format_args!("{parent}")),
        None => json.null(),
    }
    json.raw(",\"start_time_unix_nano\":");
    json.u64(span.start_unix_nanos);
    json.raw(",\"end_time_unix_nano\":");
    json.u64(span.end_unix_nanos);
    json.raw(",\"duration_ms\":");
    json.f64(span.end_unix_nanos.saturating_sub(span.start_unix_nanos) as f64 / 1e6);
    json.raw(",\"attributes\":");
    write_attributes(&mut json, span.attributes());
    json.raw(",\"events\":[");
    for (index, event) in span.events.iter().enumerate() {
        json.raw(if index == 0 { "{\"name\":" } else { ",{\"name\":" });
        json.string(event.name());
        json.raw(",\"time_unix_nano\":");
        json.u64(event.time_unix_nanos);
        json.raw(",\"attributes\":");
        write_attributes(&mut json, event.attributes.iter().map(|(key, value)| (key.as_ref(), value.as_ref())));
        json.raw("}");
    }
    json.raw("],\"links\":[");
    for (index, link) in span.links.iter().enumerate() {
        json.raw(if index == 0 { "{\"trace_id\":" } else { ",{\"trace_id\":" });
        json.string_fmt(format_args!("{}", link.trace_id()));
        json.raw(",\"span_id\":");
        json.string_fmt(format_args!("{}", link.span_id()));
        json.raw("}");
    }
    json.raw("],\"status\":{\"code\":");
    match &span.status {
        Status::Unset => json.raw("\"unset\"}"),
        Status::Ok => json.raw("\"ok\"}"),
        Status::Error(message) => {
            json.raw("\"error\",\"message\":");
            json.string(message);
            json.raw("}");
        }
    }
    json.raw("}\n");
}

fn write_attributes<'a>(json: &mut Json<'_>, attributes: impl Iterator<Item = (&'a str, ValueRef<'a>)>) {
    json.raw("{");
    for (index, (key, value)) in attributes.enumerate() {
        if index > 0 {
            json.raw(",");
        }
        json.string(key);
        json.raw(":");
        match value {
            ValueRef::Str(text) => json.string(text),
            ValueRef::I64(value) => json.i64(value),
            ValueRef::F64(value) => json.f64(value),
            ValueRef::Bool(value) => json.bool(value),
        }
    }
    json.raw("}");
}
