//! The one retry policy of obs's outbound calls (span export, alert notifications): exponential
//! backoff with jitter, and a server's `Retry-After` (HTTP) or `RetryInfo` (gRPC) honoured.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many attempts, and the pause before the second (doubling after each, with jitter).
#[cfg_attr(not(any(feature = "trace", feature = "alerts")), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) attempts: u32,
    pub(crate) first_pause: Duration,
}

/// The longest pause the backoff makes between two attempts.
#[cfg_attr(not(any(feature = "trace", feature = "alerts")), allow(dead_code))]
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(30);

/// The longest a server's `Retry-After` or `RetryInfo` is waited for.
#[cfg_attr(not(any(feature = "trace", feature = "alerts")), allow(dead_code))]
pub(crate) const MAX_SERVER_PAUSE: Duration = Duration::from_secs(300);

#[cfg_attr(not(any(feature = "trace", feature = "alerts")), allow(dead_code))]
impl Policy {
    /// The pause after failed attempt `attempt` (1-based): the server's `retry_after` when it gave
    /// one (at most [`MAX_SERVER_PAUSE`]: the caller gives up when it is past its deadline), else
    /// `first_pause` doubled per attempt, each taken at 50 to 150 % so that replicas do not retry
    /// in step, at most [`MAX_PAUSE`].
    pub(crate) fn pause(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(MAX_SERVER_PAUSE);
        }
        let base = self.first_pause.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        base.mul_f64(0.5 + random_fraction()).min(MAX_PAUSE)
    }
}

/// A fraction in [0, 1) that differs between calls and processes (no RNG dependency: the clock's
/// nanoseconds, the process id and a counter, mixed).
#[cfg_attr(not(any(feature = "trace", feature = "alerts")), allow(dead_code))]
fn random_fraction() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.subsec_nanos());
    let mixed = (u64::from(nanos) ^ u64::from(std::process::id()) << 32)
        .wrapping_add(COUNTER.fetch_add(0x9e37_79b9, Ordering::Relaxed))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

/// A `Retry-After` value: delay-seconds, or an HTTP-date (IMF-fixdate, RFC 9110) from which the
/// wait is counted from `now`; `None` for anything else.
#[cfg_attr(not(feature = "egress"), allow(dead_code))]
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_imf_fixdate(value)?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
#[cfg_attr(not(feature = "egress"), allow(dead_code))]
fn parse_imf_fixdate(value: &str) -> Option<SystemTime> {
    let (_, rest) = value.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|name| *name == month)? as u32 + 1;
    let mut clock = time.split(':').map(|part| part.parse::<u64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if clock.next().is_some() || hour > 23 || minute > 59 || second > 60 || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = u64::try_from(days).ok()? * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
#[cfg_attr(not(feature = "egress"), allow(dead_code))]
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_server_hint_wins() {
        let policy = Policy { attempts: 4, first_pause: Duration::from_millis(100) };
        for attempt in 1..=4u32 {
            let base = Duration::from_millis(100) * 2u32.pow(attempt - 1);
            for _ in 0..50 {
                let pause = policy.pause(attempt, None);
                assert!(pause >= base / 2 && pause < base * 3 / 2, "attempt {attempt}: {pause:?}");
            }
        }
        assert_eq!(policy.pause(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(policy.pause(1, Some(Duration::from_secs(120))), Duration::from_secs(120));
        assert_eq!(policy.pause(1, Some(Duration::from_secs(3600))), MAX_SERVER_PAUSE);
        assert!(policy.pause(40, None) <= MAX_PAUSE);
    }

    #[test]
    fn retry_after_takes_seconds_and_the_rfc_9110_example_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 120);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        // RFC 9110's IMF-fixdate example, 784111777 seconds after the epoch.
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + Duration::from_secs(500)),
            Some(Duration::ZERO)
        );
        for bad in ["", "soon", "-1", "1.5", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
