//! Being in a span: [`Entered`] (a block on this thread), [`Instrumented`] (a future, at each
//! poll) and [`CurrentSpan`] (a handle on the span entered here, which it never ends).

use std::borrow::Borrow;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Span;
use super::record::{LIVE, Live};
use crate::baggage::{Baggage, WithBaggage};
use crate::context::SpanContext;

/// The span current when [`Span::current`] was called: adds to it, never ends it. Derefs to
/// [`Span`].
#[derive(Debug)]
pub struct CurrentSpan(pub(super) Span);

impl std::ops::Deref for CurrentSpan {
    type Target = Span;

    fn deref(&self) -> &Span {
        &self.0
    }
}

impl Drop for CurrentSpan {
    fn drop(&mut self) {
        // Not ours to end.
        self.0.live = None;
    }
}

impl CurrentSpan {
    /// `future` run in this span (entered at each poll), with the baggage current now: carries
    /// the current span and baggage into `tokio::spawn`. The span still ends when its owner ends
    /// it.
    pub fn scope<F: Future>(self, future: F) -> Instrumented<CurrentSpan, WithBaggage<F>> {
        Instrumented { span: self, future: WithBaggage::carrying(Baggage::current(), future) }
    }

    /// `body` wrapped to run in this span, with the baggage current now: carries the current span
    /// and baggage into `std::thread::spawn`.
    pub fn bind<R>(self, body: impl FnOnce() -> R) -> impl FnOnce() -> R {
        let baggage = Baggage::current();
        move || {
            // Nothing to carry: nothing to set.
            let _baggage = (!baggage.is_empty()).then(|| baggage.attach());
            self.0.in_scope(body)
        }
    }
}

impl Borrow<Span> for CurrentSpan {
    fn borrow(&self) -> &Span {
        &self.0
    }
}

/// The current span of this thread until dropped; see [`Span::enter`]. Cannot move to another
/// thread.
#[derive(Debug)]
#[must_use = "the span is left when the guard drops"]
pub struct Entered<'a> {
    pub(super) previous_context: Option<Option<SpanContext>>,
    pub(super) previous_live: Option<Option<Live>>,
    /// Set when the span is unsampled with a `tracestate`.
    pub(super) previous_state: Option<Option<(crate::context::TraceId, std::sync::Arc<str>)>>,
    pub(super) _span: PhantomData<(&'a Span, *const ())>,
}

impl Entered<'_> {
    /// `left` was entered before this guard and is left first (`tracing` allows leaving spans
    /// out of order): this guard takes over what `left` would have restored, and `left` restores
    /// nothing, so that the context stays this guard's span until it is left too.
    #[cfg(feature = "tracing-bridge")]
    pub(crate) fn take_over(&mut self, mut left: Entered<'_>) {
        // What `left` changed (and only that) is what this guard restores in its place.
        if let Some(context) = left.previous_context.take() {
            self.previous_context = Some(context);
        }
        if let Some(live) = left.previous_live.take() {
            self.previous_live = Some(live);
        }
        if let Some(state) = left.previous_state.take() {
            self.previous_state = Some(state);
        }
    }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(previous) = self.previous_context.take() {
            crate::context::swap_current(previous);
        }
        if let Some(previous) = self.previous_state.take() {
            super::record::UNSAMPLED_STATE.with(|state| *state.borrow_mut() = previous);
        }
        if let Some(previous) = self.previous_live.take() {
            LIVE.with(|live| *live.borrow_mut() = previous);
        }
    }
}

/// A future run in a span; see [`Span::scope`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<S, F> {
    // Dropped first: what the future holds ends before its span does.
    pub(super) future: F,
    pub(super) span: S,
}

impl<S: Borrow<Span>, F: Future> Future for Instrumented<S, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out of `self`, which is pinned
        // (Instrumented has no Drop and no Unpin impl of its own); `span` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _entered = this.span.borrow().enter();
        // SAFETY: see above.
        unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx)
    }
}
