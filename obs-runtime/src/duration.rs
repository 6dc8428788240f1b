//! The one duration grammar of the `OBS_*` variables: a number and a unit, `ms`, `s`, `m` or `h`
//! (`250ms`, `1s`, `1.5m`, `2h`).

use std::time::Duration;

/// `text` as a duration, or `None` if it is not one (no unit, a negative or unknown one).
pub(crate) fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse("1.5m"), Some(Duration::from_secs(90)));
        assert_eq!(parse("2h"), Some(Duration::from_secs(7200)));
        for bad in ["", "1", "s", "1 d", "-1s", "1e3s"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
