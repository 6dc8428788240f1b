//! The record a sampled span writes into, and the per-thread pool of spare records that lets a
//! span allocate none in the steady state.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use crate::context::TraceId;
use crate::trace::data::{SpanData, Value};
use crate::trace::pipeline;

/// A span's attributes.
pub(crate) type Attributes = Vec<(Cow<'static, str>, Value)>;

/// The largest emptied attribute vector a pooled record keeps for its next span (an HTTP server
/// span's dozen attributes fit): after a burst, at most 8,192 pooled records x 16 x 48 bytes, 6 MiB,
/// in the shared pool, plus those of the 32 records each thread keeps at hand.
pub(crate) const SPARE_ATTRIBUTES: usize = 16;
const _: () = assert!(size_of::<(Cow<'static, str>, Value)>() <= 48);

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
    /// In a pooled record: the emptied attribute vector of an exported span, for the next span
    /// that takes the record, so that setting its attributes allocates nothing (what the caller
    /// allocates and the export thread frees makes the two threads contend in the allocator).
    pub(crate) spare_attributes: Attributes,
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

/// Asks the CPU to bring `record` into this core's cache (with the intent to write where the
/// target has such a prefetch; x86-64's baseline has only the read one): the export thread wrote
/// it last, on the other core. Each span asks for the next span's record, which then comes in
/// while the span runs. Asking for all 32 records at a refill stalled the refill on the CPU's few
/// outstanding misses (2 to 17 ns a span more for a bridged `tracing` span, 41 to 44 ns with 2,000
/// bridged spans alive, `benches/trace.rs`); not asking, the span waits for each miss in turn (the
/// reference count's compare-and-swap, then its data). `PREFETCHW` (owned rather than shared
/// lines) measured no better.
#[inline]
fn prefetch_for_write(record: &Live) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_ET0, _mm_prefetch};
        // The reference counts sit before the record, in the same allocation.
        let start = Arc::as_ptr(record).cast::<u8>().wrapping_sub(2 * size_of::<usize>());
        let len = 2 * size_of::<usize>() + size_of::<LiveSpan>();
        for offset in (0..len).step_by(64) {
            // SAFETY: a prefetch is a hint: it never faults and changes no memory, whatever the
            // address; these are in a live allocation anyway.
            unsafe { _mm_prefetch::<_MM_HINT_ET0>(start.wrapping_add(offset).cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = record;
}

/// A record for a new span: a spare one if there is one, else a new allocation.
#[inline]
pub(super) fn new_live(tracestate: Option<Arc<str>>, mut data: SpanData) -> Live {
    let spare = SPARE
        .try_with(|spare| {
            let mut spare = spare.try_borrow_mut().ok()?;
            if spare.0.is_empty() {
                pipeline::take_recycled(&mut spare.0, SPARE_REFILL);
                if let Some(first) = spare.0.last() {
                    prefetch_for_write(first);
                }
            }
            let live = spare.0.pop();
            // The next span's record comes in while this one runs.
            if let Some(next) = spare.0.last() {
                prefetch_for_write(next);
            }
            live
        })
        .ok()
        .flatten();
    // Unique by construction (the pool keeps only records nobody else holds); rebuilt whole, so
    // nothing of the span before (a poisoned lock included) carries over but its emptied
    // attribute vector.
    if let Some(mut live) = spare
        && let Some(slot) = Arc::get_mut(&mut live)
    {
        let mut spare_attributes = std::mem::take(&mut slot.spare_attributes);
        if data.attributes.capacity() == 0 {
            std::mem::swap(&mut data.attributes, &mut spare_attributes);
        }
        *slot = LiveSpan { tracestate, data: Mutex::new(Some(data)), spare_attributes };
        return live;
    }
    Arc::new(LiveSpan { tracestate, data: Mutex::new(Some(data)), spare_attributes: Vec::new() })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::context::SpanContext;
    use crate::trace::data::Value;
    use crate::trace::pipeline::tests::{
        CAP, empty_pool, exported, installed, pool_turn, pooled, recycle_all, recycle_with,
    };

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
    fn a_reused_record_gives_its_span_the_emptied_attribute_vector_of_the_last_one() {
        // Catches: a span on a reused record allocating its attributes again (the spare vector
        // dropped), starting with the previous span's attributes, or losing attributes it
        // started with (baggage) to the spare.
        let _turn = pool_turn();
        for started_with in [0, 1] {
            empty_pool();
            let old: Attributes =
                vec![(Cow::Borrowed("old.key"), Value::I64(1)), (Cow::Borrowed("old.other"), Value::Bool(true))];
            let buffer = old.as_ptr() as usize;
            let mut batch = vec![exported(None)];
            recycle_with(&mut batch, vec![old]);
            let (attributes, reused) = std::thread::spawn(move || {
                let mut data = data();
                data.attributes = (0..started_with).map(|_| (Cow::Borrowed("baggage.key"), Value::I64(7))).collect();
                let live = new_live(None, data);
                let record = live.data.lock().expect("the record");
                let attributes = &record.as_ref().expect("its data").attributes;
                let keys: Vec<String> = attributes.iter().map(|(key, _)| key.to_string()).collect();
                (keys, attributes.as_ptr() as usize == buffer)
            })
            .join()
            .expect("joins");
            if started_with == 0 {
                assert!(attributes.is_empty(), "{attributes:?}");
                assert!(reused, "the spare vector is the new span's");
            } else {
                assert_eq!(attributes, ["baggage.key"]);
                assert!(!reused);
            }
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
