//! Wall-clock timestamps as RFC 3339 text, without a date-time dependency.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// `time` as RFC 3339 in UTC with microseconds: `2026-11-29T03:04:05.123456Z`. Times before 1970
/// are written as the epoch.
pub(crate) fn rfc3339_micros(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let rest = seconds % 86_400;
    let mut out = String::with_capacity(27);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_micros()
    );
    out
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn known_dates() {
        let at = |secs: u64, micros: u32| UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros.into());
        assert_eq!(rfc3339_micros(at(0, 0)), "1970-01-01T00:00:00.000000Z");
        // `date -u -d @951825600`: the leap day of a century leap year.
        assert_eq!(rfc3339_micros(at(951_825_600, 7)), "2000-02-29T12:00:00.000007Z");
        assert_eq!(rfc3339_micros(at(1_798_520_645, 123_456)), "2026-12-29T05:04:05.123456Z");
        assert_eq!(rfc3339_micros(at(4_107_542_399, 999_999)), "2100-02-28T23:59:59.999999Z");
        assert_eq!(rfc3339_micros(UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01T00:00:00.000000Z");
    }
}
