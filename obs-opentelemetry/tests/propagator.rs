//! `OtelPropagator` driving obs's extract and inject: AWS X-Ray's propagator (from
//! opentelemetry-aws) with OpenTelemetry's baggage propagator, on the header examples of their
//! specifications. (Installs a pipeline: a binary of its own.)

use http::HeaderMap;
use obs_opentelemetry::OtelPropagator;
use obs_runtime::baggage::Baggage;
use obs_runtime::trace::{InMemoryExporter, Span, SpanKind, SpanOutput, TraceConfig};
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| (http::HeaderName::from_static(name), value.parse().expect("a header value")))
        .collect()
}

#[test]
fn x_ray_and_baggage_cross_through_obs() {
    let spans = InMemoryExporter::new();
    let propagator =
        TextMapCompositePropagator::new(vec![Box::new(XrayPropagator::new()), Box::new(BaggagePropagator::new())]);
    let obs = obs_runtime::Obs::builder()
        .without_http_server()
        .tracing(
            TraceConfig::new()
                .propagator(OtelPropagator::new(propagator))
                .baggage_attributes(["tenant"])
                .output(SpanOutput::Exporter(Box::new(spans.clone()))),
        )
        .init()
        .expect("obs starts");

    // The X-Ray documentation's example header, sampled, and a W3C baggage header.
    let incoming = headers(&[
        ("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
        ("baggage", "tenant=acme,region=eu"),
        // Not a format this propagator reads: ignored.
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ]);
    let parent = obs_runtime::trace::extract(&incoming).expect("X-Ray names a parent");
    assert_eq!(parent.context().trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
    assert_eq!(parent.context().span_id().to_string(), "53995c3f42cd8ad8");
    assert!(parent.context().is_sampled());
    let baggage = obs_runtime::baggage::extract(&incoming);
    assert_eq!(baggage.get("tenant"), Some("acme"));
    assert_eq!(baggage.get("region"), Some("eu"));

    // A server span under it, with the baggage current, injects both into an outgoing request,
    // replacing what was there.
    let _baggage = baggage.attach();
    let server = Span::builder("GET /orders").kind(SpanKind::Server).parent(parent).start();
    let mut outgoing =
        headers(&[("x-amzn-trace-id", "Root=1-00000000-000000000000000000000001;Parent=0000000000000001;Sampled=0")]);
    {
        let _in_server = server.enter();
        obs_runtime::trace::inject(&mut outgoing);
    }
    let span_id = server.context().expect("a context").span_id();
    assert_eq!(
        outgoing.get("x-amzn-trace-id").expect("X-Ray header").to_str().expect("text"),
        format!("Root=1-5759e988-bd862e3fe1be46a994272793;Parent={span_id};Sampled=1")
    );
    let sent: Baggage = obs_runtime::baggage::extract(&outgoing);
    assert_eq!(sent.get("tenant"), Some("acme"));
    assert_eq!(sent.get("region"), Some("eu"));
    assert!(outgoing.get("traceparent").is_none(), "only the configured propagator writes");
    server.end();

    // With no span and no baggage, inject leaves no stale context behind.
    drop(_baggage);
    let mut stale =
        headers(&[("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")]);
    obs_runtime::trace::inject(&mut stale);
    assert!(stale.get("x-amzn-trace-id").is_none(), "{stale:?}");

    // The span is X-Ray's child, and carries the named baggage entry.
    assert!(obs.traces().expect("tracing is on").flush());
    let [exported] = spans.named("GET /orders").try_into().expect("one span");
    assert_eq!(exported.parent_span_id().expect("a parent").to_string(), "53995c3f42cd8ad8");
    assert_eq!(exported.context().trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
    assert!(
        exported.attributes().any(|(key, value)| key == "tenant" && value == obs_runtime::trace::ValueRef::Str("acme"))
    );
    obs.shutdown();
}
