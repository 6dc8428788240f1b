//! A sampled span that sets attributes allocates nothing on the instrumented thread once the
//! pipeline is warm: its record and its attribute vector come back from the export thread, so
//! that the two threads do not meet in the allocator (what one allocates and the other frees).
//! Counted by a global allocator, per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use obs_runtime::trace::{ExportError, Resource, Span, SpanData, SpanExporter, SpanOutput, TraceConfig};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts the allocations (and reallocations) of each thread.
struct PerThread;

// SAFETY: forwards to the system allocator; the count is a const thread-local without a
// destructor, which allocates nothing.
unsafe impl GlobalAlloc for PerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PerThread = PerThread;

/// Counts what it is given, and keeps nothing.
struct Counting(Arc<AtomicU64>);

impl SpanExporter for Counting {
    fn export(&mut self, batch: &[SpanData], _: &Resource, _: Duration) -> Result<(), ExportError> {
        let attributes = batch.iter().map(|span| span.attributes().count() as u64).sum::<u64>();
        self.0.fetch_add(attributes, Ordering::Relaxed);
        Ok(())
    }
}

/// `spans` sampled spans of three attributes each, then waits until they are exported; the
/// allocations this thread made meanwhile.
fn round(guard: &obs_runtime::ObsGuard, spans: usize) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    for n in 0..spans {
        let span = Span::new("allocation_free");
        span.set_attribute("app.index", n as i64);
        span.set_attribute("app.kind", "static");
        span.set_attribute("app.cached", n % 2 == 0);
    }
    let allocated = ALLOCATIONS.with(Cell::get) - before;
    assert!(guard.traces().expect("tracing is on").flush(), "exported in time");
    allocated
}

#[test]
fn sampled_spans_with_attributes_allocate_nothing_once_warm() {
    // Catches: attribute vectors (or records) allocated per span again, each freed by the export
    // thread, as before the vectors came back with the records.
    let attributes = Arc::new(AtomicU64::new(0));
    let config = TraceConfig::new()
        .output(SpanOutput::Exporter(Box::new(Counting(attributes.clone()))))
        .max_export_batch_size(512)
        .schedule_delay(Duration::from_millis(5));
    let guard = obs_runtime::Obs::builder()
        .service("span-allocations")
        .environment(obs_runtime::Environment::empty())
        .without_http_server()
        .tracing(config)
        .init()
        .expect("installs");
    // Warm: records and vectors are made, exported, and handed back to the pool.
    let warm_up: u64 = (0..4).map(|_| round(&guard, 1_000)).sum();
    assert!(warm_up >= 1_000, "the first spans allocate their records and vectors ({warm_up})");
    // Rounds shorter than a batch, so that the queue (which keeps its capacity of one) never grows.
    let steady: Vec<u64> = (0..5).map(|_| round(&guard, 200)).collect();
    assert_eq!(steady, [0; 5], "allocations per round of 200 spans");
    // Every span went out with its three attributes.
    assert_eq!(attributes.load(Ordering::Relaxed), 3 * (4 * 1_000 + 5 * 200));
    assert!(guard.shutdown(), "shut down in time");
}
