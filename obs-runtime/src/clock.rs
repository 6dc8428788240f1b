//! The clock of the hot paths (request timing, span timestamps): the TSC where it is invariant,
//! else the OS monotonic clock; read raw, scaled to nanoseconds off the hot path.

use std::sync::OnceLock;

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

#[inline(always)]
pub(crate) fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}
