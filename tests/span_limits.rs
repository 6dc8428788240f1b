//! The attribute value length limit (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, here from the service's
//! environment): every string attribute value of an exported span and of its events is cut to
//! that many characters, whichever way it was set (obs's API, an error, a `tracing` field through
//! the bridge, the call site); numbers, names and the status description are not.

use std::time::Duration;

use obs_runtime::trace::{InMemoryExporter, Span, SpanData, SpanOutput, Status, TraceConfig, ValueRef};
use tracing_subscriber::layer::SubscriberExt as _;

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<ValueRef<'a>> {
    span.attributes().find(|(name, _)| *name == key).map(|(_, value)| value)
}

#[test]
fn string_values_are_cut_to_the_limit_in_characters_on_export() {
    let exporter = InMemoryExporter::new();
    let config = TraceConfig::new()
        .output(SpanOutput::Exporter(Box::new(exporter.clone())))
        .schedule_delay(Duration::from_millis(5));
    let obs = obs_runtime::Obs::builder()
        .service("span-limits")
        // The span-specific variable is not set: the one for every signal applies.
        .environment(obs_runtime::Environment::from_pairs([("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8")]))
        .without_http_server()
        .tracing(config)
        .init()
        .expect("installs");

    let span = Span::new("a_rather_long_operation_name");
    let trace_id = span.context().expect("a pipeline").trace_id();
    span.set_attribute("db.query.text", "SELECT name FROM users");
    span.set_attribute("short", "fits");
    span.set_attribute("exact", "12345678");
    span.set_attribute("rows", 1_234_567_890_123_i64);
    span.record_error(&"connection refused by upstream");
    {
        let _in_span = span.enter();
        let bridged = tracing_subscriber::registry().with(obs_runtime::trace::layer());
        tracing::subscriber::with_default(bridged, || {
            drop(tracing::info_span!("bridged", payload = ?vec![1_u8; 100], note = "ünïcödé text"));
        });
        let operation = Span::builder("load_user_profile").operation().start();
        operation.set_ok();
        operation.end();
    }
    span.end();
    assert!(obs.traces().expect("tracing").flush(), "exported in time");
    let spans: Vec<SpanData> =
        exporter.spans().into_iter().filter(|span| span.context().trace_id() == trace_id).collect();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let own = spans.iter().find(|span| span.name() == "a_rather_long_operation_name").expect("obs's span");
    assert_eq!(attribute(own, "db.query.text"), Some(ValueRef::Str("SELECT n")));
    assert_eq!(attribute(own, "short"), Some(ValueRef::Str("fits")));
    assert_eq!(attribute(own, "exact"), Some(ValueRef::Str("12345678")));
    assert_eq!(attribute(own, "rows"), Some(ValueRef::I64(1_234_567_890_123)));
    assert_eq!(attribute(own, "error.message"), Some(ValueRef::Str("connecti")));
    let exception = own.events().iter().find(|event| event.name() == "exception").expect("the exception event");
    let message =
        exception.attributes().iter().find(|(key, _)| key == "exception.message").map(|(_, value)| value.as_ref());
    assert_eq!(message, Some(ValueRef::Str("connecti")));
    // Not attributes: the span's name and its status description stay whole.
    assert_eq!(own.status(), &Status::Error("connection refused by upstream".into()));

    let bridged = spans.iter().find(|span| span.name() == "bridged").expect("the bridged span");
    assert_eq!(attribute(bridged, "payload"), Some(ValueRef::Str("[1, 1, 1")));
    // Characters, not bytes: eight of them, of which four take two bytes.
    assert_eq!(attribute(bridged, "note"), Some(ValueRef::Str("ünïcödé ")));
    assert_eq!(attribute(bridged, "code.file.path"), Some(ValueRef::Str(&file!()[..8])));
    assert!(matches!(attribute(bridged, "code.line.number"), Some(ValueRef::I64(line)) if line > 0));
    // An operation's `operation.name` is made from its name when read: cut, the name not.
    let operation = spans.iter().find(|span| span.name() == "load_user_profile").expect("the operation");
    assert_eq!(attribute(operation, "operation.name"), Some(ValueRef::Str("load_use")));
    assert_eq!(attribute(operation, "operation.status"), Some(ValueRef::Str("success")));
    assert!(obs.shutdown(), "shut down in time");
}
