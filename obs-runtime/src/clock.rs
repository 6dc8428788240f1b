//! The clock of the hot paths (request timing, span timestamps): the TSC where it is invariant,
//! else the OS monotonic clock; read raw, scaled to nanoseconds off the hot path.

use std::sync::OnceLock;

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

#[inline(always)]
pub(crate) fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A raw clock reading and the wall-clock time at that moment: raw readings taken on a hot path
/// become wall-clock times off it.
#[cfg(feature = "trace")]
pub(crate) struct Anchor {
    raw: u64,
    unix_nanos: u64,
}

#[cfg(feature = "trace")]
impl Anchor {
    pub(crate) fn now(clock: &quanta::Clock) -> Anchor {
        let raw = clock.raw();
        let unix_nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        Anchor { raw, unix_nanos }
    }

    /// The wall-clock time, in nanoseconds since the epoch, of the raw reading `raw`.
    pub(crate) fn wall(&self, clock: &quanta::Clock, raw: u64) -> u64 {
        if raw >= self.raw {
            self.unix_nanos.saturating_add(clock.delta_as_nanos(self.raw, raw))
        } else {
            self.unix_nanos.saturating_sub(clock.delta_as_nanos(raw, self.raw))
        }
    }
}
