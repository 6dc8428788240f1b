//! The duration grammar of the `OBS_*` variables: obs-duration's, the one the macros use too
//! (`250ms`, `1s`, `1.5m`, `2h`).

use std::time::Duration;

/// `text` as a duration, or `None` if it is not one (no unit, a negative or unknown one).
pub(crate) fn parse(text: &str) -> Option<Duration> {
    obs_duration::parse(text).ok()
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
        assert_eq!(parse(" 3s "), Some(Duration::from_secs(3)));
        for bad in ["", "1", "s", "1 d", "-1s", "1e3s"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
