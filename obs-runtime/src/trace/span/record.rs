//! The record a sampled span writes into, and the per-thread pool of spare records that lets a
//! span allocate none in the steady state.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use crate::context::TraceId;
use crate::trace::data::SpanData;
use crate::trace::pipeline;

/// The recording part of a sampled span, shared with whoever may add to it while it runs
/// (`span_attributes!`, a task the context was carried into). Queued as it is when the span ends;
/// the export thread takes the data out (`None` then). Its times are raw clock readings until the
/// export thread converts them.
pub(crate) type Live = Arc<LiveSpan>;

#[derive(Debug)]
pub(crate) struct LiveSpan {
    /// Read by children when they start: outside the lock, which they never take.
    pub(crate) tracestate: Option<Arc<str>>,
    pub(crate) data: Mutex<Option<SpanData>>,
}

thread_local! {
    /// The recording span entered on this thread, if any (the context itself is in
    /// [`crate::context`], which the logs read).
    pub(super) static LIVE: RefCell<Option<Live>> = const { RefCell::new(None) };
    /// The `tracestate` of the unsampled span entered on this thread, with its trace (an
    /// unsampled span has no record to keep it in; the next service must still get it).
    pub(super) static UNSAMPLED_STATE: RefCell<Option<(TraceId, Arc<str>)>> = const { RefCell::new(None) };
    /// Records the export thread handed back, for this thread's next spans: a span allocates
    /// no record in the steady state, and the export thread frees none (a free on one thread of
    /// what another allocated makes the two contend in the allocator).
    static SPARE: RefCell<Stash> = const { RefCell::new(Stash(Vec::new())) };
}

/// A thread's spare records; what is left when the thread exits goes back to the pool.
struct Stash(Vec<Live>);

impl Drop for Stash {
    fn drop(&mut self) {
        pipeline::give_back(&mut self.0);
    }
}

/// Records taken from the pool at a time.
const SPARE_REFILL: usize = 32;

/// A record for a new span: a spare one if there is one, else a new allocation.
#[inline]
pub(super) fn new_live(tracestate: Option<Arc<str>>, data: SpanData) -> Live {
    let spare = SPARE
        .try_with(|spare| {
            let mut spare = spare.try_borrow_mut().ok()?;
            if spare.0.is_empty() {
                pipeline::take_recycled(&mut spare.0, SPARE_REFILL);
            }
            spare.0.pop()
        })
        .ok()
        .flatten();
    let record = LiveSpan { tracestate, data: Mutex::new(Some(data)) };
    // Unique by construction (the pool keeps only records nobody else holds); rebuilt whole, so
    // nothing of the span before (a poisoned lock included) carries over.
    if let Some(mut live) = spare
        && let Some(slot) = Arc::get_mut(&mut live)
    {
        *slot = record;
        return live;
    }
    Arc::new(record)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::context::SpanContext;
    use crate::trace::pipeline::tests::{CAP, empty_pool, exported, installed, pool_turn, pooled, recycle_all};

    fn data() -> SpanData {
        let context = SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("a valid traceparent");
        SpanData::for_test("pooled", context)
    }

    #[test]
    fn a_new_span_reuses_a_pooled_record_and_nothing_of_its_tracestate() {
        // Catches: records never taken from the pool (recycling that saves nothing), or a reused
        // record that keeps the tracestate of the span it served before.
        let _turn = pool_turn();
        for (before, now) in [(Some("vendor=old"), None), (Some("vendor=old"), Some("vendor=new")), (None, Some("b=2"))]
        {
            let mut batch = vec![exported(before)];
            let record = Arc::as_ptr(&batch[0]) as usize;
            recycle_all(&mut batch);
            // A new thread: its spare records come from the pool, which holds just that one.
            let (reused, tracestate) = std::thread::spawn(move || {
                let live = new_live(now.map(Arc::from), data());
                (Arc::as_ptr(&live) as usize == record, live.tracestate.as_deref().map(str::to_owned))
            })
            .join()
            .expect("joins");
            assert!(reused, "a new allocation while the pool had a record ({before:?} -> {now:?})");
            assert_eq!(tracestate.as_deref(), now, "{before:?} -> {now:?}");
        }
    }

    #[test]
    fn a_threads_spare_records_go_back_to_the_pool_when_it_exits_within_the_cap() {
        // Catches: a thread's spare records lost when it exits (each short-lived thread would
        // take records from the pool for good), or handed back past the pool's cap.
        let _turn = pool_turn();
        installed();
        for pool_before_exit in [0, CAP - 2] {
            empty_pool();
            let mut batch: Vec<Live> = (0..5).map(|_| exported(None)).collect();
            let records: Vec<usize> = batch.iter().map(|record| Arc::as_ptr(record) as usize).collect();
            recycle_all(&mut batch);
            let (used, took) = std::sync::mpsc::channel();
            let exit = Arc::new(std::sync::Barrier::new(2));
            let at_exit = exit.clone();
            let thread = std::thread::spawn(move || {
                // Its first span takes the pool's five into its spares and uses one.
                let live = new_live(None, data());
                let _ = used.send(Arc::as_ptr(&live) as usize);
                drop(live);
                at_exit.wait();
            });
            let used = took.recv().expect("the thread made its span");
            assert!(records.contains(&used));
            assert!(pooled().is_empty(), "the thread took all five");
            let mut others: Vec<Live> = (0..pool_before_exit).map(|_| exported(None)).collect();
            recycle_all(&mut others);
            exit.wait();
            thread.join().expect("joins");
            let pool = pooled();
            let given_back: Vec<usize> = pool[pool_before_exit..].to_vec();
            // The four spares, or as many as fit under the cap.
            assert_eq!(given_back.len(), 4.min(CAP - pool_before_exit), "{pool_before_exit} before");
            assert!(given_back.iter().all(|record| records.contains(record) && *record != used), "{pool_before_exit}");
            assert_eq!(pool.len(), (pool_before_exit + 4).min(CAP));
        }
    }
}
