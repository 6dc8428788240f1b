//! `OtelExporter` field by field: the same batches go to obs's in-memory exporter (what obs
//! recorded) and, through `OtelExporter`, to the SDK's `InMemorySpanExporter` and to an SDK
//! exporter that keeps the resource it is given; every field the SDK receives is checked against
//! what the test did and what obs recorded.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use obs_opentelemetry::OtelExporter;
use obs_runtime::context::SpanContext;
use obs_runtime::trace::{
    ExportError, InMemoryExporter, RemoteParent, Resource, Span, SpanData, SpanExporter, SpanKind, SpanOutput,
    TraceConfig,
};
use opentelemetry::trace as otel;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::InMemorySpanExporter;

/// Each batch to every exporter.
struct Tee(Vec<Box<dyn SpanExporter>>);

impl SpanExporter for Tee {
    fn export(&mut self, batch: &[SpanData], resource: &Resource, timeout: Duration) -> Result<(), ExportError> {
        self.0.iter_mut().try_for_each(|exporter| exporter.export(batch, resource, timeout))
    }
}

/// obs's resource, as obs gives it to its exporters.
#[derive(Clone, Default)]
struct ObsResource(Arc<Mutex<Option<Resource>>>);

impl SpanExporter for ObsResource {
    fn export(&mut self, _: &[SpanData], resource: &Resource, _: Duration) -> Result<(), ExportError> {
        *self.0.lock().expect("lock") = Some(resource.clone());
        Ok(())
    }
}

/// An SDK exporter that panics.
#[derive(Debug)]
struct Panicking;

impl opentelemetry_sdk::trace::SpanExporter for Panicking {
    async fn export(&self, _: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        panic!("the exporter's own bug")
    }
}

/// An SDK exporter that keeps the resource it is given.
#[derive(Debug, Clone, Default)]
struct ResourceOf(Arc<Mutex<Option<opentelemetry_sdk::Resource>>>);

impl opentelemetry_sdk::trace::SpanExporter for ResourceOf {
    async fn export(&self, _: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        *self.0.lock().expect("lock") = Some(resource.clone());
    }
}

#[test]
fn every_field_maps_over() {
    let obs_spans = InMemoryExporter::new();
    let sdk_spans = InMemorySpanExporter::default();
    let resource = ResourceOf::default();
    let obs_resource = ObsResource::default();
    let tee = Tee(vec![
        Box::new(obs_resource.clone()),
        Box::new(obs_spans.clone()),
        Box::new(OtelExporter::new(sdk_spans.clone())),
        Box::new(OtelExporter::new(resource.clone())),
    ]);
    let obs = obs_runtime::Obs::builder()
        .without_http_server()
        .service(obs_runtime::Service::new("checkout").version("1.2.3"))
        .tracing(TraceConfig::new().output(SpanOutput::Exporter(Box::new(tee))))
        .init()
        .expect("obs starts");

    // A server span under a remote parent with a tracestate, and a failing child with an
    // attribute of every type.
    let remote =
        SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").expect("valid");
    let server =
        Span::builder("GET /cart").kind(SpanKind::Server).parent(RemoteParent::new(remote, Some("vendor=abc"))).start();
    {
        let _in_server = server.enter();
        let child = Span::builder("load_cart").kind(SpanKind::Client).start();
        child.set_attribute("text", "a");
        child.set_attribute("int", 7_i64);
        child.set_attribute("float", 0.5);
        child.set_attribute("flag", true);
        child.add_event("cache_miss", vec![("key".into(), "cart:1".into())]);
        child.record_error(&"connection refused");
    }
    server.set_ok();
    server.end();
    assert!(obs.traces().expect("tracing is on").flush());

    let [server] = obs_spans.named("GET /cart").try_into().expect("one server span");
    let [child] = obs_spans.named("load_cart").try_into().expect("one child span");
    let sdk = sdk_spans.get_finished_spans().expect("the SDK's spans");
    assert_eq!(sdk.len(), 2);
    let sdk_server = sdk.iter().find(|span| span.name == "GET /cart").expect("the server span");
    let sdk_child = sdk.iter().find(|span| span.name == "load_cart").expect("the child span");

    // Ids, flags (sampled and W3C random, as the parent said) and the tracestate.
    let context = sdk_server.span_context.clone();
    assert_eq!(context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(context.span_id().to_bytes(), server.context().span_id().to_bytes());
    assert_eq!(context.trace_flags().to_u8(), 0x03);
    assert_eq!(context.trace_state().header(), "vendor=abc");
    assert_eq!(sdk_server.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_eq!(sdk_child.parent_span_id, context.span_id());
    assert_eq!(sdk_child.span_context.trace_id(), context.trace_id());
    assert_eq!(sdk_child.span_context.trace_state().header(), "vendor=abc");

    // Kinds, times (to the nanosecond) and statuses.
    assert_eq!(sdk_server.span_kind, otel::SpanKind::Server);
    assert_eq!(sdk_child.span_kind, otel::SpanKind::Client);
    for (sdk, obs) in [(sdk_server, &server), (sdk_child, &child)] {
        assert_eq!(sdk.start_time, UNIX_EPOCH + Duration::from_nanos(obs.start_unix_nanos()));
        assert_eq!(sdk.end_time, UNIX_EPOCH + Duration::from_nanos(obs.end_unix_nanos()));
    }
    assert_eq!(sdk_server.status, otel::Status::Ok);
    assert_eq!(sdk_child.status, otel::Status::error("connection refused"));

    // Attributes of every type, in obs's order, then the error's.
    assert_eq!(
        sdk_child.attributes,
        [
            KeyValue::new("text", "a"),
            KeyValue::new("int", 7_i64),
            KeyValue::new("float", 0.5),
            KeyValue::new("flag", true),
            KeyValue::new("error.message", "connection refused"),
        ]
    );
    assert_eq!(sdk_child.dropped_attributes_count, 0);

    // Events: the test's and the exception, at obs's times.
    let events: Vec<(&str, Vec<KeyValue>)> =
        sdk_child.events.iter().map(|event| (event.name.as_ref(), event.attributes.clone())).collect();
    assert_eq!(
        events,
        [
            ("cache_miss", vec![KeyValue::new("key", "cart:1")]),
            ("exception", vec![KeyValue::new("exception.message", "connection refused")]),
        ]
    );
    for (sdk, obs) in sdk_child.events.iter().zip(child.events()) {
        assert_eq!(sdk.timestamp, UNIX_EPOCH + Duration::from_nanos(obs.time_unix_nanos()));
    }
    assert!(sdk_child.links.is_empty());

    // The scope is obs's, as obs's own OTLP exporter sends it.
    assert_eq!(sdk_child.instrumentation_scope.name(), "obs");
    assert_eq!(sdk_child.instrumentation_scope.version(), Some(obs_runtime::trace::SCOPE_VERSION));

    // The resource: obs's attributes, every one and nothing added.
    let resource = resource.0.lock().expect("lock").clone().expect("the resource was set");
    assert_eq!(resource.get(&"service.name".into()), Some(Value::from("checkout")));
    assert_eq!(resource.get(&"service.version".into()), Some(Value::from("1.2.3")));
    let obs_resource = obs_resource.0.lock().expect("lock").clone().expect("obs's resource");
    let mut expected: Vec<(String, String)> = obs_resource
        .attributes()
        .iter()
        .map(|(key, value)| (key.to_string(), format!("{:?}", value.as_ref())))
        .collect();
    let mut got: Vec<(String, String)> = resource
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Value::String(text) => format!("{:?}", obs_runtime::trace::ValueRef::Str(text.as_str())),
                Value::I64(number) => format!("{:?}", obs_runtime::trace::ValueRef::I64(*number)),
                Value::F64(number) => format!("{:?}", obs_runtime::trace::ValueRef::F64(*number)),
                Value::Bool(flag) => format!("{:?}", obs_runtime::trace::ValueRef::Bool(*flag)),
                other => panic!("obs has no such value: {other:?}"),
            };
            (key.to_string(), value)
        })
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(got.iter().any(|(key, _)| key == "telemetry.sdk.name"), "{got:?}");

    // An SDK exporter that panics fails the batch (obs counts it dropped); obs's thread lives on.
    let batch = obs_spans.spans();
    let error =
        OtelExporter::new(Panicking).export(&batch, &obs_resource, Duration::from_secs(1)).expect_err("a panic");
    assert_eq!(error.to_string(), "the OpenTelemetry exporter panicked");
    obs.shutdown();
}
