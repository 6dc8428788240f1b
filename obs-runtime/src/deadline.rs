//! One instant to finish by, handed to every part that stops: the whole stop shares one budget
//! instead of each part waiting out its own timeout in turn.

use std::time::{Duration, Instant};

/// An instant to be done by: what [`ObsGuard::shutdown_by`](crate::ObsGuard::shutdown_by) gives
/// each part (the embedded server, alerting, the span exporter, the log writer), so that they stop
/// at once and together within one budget.
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::Deadline;
///
/// let deadline = Deadline::after(Duration::from_secs(10));
/// assert!(!deadline.is_passed());
/// assert!(deadline.remaining() <= Duration::from_secs(10));
/// // A per-attempt timeout never reaches past the deadline.
/// let attempt = deadline.within(Duration::from_secs(30));
/// assert_eq!(attempt, deadline);
/// assert!(deadline.within(Duration::from_secs(1)) < deadline);
/// // Passed: nothing is left.
/// let passed = Deadline::after(Duration::ZERO);
/// assert!(passed.is_passed());
/// assert_eq!(passed.remaining(), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    at: Instant,
}

/// How long past a deadline a waiter gives a part that was cut at it to count what it gave up
/// (and say so), so that the counts are in when the stop returns.
const GRACE: Duration = Duration::from_millis(100);

/// What "later than anything" means when a timeout does not fit in an `Instant` (about 30 years).
const FAR: Duration = Duration::from_secs(30 * 365 * 86_400);

impl Deadline {
    /// `timeout` from now (a timeout too large for the clock is about 30 years).
    pub fn after(timeout: Duration) -> Deadline {
        let now = Instant::now();
        Deadline { at: now.checked_add(timeout).or_else(|| now.checked_add(FAR)).unwrap_or(now) }
    }

    /// At `instant`.
    pub fn at(instant: Instant) -> Deadline {
        Deadline { at: instant }
    }

    /// The instant.
    pub fn instant(self) -> Instant {
        self.at
    }

    /// The time left; zero once passed.
    pub fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Whether it has passed.
    pub fn is_passed(self) -> bool {
        Instant::now() >= self.at
    }

    /// The earlier of this deadline and `timeout` from now: for one attempt of a longer job
    /// (an export, a delivery), so that its own timeout never reaches past the deadline.
    pub fn within(self, timeout: Duration) -> Deadline {
        self.min(Deadline::after(timeout))
    }

    /// This deadline and [`GRACE`]: how long to wait for a part that was told to stop by it.
    #[cfg_attr(not(any(feature = "http-server", feature = "alerts", feature = "trace")), allow(dead_code))]
    pub(crate) fn with_grace(self) -> Deadline {
        Deadline { at: self.at.checked_add(GRACE).unwrap_or(self.at) }
    }

    /// `margin` before this deadline (or now, if that is already past): what a part that must
    /// hand over to another before the end gets.
    pub fn earlier_by(self, margin: Duration) -> Deadline {
        let floor = Instant::now().min(self.at);
        Deadline { at: self.at.checked_sub(margin).map_or(floor, |at| at.max(floor)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_and_earlier_by_never_reach_past_it() {
        let deadline = Deadline::after(Duration::from_secs(60));
        assert_eq!(deadline.within(Duration::MAX), deadline);
        assert!(deadline.within(Duration::from_secs(1)) < deadline);
        let earlier = deadline.earlier_by(Duration::from_secs(10));
        assert_eq!(deadline.instant() - earlier.instant(), Duration::from_secs(10));
        // More margin than time left: now, and passed.
        let now_ish = deadline.earlier_by(Duration::from_secs(120));
        assert!(now_ish <= deadline && now_ish.remaining() == Duration::ZERO);
        // A huge timeout does not overflow the clock.
        assert!(!Deadline::after(Duration::MAX).is_passed());
    }
}
