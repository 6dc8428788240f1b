//! An in-process span receiver: an exporter that keeps what it is given, for assertions on the
//! tree (the OTLP wire path is tested against real receivers in tests/trace_otlp.rs).

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use obs_runtime::ObsGuard;
use obs_runtime::context::TraceId;
use obs_runtime::trace::{InMemoryExporter, SpanData, SpanOutput, TraceConfig, ValueRef};

static PIPELINE: OnceLock<(InMemoryExporter, Mutex<ObsGuard>)> = OnceLock::new();

/// obs with tracing only (`config`), for service `service`: no server, no environment read.
pub fn traces_only(service: &str, config: TraceConfig) -> ObsGuard {
    obs_runtime::Obs::builder()
        .service(service)
        .environment(obs_runtime::Environment::empty())
        .without_http_server()
        .tracing(config)
        .init()
        .expect("installs")
}

/// obs with logging (obs's global subscriber, `logging`) and tracing into `exported`, for service
/// `service`, reading `environment`: no server.
#[cfg(feature = "logging")]
pub fn logs_and_traces(
    service: &str,
    environment: obs_runtime::Environment,
    logging: obs_runtime::logging::LoggingConfig,
    exported: &InMemoryExporter,
) -> ObsGuard {
    obs_runtime::Obs::builder()
        .service(service)
        .environment(environment)
        .without_http_server()
        .logging(logging)
        .tracing(
            TraceConfig::new()
                .output(SpanOutput::Exporter(Box::new(exported.clone())))
                .schedule_delay(Duration::from_millis(5)),
        )
        .init()
        .expect("installs")
}

/// Installs (once per test process) a pipeline exporting into memory: the public
/// `InMemoryExporter`, so the test support users get is the one the suite relies on.
pub fn install() -> &'static (InMemoryExporter, Mutex<ObsGuard>) {
    PIPELINE.get_or_init(|| {
        let collected = InMemoryExporter::new();
        let config = TraceConfig::new()
            .output(SpanOutput::Exporter(Box::new(collected.clone())))
            .schedule_delay(Duration::from_millis(5));
        (collected, Mutex::new(traces_only("test-service", config)))
    })
}

/// The exporter, flushed: every span ended before the call is in it.
fn exported() -> &'static InMemoryExporter {
    let (collected, guard) = install();
    let guard = guard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(guard.traces().expect("tracing").flush(), "flushed in time");
    collected
}

/// Every span of this trace exported so far.
pub fn of_trace(trace_id: TraceId) -> Vec<SpanData> {
    exported().of_trace(trace_id)
}

/// Every span exported so far named `name`.
pub fn named(name: &str) -> Vec<SpanData> {
    exported().named(name)
}

/// The one span named `name` in `spans`.
pub fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|span| span.name() == name).collect();
    assert_eq!(found.len(), 1, "one span named {name} in {spans:#?}");
    found[0]
}

/// An attribute's value as text (`str`, number or bool), if set.
pub fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes().find(|(name, _)| *name == key).map(|(_, value)| match value {
        ValueRef::Str(text) => text.to_owned(),
        ValueRef::I64(value) => value.to_string(),
        ValueRef::F64(value) => value.to_string(),
        ValueRef::Bool(value) => value.to_string(),
    })
}
