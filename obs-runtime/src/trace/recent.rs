//! The spans exported most recently, and the slowest recent traces, for the live page's
//! waterfalls.
//!
//! The export thread copies each exported batch's spans in (a name, ids, times, the kind and
//! whether it failed: no attributes), so the instrumented code pays nothing for it:
//! - a ring of the spans exported last (its capacity: the live page's `recent_spans`), from which a
//!   trace is put together when its local root arrives (a span without a parent, or a server or
//!   consumer span whose parent is not here: children end, and so are exported, before it);
//! - the slowest traces so put together whose root ended within the horizon (the page's charts'
//!   span): a trace that ended minutes ago stays shown while it is among the slowest, however many
//!   faster ones came since.
//!
//! Off unless a live page keeps it ([`Keeper`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::data::{SpanData, SpanKind, Status};
use crate::context::{SpanId, TraceId};
use crate::sync::lock;

/// The longest span name kept (in bytes, cut at a character boundary).
const MAX_NAME_BYTES: usize = 200;
/// The most spans of one trace the waterfall lists.
pub(crate) const MAX_SPANS_SHOWN: usize = 200;
/// The most spans of one trace kept among the slowest (the earliest started).
const MAX_SPANS_KEPT: usize = 1000;

#[derive(Debug, Clone)]
struct Kept {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
    name: Box<str>,
    kind: &'static str,
    start_unix_nanos: u64,
    end_unix_nanos: u64,
    error: bool,
}

/// A trace put together when its local root arrived.
#[derive(Debug, Clone)]
struct Trace {
    trace_id: TraceId,
    start: u64,
    end: u64,
    spans: Vec<Kept>,
    /// Its spans, the ones not kept included.
    total: usize,
}

impl Trace {
    fn duration(&self) -> u64 {
        self.end - self.start
    }
}

/// What a live page asks the ring to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Keep {
    /// Spans exported last.
    pub(crate) spans: usize,
    /// Slowest traces.
    pub(crate) traces: usize,
    /// How long a trace stays among the slowest after its root ended.
    pub(crate) horizon: Duration,
}

#[derive(Debug)]
struct Ring {
    /// The most any keeper asked for (several obs instances in one process each hold one).
    keep: Keep,
    keepers: Vec<Keep>,
    spans: VecDeque<Kept>,
    /// Slowest first.
    slowest: Vec<Trace>,
}

static ON: AtomicBool = AtomicBool::new(false);
static RING: Mutex<Ring> = Mutex::new(Ring {
    keep: Keep { spans: 0, traces: 0, horizon: Duration::ZERO },
    keepers: Vec::new(),
    spans: VecDeque::new(),
    slowest: Vec::new(),
});

/// While alive, the ring keeps (at least) what it asked for; when the last keeper goes, it keeps
/// nothing and forgets what it kept.
#[derive(Debug)]
pub(crate) struct Keeper {
    keep: Keep,
}

impl Keeper {
    pub(crate) fn new(keep: Keep) -> Keeper {
        let mut ring = lock(&RING);
        ring.keepers.push(keep);
        resize(&mut ring);
        Keeper { keep }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        let mut ring = lock(&RING);
        if let Some(index) = ring.keepers.iter().position(|keep| *keep == self.keep) {
            ring.keepers.swap_remove(index);
        }
        resize(&mut ring);
    }
}

fn resize(ring: &mut Ring) {
    let most = |field: fn(&Keep) -> usize| ring.keepers.iter().map(field).max().unwrap_or(0);
    let keep = Keep {
        spans: most(|keep| keep.spans),
        traces: most(|keep| keep.traces),
        horizon: ring.keepers.iter().map(|keep| keep.horizon).max().unwrap_or_default(),
    };
    ring.keep = keep;
    while ring.spans.len() > keep.spans {
        ring.spans.pop_front();
    }
    if keep.spans == 0 {
        ring.spans = VecDeque::new();
        ring.slowest = Vec::new();
    }
    ring.slowest.truncate(keep.traces);
    ON.store(keep.spans > 0, Ordering::Relaxed);
}

/// How many spans are kept, and the most that may be.
pub(crate) fn len_and_capacity() -> (usize, usize) {
    let ring = lock(&RING);
    (ring.spans.len(), ring.keep.spans)
}

/// Called by the export thread with each batch it exports.
pub(crate) fn record(spans: &[SpanData]) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let kept = kept(spans);
    lock(&RING).record(kept, unix_nanos_now());
}

/// What the ring keeps of `spans`, each with whether it may be a trace's root here: no parent,
/// or a server or consumer span (whose parent may be remote).
fn kept(spans: &[SpanData]) -> Vec<(Kept, bool)> {
    spans
        .iter()
        .map(|span| {
            let kept = Kept {
                trace_id: span.context.trace_id(),
                span_id: span.context.span_id(),
                parent: span.parent,
                name: shown_name(&span.name),
                kind: span.kind.as_str(),
                start_unix_nanos: span.start_unix_nanos,
                end_unix_nanos: span.end_unix_nanos,
                error: matches!(span.status, Status::Error(_)),
            };
            let entry = span.parent.is_none() || matches!(span.kind, SpanKind::Server | SpanKind::Consumer);
            (kept, entry)
        })
        .collect()
}

fn unix_nanos_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
}

impl Ring {
    /// Keeps `spans` (each with whether it may be a root), and puts together the traces of the
    /// roots among them.
    fn record(&mut self, spans: Vec<(Kept, bool)>, now: u64) {
        let keep = self.keep;
        if keep.spans == 0 {
            return;
        }
        let mut roots = Vec::new();
        for (span, entry) in spans {
            if self.spans.len() == keep.spans {
                self.spans.pop_front();
            }
            if entry {
                roots.push((span.trace_id, span.span_id, span.parent));
            }
            self.spans.push_back(span);
        }
        let horizon = u64::try_from(keep.horizon.as_nanos()).unwrap_or(u64::MAX);
        self.slowest.retain(|trace| trace.end.saturating_add(horizon) >= now);
        if roots.is_empty() {
            return;
        }
        // One pass over the ring for every root of the batch.
        let mut of_trace: HashMap<TraceId, Vec<Kept>> = roots.iter().map(|(trace, ..)| (*trace, Vec::new())).collect();
        for span in &self.spans {
            if let Some(spans) = of_trace.get_mut(&span.trace_id) {
                spans.push(span.clone());
            }
        }
        for (trace_id, span_id, parent) in roots {
            let Some(spans) = of_trace.get(&trace_id) else { continue };
            // A server span under a parent of this process is not a root after all.
            if parent.is_some_and(|parent| spans.iter().any(|span| span.span_id == parent)) {
                continue;
            }
            // The spans of this root's subtree (the trace may hold other roots' too: a trace that
            // crosses the process twice).
            let mut spans = subtree(spans, span_id);
            let start = spans.iter().map(|span| span.start_unix_nanos).min().unwrap_or(0);
            let end = spans.iter().map(|span| span.end_unix_nanos).max().unwrap_or(0).max(start);
            let total = spans.len();
            spans.sort_by_key(|span| span.start_unix_nanos);
            spans.truncate(MAX_SPANS_KEPT);
            // One entry per trace: a root found again (its spans and more) replaces the first.
            self.slowest.retain(|kept| kept.trace_id != trace_id);
            let trace = Trace { trace_id, start, end, spans, total };
            let at = self.slowest.partition_point(|slower| slower.duration() >= trace.duration());
            if at < keep.traces {
                self.slowest.insert(at, trace);
                self.slowest.truncate(keep.traces);
            }
        }
    }

    /// The `count` slowest traces whose root ended within the horizon, slowest first.
    fn slowest(&self, count: usize, now: u64) -> Vec<Trace> {
        let horizon = u64::try_from(self.keep.horizon.as_nanos()).unwrap_or(u64::MAX);
        self.slowest.iter().filter(|trace| trace.end.saturating_add(horizon) >= now).take(count).cloned().collect()
    }
}

/// `root` and its descendants among `spans`.
fn subtree(spans: &[Kept], root: SpanId) -> Vec<Kept> {
    let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
    for (index, span) in spans.iter().enumerate() {
        if let Some(parent) = span.parent {
            children.entry(parent).or_default().push(index);
        }
    }
    let mut inside = std::collections::HashSet::from([root]);
    let mut next = vec![root];
    while let Some(parent) = next.pop() {
        for &child in children.get(&parent).into_iter().flatten() {
            if inside.insert(spans[child].span_id) {
                next.push(spans[child].span_id);
            }
        }
    }
    spans.iter().filter(|span| inside.contains(&span.span_id)).cloned().collect()
}

/// A span's name as the page may show it (on a port without authentication): a name made from a
/// URL (`otel.name`, `Span::set_name`) loses its credentials and the values of its secret-named
/// query parameters, as obs's `url.full` does; then it is cut to [`MAX_NAME_BYTES`].
fn shown_name(name: &str) -> Box<str> {
    let mut shown = String::with_capacity(name.len().min(MAX_NAME_BYTES));
    for (index, word) in name.split(' ').enumerate() {
        if index > 0 {
            shown.push(' ');
        }
        let (word, fragment) = word.split_once('#').map_or((word, None), |(word, fragment)| (word, Some(fragment)));
        let (path, query) = word.split_once('?').map_or((word, None), |(path, query)| (path, Some(query)));
        // `scheme://user:password@host`: the credentials go.
        match path.split_once("://") {
            Some((scheme, rest)) => match rest.split('/').next().and_then(|authority| authority.rsplit_once('@')) {
                Some((_, host)) => {
                    shown.push_str(scheme);
                    shown.push_str("://REDACTED@");
                    shown.push_str(host);
                    shown.push_str(&rest[rest.find('/').unwrap_or(rest.len())..]);
                }
                None => shown.push_str(path),
            },
            None => shown.push_str(path),
        }
        if let Some(query) = query {
            shown.push('?');
            shown.push_str(&super::propagation::redacted_query(query));
        }
        if fragment.is_some() {
            shown.push_str("#REDACTED");
        }
    }
    if shown.len() > MAX_NAME_BYTES {
        let mut end = MAX_NAME_BYTES;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown.truncate(end);
    }
    shown.into()
}

/// The `count` slowest traces whose root ended within the horizon, slowest first, as the live
/// page shows them: each with its root, its duration (from its earliest start to its latest end)
/// and its spans in tree order, each with its depth.
pub(crate) fn slowest_json(count: usize) -> serde_json::Value {
    let chosen = lock(&RING).slowest(count, unix_nanos_now());
    serde_json::Value::Array(chosen.into_iter().map(trace_json).collect())
}

fn trace_json(trace: Trace) -> serde_json::Value {
    let Trace { trace_id, start, end, mut spans, total } = trace;
    spans.sort_by_key(|span| (span.start_unix_nanos, span.end_unix_nanos));
    let ids: std::collections::HashSet<SpanId> = spans.iter().map(|span| span.span_id).collect();
    let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        match span.parent.filter(|parent| ids.contains(parent) && *parent != span.span_id) {
            Some(parent) => children.entry(parent).or_default().push(index),
            None => roots.push(index),
        }
    }
    // Depth first, each level by start: parents before their children. A cycle cannot happen
    // with ids the pipeline made, but each span is listed once whatever the ids say.
    let mut order: Vec<(usize, usize)> = Vec::with_capacity(total.min(MAX_SPANS_SHOWN));
    let mut listed = vec![false; spans.len()];
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&index| (index, 0)).collect();
    while let Some((index, depth)) = stack.pop() {
        if order.len() == MAX_SPANS_SHOWN || std::mem::replace(&mut listed[index], true) {
            continue;
        }
        order.push((index, depth));
        if let Some(kids) = children.get(&spans[index].span_id) {
            stack.extend(kids.iter().rev().map(|&kid| (kid, depth + 1)));
        }
    }
    let seconds = |nanos: u64| nanos as f64 / 1e9;
    let root = roots.first().map_or("", |&index| &*spans[index].name);
    serde_json::json!({
        "trace_id": trace_id.to_string(),
        "root": root,
        "start_unix_ms": start as f64 / 1e6,
        "duration_seconds": seconds(end.saturating_sub(start)),
        "spans_total": total,
        "spans": order.iter().map(|&(index, depth)| {
            let span = &spans[index];
            serde_json::json!({
                "span_id": span.span_id.to_string(),
                "parent_id": span.parent.map(|parent| parent.to_string()),
                "name": &*span.name,
                "kind": span.kind,
                "offset_seconds": seconds(span.start_unix_nanos.saturating_sub(start)),
                "duration_seconds": seconds(span.end_unix_nanos.saturating_sub(span.start_unix_nanos)),
                "error": span.error,
                "depth": depth,
            })
        }).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::SpanContext;

    /// Ten seconds ago, the same for every span of the tests.
    fn base() -> u64 {
        static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        *BASE.get_or_init(|| unix_nanos_now() - 10_000_000_000)
    }

    fn span(trace: u8, id: u8, parent: Option<u8>, kind: SpanKind, start_ms: u64, end_ms: u64) -> SpanData {
        let base = base();
        let trace_id = TraceId::from_bytes([trace; 16]).expect("not zero");
        let span_id = |id: u8| SpanId::from_bytes([id; 8]).expect("not zero");
        SpanData {
            kind,
            parent: parent.map(span_id),
            start_unix_nanos: base + start_ms * 1_000_000,
            end_unix_nanos: base + end_ms * 1_000_000,
            ..SpanData::for_test(format!("span {id}"), SpanContext::new(trace_id, span_id(id), true))
        }
    }

    /// `record`, on a ring of the test's own (the global one may hold other tests' spans).
    fn into_ring(ring: &mut Ring, spans: &[SpanData], now: u64) {
        ring.record(kept(spans), now);
    }

    #[test]
    fn the_slowest_traces_stay_while_faster_ones_push_their_spans_out_of_the_ring() {
        let keep = Keep { spans: 4, traces: 2, horizon: Duration::from_secs(60) };
        let mut ring = Ring { keep, keepers: vec![keep], spans: VecDeque::new(), slowest: Vec::new() };
        let now = base() + 1_000_000_000;
        // A slow trace: a server span under a remote parent (99), with a child and a grandchild,
        // exported children first.
        into_ring(
            &mut ring,
            &[
                span(1, 3, Some(2), SpanKind::Internal, 10, 20),
                span(1, 2, Some(1), SpanKind::Client, 5, 400),
                span(1, 1, Some(99), SpanKind::Server, 0, 500),
            ],
            now,
        );
        // Five fast traces: their spans push the slow trace's out of the ring of 4.
        for trace in 10..15 {
            let spans = [
                span(trace, 5, Some(4), SpanKind::Internal, 0, 1),
                span(trace, 4, None, SpanKind::Server, 0, 2 + u64::from(trace)),
            ];
            into_ring(&mut ring, &spans, now);
        }
        assert_eq!(ring.spans.len(), 4);
        let shown: Vec<serde_json::Value> = ring.slowest(10, now).into_iter().map(trace_json).collect();
        assert_eq!(shown.len(), 2, "the two slowest: {shown:#?}");
        assert_eq!(shown[0]["root"], "span 1");
        assert_eq!(shown[0]["duration_seconds"], 0.5);
        let names: Vec<(&str, u64)> = shown[0]["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .map(|span| (span["name"].as_str().expect("a name"), span["depth"].as_u64().expect("a depth")))
            .collect();
        assert_eq!(names, [("span 1", 0), ("span 2", 1), ("span 3", 2)]);
        // The slower of the fast ones (trace 14: 16 ms).
        assert_eq!(shown[1]["duration_seconds"], 0.016);
        // Past the horizon, none is shown any more, even with nothing exported since.
        assert!(ring.slowest(10, now + 61_000_000_000).is_empty());
    }

    #[test]
    fn a_server_span_under_a_local_parent_is_not_a_second_entry_of_its_trace() {
        let keep = Keep { spans: 100, traces: 10, horizon: Duration::from_secs(60) };
        let mut ring = Ring { keep, keepers: vec![keep], spans: VecDeque::new(), slowest: Vec::new() };
        let now = base() + 1_000_000_000;
        // An in-process server (3) under a client span (2) of the root (1): the inner server span
        // ends first and looks like a root until its parent arrives.
        into_ring(&mut ring, &[span(7, 3, Some(2), SpanKind::Server, 2, 8)], now);
        into_ring(
            &mut ring,
            &[span(7, 2, Some(1), SpanKind::Client, 1, 9), span(7, 1, None, SpanKind::Server, 0, 10)],
            now,
        );
        let shown = ring.slowest(10, now);
        assert_eq!(shown.len(), 1, "{shown:#?}");
        assert_eq!(shown[0].total, 3);
    }

    #[test]
    fn names_made_of_urls_lose_credentials_and_secret_values() {
        assert_eq!(&*shown_name("GET /users/{id}"), "GET /users/{id}");
        assert_eq!(
            &*shown_name("GET https://ada:lovelace@api.example.com/v1/x?page=2&api_key=s3cr3t#top"),
            "GET https://REDACTED@api.example.com/v1/x?page=2&api_key=REDACTED#REDACTED"
        );
        assert_eq!(&*shown_name("POST /login?password=hunter2"), "POST /login?password=REDACTED");
        let long = "é".repeat(150);
        assert!(shown_name(&long).len() <= 200 && long.starts_with(&*shown_name(&long)));
    }
}
