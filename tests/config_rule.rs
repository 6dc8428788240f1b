//! The configuration rule, end to end: an `OTEL_*` value the specification says to tolerate is
//! not an `Err`: tracing starts with the default, and the warning is counted. One pipeline per
//! process, so a binary of its own.

mod common;

use obs_runtime::trace::TraceConfig;

#[test]
fn a_tolerated_environment_value_starts_tracing_and_is_counted() {
    let env = obs_runtime::Environment::from_pairs([
        ("OTEL_BSP_MAX_QUEUE_SIZE", "lots"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
    ]);
    let guard = obs_runtime::Obs::builder()
        .service("rule-test")
        .environment(env)
        .without_http_server()
        .tracing(TraceConfig::new())
        .init()
        .expect("starts anyway");
    let scrape = common::scrape();
    let warnings =
        common::sample(&scrape, "obs_internal_errors_total", &[("component", "config"), ("reason", "invalid_env")]);
    assert_eq!(warnings, Some(2.0), "one warning per value not taken: {scrape}");
    assert!(obs_runtime::trace::Span::new("recorded").is_recording(), "the default sampler records");
    assert!(guard.shutdown());
}
