//! What the span benchmarks share: obs's pipeline, installed once per process, exporting to a
//! counter (each bench is its own crate: `mod support;` in it).
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use obs_runtime::ObsGuard;
use obs_runtime::trace::{ExportError, Resource, SpanData, SpanExporter, SpanOutput, TraceConfig};

/// obs's exporter: counts the spans and drops them (obs's cost, not a collector's).
pub struct Counting(pub Arc<AtomicU64>);

impl SpanExporter for Counting {
    fn export(&mut self, batch: &[SpanData], _: &Resource, _: Duration) -> Result<(), ExportError> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// obs with tracing only, as `config` says, to a [`Counting`] exporter (the returned counter),
/// service `bench`, no embedded server, no environment read.
pub fn traces_only(config: TraceConfig) -> (ObsGuard, Arc<AtomicU64>) {
    let exported = Arc::new(AtomicU64::new(0));
    let obs = obs_runtime::Obs::builder()
        .environment(obs_runtime::Environment::empty())
        .service("bench")
        .without_http_server()
        .tracing(config.output(SpanOutput::Exporter(Box::new(Counting(exported.clone())))))
        .init()
        .expect("obs's trace pipeline installs");
    (obs, exported)
}
