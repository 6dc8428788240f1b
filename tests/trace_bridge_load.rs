//! Load through the `tracing` bridge: 8 threads each open 100,000 `tracing` spans, nested three
//! deep. Every span is accounted for (exported + dropped == created, by obs's own counters and by
//! an exporter that counts what it is given), and nothing is kept per span: the live heap (counted
//! by a global allocator) after shutdown is within a fixed margin of where it was before, whatever
//! the number of spans (a leak of even 2 bytes a span would be 1.6 MB).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod common;

use common::live_bytes::{LiveBytes, live_bytes};
use obs_runtime::trace::{ExportError, Resource, SpanData, SpanExporter, SpanOutput, TraceConfig};
use tracing_subscriber::layer::SubscriberExt as _;

#[global_allocator]
static ALLOCATOR: LiveBytes = LiveBytes;

/// Counts the spans it is given, and keeps none.
struct CountingExporter(Arc<AtomicU64>);

impl SpanExporter for CountingExporter {
    fn export(&mut self, batch: &[SpanData], _: &Resource, _: Duration) -> Result<(), ExportError> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

const THREADS: u64 = 8;
const SPANS_PER_THREAD: u64 = 100_002; // 33,334 nests of three

fn nest() {
    let outer = tracing::info_span!("load_outer", depth = 1);
    let _outer = outer.enter();
    let middle = tracing::info_span!("load_middle", depth = 2);
    let _middle = middle.enter();
    let inner = tracing::info_span!("load_inner", depth = 3, note = "innermost");
    let _inner = inner.enter();
}

#[test]
fn every_bridged_span_is_accounted_for_and_none_is_kept() {
    let received = Arc::new(AtomicU64::new(0));
    let config = TraceConfig::new()
        .output(SpanOutput::Exporter(Box::new(CountingExporter(received.clone()))))
        .schedule_delay(Duration::from_millis(5));
    let obs = common::spans::traces_only("bridge-load", config);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(obs_runtime::trace::layer()))
        .expect("the only subscriber");
    // Warm up on this thread (the registry's and obs's first allocations), then take the baseline.
    for _ in 0..1_000 {
        nest();
    }
    assert!(obs.traces().expect("tracing").flush(), "flushed");
    let warm_up = obs.traces().expect("tracing").exported() + obs.traces().expect("tracing").dropped();
    assert_eq!(warm_up, 3_000);
    let before = live_bytes();

    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..SPANS_PER_THREAD / 3 {
                    nest();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("joined");
    }
    let traces = obs.traces().expect("tracing");
    assert!(traces.flush(), "flushed");
    let created = THREADS * SPANS_PER_THREAD + 3_000;
    assert_eq!(
        traces.exported() + traces.dropped(),
        created,
        "exported {} dropped {}",
        traces.exported(),
        traces.dropped()
    );
    assert_eq!(received.load(Ordering::SeqCst), traces.exported());
    assert!(obs.shutdown(), "shut down in time");

    let after = live_bytes();
    // The pool of spare span records and the threads' stacks of spare buffers may stay: bounded,
    // not proportional to the 800,000 spans.
    let retained = after - before;
    assert!(retained < 1 << 20, "{retained} bytes still live after 800,016 spans and a shutdown");
}
