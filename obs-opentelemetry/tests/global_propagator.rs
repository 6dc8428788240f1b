//! `GlobalPropagator`: the propagator installed with `opentelemetry::global` drives obs's extract
//! and inject, on the W3C Trace Context Recommendation's example headers. (Installs a pipeline and
//! the global propagator: a binary of its own.)

use http::HeaderMap;
use obs_opentelemetry::GlobalPropagator;
use obs_runtime::trace::{Span, SpanKind, SpanOutput, TraceConfig};
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

#[test]
fn the_global_propagator_reads_and_writes_obs_context() {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let spans = obs_runtime::trace::InMemoryExporter::new();
    let obs = obs_runtime::Obs::builder()
        .without_http_server()
        .tracing(TraceConfig::new().propagator(GlobalPropagator).output(SpanOutput::Exporter(Box::new(spans.clone()))))
        .init()
        .expect("obs starts");

    let mut incoming = HeaderMap::new();
    incoming.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().expect("value"));
    incoming.insert("tracestate", "congo=t61rcWkgMzE".parse().expect("value"));
    incoming.insert("baggage", "tenant=acme".parse().expect("value"));
    let parent = obs_runtime::trace::extract(&incoming).expect("a parent");
    assert_eq!(parent.context().trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(parent.context().span_id().to_string(), "b7ad6b7169203331");
    assert_eq!(parent.tracestate(), Some("congo=t61rcWkgMzE"));
    let baggage = obs_runtime::baggage::extract(&incoming);
    assert_eq!(baggage.get("tenant"), Some("acme"));

    let _baggage = baggage.attach();
    let server = Span::builder("GET /").kind(SpanKind::Server).parent(parent).start();
    let mut outgoing = HeaderMap::new();
    server.in_scope(|| obs_runtime::trace::inject(&mut outgoing));
    let span_id = server.context().expect("a context").span_id();
    let header = |name: &str| outgoing.get(name).map(|value| value.to_str().expect("text").to_owned());
    assert_eq!(header("traceparent"), Some(format!("00-0af7651916cd43dd8448eb211c80319c-{span_id}-01")));
    assert_eq!(header("tracestate").as_deref(), Some("congo=t61rcWkgMzE"));
    assert_eq!(header("baggage").as_deref(), Some("tenant=acme"));
    server.end();
    assert!(obs.traces().expect("tracing is on").flush());
    assert_eq!(spans.named("GET /")[0].parent_span_id().expect("a parent").to_string(), "b7ad6b7169203331");
    obs.shutdown();
}
