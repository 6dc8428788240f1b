//! The one duration grammar of [obs](https://docs.rs/obs-runtime): the `OBS_*` variables, the
//! `timeout = ".."` of `#[health_check]` and `obs_runtime::parse_duration` all read a
//! duration with [`parse`]. It has no dependency, so the proc-macro crate and the runtime can
//! both use it.
//!
//! # Grammar
//!
//! A decimal number, then a unit, optionally with spaces around either:
//!
//! - the number: ASCII digits with at most one `.` (`2`, `1.5`, `0.25`); at most nine decimals.
//!   No sign, no exponent: a duration is never negative.
//! - the unit: `ms` (milliseconds), `s` (seconds), `m` (minutes) or `h` (hours). It is required:
//!   `"5"` could mean five of anything.
//!
//! The value is exact (decimal arithmetic, not floating point), to the nanosecond; zero is a
//! duration like any other (a caller that needs a positive one says so).
//!
//! ```
//! use std::time::Duration;
//!
//! assert_eq!(obs_duration::parse("250ms"), Ok(Duration::from_millis(250)));
//! assert_eq!(obs_duration::parse("1s"), Ok(Duration::from_secs(1)));
//! assert_eq!(obs_duration::parse("1.5m"), Ok(Duration::from_secs(90)));
//! assert_eq!(obs_duration::parse("2h"), Ok(Duration::from_secs(7200)));
//! assert_eq!(obs_duration::parse(" 2 s "), Ok(Duration::from_secs(2)));
//! assert_eq!(obs_duration::parse("0.25ms"), Ok(Duration::from_micros(250)));
//!
//! let error = obs_duration::parse("2 seconds").unwrap_err();
//! assert_eq!(error.to_string(), "unknown unit `seconds`: expected ms, s, m or h, as in \"500ms\", \"2s\", \"1.5m\", \"2h\"");
//! assert!(obs_duration::parse("5").is_err());
//! assert!(obs_duration::parse("-1s").is_err());
//! ```

use std::fmt;
use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The units, each with its length in nanoseconds.
const UNITS: [(&str, u128); 4] =
    [("ms", 1_000_000), ("s", NANOS_PER_SEC), ("m", 60 * NANOS_PER_SEC), ("h", 3600 * NANOS_PER_SEC)];

/// What is wrong with a text that is not a duration. Its `Display` says it, with an example.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurationError {
    /// Nothing but spaces.
    Empty,
    /// No number before the unit (`"s"`, `"-1s"`, `"1e3s"` is read as `1` then `e3s`).
    NoNumber,
    /// Not a decimal number (`"1.2.3s"`, `".s"`).
    BadNumber,
    /// More than nine decimals: finer than a nanosecond for some unit.
    TooManyDecimals,
    /// A number without a unit (`"5"`).
    NoUnit,
    /// A unit that is not `ms`, `s`, `m` or `h`; the unit as written.
    UnknownUnit(String),
    /// More seconds than a `Duration` holds.
    TooLarge,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const EXAMPLES: &str = "as in \"500ms\", \"2s\", \"1.5m\", \"2h\"";
        match self {
            DurationError::Empty => write!(f, "expected a duration, {EXAMPLES}"),
            DurationError::NoNumber => write!(f, "expected a number before the unit, {EXAMPLES}"),
            DurationError::BadNumber => write!(f, "not a decimal number: expected e.g. 2 or 1.5, {EXAMPLES}"),
            DurationError::TooManyDecimals => f.write_str("more than nine decimals: durations count nanoseconds"),
            DurationError::NoUnit => write!(f, "missing the unit: expected ms, s, m or h, {EXAMPLES}"),
            DurationError::UnknownUnit(unit) => write!(f, "unknown unit `{unit}`: expected ms, s, m or h, {EXAMPLES}"),
            DurationError::TooLarge => f.write_str("too large for a duration"),
        }
    }
}

impl std::error::Error for DurationError {}

/// `text` as a duration, by the grammar of the [crate docs](crate).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(obs_duration::parse("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(obs_duration::parse("2"), Err(obs_duration::DurationError::NoUnit));
/// ```
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim_start();
    if number.is_empty() {
        return Err(DurationError::NoNumber);
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return Err(DurationError::BadNumber);
    }
    if fraction.len() > 9 {
        return Err(DurationError::TooManyDecimals);
    }
    let nanos_per_unit = match UNITS.iter().find(|(name, _)| *name == unit) {
        Some((_, nanos)) => *nanos,
        None if unit.is_empty() => return Err(DurationError::NoUnit),
        None => return Err(DurationError::UnknownUnit(unit.to_owned())),
    };
    let whole = digits(whole)?;
    let fraction_nanos = digits(fraction)? * nanos_per_unit / 10u128.pow(fraction.len() as u32);
    let nanos = whole.checked_mul(nanos_per_unit).and_then(|n| n.checked_add(fraction_nanos));
    let nanos = nanos.ok_or(DurationError::TooLarge)?;
    let seconds = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| DurationError::TooLarge)?;
    // Below a billion, so it fits.
    let subsec = (nanos % NANOS_PER_SEC) as u32;
    Ok(Duration::new(seconds, subsec))
}

/// ASCII digits as a number; empty is 0.
fn digits(part: &str) -> Result<u128, DurationError> {
    if part.is_empty() {
        return Ok(0);
    }
    part.parse::<u128>().map_err(|_| DurationError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(parse("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("0.25ms"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("0.000000001s"), Ok(Duration::from_nanos(1)));
        assert_eq!(parse("0.001h"), Ok(Duration::from_millis(3600)));
        // Accepted before the grammar was shared, by both parsers.
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.s"), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn spaces_around_and_between() {
        assert_eq!(parse(" 2s\n"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("2 s"), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn zero_is_a_duration() {
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("0ms"), Ok(Duration::ZERO));
    }

    #[test]
    fn each_error_says_what_is_wrong() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("  "), Err(DurationError::Empty));
        assert_eq!(parse("s"), Err(DurationError::NoNumber));
        assert_eq!(parse("-1s"), Err(DurationError::NoNumber));
        assert_eq!(parse("soon"), Err(DurationError::NoNumber));
        assert_eq!(parse("1.2.3s"), Err(DurationError::BadNumber));
        assert_eq!(parse(".s"), Err(DurationError::BadNumber));
        assert_eq!(parse("1.0000000001s"), Err(DurationError::TooManyDecimals));
        assert_eq!(parse("1"), Err(DurationError::NoUnit));
        assert_eq!(parse("1 d"), Err(DurationError::UnknownUnit("d".into())));
        assert_eq!(parse("1e3s"), Err(DurationError::UnknownUnit("e3s".into())));
        assert_eq!(parse("2 seconds"), Err(DurationError::UnknownUnit("seconds".into())));
        assert_eq!(parse("1 s s"), Err(DurationError::UnknownUnit("s s".into())));
        assert_eq!(parse("99999999999999999999999h"), Err(DurationError::TooLarge));
        assert_eq!(parse("1000000000000000000000000000000000000000s"), Err(DurationError::TooLarge));
        let text = DurationError::UnknownUnit("d".into()).to_string();
        assert!(text.contains("`d`") && text.contains("ms, s, m or h"), "{text}");
    }
}
