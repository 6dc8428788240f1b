//! obs's own subscriber (`.logging(..)` with `.tracing(..)`) bridges `tracing` spans with no
//! further code, under its one filter, and never obs's own targets.

mod common;

use std::time::Duration;

use common::Captured;
use obs_runtime::context::SpanContext;
use obs_runtime::logging::{LoggingConfig, Output};
use obs_runtime::trace::{InMemoryExporter, SpanOutput, TraceConfig};

#[tracing::instrument]
fn lookup(id: u32) -> Option<SpanContext> {
    SpanContext::current()
}

#[test]
fn obs_subscriber_bridges_tracing_spans_under_its_filter() {
    let exported = InMemoryExporter::new();
    let output = Captured::default();
    let obs = obs_runtime::Obs::builder()
        .service("builtin-bridge")
        .environment(obs_runtime::Environment::empty())
        .without_http_server()
        .logging(LoggingConfig::new().filter("info").output(Output::Writer(Box::new(output.clone()))))
        .tracing(
            TraceConfig::new()
                .output(SpanOutput::Exporter(Box::new(exported.clone())))
                .schedule_delay(Duration::from_millis(5)),
        )
        .init()
        .expect("installs");
    let context = lookup(7).expect("the instrumented fn is a bridged span");
    let trace_id = context.trace_id();
    // Below the filter's level: not a span.
    let debug = tracing::debug_span!("below_the_filter");
    assert_eq!(debug.in_scope(SpanContext::current), None);
    // obs's own target: never bridged.
    let own = tracing::info_span!(target: "obs::trace", "own_span");
    assert_eq!(own.in_scope(SpanContext::current), None);
    drop((debug, own));
    assert!(obs.traces().expect("tracing").flush(), "flushed");
    let spans = exported.of_trace(trace_id);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].name(), "lookup");
    assert_eq!(spans[0].context(), context);
    assert!(exported.named("below_the_filter").is_empty());
    assert!(exported.named("own_span").is_empty());
}
