//! A span filter of its own (`LoggingConfig::span_filter`, `OBS_SPAN_FILTER`): DEBUG spans
//! bridged without DEBUG log lines, a target turned off for spans only; a bad directive is an
//! `Err` naming where it came from, before anything is installed.

mod common;

use common::Captured;
use obs_runtime::context::SpanContext;
use obs_runtime::logging::{LoggingConfig, Output};
use obs_runtime::trace::InMemoryExporter;
use obs_runtime::{ConfigError, Environment, Obs};

#[test]
fn spans_and_log_lines_each_follow_their_own_filter() {
    // Bad directives: an Err naming the builder option, or the variable, and nothing installed.
    let refused = Obs::builder()
        .environment(Environment::empty())
        .without_http_server()
        .logging(LoggingConfig::new().span_filter("info,[{"))
        .init()
        .expect_err("refused");
    assert!(matches!(refused, ConfigError::Invalid { field: "span_filter", .. }), "{refused:?}");
    let refused = Obs::builder()
        .environment(Environment::from_pairs([("OBS_SPAN_FILTER", "info,[{")]))
        .without_http_server()
        .logging(LoggingConfig::new())
        .init()
        .expect_err("refused");
    assert!(matches!(refused, ConfigError::Invalid { field: "OBS_SPAN_FILTER", .. }), "{refused:?}");
    assert!(!tracing::dispatcher::has_been_set());

    let exported = InMemoryExporter::new();
    let output = Captured::default();
    let obs = common::spans::logs_and_traces(
        "span-filter",
        Environment::from_pairs([("OBS_SPAN_FILTER", "debug,noisy=off")]),
        LoggingConfig::new().filter("info").output(Output::Writer(Box::new(output.clone()))),
        &exported,
    );
    let debug = tracing::debug_span!("debug_span");
    let context = debug.in_scope(|| {
        tracing::debug!("a debug line, below the log filter");
        tracing::info!("an info line");
        let noisy = tracing::info_span!(target: "noisy", "noisy_span");
        // Off for spans: what is current stays the DEBUG span.
        assert_eq!(noisy.in_scope(SpanContext::current), SpanContext::current());
        SpanContext::current().expect("the DEBUG span is bridged")
    });
    drop(debug);
    assert!(obs.traces().expect("tracing").flush(), "flushed");
    assert!(obs.logs().expect("logging").flush(), "flushed");
    let spans = exported.of_trace(context.trace_id());
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0].name(), "debug_span");
    let lines = output.lines();
    assert!(lines.iter().any(|line| line.contains("an info line") && line.contains(&context.span_id().to_string())));
    assert!(!lines.iter().any(|line| line.contains("a debug line")), "{lines:#?}");
}
