//! The duration grammar of the `OBS_*` variables: obs-duration's, the one the macros use too
//! (`250ms`, `1s`, `1.5m`, `2h`).

use std::time::Duration;

/// Reads a duration by obs's one grammar, the one of the `OBS_*` variables and of
/// `#[health_check(timeout = "..")]`: a decimal number and a unit, `ms`, `s`, `m` or `h` (`250ms`,
/// `1s`, `1.5m`, `2h`), exact to the nanosecond; `None` if `text` is not one (no unit, a negative
/// or unknown one). For a service's own settings, read as obs reads its own.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(obs_runtime::parse_duration("1.5m"), Some(Duration::from_secs(90)));
/// assert_eq!(obs_runtime::parse_duration("250ms"), Some(Duration::from_millis(250)));
/// assert_eq!(obs_runtime::parse_duration("soon"), None);
/// assert_eq!(obs_runtime::parse_duration("5"), None, "a unit is required");
/// ```
pub fn parse_duration(text: &str) -> Option<Duration> {
    obs_duration::parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grammar is obs-duration's (tested there); this is its `Option` face.
    #[test]
    fn a_duration_or_none() {
        assert_eq!(parse_duration(" 1.5m "), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1 d"), None);
    }
}
