//! Routing by severity, and escalation: which channels hear an alert of a severity first, and who
//! hears it next when it still fires, unacknowledged, after a delay.

use std::collections::BTreeMap;
use std::time::Duration;

use super::AlertError;
use super::rule::Severity;

/// Where the alerts of one severity go: channels named by their [`name`](crate::alerts::Channel::name),
/// and levels of escalation. Given to [`AlertManagerBuilder::route`](crate::alerts::AlertManagerBuilder::route).
///
/// An alert is announced to the first level's channels. While it fires and nobody has
/// [acknowledged](crate::alerts::AlertManager::acknowledge) it, each later level hears it when its
/// delay since that first announcement has passed; everyone who heard it fire hears it repeated
/// and resolved. Acknowledging stops the escalation (and the repeats) of that firing; the next one
/// starts over.
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::alerts::{AlertManager, Log, Route, Severity, Webhook};
///
/// let alerts = AlertManager::builder()
///     .channel(Webhook::new("http://127.0.0.1:8080/oncall")?.named("oncall"))
///     .channel(Webhook::new("http://127.0.0.1:8080/lead")?.named("lead"))
///     .channel(Webhook::new("http://127.0.0.1:8080/tickets")?.named("tickets"))
///     .channel(Log::new())
///     // Critical alerts page the on-call, and their lead 15 minutes later if nobody acknowledged.
///     .route(Severity::Critical, Route::to(["oncall", "log"]).escalate_after(Duration::from_secs(900), ["lead"]))
///     .route(Severity::Warning, Route::to(["tickets", "log"]))
///     .route(Severity::Info, Route::to(["log"]))
///     .build()?;
///
/// // A channel that does not exist is an error.
/// let error = AlertManager::builder().route(Severity::Info, Route::to(["nowhere"])).build().unwrap_err();
/// assert!(error.to_string().contains("\"nowhere\""), "{error}");
/// # Ok::<(), obs_runtime::alerts::AlertError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// (delay since the first announcement, channel names); the first level's delay is zero.
    pub(crate) levels: Vec<(Duration, Vec<String>)>,
}

impl Route {
    /// The channels that hear an alert first.
    pub fn to<I, S>(channels: I) -> Route
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Route { levels: vec![(Duration::ZERO, channels.into_iter().map(Into::into).collect())] }
    }

    /// One more level: `channels` hear the alert when it still fires, unacknowledged, `delay`
    /// after it was first announced (each level's delay is longer than the one before).
    pub fn escalate_after<I, S>(mut self, delay: Duration, channels: I) -> Route
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.levels.push((delay, channels.into_iter().map(Into::into).collect()));
        self
    }
}

/// The routes with their channels as indexes into the manager's channels.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    by_severity: BTreeMap<Severity, Vec<(Duration, Vec<usize>)>>,
}

impl Routes {
    /// Checks the routes against the channels' names.
    pub(crate) fn resolve(routes: Vec<(Severity, Route)>, channels: &[String]) -> Result<Routes, AlertError> {
        let mut by_severity = BTreeMap::new();
        for (severity, route) in routes {
            let invalid =
                |reason: String| AlertError::Setting { field: "route", reason: format!("{severity}: {reason}") };
            if by_severity.contains_key(&severity) {
                return Err(invalid("routed twice".into()));
            }
            let mut levels = Vec::new();
            let mut previous: Option<Duration> = None;
            for (delay, names) in route.levels {
                if previous.is_some_and(|previous| delay <= previous) {
                    return Err(invalid(format!(
                        "the escalation delays must grow: {delay:?} comes after {:?}",
                        previous.unwrap_or_default()
                    )));
                }
                previous = Some(delay);
                if names.is_empty() {
                    return Err(invalid("a level names no channel".into()));
                }
                let mut indexes = Vec::new();
                for name in names {
                    let index = channels.iter().position(|channel| *channel == name).ok_or_else(|| {
                        invalid(format!("no channel is named {name:?} (the channels: {})", channels.join(", ")))
                    })?;
                    indexes.push(index);
                }
                levels.push((delay, indexes));
            }
            by_severity.insert(severity, levels);
        }
        Ok(Routes { by_severity })
    }

    /// Whether escalation level `level` of `severity` exists, and its delay.
    pub(crate) fn delay(&self, severity: Severity, level: usize) -> Option<Duration> {
        Some(self.by_severity.get(&severity)?.get(level)?.0)
    }

    /// Whether channel `index` hears the alerts of `severity` at `level`: every channel when the
    /// severity has no route; else the channels of that level that no level before it has.
    pub(crate) fn at_level(&self, severity: Severity, level: usize, index: usize) -> bool {
        match self.by_severity.get(&severity) {
            None => level == 0,
            Some(levels) => {
                levels.get(level).is_some_and(|(_, channels)| channels.contains(&index))
                    && !levels[..level.min(levels.len())].iter().any(|(_, channels)| channels.contains(&index))
            }
        }
    }

    /// Whether channel `index` has heard an alert of `severity` escalated to `level`.
    pub(crate) fn up_to(&self, severity: Severity, level: usize, index: usize) -> bool {
        (0..=level).any(|level| self.at_level(severity, level, index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_add_channels_and_a_channel_hears_an_alert_once() {
        let channels: Vec<String> = ["a", "b", "c"].into_iter().map(String::from).collect();
        let routes = Routes::resolve(
            vec![(
                Severity::Critical,
                Route::to(["a"])
                    .escalate_after(Duration::from_secs(60), ["a", "b"])
                    .escalate_after(Duration::from_secs(120), ["c"]),
            )],
            &channels,
        )
        .expect("valid routes");
        let heard =
            |level| (0..3).filter(|index| routes.at_level(Severity::Critical, level, *index)).collect::<Vec<_>>();
        assert_eq!((heard(0), heard(1), heard(2), heard(3)), (vec![0], vec![1], vec![2], vec![]));
        assert!(routes.up_to(Severity::Critical, 1, 1) && !routes.up_to(Severity::Critical, 1, 2));
        assert_eq!(routes.delay(Severity::Critical, 2), Some(Duration::from_secs(120)));
        assert_eq!(routes.delay(Severity::Critical, 3), None);
        // No route: every channel, at once, and never more.
        assert!((0..3).all(|index| routes.at_level(Severity::Warning, 0, index)));
        assert!(!routes.at_level(Severity::Warning, 1, 0));
        assert_eq!(routes.delay(Severity::Warning, 1), None);
    }

    #[test]
    fn bad_routes_say_what_is_wrong() {
        let channels = vec!["a".to_owned()];
        let minute = Duration::from_secs(60);
        let cases = [
            (vec![(Severity::Info, Route::to(["x"]))], "no channel is named \"x\""),
            (vec![(Severity::Info, Route::to(Vec::<String>::new()))], "names no channel"),
            (vec![(Severity::Info, Route::to(["a"])), (Severity::Info, Route::to(["a"]))], "routed twice"),
            (
                vec![(Severity::Info, Route::to(["a"]).escalate_after(minute, ["a"]).escalate_after(minute, ["a"]))],
                "must grow",
            ),
            (vec![(Severity::Info, Route::to(["a"]).escalate_after(Duration::ZERO, ["a"]))], "must grow"),
        ];
        for (routes, expected) in cases {
            let error = Routes::resolve(routes, &channels).expect_err(expected).to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
