//! An in-process span receiver: an exporter that keeps what it is given, for assertions on the
//! tree (the OTLP wire path is tested against real receivers in tests/trace_otlp.rs).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use obs_runtime::context::TraceId;
use obs_runtime::trace::{
    ExportError, Resource, SpanData, SpanExporter, SpanOutput, TraceConfig, TraceGuard, ValueRef,
};

#[derive(Clone, Default)]
pub struct Collected(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collected {
    fn export(&mut self, batch: &[SpanData], _: &Resource, _: Duration) -> Result<(), ExportError> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(batch);
        Ok(())
    }
}

static PIPELINE: OnceLock<(Collected, TraceGuard)> = OnceLock::new();

/// Installs (once per test process) a pipeline exporting into memory.
pub fn install() -> &'static (Collected, TraceGuard) {
    PIPELINE.get_or_init(|| {
        let collected = Collected::default();
        let config = TraceConfig::new("test-service")
            .output(SpanOutput::Exporter(Box::new(collected.clone())))
            .schedule_delay(Duration::from_millis(5));
        let guard = obs_runtime::trace::install_with_env(config, |_| None).expect("installs");
        (collected, guard)
    })
}

/// Every span exported so far (after a flush) for which `wanted` holds.
fn exported(wanted: impl Fn(&SpanData) -> bool) -> Vec<SpanData> {
    let (collected, guard) = install();
    assert!(guard.flush(), "flushed in time");
    collected.0.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|span| wanted(span)).cloned().collect()
}

/// Every span of this trace exported so far.
pub fn of_trace(trace_id: TraceId) -> Vec<SpanData> {
    exported(|span| span.context().trace_id() == trace_id)
}

/// Every span exported so far named `name`.
pub fn named(name: &str) -> Vec<SpanData> {
    exported(|span| span.name() == name)
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
