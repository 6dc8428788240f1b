//! Traces: OpenTelemetry spans from `#[trace_operation]` (and [`Span`] for blocks), propagated
//! across `.await`, threads and services (W3C `traceparent`), exported in batches off the
//! calling thread over OTLP to a collector (or as JSON lines when none is configured).
//!
//! ```
//! use obs_runtime::trace_operation;
//!
//! #[trace_operation("process_user_request")]
//! async fn process_user_request(user_id: &str) -> Result<String, std::io::Error> {
//!     obs_runtime::span_attributes!(user_id = user_id);
//!     database_query(user_id).await
//! }
//!
//! #[trace_operation(kind = client, fields(db.system = "postgresql"))]
//! async fn database_query(user_id: &str) -> Result<String, std::io::Error> {
//!     Ok(format!("user {user_id}"))
//! }
//! ```
//!
//! Install the pipeline with [`crate::ObsBuilder::tracing`]; until then spans cost one atomic
//! load and record nothing.
//!
//! | span attribute | from |
//! |---|---|
//! | `service.name` (resource) | [`ObsBuilder::service`](crate::ObsBuilder::service), `OTEL_SERVICE_NAME` |
//! | `operation.name`, `operation.status` (`success` / `error`) | `#[trace_operation]` |
//! | `error.message`, span status `Error`, an `exception` event | an `Err`, a status of 500 or more, a panic |
//!
//! Self-metrics: `obs_spans_exported_total`,
//! `obs_spans_dropped_total{reason="queue_full"|"export_failed"|"shutdown"}`.

#[cfg(feature = "tracing-bridge")]
mod bridge;
mod config;
mod data;
mod export;
mod in_memory;
#[cfg(feature = "otlp")]
mod otlp;
mod pillar;
pub(crate) mod pipeline;
pub(crate) mod propagation;
#[cfg(feature = "page")]
pub(crate) mod recent;
mod sampler;
mod span;
#[cfg(feature = "tower")]
pub mod tower;
mod tracestate;

use std::time::Duration;

#[cfg(feature = "tracing-bridge")]
pub use bridge::{TracingLayer, layer};
#[cfg(all(feature = "otlp", any(feature = "metrics", feature = "logging")))]
pub(crate) use config::resource as resource_of;
#[cfg(feature = "otlp")]
pub use config::{Compression, Protocol};
pub use config::{SpanOutput, TraceConfig};
pub use data::{Event, SpanData, SpanKind, Status, ToValue, Value, ValueRef};
pub use export::{ExportError, Resource, SCOPE_NAME, SCOPE_VERSION, SpanExporter};
pub use in_memory::InMemoryExporter;
pub(crate) use pillar::Pillar;
pub use propagation::{HeaderPropagator, Propagator, client_request, extract, inject};
pub use sampler::Sampler;
pub use span::{
    CurrentSpan, Entered, ForeignParent, Instrumented, RemoteParent, Span, SpanBuilder, set_foreign_parent,
};

/// Flushes and stops the span pipeline: on [`TraceGuard::shutdown`], or when dropped. Both wait
/// at most [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT) (10 s, as every guard on
/// its own), on any thread, with or without an async runtime; what is not exported by then is
/// dropped and counted (`obs_spans_dropped_total{reason="shutdown"}`): an export still waiting
/// on its own timeout (10 s by default) then is dropped with its batch. With
/// [`ObsGuard`](crate::ObsGuard), its shutdown deadline bounds it instead.
#[derive(Debug)]
#[must_use = "dropping the guard shuts the span pipeline down"]
pub struct TraceGuard {
    handle: Option<pipeline::Handle>,
}

/// How long a flush waits at most: an export's whole timeout (10 s by default), and a margin.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(12);

impl TraceGuard {
    pub(crate) fn new(handle: pipeline::Handle) -> TraceGuard {
        TraceGuard { handle: Some(handle) }
    }

    /// A guard of nothing (`OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`).
    pub(crate) fn disabled() -> TraceGuard {
        TraceGuard { handle: None }
    }

    /// Exports every span ended so far; `false` if that did not finish in time.
    pub fn flush(&self) -> bool {
        self.handle.as_ref().is_none_or(|handle| handle.flush(FLUSH_TIMEOUT))
    }

    /// Spans exported so far.
    pub fn exported(&self) -> u64 {
        self.handle.as_ref().map_or(0, |handle| handle.counts().exported.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Spans dropped so far: the queue was full, the export failed after its retries or for good,
    /// the receiver's partial success rejected them, or they were not exported by the
    /// shutdown's deadline.
    pub fn dropped(&self) -> u64 {
        self.handle.as_ref().map_or(0, |handle| {
            let counts = handle.counts();
            counts.dropped_queue_full.load(std::sync::atomic::Ordering::Relaxed)
                + counts.dropped_export_failed.load(std::sync::atomic::Ordering::Relaxed)
                + counts.dropped_refused.load(std::sync::atomic::Ordering::Relaxed)
                + counts.dropped_rejected.load(std::sync::atomic::Ordering::Relaxed)
                + counts.dropped_shutdown.load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Stops recording, exports what is queued, and stops the export thread. `false` if that did
    /// not finish in time (what was left is dropped).
    pub fn shutdown(mut self) -> bool {
        self.stop()
    }

    fn stop(&mut self) -> bool {
        let deadline = crate::Deadline::after(crate::DEFAULT_SHUTDOWN_TIMEOUT);
        self.signal_stop(deadline);
        self.wait_stopped(deadline)
    }

    /// Stops recording; what is queued is exported by `deadline`. Returns at once.
    pub(crate) fn signal_stop(&self, deadline: crate::Deadline) {
        if let Some(handle) = &self.handle {
            handle.signal_shutdown(deadline);
        }
    }

    /// Waits until the export thread has stopped, by `deadline` (the one given to
    /// [`signal_stop`](Self::signal_stop)) and a moment to count. `false` if it took longer.
    pub(crate) fn wait_stopped(&mut self, deadline: crate::Deadline) -> bool {
        self.handle.take().is_none_or(|handle| handle.wait_shutdown(deadline))
    }
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `future` run in the current span (entered at each poll, on whichever thread), with the
/// current baggage: for `tokio::spawn(obs_runtime::trace::in_current_span(async move { .. }))`,
/// so the task's spans and logs belong to the trace that spawned it.
pub fn in_current_span<F: std::future::Future>(future: F) -> Instrumented<CurrentSpan, crate::baggage::WithBaggage<F>> {
    Span::current().scope(future)
}

/// `body` wrapped to run in the current span: for
/// `std::thread::spawn(obs_runtime::trace::bind(move || ..))`.
pub fn bind<R>(body: impl FnOnce() -> R) -> impl FnOnce() -> R {
    Span::current().bind(body)
}
