//! Flushing, proven rather than raced: with a schedule delay of a minute (the longest allowed) and batches larger than
//! what is queued, nothing but `flush()` and `shutdown()` can export, so what the exporter holds
//! after each is exactly what they exported. One pipeline per process.

mod common;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use obs_runtime::trace::{ExportError, Resource, Span, SpanData, SpanExporter, SpanOutput, TraceConfig};

#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<String>>>);

impl SpanExporter for Collected {
    fn export(&mut self, batch: &[SpanData], _: &Resource, _: Duration) -> Result<(), ExportError> {
        let mut names = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        names.extend(batch.iter().map(|span| span.name().to_owned()));
        Ok(())
    }
}

impl Collected {
    fn names(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[test]
fn flush_and_shutdown_export_exactly_what_was_queued() {
    let collected = Collected::default();
    let config = TraceConfig::new()
        .output(SpanOutput::Exporter(Box::new(collected.clone())))
        .schedule_delay(Duration::from_secs(60))
        .max_export_batch_size(512);
    let obs = common::spans::traces_only("flush-test", config);
    let guard = obs.traces().expect("tracing");
    for _ in 0..10 {
        drop(Span::new("before_flush"));
    }
    // Neither the schedule (a minute) nor a full batch (512) can have exported them.
    assert!(collected.names().is_empty(), "exported before any flush: {:?}", collected.names());
    assert!(guard.flush(), "flushed in time");
    assert_eq!(collected.names(), vec!["before_flush"; 10]);
    assert_eq!(guard.exported(), 10);
    for _ in 0..5 {
        drop(Span::new("before_shutdown"));
    }
    assert_eq!(collected.names().len(), 10, "only the flush exported");
    assert!(obs.shutdown(), "shut down in time");
    let names = collected.names();
    assert_eq!(names[10..], vec!["before_shutdown"; 5]);
    let scrape = common::scrape();
    assert_eq!(common::sample(&scrape, "obs_spans_exported_total", &[]), Some(15.0), "{scrape}");
    for reason in ["queue_full", "export_failed", "shutdown"] {
        assert_eq!(common::sample(&scrape, "obs_spans_dropped_total", &[("reason", reason)]), Some(0.0), "{scrape}");
    }
}
