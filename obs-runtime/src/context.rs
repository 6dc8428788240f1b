//! The current trace context: which trace and span the running code belongs to, so that what it
//! logs carries the trace id (so that a log line leads to its trace, and back).
//!
//! A context comes from an incoming W3C `traceparent` header (or is made by a span) and is
//! attached to the current thread for as long as its guard lives; log lines written meanwhile
//! carry its `trace_id` and `span_id`.
//!
//! ```
//! use obs_runtime::context::SpanContext;
//!
//! let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
//! let context = SpanContext::from_traceparent(incoming).expect("a valid traceparent");
//! assert_eq!(SpanContext::current(), None);
//! {
//!     let _attached = context.attach();
//!     assert_eq!(SpanContext::current(), Some(context));
//!     assert_eq!(context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! }
//! assert_eq!(SpanContext::current(), None);
//! ```

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

/// A 16-byte W3C trace id; never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

/// An 8-byte W3C span (parent) id; never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId([u8; 8]);

impl TraceId {
    /// The id, or `None` for the invalid all-zero id.
    pub fn from_bytes(bytes: [u8; 16]) -> Option<TraceId> {
        (bytes != [0; 16]).then_some(TraceId(bytes))
    }

    /// The bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }
}

impl SpanId {
    /// The id, or `None` for the invalid all-zero id.
    pub fn from_bytes(bytes: [u8; 8]) -> Option<SpanId> {
        (bytes != [0; 8]).then_some(SpanId(bytes))
    }

    /// The bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0
    }
}

/// Lowercase hex, as in `traceparent`, without allocating.
fn write_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buffer = [0u8; 32];
    for (index, byte) in bytes.iter().enumerate() {
        buffer[2 * index] = HEX[usize::from(byte >> 4)];
        buffer[2 * index + 1] = HEX[usize::from(byte & 0xf)];
    }
    f.write_str(std::str::from_utf8(&buffer[..2 * bytes.len()]).map_err(|_| fmt::Error)?)
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// Which trace and span the running code belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    /// The W3C trace flags obs knows, `sampled` (0x01) and Level 2's `random` (0x02), and B3's
    /// `debug` in a bit W3C leaves unused and obs never writes in `traceparent`.
    flags: u8,
}

/// The `sampled` trace flag.
const SAMPLED: u8 = 0x01;
/// Level 2's `random` trace flag: the trace id's rightmost 7 bytes are random.
const RANDOM: u8 = 0x02;
/// B3's `debug` flag (which implies `sampled`): kept from a B3 caller for the B3 headers of the
/// requests the trace makes; not a W3C flag.
const B3_DEBUG: u8 = 0x80;

thread_local! {
    static CURRENT: Cell<Option<SpanContext>> = const { Cell::new(None) };
}

impl SpanContext {
    /// A context of these ids.
    pub fn new(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
        SpanContext { trace_id, span_id, flags: u8::from(sampled) }
    }

    /// The same context with the W3C Level 2 `random` flag set or not: whether the trace id's
    /// rightmost 7 bytes are random (obs's own trace ids are).
    pub fn with_random_trace_id(mut self, random: bool) -> SpanContext {
        self.flags = (self.flags & !RANDOM) | if random { RANDOM } else { 0 };
        self
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// Whether the trace is sampled (the `traceparent` flag).
    pub fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// Whether the trace id is known to be random (the W3C Level 2 `random` flag).
    pub fn is_random(&self) -> bool {
        self.flags & RANDOM != 0
    }

    /// The trace flags as `traceparent` carries them (`sampled` 0x01, `random` 0x02).
    pub fn trace_flags(&self) -> u8 {
        self.flags & (SAMPLED | RANDOM)
    }

    /// Whether a B3 caller asked for debug tracing (`b3: ..-d`, `X-B3-Flags: 1`): such a trace
    /// is sampled, and its B3 headers say debug again on the requests it makes.
    pub fn is_b3_debug(&self) -> bool {
        self.flags & B3_DEBUG != 0
    }

    /// The same context with B3's debug flag set (and so sampled) or not.
    pub fn with_b3_debug(mut self, debug: bool) -> SpanContext {
        self.flags = if debug { self.flags | B3_DEBUG | SAMPLED } else { self.flags & !B3_DEBUG };
        self
    }

    /// Parses a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`, lowercase hex).
    /// `None` when it is malformed or has an all-zero id, as the recommendation says to treat
    /// such a header: version `ff` is invalid, version `00` has exactly four fields, a later
    /// version may have more (after a `-`), which are ignored. Spaces and tabs around it are
    /// ignored; of the flags, `sampled` and `random` are kept (the others are not passed on).
    pub fn from_traceparent(header: &str) -> Option<SpanContext> {
        let header = header.trim_matches([' ', '\t']);
        let mut parts = header.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        // Version 00 has exactly four parts; later versions may append more.
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        if trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        let mut trace_bytes = [0u8; 16];
        let mut span_bytes = [0u8; 8];
        let mut flag_byte = [0u8; 1];
        decode_lower_hex(version, &mut [0u8; 1])?;
        decode_lower_hex(trace, &mut trace_bytes)?;
        decode_lower_hex(span, &mut span_bytes)?;
        decode_lower_hex(flags, &mut flag_byte)?;
        let flags = flag_byte[0];
        let (trace_id, span_id) = (TraceId::from_bytes(trace_bytes)?, SpanId::from_bytes(span_bytes)?);
        Some(SpanContext { trace_id, span_id, flags: flags & (SAMPLED | RANDOM) })
    }

    /// This context as a `traceparent` header value.
    pub fn to_traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.span_id, self.trace_flags())
    }

    /// The context attached to the current thread, if any.
    #[inline]
    pub fn current() -> Option<SpanContext> {
        CURRENT.with(Cell::get)
    }

    /// Makes this the current context of this thread until the guard drops (which restores the
    /// previous one). The guard cannot move to another thread.
    pub fn attach(self) -> ContextGuard {
        let previous = CURRENT.with(|current| current.replace(Some(self)));
        ContextGuard { previous, _not_send: PhantomData }
    }
}

impl SpanContext {
    /// `future` with this context attached whenever it runs (each poll, on whichever thread), so
    /// that what it logs across `.await`s carries this context.
    ///
    /// ```
    /// # use obs_runtime::context::SpanContext;
    /// # let context = SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// # let _ =
    /// context.scope(async move {
    ///     assert_eq!(SpanContext::current(), Some(context));
    /// });
    /// ```
    pub fn scope<F: std::future::Future>(self, future: F) -> WithContext<F> {
        WithContext { future, context: self }
    }
}

/// A future run with a context attached; see [`SpanContext::scope`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithContext<F> {
    future: F,
    context: SpanContext,
}

impl<F: std::future::Future> std::future::Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let context = self.context;
        let _attached = context.attach();
        // SAFETY: `future` is never moved out of `self`, which is pinned: this is the usual
        // structural pin projection (WithContext has no Drop and no Unpin impl of its own).
        let future = unsafe { self.map_unchecked_mut(|this| &mut this.future) };
        future.poll(cx)
    }
}

/// Sets the current context of this thread; returns the one it replaces.
#[cfg(feature = "trace")]
pub(crate) fn swap_current(context: Option<SpanContext>) -> Option<SpanContext> {
    CURRENT.with(|current| current.replace(context))
}

/// `text` (exactly twice as long as `out`, lowercase hex) decoded into `out`; `None` otherwise.
pub(crate) fn decode_lower_hex(text: &str, out: &mut [u8]) -> Option<()> {
    fn digit(byte: u8) -> Option<u8> {
        match byte {
            b'0'..=b'9' => Some(byte - b'0'),
            b'a'..=b'f' => Some(byte - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() != 2 * out.len() {
        return None;
    }
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *slot = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(())
}

/// Keeps a context attached; see [`SpanContext::attach`].
#[derive(Debug)]
#[must_use = "the context is detached when the guard drops"]
pub struct ContextGuard {
    previous: Option<SpanContext>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let previous = self.previous;
        CURRENT.with(|current| current.set(previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trip_and_rejections() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = SpanContext::from_traceparent(header).expect("valid");
        assert_eq!(context.to_traceparent(), header);
        assert!(context.is_sampled());
        assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
        ] {
            assert_eq!(SpanContext::from_traceparent(bad), None, "{bad}");
        }
        // A later version may carry more fields.
        assert!(SpanContext::from_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x").is_some());
    }

    #[test]
    fn a_scoped_future_has_its_context_at_every_poll() {
        let context = SpanContext::from_traceparent("00-33333333333333333333333333333333-3333333333333333-01");
        let context = context.expect("valid");
        let mut polls = 0;
        let mut future = std::pin::pin!(context.scope(std::future::poll_fn(|cx| {
            assert_eq!(SpanContext::current(), Some(context));
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(polls)
            }
        })));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        while future.as_mut().poll(&mut cx).is_pending() {
            // Between polls, the thread has no context.
            assert_eq!(SpanContext::current(), None);
        }
        assert_eq!(SpanContext::current(), None);
    }

    #[test]
    fn guards_nest_and_restore() {
        let outer = SpanContext::from_traceparent("00-11111111111111111111111111111111-1111111111111111-01");
        let inner = SpanContext::from_traceparent("00-22222222222222222222222222222222-2222222222222222-00");
        let (outer, inner) = (outer.expect("valid"), inner.expect("valid"));
        let first = outer.attach();
        {
            let _second = inner.attach();
            assert_eq!(SpanContext::current(), Some(inner));
        }
        assert_eq!(SpanContext::current(), Some(outer));
        drop(first);
        assert_eq!(SpanContext::current(), None);
    }
}
