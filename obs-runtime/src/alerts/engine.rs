//! The evaluator: each rule's state (inactive, pending, firing, suppressed), the notifications its
//! changes make, and the background thread that evaluates on an interval and delivers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::channel::{Channel, Dispatcher};
use super::condition::History;
use super::rule::AlertRule;
use super::{AlertError, Severity};
use crate::metrics::{Gauge, GaugeVec, Snapshot};

/// The default evaluation interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// How often a firing alert is sent again to channels that forget alerts not re-sent
/// (Alertmanager resolves an alert by itself when its `endsAt` passes).
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    /// The condition holds, but not yet for the rule's `for` duration.
    Pending,
    /// Firing and announced.
    Firing,
    /// Firing, not announced: the rule's cooldown since its last announcement has not passed.
    Suppressed,
    /// It stopped firing.
    Resolved,
}

impl Alert {
    /// An alert with this name, severity, status and message, no labels, no value, timestamps
    /// now: for testing a [`Channel`](super::Channel) of your own (fields are public to adjust).
    pub fn new(name: impl Into<String>, severity: Severity, status: AlertStatus, message: impl Into<String>) -> Alert {
        let now = SystemTime::now();
        Alert {
            name: name.into(),
            severity,
            status,
            message: message.into(),
            labels: BTreeMap::new(),
            value: None,
            threshold: 0.0,
            active_since: now,
            starts_at: now,
            ends_at: (status == AlertStatus::Resolved).then_some(now),
            valid_until: None,
            timestamp: now,
        }
    }
}

impl AlertStatus {
    /// `pending`, `firing`, `suppressed` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Firing => "firing",
            AlertStatus::Suppressed => "suppressed",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// An alert, as notifications carry it and `/alerts` lists it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Alert {
    /// The rule's name.
    pub name: String,
    /// The rule's severity.
    pub severity: Severity,
    /// `Firing` or `Resolved` in a notification; any but `Resolved` in [`AlertManager::active`].
    pub status: AlertStatus,
    /// The rendered message.
    pub message: String,
    /// The rule's labels (`alertname` and `severity` are the fields above).
    pub labels: BTreeMap<String, String>,
    /// The condition's value at the last evaluation (`None`: no data).
    pub value: Option<f64>,
    /// The threshold the value crossed.
    pub threshold: f64,
    /// When the condition started to hold (pending or firing since).
    pub active_since: SystemTime,
    /// When it fired (for a pending alert: the last evaluation).
    pub starts_at: SystemTime,
    /// When it resolved.
    pub ends_at: Option<SystemTime>,
    /// For a firing alert: how long it may be taken as still firing without hearing again (four
    /// refresh intervals: Alertmanager's `endsAt`, so that it resolves the alert by itself if this
    /// process dies).
    pub valid_until: Option<SystemTime>,
    /// When this notification was made, or the alert last evaluated.
    pub timestamp: SystemTime,
}

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

struct RuleState {
    rule: AlertRule,
    history: History,
    phase: Phase,
    value: Option<f64>,
    /// The message of the last firing announcement (a resolution repeats it).
    message: String,
    /// The last firing announcement (the chapter's `last_fired`), for the cooldown.
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
}

/// Who a notification goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Everyone,
    /// Only channels that forget alerts not re-sent (Alertmanager).
    RefreshOnly,
}

pub(crate) struct Shared {
    rules: Mutex<Vec<RuleState>>,
    pub(crate) running: std::sync::atomic::AtomicBool,
    pub(crate) interval: Duration,
    pub(crate) dispatcher: Dispatcher,
}

/// Evaluates rules against the live registry and sends what changes to the channels: the
/// chapter's `AlertManager`.
///
/// Built with [`AlertManager::builder`], handed to [`ObsBuilder::alerts`](crate::ObsBuilder::alerts)
/// (which starts it, and serves `/alerts`), or run by hand with [`AlertManager::start`]. A clone
/// is a handle to the same alerts.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use obs_runtime::alerts::{AlertManager, AlertRule, AlertStatus, Condition, Severity};
/// use obs_runtime::metrics::Gauge;
///
/// let depth = Gauge::register("doc_engine_queue_depth", "Jobs waiting")?;
/// let manager = AlertManager::builder()
///     .rule(
///         AlertRule::builder("queue_backlog")
///             .condition(Condition::gauge("doc_engine_queue_depth").above(100.0))
///             .severity(Severity::Warning)
///             .message("{doc_engine_queue_depth} jobs are waiting")
///             .for_duration(Duration::from_secs(60))
///             .build()?,
///     )
///     .build()?;
///
/// // Driven by hand here, with a clock of our own; `start` evaluates on an interval.
/// let t0 = SystemTime::now();
/// depth.set(250.0);
/// assert!(manager.evaluate_at(t0).is_empty()); // pending
/// let sent = manager.evaluate_at(t0 + Duration::from_secs(60));
/// assert_eq!((sent[0].status, sent[0].message.as_str()), (AlertStatus::Firing, "250 jobs are waiting"));
/// depth.set(0.0);
/// let sent = manager.evaluate_at(t0 + Duration::from_secs(75));
/// assert_eq!(sent[0].status, AlertStatus::Resolved);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AlertManager {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for AlertManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertManager")
            .field("rules", &self.lock().iter().map(|state| state.rule.name.clone()).collect::<Vec<_>>())
            .field("interval", &self.shared.interval)
            .field("channels", &self.shared.dispatcher.names())
            .finish()
    }
}

/// Builds an [`AlertManager`].
#[must_use = "a builder does nothing until `build`"]
pub struct AlertManagerBuilder {
    rules: Vec<AlertRule>,
    channels: Vec<Arc<dyn Channel>>,
    interval: Option<Duration>,
    send_timeout: Duration,
    errors: Vec<AlertError>,
}

impl std::fmt::Debug for AlertManagerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertManagerBuilder")
            .field("rules", &self.rules.iter().map(AlertRule::name).collect::<Vec<_>>())
            .field("channels", &self.channels.iter().map(|channel| channel.name().to_owned()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The most a notification may wait for one attempt.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(5);

impl AlertManager {
    /// Starts a manager with no rules and no channels.
    pub fn builder() -> AlertManagerBuilder {
        AlertManagerBuilder {
            rules: Vec::new(),
            channels: Vec::new(),
            interval: None,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            errors: Vec::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<RuleState>> {
        self.shared.rules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The evaluation interval.
    pub fn interval(&self) -> Duration {
        self.shared.interval
    }

    /// The rules, in the order they were added.
    pub fn rules(&self) -> Vec<AlertRule> {
        self.lock().iter().map(|state| state.rule.clone()).collect()
    }

    /// Evaluates every rule as of `now` (the background thread passes the wall clock; tests pass
    /// their own) and returns the notifications it made, which also go to the channels when the
    /// manager runs.
    ///
    /// For a manager that is not [started](Self::start): with one that runs, this would be a
    /// second evaluator. Times should not go back (a windowed rule forgets its samples if they
    /// do). Custom conditions run under the manager's lock: they must not call the manager.
    pub fn evaluate_at(&self, now: SystemTime) -> Vec<Alert> {
        if let Some(evaluations) = evaluations() {
            evaluations.inc();
        }
        let snapshot = Snapshot::internal();
        let mut out = Vec::new();
        {
            let mut rules = self.lock();
            for state in rules.iter_mut() {
                state.evaluate(&snapshot, now, &mut out);
            }
        }
        let mut announced = Vec::with_capacity(out.len());
        for (alert, audience) in out {
            let alert = Arc::new(alert);
            self.shared.dispatcher.dispatch(&alert, audience);
            if audience == Audience::Everyone {
                announced.push(Arc::unwrap_or_clone(alert));
            }
        }
        announced
    }

    /// The alerts pending or firing (suppressed included), as of the last evaluation.
    pub fn active(&self) -> Vec<Alert> {
        self.lock().iter().filter_map(RuleState::current).collect()
    }
}

impl AlertManagerBuilder {
    /// Adds a rule. Rule names must be unique.
    pub fn rule(mut self, rule: AlertRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Adds a rule from a builder, keeping its error (if any) for [`build`](Self::build).
    pub fn rule_result(mut self, rule: Result<AlertRule, AlertError>) -> Self {
        match rule {
            Ok(rule) => self.rules.push(rule),
            Err(error) => self.errors.push(error),
        }
        self
    }

    /// Adds a notification channel (the chapter's `add_notification_channel`). Channel names
    /// must be unique (they label the delivery counters); a `Box<dyn Channel>` is a channel too.
    pub fn channel(mut self, channel: impl Channel) -> Self {
        self.channels.push(Arc::new(channel));
        self
    }

    /// How often the rules are evaluated (default 15 s; `OBS_ALERT_EVAL_INTERVAL` when
    /// [`from_env`](Self::from_env) read it).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// The most one delivery attempt may take (default 5 s); a notification gets three attempts.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Adds the channels the environment names, and reads the interval:
    ///
    /// | variable | what |
    /// |---|---|
    /// | `OBS_SLACK_WEBHOOK_URL` | a [`Slack`](super::Slack) incoming webhook |
    /// | `OBS_WEBHOOK_URL` | a generic JSON [`Webhook`](super::Webhook) |
    /// | `OBS_ALERTMANAGER_URL` | an [`Alertmanager`](super::Alertmanager), e.g. `http://127.0.0.1:9093` |
    /// | `OBS_SMTP_URL`, `OBS_SMTP_FROM`, `OBS_SMTP_TO` | e-mail (feature `alerts-smtp`): `smtp://user:pass@host:587?tls=required` |
    /// | `OBS_ALERT_EVAL_INTERVAL` | the evaluation interval: `500ms`, `1s`, `2m` |
    ///
    /// A bad value is an `Err` from [`build`](Self::build) naming the variable (and never showing
    /// its value, which may hold a secret).
    pub fn from_env(self) -> Self {
        super::env::apply(self, |name| std::env::var(name).ok())
    }

    pub(crate) fn push_error(&mut self, error: AlertError) {
        self.errors.push(error);
    }

    pub(crate) fn interval_unset(&self) -> bool {
        self.interval.is_none()
    }

    /// Checks everything and builds the manager.
    pub fn build(self) -> Result<AlertManager, AlertError> {
        if let Some(error) = self.errors.into_iter().next() {
            return Err(error);
        }
        let interval = self.interval.unwrap_or(DEFAULT_INTERVAL);
        if interval < Duration::from_millis(10) || interval > Duration::from_secs(86_400) {
            return Err(AlertError::Setting { field: "interval", reason: "must be from 10ms to 1 day".into() });
        }
        if self.send_timeout.is_zero() || self.send_timeout > Duration::from_secs(300) {
            return Err(AlertError::Setting {
                field: "send_timeout",
                reason: "must be more than zero and at most 5 minutes".into(),
            });
        }
        for (index, rule) in self.rules.iter().enumerate() {
            if self.rules[..index].iter().any(|other| other.name == rule.name) {
                return Err(AlertError::Rule { rule: rule.name.clone(), reason: "two rules have this name".into() });
            }
        }
        for (index, channel) in self.channels.iter().enumerate() {
            if self.channels[..index].iter().any(|other| other.name() == channel.name()) {
                return Err(AlertError::Setting {
                    field: "channel",
                    reason: format!("two channels are named {:?} (give one another name with `named`)", channel.name()),
                });
            }
        }
        let firing = firing_family();
        let epoch = SystemTime::UNIX_EPOCH;
        let rules = self
            .rules
            .into_iter()
            .map(|rule| {
                let firing_gauge =
                    firing.and_then(|family| family.with_labels(&[&rule.name, rule.severity.as_str()]).ok());
                if let Some(gauge) = &firing_gauge {
                    gauge.set(0.0);
                }
                RuleState {
                    rule,
                    history: History::default(),
                    phase: Phase::Inactive,
                    value: None,
                    message: String::new(),
                    last_fired: None,
                    last_sent: epoch,
                    last_refresh: epoch,
                    refresh: REFRESH_INTERVAL.max(interval),
                    warned: false,
                    firing_gauge,
                }
            })
            .collect();
        Ok(AlertManager {
            shared: Arc::new(Shared {
                rules: Mutex::new(rules),
                running: std::sync::atomic::AtomicBool::new(false),
                interval,
                dispatcher: Dispatcher::new(self.channels, self.send_timeout),
            }),
        })
    }
}

/// `alerts_firing{alertname,severity}`: 1 while the alert fires (suppressed included), else 0.
fn firing_family() -> Option<&'static GaugeVec> {
    static FAMILY: std::sync::OnceLock<Option<GaugeVec>> = std::sync::OnceLock::new();
    FAMILY
        .get_or_init(|| {
            GaugeVec::register("alerts_firing", "Alerts firing now (1), by rule", &["alertname", "severity"]).ok()
        })
        .as_ref()
}

/// `obs_alert_evaluations_total`: evaluation passes, so that a stalled evaluator shows.
fn evaluations() -> Option<&'static crate::metrics::Counter> {
    static COUNTER: std::sync::OnceLock<Option<crate::metrics::Counter>> = std::sync::OnceLock::new();
    COUNTER
        .get_or_init(|| {
            crate::metrics::Counter::register("obs_alert_evaluations_total", "Alert rule evaluation passes").ok()
        })
        .as_ref()
}

fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or_default()
}

impl RuleState {
    fn evaluate(&mut self, snapshot: &Snapshot, now: SystemTime, out: &mut Vec<(Alert, Audience)>) {
        let rule = &self.rule;
        // A panicking custom condition is no value (and said once), not the end of alerting.
        let observed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rule.condition.observe(snapshot, now, &mut self.history)
        }));
        self.value = observed.unwrap_or_else(|_| {
            if !self.warned {
                self.warned = true;
                eprintln!("obs: the condition of alert rule {} panicked; it counts as no value", rule.name);
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
            eprintln!("obs: alert rule {} reads {metric}, which is not registered (yet): it cannot fire", rule.name);
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
                    Phase::Inactive
                }
            }
        };
        // Pending long enough: it fires.
        if let Phase::Pending { since } = self.phase
            && elapsed(since, now) >= self.rule.for_duration
        {
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
            let repeat = self.rule.repeat_interval.is_some_and(|interval| elapsed(self.last_sent, now) >= interval);
            if cooled && (!announced || repeat) {
                self.message = self.rule.template.render(&self.rule, self.value);
                self.last_fired = Some(now);
                self.last_sent = now;
                self.last_refresh = now;
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
        }
    }

    fn current(&self) -> Option<Alert> {
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
    use crate::alerts::Condition;

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
            state.evaluate(&Snapshot::take(), *now, &mut out);
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

    #[test]
    fn two_rules_may_not_share_a_name() {
        let rule = || {
            AlertRule::builder("same")
                .condition(Condition::gauge("g").above(1.0))
                .build()
                .expect("a valid rule or manager")
        };
        let error = AlertManager::builder().rule(rule()).rule(rule()).build().expect_err("this input is wrong");
        assert!(error.to_string().contains("two rules"), "{error}");
    }
}
