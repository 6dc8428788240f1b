//! Exemplars: the trace of a call that landed in a request histogram's bucket, served in
//! OpenMetrics after the bucket (and after the request counter of the call's status), so that a
//! latency spike on a dashboard leads to a trace of it.
//!
//! Each thread's shard of a request series keeps, per bucket, the latest call recorded while a
//! sampled span was current (one seqlock-guarded cell, written only by the shard's thread: a few
//! plain stores, no lock and no atomic read-modify-write); a scrape takes the latest over the
//! shards. A call in no span, or in an unsampled one, costs one thread-local read. A hand-written
//! counter or histogram that opted in keeps one cell per series (per bucket) that any thread may
//! write: a writer takes the cell with a compare-and-swap, and a write that meets another is
//! dropped.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};

use super::encode::ExemplarText;
use crate::context::{SpanContext, SpanId, TraceId};

/// Whether request metrics keep exemplars: on unless [`set_exemplars`] turned them off.
pub(crate) static EXEMPLARS: AtomicBool = AtomicBool::new(true);

/// Turns exemplars on or off (they are on from the start): with them, each bucket of a request
/// histogram carries in OpenMetrics the trace id and span id of the latest call recorded in it
/// while a sampled span was current, with its duration and time; and each series of the request
/// counter, the latest of those calls that had its status, if one has (a status whose calls
/// are all older than the buckets' latest has none). Off, none are kept nor served. The
/// Prometheus text format never has exemplars.
///
/// What an exemplar costs a call: one thread-local read when no sampled span is current, a few
/// stores when one is (BENCHMARKS.md).
///
/// ```
/// # #[cfg(feature = "trace")] {
/// use obs_runtime::context::SpanContext;
/// use obs_runtime::metrics::{Format, encode, set_exemplars};
///
/// #[obs_runtime::track_request("GET", "/doc/exemplars")]
/// fn list() -> Result<(), std::io::Error> {
///     Ok(())
/// }
///
/// set_exemplars(true);
/// let context = SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// {
///     let _current = context.attach();
///     list()?;
/// }
/// let body = encode(Format::OpenMetrics);
/// let line = body.lines().find(|line| line.starts_with("http_requests_total{method=\"GET\",endpoint=\"/doc/exemplars\"")).unwrap();
/// let exemplar = r#"status="200"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 1 "#;
/// assert!(line.contains(exemplar), "{line}");
/// // The text format has none.
/// assert!(!encode(Format::Text).contains("trace_id"));
///
/// // Off: none are served (those kept are not shown), and none are kept.
/// set_exemplars(false);
/// assert!(!encode(Format::OpenMetrics).contains("trace_id"));
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_exemplars(enabled: bool) {
    EXEMPLARS.store(enabled, Ordering::Relaxed);
}

/// One exemplar as a scrape reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    /// The request's status (1 in a hand-written series' exemplar).
    pub(crate) status: u16,
    /// The request's duration in nanoseconds (the value's bits in a hand-written series').
    pub(crate) nanos: u64,
    /// The raw clock reading when the call ended.
    pub(crate) end: u64,
}

/// The latest exemplar of one bucket of one shard (written only by the shard's thread,
/// [`ExemplarCell::store`]) or of a hand-written series (by any thread,
/// [`ExemplarCell::try_store`]); a scrape reads it without stopping the writer: `seq` is odd
/// while a write is under way, and a read that saw it change is retried (a seqlock).
#[derive(Debug, Default)]
pub(crate) struct ExemplarCell {
    seq: AtomicU32,
    trace_high: AtomicU64,
    trace_low: AtomicU64,
    span: AtomicU64,
    /// The status in the low 16 bits; 0: never written.
    status: AtomicU32,
    nanos: AtomicU64,
    end: AtomicU64,
}

impl ExemplarCell {
    /// Writes the call. Only the shard's thread may call this.
    #[inline(always)]
    pub(crate) fn store(&self, context: SpanContext, status: u16, nanos: u64, end: u64) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        self.write(seq, context, status, nanos, end);
    }

    /// [`ExemplarCell::store`] for a cell any thread may write (a hand-written series): a write
    /// that finds another under way is dropped (an exemplar is a sample; the other one stands).
    /// `end` is read only once the cell is taken.
    #[inline]
    pub(crate) fn try_store(&self, context: SpanContext, status: u16, nanos: u64, end: impl FnOnce() -> u64) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq % 2 == 1
            || self.seq.compare_exchange(seq, seq.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed).is_err()
        {
            return;
        }
        self.write(seq, context, status, nanos, end());
    }

    /// The values, between `seq` made odd and `seq + 2`.
    #[inline(always)]
    fn write(&self, seq: u32, context: SpanContext, status: u16, nanos: u64, end: u64) {
        // The odd `seq` is seen before any of the new values.
        fence(Ordering::Release);
        let trace = u128::from_be_bytes(context.trace_id().to_bytes());
        self.trace_high.store((trace >> 64) as u64, Ordering::Relaxed);
        self.trace_low.store(trace as u64, Ordering::Relaxed);
        self.span.store(u64::from_be_bytes(context.span_id().to_bytes()), Ordering::Relaxed);
        self.status.store(u32::from(status), Ordering::Relaxed);
        self.nanos.store(nanos, Ordering::Relaxed);
        self.end.store(end, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// The exemplar, if one was written; `None` also after a few reads that each overlapped a
    /// write (the writer is recording that fast: the next scrape gets it).
    pub(crate) fn load(&self) -> Option<Exemplar> {
        for _ in 0..8 {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let trace = (u128::from(self.trace_high.load(Ordering::Relaxed)) << 64)
                | u128::from(self.trace_low.load(Ordering::Relaxed));
            let span = self.span.load(Ordering::Relaxed);
            let status = self.status.load(Ordering::Relaxed);
            let nanos = self.nanos.load(Ordering::Relaxed);
            let end = self.end.load(Ordering::Relaxed);
            // The values are read before `seq` is read again.
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != before {
                continue;
            }
            if status == 0 {
                return None;
            }
            return Some(Exemplar {
                trace_id: TraceId::from_bytes(trace.to_be_bytes())?,
                span_id: SpanId::from_bytes(span.to_be_bytes())?,
                status: status as u16,
                nanos,
                end,
            });
        }
        None
    }
}

/// The exemplars of one hand-written series that opted in (`with_exemplars`): one per bucket of
/// a histogram, one for a counter; made on the first value recorded in a sampled span. Any thread
/// may record: a write that meets another is dropped.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    on: AtomicBool,
    cells: OnceLock<Box<[ExemplarCell]>>,
}

impl Slots {
    pub(crate) fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// Keeps `value` as the exemplar of slot `index` (of `len`) if a sampled span is current.
    #[inline]
    pub(crate) fn offer(&self, len: usize, index: usize, value: f64) {
        if !self.on.load(Ordering::Relaxed) || !EXEMPLARS.load(Ordering::Relaxed) {
            return;
        }
        let Some(context) = SpanContext::current().filter(SpanContext::is_sampled) else { return };
        let cells = self.cells.get_or_init(|| (0..len).map(|_| ExemplarCell::default()).collect());
        if let Some(cell) = cells.get(index) {
            // The status field only marks the cell as written here.
            cell.try_store(context, 1, value.to_bits(), || crate::clock::clock().raw());
        }
    }

    /// Each slot's exemplar, as the exposition writes it (none when exemplars are off).
    pub(crate) fn texts(&self) -> Vec<Option<ExemplarText>> {
        let Some(cells) = self.cells.get() else { return Vec::new() };
        if !EXEMPLARS.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let now = Now::read();
        cells
            .iter()
            .map(|cell| cell.load().map(|exemplar| exemplar.text(&now, f64::from_bits(exemplar.nanos))))
            .collect()
    }
}

/// The clock and the wall-clock time of one scrape, to date the exemplars it writes.
pub(crate) struct Now {
    clock: &'static quanta::Clock,
    anchor: crate::clock::Anchor,
}

impl Now {
    pub(crate) fn read() -> Now {
        let clock = crate::clock::clock();
        Now { clock, anchor: crate::clock::Anchor::now(clock) }
    }
}

impl Exemplar {
    /// The exemplar as the exposition writes it, with `value`.
    pub(crate) fn text(&self, now: &Now, value: f64) -> ExemplarText {
        ExemplarText {
            trace_id: self.trace_id.to_string(),
            span_id: self.span_id.to_string(),
            value,
            unix_millis: now.anchor.wall(now.clock, self.end) / 1_000_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_reads_back_what_was_written_and_nothing_before() {
        let cell = ExemplarCell::default();
        assert_eq!(cell.load(), None);
        let context = SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("the W3C example parses");
        cell.store(context, 503, 1_500, 42);
        let exemplar = cell.load().expect("written");
        assert_eq!(exemplar.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(exemplar.span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!((exemplar.status, exemplar.nanos, exemplar.end), (503, 1_500, 42));
    }

    #[test]
    fn a_read_never_mixes_two_writes() {
        // Catches: a reader that takes half of one write and half of the next (the trace id of
        // one call with the span id of another), as a missing seqlock check would.
        let cell = std::sync::Arc::new(ExemplarCell::default());
        let contexts: Vec<SpanContext> = (1..=2u8)
            .map(|n| {
                let trace = TraceId::from_bytes([n; 16]).expect("non-zero");
                let span = SpanId::from_bytes([n; 8]).expect("non-zero");
                SpanContext::new(trace, span, true)
            })
            .collect();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let writer = {
            let (cell, stop, contexts) = (cell.clone(), stop.clone(), contexts.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let which = (n % 2) as usize;
                    cell.store(contexts[which], 200 + which as u16, which as u64, n);
                    n += 1;
                }
            })
        };
        let mut read = 0;
        while read < 100_000 {
            if let Some(exemplar) = cell.load() {
                let n = exemplar.trace_id.to_bytes()[0];
                assert_eq!(exemplar.span_id.to_bytes(), [n; 8]);
                assert_eq!(exemplar.status, 199 + u16::from(n));
                assert_eq!(exemplar.nanos, u64::from(n) - 1);
                read += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("joins");
    }

    #[test]
    fn writers_on_many_threads_never_mix_either() {
        // Catches: two `try_store`s interleaving their fields (the CAS not taken, or released
        // before the last field), which a reader would take for one exemplar.
        let cell = std::sync::Arc::new(ExemplarCell::default());
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (1..=3u8)
            .map(|n| {
                let (cell, stop) = (cell.clone(), stop.clone());
                std::thread::spawn(move || {
                    let trace = TraceId::from_bytes([n; 16]).expect("non-zero");
                    let span = SpanId::from_bytes([n; 8]).expect("non-zero");
                    let context = SpanContext::new(trace, span, true);
                    while !stop.load(Ordering::Relaxed) {
                        cell.try_store(context, u16::from(n), u64::from(n) * 10, || u64::from(n) * 100);
                    }
                })
            })
            .collect();
        let mut read = 0;
        while read < 100_000 {
            if let Some(exemplar) = cell.load() {
                let n = exemplar.trace_id.to_bytes()[0];
                assert_eq!(exemplar.span_id.to_bytes(), [n; 8]);
                assert_eq!(
                    (exemplar.status, exemplar.nanos, exemplar.end),
                    (u16::from(n), u64::from(n) * 10, u64::from(n) * 100)
                );
                read += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        writers.into_iter().for_each(|writer| writer.join().expect("joins"));
    }
}
