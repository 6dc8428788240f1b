//! One rule's life: inactive, pending (for its `for` duration), firing (announced, or suppressed
//! by the cooldown), resolved; and the notifications each change makes, and for whom.

use std::time::{Duration, SystemTime};

use super::Audience;
use super::alert::{Alert, AlertStatus};
use crate::alerts::condition::History;
use crate::alerts::route::Routes;
use crate::alerts::rule::AlertRule;
use crate::metrics::{Gauge, Snapshot};

/// How often a firing alert is sent again to channels that forget alerts not re-sent
/// (Alertmanager resolves an alert by itself when its `endsAt` passes).
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Inactive,
    Pending {
        since: SystemTime,
    },
    Firing {
        active_since: SystemTime,
        since: SystemTime,
        last_true: SystemTime,
        /// Announced to every channel (not suppressed by the cooldown).
        announced: bool,
        /// Told to the channels that track state (Alertmanager).
        told_trackers: bool,
    },
}

pub(super) struct RuleState {
    pub(super) rule: AlertRule,
    history: History,
    phase: Phase,
    value: Option<f64>,
    /// The message of the last firing announcement (a resolution repeats it).
    message: String,
    /// The last firing announcement, for the cooldown.
    last_fired: Option<SystemTime>,
    /// The last notification of any kind to every channel, for the repeat interval.
    last_sent: SystemTime,
    /// The last time refresh-wanting channels got this alert.
    last_refresh: SystemTime,
    /// How often they get it: a minute, or the evaluation interval if longer.
    refresh: Duration,
    /// Whether a panic of the condition, or a metric that does not exist, was reported.
    warned: bool,
    firing_gauge: Option<Gauge>,
    /// This firing's escalation: the level reached, when it was first announced, and who
    /// acknowledged it (which stops the escalation and the repeats). Reset when it resolves.
    level: usize,
    announced_at: Option<SystemTime>,
    ack: Option<(SystemTime, Option<String>)>,
}

fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or_default()
}

impl RuleState {
    pub(super) fn new(rule: AlertRule, refresh: Duration, firing_gauge: Option<Gauge>) -> RuleState {
        if let Some(gauge) = &firing_gauge {
            gauge.set(0.0);
        }
        let epoch = SystemTime::UNIX_EPOCH;
        RuleState {
            rule,
            history: History::default(),
            phase: Phase::Inactive,
            value: None,
            message: String::new(),
            last_fired: None,
            last_sent: epoch,
            last_refresh: epoch,
            refresh,
            warned: false,
            firing_gauge,
            level: 0,
            announced_at: None,
            ack: None,
        }
    }

    /// Acknowledges the alert if it fires; see [`AlertManager::acknowledge`](super::AlertManager::acknowledge).
    pub(super) fn acknowledge(&mut self, by: Option<&str>, now: SystemTime) -> Option<Alert> {
        if !matches!(self.phase, Phase::Firing { .. }) {
            return None;
        }
        if self.ack.is_none() {
            self.ack = Some((now, by.map(str::to_owned)));
        }
        self.current()
    }

    /// A new firing, or none: escalation starts over.
    fn reset_escalation(&mut self) {
        self.level = 0;
        self.announced_at = None;
        self.ack = None;
    }

    pub(super) fn evaluate(
        &mut self,
        snapshot: &Snapshot,
        now: SystemTime,
        routes: &Routes,
        out: &mut Vec<(Alert, Audience)>,
    ) {
        let rule = &self.rule;
        // A panicking custom condition is no value (and said once), not the end of alerting.
        let observed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rule.condition.observe(snapshot, now, &mut self.history)
        }));
        self.value = observed.unwrap_or_else(|_| {
            if !self.warned {
                self.warned = true;
                crate::diagnostics::warn(
                    "alerts",
                    "condition_panicked",
                    &format!("the condition of alert rule {} panicked; it counts as no value", rule.name),
                );
            }
            None
        });
        if self.value.is_none()
            && !self.warned
            && let Some(metric) = rule.condition.metric()
            && !snapshot.knows(metric)
        {
            // A typo never fires: say so once.
            self.warned = true;
            crate::diagnostics::warn(
                "alerts",
                "unknown_metric",
                &format!("alert rule {} reads {metric}, which is not registered (yet): it cannot fire", rule.name),
            );
        }
        let holds = self.value.is_some_and(|value| rule.condition.comparison.holds(value, rule.condition.threshold));
        self.phase = match (self.phase, holds) {
            (Phase::Inactive, false) | (Phase::Pending { .. }, false) => Phase::Inactive,
            (Phase::Inactive, true) => Phase::Pending { since: now },
            (pending @ Phase::Pending { .. }, true) => pending,
            (Phase::Firing { active_since, since, announced, told_trackers, .. }, true) => {
                Phase::Firing { active_since, since, last_true: now, announced, told_trackers }
            }
            (firing @ Phase::Firing { last_true, announced, told_trackers, .. }, false) => {
                if elapsed(last_true, now) < rule.keep_firing_for {
                    firing
                } else {
                    // Whoever heard it fire hears it resolve; a suppressed alert was only told to
                    // the channels that track state (Alertmanager).
                    let audience = match (announced, told_trackers) {
                        (true, _) => Some(Audience::Everyone),
                        (false, true) => Some(Audience::RefreshOnly),
                        (false, false) => None,
                    };
                    if let Some(audience) = audience {
                        let mut alert = self.alert(AlertStatus::Resolved, now);
                        alert.message = self.message.clone();
                        alert.ends_at = Some(now);
                        alert.valid_until = None;
                        out.push((alert, audience));
                    }
                    self.reset_escalation();
                    Phase::Inactive
                }
            }
        };
        // Pending long enough: it fires.
        if let Phase::Pending { since } = self.phase
            && elapsed(since, now) >= self.rule.for_duration
        {
            self.reset_escalation();
            self.phase = Phase::Firing {
                active_since: since,
                since: now,
                last_true: now,
                announced: false,
                told_trackers: false,
            };
        }
        if let Phase::Firing { announced, told_trackers, .. } = self.phase {
            // The cooldown is the least time between two announcements, repeats included.
            let cooled = self.last_fired.is_none_or(|last| elapsed(last, now) >= self.rule.cooldown);
            // An acknowledged alert is not repeated: someone is on it.
            let repeat = self.ack.is_none()
                && self.rule.repeat_interval.is_some_and(|interval| elapsed(self.last_sent, now) >= interval);
            if cooled && (!announced || repeat) {
                self.message = self.rule.template.render(&self.rule, self.value);
                self.last_fired = Some(now);
                self.last_sent = now;
                self.last_refresh = now;
                self.announced_at.get_or_insert(now);
                self.set_told(true, true);
                out.push((self.alert(AlertStatus::Firing, now), Audience::Everyone));
            } else if !told_trackers || elapsed(self.last_refresh, now) >= self.refresh {
                // Alertmanager forgets an alert whose `valid_until` passes: it hears every firing
                // alert, suppressed or not, again before then (and dedupes on its own).
                self.last_refresh = now;
                if !announced {
                    self.message = self.rule.template.render(&self.rule, self.value);
                }
                self.set_told(announced, true);
                let mut alert = self.alert(AlertStatus::Firing, now);
                alert.message = self.message.clone();
                out.push((alert, Audience::RefreshOnly));
            }
        }
        // Announced, unacknowledged, and the next level's delay since the announcement has passed:
        // that level hears it (each level due, if evaluations were far apart).
        if let (Phase::Firing { announced: true, .. }, Some(announced_at), None) =
            (self.phase, self.announced_at, &self.ack)
        {
            while let Some(delay) = routes.delay(self.rule.severity, self.level + 1)
                && elapsed(announced_at, now) >= delay
            {
                self.level += 1;
                let mut alert = self.alert(AlertStatus::Firing, now);
                alert.message = self.message.clone();
                out.push((alert, Audience::Level(self.level)));
            }
        }
        if let Some(gauge) = &self.firing_gauge {
            gauge.set(if matches!(self.phase, Phase::Firing { .. }) { 1.0 } else { 0.0 });
        }
    }

    fn set_told(&mut self, everyone: bool, trackers: bool) {
        if let Phase::Firing { announced, told_trackers, .. } = &mut self.phase {
            *announced = everyone;
            *told_trackers = trackers;
        }
    }

    fn alert(&self, status: AlertStatus, now: SystemTime) -> Alert {
        let (active_since, starts_at) = match self.phase {
            Phase::Inactive => (now, now),
            Phase::Pending { since } => (since, now),
            Phase::Firing { active_since, since, .. } => (active_since, since),
        };
        Alert {
            name: self.rule.name.clone(),
            severity: self.rule.severity,
            status,
            message: self.rule.template.render(&self.rule, self.value),
            labels: self.rule.labels.clone(),
            value: self.value,
            threshold: self.rule.condition.threshold,
            active_since,
            starts_at,
            ends_at: None,
            valid_until: (status == AlertStatus::Firing).then(|| now + 4 * self.refresh),
            timestamp: now,
            runbook_url: self.rule.links.runbook_url.clone(),
            dashboard_url: self.rule.links.dashboard_url.clone(),
            description: self.rule.links.description.clone(),
            escalation_level: self.level,
            acknowledged_by: self.ack.as_ref().and_then(|(_, by)| by.clone()),
            acknowledged_at: self.ack.as_ref().map(|(at, _)| *at),
        }
    }

    pub(super) fn current(&self) -> Option<Alert> {
        let now = SystemTime::now();
        match self.phase {
            Phase::Inactive => None,
            Phase::Pending { .. } => Some(self.alert(AlertStatus::Pending, now)),
            Phase::Firing { announced, .. } => {
                Some(self.alert(if announced { AlertStatus::Firing } else { AlertStatus::Suppressed }, now))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::engine::AlertManager;
    use crate::alerts::{AlertRule, Condition};

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn manager(
        gauge: &str,
        configure: impl FnOnce(crate::alerts::AlertRuleBuilder) -> crate::alerts::AlertRuleBuilder,
    ) -> (AlertManager, Gauge) {
        let value = Gauge::register(gauge, "test").expect("a new gauge");
        let rule =
            configure(AlertRule::builder(gauge).condition(Condition::gauge(gauge).above(10.0)).message("{value}"));
        (
            AlertManager::builder()
                .rule(rule.build().expect("a valid rule or manager"))
                .build()
                .expect("a valid rule or manager"),
            value,
        )
    }

    fn statuses(alerts: &[Alert]) -> Vec<(AlertStatus, String)> {
        alerts.iter().map(|alert| (alert.status, alert.message.clone())).collect()
    }

    #[test]
    fn pending_until_for_then_firing_once_then_resolved() {
        let (manager, gauge) =
            manager("test_engine_for", |rule| rule.for_duration(S(30)).no_repeat().cooldown(Duration::ZERO));
        let t0 = SystemTime::UNIX_EPOCH + S(1_000_000);
        gauge.set(11.0);
        assert!(manager.evaluate_at(t0).is_empty());
        assert_eq!(manager.active()[0].status, AlertStatus::Pending);
        // Dropping below before `for` ends: back to inactive, nothing sent.
        gauge.set(5.0);
        assert!(manager.evaluate_at(t0 + S(10)).is_empty());
        assert!(manager.active().is_empty());
        gauge.set(12.0);
        assert!(manager.evaluate_at(t0 + S(20)).is_empty());
        assert!(manager.evaluate_at(t0 + S(49)).is_empty());
        let fired = manager.evaluate_at(t0 + S(50));
        assert_eq!(statuses(&fired), [(AlertStatus::Firing, "12".to_owned())]);
        assert_eq!((fired[0].active_since, fired[0].starts_at), (t0 + S(20), t0 + S(50)));
        // Deduplicated: still firing, nothing more to say.
        gauge.set(13.0);
        assert!(manager.evaluate_at(t0 + S(60)).is_empty());
        assert!(manager.evaluate_at(t0 + S(100_000)).is_empty());
        gauge.set(0.0);
        let resolved = manager.evaluate_at(t0 + S(100_010));
        // The resolution repeats the message it fired with.
        assert_eq!(statuses(&resolved), [(AlertStatus::Resolved, "12".to_owned())]);
        assert_eq!(resolved[0].ends_at, Some(t0 + S(100_010)));
        assert!(manager.active().is_empty());
    }

    #[test]
    fn keep_firing_for_rides_out_a_dip() {
        let (manager, gauge) = manager("test_engine_keep", |rule| rule.keep_firing_for(S(30)));
        let t0 = SystemTime::UNIX_EPOCH + S(1_000_000);
        gauge.set(11.0);
        assert_eq!(manager.evaluate_at(t0).len(), 1);
        gauge.set(0.0);
        assert!(manager.evaluate_at(t0 + S(15)).is_empty());
        assert_eq!(manager.active()[0].status, AlertStatus::Firing);
        gauge.set(11.0);
        assert!(manager.evaluate_at(t0 + S(40)).is_empty());
        gauge.set(0.0);
        assert!(manager.evaluate_at(t0 + S(60)).is_empty());
        assert_eq!(statuses(&manager.evaluate_at(t0 + S(70))), [(AlertStatus::Resolved, "11".to_owned())]);
    }

    #[test]
    fn cooldown_suppresses_a_refire_and_announces_it_when_over() {
        let (manager, gauge) = manager("test_engine_cooldown", |rule| rule.cooldown(S(300)));
        let t0 = SystemTime::UNIX_EPOCH + S(1_000_000);
        gauge.set(11.0);
        assert_eq!(manager.evaluate_at(t0).len(), 1);
        gauge.set(0.0);
        assert_eq!(manager.evaluate_at(t0 + S(10))[0].status, AlertStatus::Resolved);
        gauge.set(20.0);
        assert!(manager.evaluate_at(t0 + S(20)).is_empty());
        assert_eq!(manager.active()[0].status, AlertStatus::Suppressed);
        assert!(manager.evaluate_at(t0 + S(299)).is_empty());
        assert_eq!(statuses(&manager.evaluate_at(t0 + S(300))), [(AlertStatus::Firing, "20".to_owned())]);
        // A suppressed alert that resolves before it was announced sends nothing.
        gauge.set(0.0);
        assert_eq!(manager.evaluate_at(t0 + S(310))[0].status, AlertStatus::Resolved);
        gauge.set(20.0);
        assert!(manager.evaluate_at(t0 + S(320)).is_empty());
        gauge.set(0.0);
        assert!(manager.evaluate_at(t0 + S(330)).is_empty());
    }

    #[test]
    fn a_firing_alert_is_repeated_on_its_interval_but_never_within_the_cooldown() {
        let (manager, gauge) =
            manager("test_engine_repeat", |rule| rule.repeat_interval(S(60)).cooldown(Duration::ZERO));
        let t0 = SystemTime::UNIX_EPOCH + S(1_000_000);
        gauge.set(11.0);
        assert_eq!(manager.evaluate_at(t0).len(), 1);
        assert!(manager.evaluate_at(t0 + S(59)).is_empty());
        gauge.set(15.0);
        // Repeated with the value now.
        assert_eq!(statuses(&manager.evaluate_at(t0 + S(60))), [(AlertStatus::Firing, "15".to_owned())]);
        assert!(manager.evaluate_at(t0 + S(100)).is_empty());
        assert_eq!(manager.evaluate_at(t0 + S(120)).len(), 1);
        // With the default cooldown (5 minutes), a 60 s repeat waits for it.
        let (manager, gauge) = super::tests::manager("test_engine_repeat_cooldown", |rule| rule.repeat_interval(S(60)));
        gauge.set(11.0);
        assert_eq!(manager.evaluate_at(t0).len(), 1);
        assert!(manager.evaluate_at(t0 + S(60)).is_empty());
        assert!(manager.evaluate_at(t0 + S(299)).is_empty());
        assert_eq!(manager.evaluate_at(t0 + S(300)).len(), 1);
    }

    fn told(manager: &AlertManager, times: &[SystemTime]) -> Vec<(AlertStatus, u64, Audience)> {
        let mut rules = manager.lock();
        let state = &mut rules[0];
        let mut out = Vec::new();
        for now in times {
            state.evaluate(&Snapshot::take(), *now, &Routes::default(), &mut out);
        }
        let epoch = |time: SystemTime| time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs());
        out.iter().map(|(alert, audience)| (alert.status, epoch(alert.timestamp), *audience)).collect()
    }

    #[test]
    fn channels_that_forget_hear_a_firing_alert_every_minute_suppressed_or_not() {
        let t = |seconds: u64| SystemTime::UNIX_EPOCH + S(seconds);
        let (manager, gauge) = manager("test_engine_refresh", |rule| rule.no_repeat());
        gauge.set(11.0);
        let heard = told(&manager, &[t(1000), t(1059), t(1060), t(1090), t(1120)]);
        use AlertStatus::{Firing, Resolved};
        use Audience::{Everyone, RefreshOnly};
        assert_eq!(heard, [(Firing, 1000, Everyone), (Firing, 1060, RefreshOnly), (Firing, 1120, RefreshOnly)]);
        // It resolves, and fires again within the cooldown: suppressed for most channels, but
        // Alertmanager hears it fire (at once, then every minute) and resolve.
        gauge.set(0.0);
        assert_eq!(told(&manager, &[t(1130)]), [(Resolved, 1130, Everyone)]);
        gauge.set(11.0);
        assert_eq!(
            told(&manager, &[t(1140), t(1150), t(1200)]),
            [(Firing, 1140, RefreshOnly), (Firing, 1200, RefreshOnly)]
        );
        assert_eq!(manager.active()[0].status, AlertStatus::Suppressed);
        gauge.set(0.0);
        assert_eq!(told(&manager, &[t(1210)]), [(Resolved, 1210, RefreshOnly)]);
    }

    #[test]
    fn a_firing_alert_is_valid_for_four_refreshes_and_longer_with_a_long_interval() {
        let (manager, gauge) = manager("test_engine_valid_until", |rule| rule);
        gauge.set(11.0);
        let now = SystemTime::UNIX_EPOCH + S(1000);
        assert_eq!(manager.evaluate_at(now)[0].valid_until, Some(now + S(240)));
        let gauge_name = "test_engine_valid_until_long";
        let long = Gauge::register(gauge_name, "test").expect("a new gauge");
        let rule = AlertRule::builder(gauge_name).condition(Condition::gauge(gauge_name).above(10.0)).build();
        let manager = AlertManager::builder()
            .rule(rule.expect("a valid rule"))
            .interval(S(600))
            .build()
            .expect("a valid manager");
        long.set(11.0);
        assert_eq!(manager.evaluate_at(now)[0].valid_until, Some(now + S(2400)));
    }

    #[test]
    fn escalation_reaches_every_level_due_and_an_acknowledged_alert_is_neither_repeated_nor_escalated() {
        use crate::alerts::{Route, Severity, Webhook};
        let gauge = Gauge::register("test_engine_escalation", "test").expect("a new gauge");
        let rule = AlertRule::builder("test_engine_escalation")
            .condition(Condition::gauge("test_engine_escalation").above(10.0))
            .severity(Severity::Critical)
            .repeat_interval(S(60))
            .cooldown(Duration::ZERO)
            .build()
            .expect("a valid rule");
        let channel = |name: &str| Webhook::new("http://127.0.0.1:9/").expect("an http URL").named(name);
        let manager = AlertManager::builder()
            .rule(rule)
            .channel(channel("a"))
            .channel(channel("b"))
            .channel(channel("c"))
            .route(Severity::Critical, Route::to(["a"]).escalate_after(S(600), ["b"]).escalate_after(S(1200), ["c"]))
            .build()
            .expect("a valid manager");
        let levels =
            |alerts: &[Alert]| alerts.iter().map(|alert| (alert.status, alert.escalation_level)).collect::<Vec<_>>();
        let t0 = SystemTime::UNIX_EPOCH + S(1_000_000);
        gauge.set(11.0);
        assert_eq!(levels(&manager.evaluate_at(t0)), [(AlertStatus::Firing, 0)]);
        // An hour later: repeated to the first level, and both escalations are due at once.
        assert_eq!(
            levels(&manager.evaluate_at(t0 + S(3600))),
            [(AlertStatus::Firing, 0), (AlertStatus::Firing, 1), (AlertStatus::Firing, 2)]
        );
        let acknowledged = manager.acknowledge("test_engine_escalation", Some("bob")).expect("it fires");
        assert_eq!(acknowledged.acknowledged_by.as_deref(), Some("bob"));
        assert!(manager.acknowledge("no_such_rule", None).is_none());
        // No repeat once acknowledged.
        assert!(manager.evaluate_at(t0 + S(7200)).is_empty());
        gauge.set(0.0);
        let resolved = manager.evaluate_at(t0 + S(7210));
        assert_eq!(levels(&resolved), [(AlertStatus::Resolved, 2)]);
        assert_eq!(resolved[0].acknowledged_by.as_deref(), Some("bob"));
        // Not firing: nothing to acknowledge; the next firing starts over.
        assert!(manager.acknowledge("test_engine_escalation", None).is_none());
        gauge.set(11.0);
        let fired = manager.evaluate_at(t0 + S(7220));
        assert_eq!((levels(&fired), fired[0].acknowledged_at), (vec![(AlertStatus::Firing, 0)], None));
    }

    #[test]
    fn the_firing_gauge_follows_the_alert() {
        let (manager, gauge) = manager("test_engine_gauge", |rule| rule);
        let scrape = || crate::metrics::encode(crate::metrics::Format::Text);
        let series = r#"alerts_firing{alertname="test_engine_gauge",severity="warning"}"#;
        assert!(scrape().contains(&format!("{series} 0")));
        gauge.set(11.0);
        manager.evaluate_at(SystemTime::now());
        assert!(scrape().contains(&format!("{series} 1")));
        gauge.set(1.0);
        manager.evaluate_at(SystemTime::now() + S(1));
        assert!(scrape().contains(&format!("{series} 0")));
    }
}
