//! obs's spans through an OpenTelemetry SDK exporter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use obs_runtime::trace::{
    ExportError, Resource, SCOPE_NAME, SCOPE_VERSION, SpanData, SpanExporter, SpanKind, Status, Value, ValueRef,
};
use opentelemetry::trace as otel;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{SpanEvents, SpanExporter as SdkSpanExporter, SpanLinks};

/// An OpenTelemetry SDK span exporter (`opentelemetry-otlp`'s, `opentelemetry-stdout`'s, a
/// vendor's, the SDK's in-memory one) as an obs exporter: give it to
/// [`TraceConfig::output`](obs_runtime::trace::TraceConfig::output) as
/// [`SpanOutput::Exporter`](obs_runtime::trace::SpanOutput::Exporter), and obs's batches go
/// through it.
///
/// Each span maps over field by field: ids and flags, `tracestate`, parent, name, kind, start and
/// end, attributes, events, links, status and the dropped counts; the resource once, before the
/// first batch; the instrumentation scope is obs's (`obs` and its version), as obs's own OTLP
/// exporter sends it. What obs does not know, it does not claim beyond what the SDK's data
/// requires: the SDK's `SpanData` has no "unknown" for whether the parent was remote, so it says
/// local.
///
/// obs runs the export on its export thread and waits for it there, as the SDK's batch processor
/// does (`futures_executor::block_on`): an exporter that needs a runtime (tonic's) must have been
/// built inside one that keeps running. Its own timeout bounds each export (obs's cannot
/// interrupt it): a timeout is retried by obs, any other failure (a panic included) drops the
/// batch, counted in `obs_spans_dropped_total`, as the SDK's processor would drop it.
///
/// ```
/// use obs_opentelemetry::OtelExporter;
/// use obs_runtime::trace::{Span, SpanOutput, TraceConfig};
/// use opentelemetry_sdk::trace::InMemorySpanExporter;
///
/// let memory = InMemorySpanExporter::default();
/// let exporter = OtelExporter::new(memory.clone());
/// let obs = obs_runtime::Obs::builder()
///     .without_http_server()
///     .tracing(TraceConfig::new().output(SpanOutput::Exporter(Box::new(exporter))))
///     .init()?;
/// Span::new("checkout").set_attribute("cart.items", 3);
/// assert!(obs.traces().expect("tracing is on").flush());
///
/// let spans = memory.get_finished_spans().expect("the spans");
/// assert_eq!(spans[0].name, "checkout");
/// assert_eq!(spans[0].attributes[0], opentelemetry::KeyValue::new("cart.items", 3));
/// # Ok::<(), obs_runtime::ConfigError>(())
/// ```
pub struct OtelExporter<E> {
    exporter: E,
    scope: InstrumentationScope,
    resource_set: bool,
}

/// The exporter by its type only: an SDK exporter's own `Debug` may print its request headers
/// (an API key).
impl<E> std::fmt::Debug for OtelExporter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelExporter").field("exporter", &std::any::type_name::<E>()).finish()
    }
}

impl<E: SdkSpanExporter + 'static> OtelExporter<E> {
    /// obs's spans through `exporter`.
    pub fn new(exporter: E) -> OtelExporter<E> {
        let scope = InstrumentationScope::builder(SCOPE_NAME).with_version(SCOPE_VERSION).build();
        OtelExporter { exporter, scope, resource_set: false }
    }

    /// The SDK exporter.
    pub fn get_ref(&self) -> &E {
        &self.exporter
    }
}

impl<E: SdkSpanExporter + 'static> SpanExporter for OtelExporter<E> {
    fn export(&mut self, batch: &[SpanData], resource: &Resource, _timeout: Duration) -> Result<(), ExportError> {
        // obs's resource is fixed for the life of its pipeline.
        if !self.resource_set {
            self.exporter.set_resource(&sdk_resource(resource));
            self.resource_set = true;
        }
        let spans = batch.iter().map(|span| sdk_span(span, &self.scope)).collect();
        // A panicking exporter must not take obs's export thread with it.
        let exported = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures_executor::block_on(self.exporter.export(spans))
        }));
        match exported {
            Err(_) => Err(ExportError::permanent("the OpenTelemetry exporter panicked")),
            Ok(Ok(())) => Ok(()),
            Ok(Err(OTelSdkError::Timeout(after))) => {
                Err(ExportError::retryable(format!("the OpenTelemetry exporter timed out after {after:?}")))
            }
            Ok(Err(OTelSdkError::AlreadyShutdown)) => {
                Err(ExportError::permanent("the OpenTelemetry exporter was already shut down"))
            }
            Ok(Err(error)) => Err(ExportError::permanent(format!(
                "the OpenTelemetry exporter failed: {}",
                redact_urls(&error.to_string())
            ))),
        }
    }

    fn shutdown(&mut self) {
        // obs has flushed its last batch; what the SDK exporter says of its own shutdown has
        // nowhere to go (obs's shutdown is never an error for the host).
        let _ = self.exporter.shutdown();
    }
}

/// obs's resource as the SDK's: the same attributes, in order, and nothing else (no SDK
/// defaults added).
pub fn sdk_resource(resource: &Resource) -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder_empty()
        .with_attributes(resource.attributes().iter().map(|(key, value)| KeyValue::new(key.clone(), owned(value))))
        .build()
}

/// One of obs's ended spans as the SDK's `SpanData`, in `scope`.
pub fn sdk_span(span: &SpanData, scope: &InstrumentationScope) -> opentelemetry_sdk::trace::SpanData {
    let state = crate::trace_state(span.tracestate());
    let mut events = SpanEvents::default();
    events.events = span
        .events()
        .iter()
        .map(|event| {
            let attributes =
                event.attributes().iter().map(|(key, value)| KeyValue::new(key.clone(), owned(value))).collect();
            otel::Event::new(event.name().to_owned(), time(event.time_unix_nanos()), attributes, 0)
        })
        .collect();
    events.dropped_count = span.dropped_events_count();
    let mut links = SpanLinks::default();
    links.links = span
        .links()
        .iter()
        .map(|link| otel::Link::new(crate::sdk_context(link, otel::TraceState::default(), false), Vec::new(), 0))
        .collect();
    links.dropped_count = span.dropped_links_count();
    opentelemetry_sdk::trace::SpanData {
        span_context: crate::sdk_context(&span.context(), state, false),
        parent_span_id: span
            .parent_span_id()
            .map_or(otel::SpanId::INVALID, |parent| otel::SpanId::from_bytes(parent.to_bytes())),
        parent_span_is_remote: false,
        span_kind: sdk_kind(span.kind()),
        name: span.name().to_owned().into(),
        start_time: time(span.start_unix_nanos()),
        end_time: time(span.end_unix_nanos()),
        attributes: span.attributes().map(|(key, value)| KeyValue::new(key.to_owned(), borrowed(value))).collect(),
        dropped_attributes_count: span.dropped_attributes_count(),
        events,
        links,
        status: match span.status() {
            Status::Unset => otel::Status::Unset,
            Status::Ok => otel::Status::Ok,
            Status::Error(description) => otel::Status::error(description.clone()),
        },
        instrumentation_scope: scope.clone(),
    }
}

fn sdk_kind(kind: SpanKind) -> otel::SpanKind {
    match kind {
        SpanKind::Internal => otel::SpanKind::Internal,
        SpanKind::Server => otel::SpanKind::Server,
        SpanKind::Client => otel::SpanKind::Client,
        SpanKind::Producer => otel::SpanKind::Producer,
        SpanKind::Consumer => otel::SpanKind::Consumer,
    }
}

fn time(unix_nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_nanos)
}

fn owned(value: &Value) -> opentelemetry::Value {
    match value {
        Value::Str(text) => opentelemetry::Value::from(text.clone()),
        Value::I64(number) => opentelemetry::Value::I64(*number),
        Value::F64(number) => opentelemetry::Value::F64(*number),
        Value::Bool(flag) => opentelemetry::Value::Bool(*flag),
    }
}

fn borrowed(value: ValueRef<'_>) -> opentelemetry::Value {
    match value {
        ValueRef::Str(text) => opentelemetry::Value::from(text.to_owned()),
        ValueRef::I64(number) => opentelemetry::Value::I64(number),
        ValueRef::F64(number) => opentelemetry::Value::F64(number),
        ValueRef::Bool(flag) => opentelemetry::Value::Bool(flag),
    }
}

/// `message` with each URL cut to its scheme, host and port: an exporter's error may quote its
/// endpoint, whose user info, path or query may hold a secret.
fn redact_urls(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("://") {
        out.push_str(&rest[..at + 3]);
        let after = &rest[at + 3..];
        let end = after.find(|c: char| c.is_whitespace() || "\"'()<>,".contains(c)).unwrap_or(after.len());
        let url = &after[..end];
        let authority = url.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        out.push_str(host);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_urls;

    #[test]
    fn urls_in_errors_keep_only_their_host() {
        assert_eq!(
            redact_urls("error sending request for url (https://user:key@collector.example:4318/v1/traces?token=abc)"),
            "error sending request for url (https://collector.example:4318)"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(redact_urls("a http://h/p and grpc://x:1"), "a http://h and grpc://x:1");
    }
}
