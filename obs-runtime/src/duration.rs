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

    /// The grammar is obs-duration's (tested there); this is its `Option` face.
    #[test]
    fn a_duration_or_none() {
        assert_eq!(parse(" 1.5m "), Some(Duration::from_secs(90)));
        assert_eq!(parse("1 d"), None);
    }
}
