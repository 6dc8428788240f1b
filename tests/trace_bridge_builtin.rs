//! obs's own subscriber (`.logging(..)` with `.tracing(..)`) bridges `tracing` spans with no
//! further code, under its one filter, and never obs's own targets.

mod common;

use common::Captured;
use obs_runtime::context::SpanContext;
use obs_runtime::logging::{LoggingConfig, Output};
use obs_runtime::trace::InMemoryExporter;

#[tracing::instrument]
fn lookup(id: u32) -> Option<SpanContext> {
    SpanContext::current()
}

#[test]
fn obs_subscriber_bridges_tracing_spans_under_its_filter() {
    let exported = InMemoryExporter::new();
    let output = Captured::default();
    let obs = common::spans::logs_and_traces(
        "builtin-bridge",
        obs_runtime::Environment::empty(),
        LoggingConfig::new().filter("info").output(Output::Writer(Box::new(output.clone()))),
        &exported,
    );
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
