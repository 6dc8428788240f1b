//! obs-opentelemetry's `OtelExporter` against obs's own OTLP exporter, decoded by a receiver obs
//! did not write (scripts/otlp_sink.py, the official opentelemetry-proto types): the same batches
//! go through both, to one sink each, and every span decodes to the same message, field by
//! field (ids, parent, tracestate, name, kind, times, attributes, events, links, status, dropped
//! counts, resource, scope). The one difference is the span flags' bit 0x100 ("whether the parent
//! is remote is known"), which the SDK always sets and obs leaves unset: checked as such.

mod common;

use std::time::Duration;

use common::otlp::Sink;
use obs_opentelemetry::OtelExporter;
use obs_runtime::context::SpanContext;
use obs_runtime::trace::{
    ExportError, RemoteParent, Resource, Span, SpanData, SpanExporter, SpanKind, SpanOutput, TraceConfig,
};
use obs_runtime::{Environment, Service};
use opentelemetry_otlp::WithExportConfig as _;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

/// Each batch to every exporter.
struct Tee(Vec<Box<dyn SpanExporter>>);

impl SpanExporter for Tee {
    fn export(&mut self, batch: &[SpanData], resource: &Resource, timeout: Duration) -> Result<(), ExportError> {
        self.0.iter_mut().try_for_each(|exporter| exporter.export(batch, resource, timeout))
    }
}

/// A decoded span with its `flags` (and its links') taken out, and those flags.
fn split_flags(mut span: Value) -> (Value, u64, Vec<u64>) {
    let flags = span["flags"].as_u64().expect("flags");
    span.as_object_mut().expect("an object").remove("flags");
    let mut link_flags = Vec::new();
    for link in span["links"].as_array_mut().expect("links") {
        link_flags.push(link["flags"].as_u64().expect("a link's flags"));
        link.as_object_mut().expect("an object").remove("flags");
    }
    (span, flags, link_flags)
}

#[test]
fn the_same_spans_decode_to_the_same_messages_through_both_exporters() {
    let own_sink = Sink::start(0);
    let sdk_sink = Sink::start(0);
    let own = TraceConfig::new()
        .otlp_endpoint(format!("http://127.0.0.1:{}", own_sink.http_port))
        .exporter(&Environment::empty())
        .expect("obs's OTLP exporter");
    let sdk = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("http://127.0.0.1:{}/v1/traces", sdk_sink.http_port))
        .build()
        .expect("opentelemetry-otlp's exporter");
    let tee = Tee(vec![own, Box::new(OtelExporter::new(sdk))]);
    let obs = obs_runtime::Obs::builder()
        .without_http_server()
        .service(Service::new("checkout").version("1.2.3").attribute("deployment.environment.name", "test"))
        .tracing(TraceConfig::new().output(SpanOutput::Exporter(Box::new(tee))))
        .init()
        .expect("obs starts");

    // A server span under a remote parent with a tracestate; a failing client child with an
    // attribute of every type and an event; and two `tracing` spans, bridged, one following
    // from the other (a link).
    let remote =
        SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
    let server =
        Span::builder("GET /cart").kind(SpanKind::Server).parent(RemoteParent::new(remote, Some("vendor=abc"))).start();
    {
        let _in_server = server.enter();
        let child = Span::builder("load_cart").kind(SpanKind::Client).start();
        child.set_attribute("text", "a");
        child.set_attribute("int", 7_i64);
        child.set_attribute("float", 0.5);
        child.set_attribute("flag", true);
        child.add_event("cache_miss", vec![("key".into(), "cart:1".into()), ("attempt".into(), 2_i64.into())]);
        child.record_error(&"connection refused");
        let subscriber = tracing_subscriber::registry().with(obs_runtime::trace::layer());
        tracing::subscriber::with_default(subscriber, || {
            let first = tracing::info_span!("first", items = 3_i64);
            let second = tracing::info_span!("second");
            second.follows_from(&first);
        });
    }
    server.set_ok();
    server.end();
    assert!(obs.traces().expect("tracing is on").flush());

    let four = |spans: &[Value]| spans.len() >= 4;
    let own_spans = own_sink.wait_for(four);
    let sdk_spans = sdk_sink.wait_for(four);
    assert_eq!(own_spans.len(), 4, "{own_spans:#?}");
    assert_eq!(sdk_spans.len(), 4, "{sdk_spans:#?}");
    let names: Vec<&str> = own_spans.iter().map(|span| span["name"].as_str().expect("a name")).collect();
    for name in ["GET /cart", "load_cart", "first", "second"] {
        assert!(names.contains(&name), "{name} is missing: {names:?}");
    }

    for own in own_spans {
        let sdk = sdk_spans.iter().find(|sdk| sdk["span_id"] == own["span_id"]).expect("the same span through the SDK");
        let (own, own_flags, own_link_flags) = split_flags(own);
        let (sdk, sdk_flags, sdk_link_flags) = split_flags(sdk.clone());
        assert_eq!(own, sdk, "the same message but for the flags");
        // The W3C trace flags agree; only the SDK says "whether the parent is remote is known"
        // (0x100), and says "not remote" (no 0x200).
        assert_eq!(sdk_flags, own_flags | 0x100, "{own:#?}");
        assert_eq!(own_flags & 0x300, 0);
        let own_link_flags: Vec<u64> = own_link_flags.iter().map(|flags| flags | 0x100).collect();
        assert_eq!(sdk_link_flags, own_link_flags);
    }

    // What both received is what the test did (checked once, on obs's side: they are equal).
    let spans = own_sink.spans();
    let by_name = |name: &str| spans.iter().find(|span| span["name"] == name).expect(name).clone();
    let (server, child, first, second) =
        (by_name("GET /cart"), by_name("load_cart"), by_name("first"), by_name("second"));
    assert_eq!(server["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(server["parent_span_id"], "00f067aa0ba902b7");
    assert_eq!(server["trace_state"], "vendor=abc");
    assert_eq!(server["kind"], 2);
    assert_eq!(server["status"], serde_json::json!({"code": 1, "message": ""}));
    assert_eq!(server["resource"]["service.name"], "checkout");
    assert_eq!(server["resource"]["service.version"], "1.2.3");
    assert_eq!(server["resource"]["deployment.environment.name"], "test");
    assert_eq!(server["scope"], "obs");
    assert_eq!(server["scope_version"], obs_runtime::trace::SCOPE_VERSION);
    assert_eq!(child["parent_span_id"], server["span_id"]);
    assert_eq!(child["kind"], 3);
    assert_eq!(
        child["attributes"],
        serde_json::json!({"text": "a", "int": 7, "float": 0.5, "flag": true, "error.message": "connection refused"})
    );
    assert_eq!(child["events"][0]["name"], "cache_miss");
    assert_eq!(child["events"][0]["attributes"], serde_json::json!({"key": "cart:1", "attempt": 2}));
    assert_eq!(child["events"][1]["name"], "exception");
    assert_eq!(child["status"], serde_json::json!({"code": 2, "message": "connection refused"}));
    assert_eq!(first["attributes"]["items"], 3);
    // The current obs span (the server span: the child was never entered) is the bridged span's parent.
    assert_eq!(first["parent_span_id"], server["span_id"]);
    assert_eq!(second["links"][0]["span_id"], first["span_id"]);
    assert_eq!(second["links"][0]["trace_id"], first["trace_id"]);
    obs.shutdown();
}
