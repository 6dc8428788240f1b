//! Wall-clock timestamps as RFC 3339 text, without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// `time` as RFC 3339 in UTC with microseconds: `2026-11-29T03:04:05.123456Z`. Times before 1970
/// are written as the epoch.
#[cfg(any(test, feature = "health", feature = "alerts"))]
pub(crate) fn rfc3339_micros(time: SystemTime) -> String {
    let mut out = Vec::with_capacity(27);
    write_rfc3339_micros(&mut out, time);
    String::from_utf8(out).unwrap_or_default()
}

/// [`rfc3339_micros`] appended to `out`, without allocating (27 bytes).
pub(crate) fn write_rfc3339_micros(out: &mut Vec<u8>, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let rest = seconds % 86_400;
    fn digits(out: &mut Vec<u8>, value: u64, width: usize) {
        let mut buffer = [b'0'; 20];
        let mut value = value;
        for slot in buffer[..width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        out.extend_from_slice(&buffer[..width]);
    }
    digits(out, year.clamp(0, 9999) as u64, 4);
    out.push(b'-');
    digits(out, u64::from(month), 2);
    out.push(b'-');
    digits(out, u64::from(day), 2);
    out.push(b'T');
    digits(out, rest / 3600, 2);
    out.push(b':');
    digits(out, rest / 60 % 60, 2);
    out.push(b':');
    digits(out, rest % 60, 2);
    out.push(b'.');
    digits(out, u64::from(since.subsec_micros()), 6);
    out.push(b'Z');
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
