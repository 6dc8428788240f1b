//! A span exporter that keeps what it is given, for tests of instrumented code.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::data::SpanData;
use super::export::{ExportError, Resource, SpanExporter};
use crate::context::TraceId;
use crate::sync;

/// Keeps every exported span in memory; clones share them. Give one to
/// [`SpanOutput::Exporter`](super::SpanOutput::Exporter), flush the pipeline
/// ([`TraceGuard::flush`](super::TraceGuard::flush)), then look spans up by name, trace or parent.
///
/// ```
/// use obs_runtime::trace::{InMemoryExporter, SpanOutput, TraceConfig};
/// use obs_runtime::trace_operation;
///
/// #[trace_operation("parent")]
/// fn parent() { child() }
///
/// #[trace_operation("child")]
/// fn child() {}
///
/// let spans = InMemoryExporter::new();
/// let obs = obs_runtime::Obs::builder()
///     .without_http_server()
///     .service("doc")
///     .tracing(TraceConfig::new().output(SpanOutput::Exporter(Box::new(spans.clone()))))
///     .init()?;
/// parent();
/// assert!(obs.traces().expect("tracing is on").flush());
/// let [parent] = spans.named("parent").try_into().expect("one parent span");
/// let children = spans.children_of(&parent);
/// assert_eq!(children.iter().map(|span| span.name()).collect::<Vec<_>>(), ["child"]);
/// # Ok::<(), obs_runtime::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryExporter {
    spans: Arc<Mutex<Vec<SpanData>>>,
}

impl InMemoryExporter {
    /// An exporter holding nothing yet.
    pub fn new() -> InMemoryExporter {
        InMemoryExporter::default()
    }

    /// Every span exported so far, in the order they were exported.
    pub fn spans(&self) -> Vec<SpanData> {
        self.matching(|_| true)
    }

    /// The spans named `name`.
    pub fn named(&self, name: &str) -> Vec<SpanData> {
        self.matching(|span| span.name() == name)
    }

    /// The spans of one trace.
    pub fn of_trace(&self, trace_id: TraceId) -> Vec<SpanData> {
        self.matching(|span| span.context().trace_id() == trace_id)
    }

    /// The spans whose parent is `parent`.
    pub fn children_of(&self, parent: &SpanData) -> Vec<SpanData> {
        let (trace_id, span_id) = (parent.context().trace_id(), parent.context().span_id());
        self.matching(|span| span.context().trace_id() == trace_id && span.parent_span_id() == Some(span_id))
    }

    /// The parent of `child`, if it was exported here.
    pub fn parent_of(&self, child: &SpanData) -> Option<SpanData> {
        let parent = child.parent_span_id()?;
        let trace_id = child.context().trace_id();
        self.matching(|span| span.context().trace_id() == trace_id && span.context().span_id() == parent).pop()
    }

    /// Keeps `spans` as if exported.
    #[cfg(feature = "testing")]
    pub(crate) fn keep(&self, spans: Vec<SpanData>) {
        self.lock().extend(spans);
    }

    /// Forgets every span held so far. Flush the pipeline first: spans still queued arrive after.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn matching(&self, wanted: impl Fn(&SpanData) -> bool) -> Vec<SpanData> {
        self.lock().iter().filter(|span| wanted(span)).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SpanData>> {
        sync::lock(&self.spans)
    }
}

impl SpanExporter for InMemoryExporter {
    fn export(&mut self, batch: &[SpanData], _: &Resource, _: Duration) -> Result<(), ExportError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }
}
