//! How an [`AlertManager`] is put together: [`AlertManagerBuilder`], which checks the rules,
//! channels and settings before anything runs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::state::{REFRESH_INTERVAL, RuleState};
use super::{AckToken, AlertManager, Clock, Shared};
use crate::alerts::AlertError;
use crate::alerts::channel::{Channel, Dispatcher};
use crate::alerts::condition::Condition;
use crate::alerts::route::{Route, Routes};
use crate::alerts::rule::{AlertRule, IntoAlertRule, Severity};
use crate::alerts::slo::{IntoSlo, Tracker, window_name};
use crate::metrics::GaugeVec;

/// The default evaluation interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
/// Builds an [`AlertManager`].
#[must_use = "a builder does nothing until `build`"]
pub struct AlertManagerBuilder {
    rules: Vec<AlertRule>,
    slos: Vec<Arc<Tracker>>,
    channels: Vec<Arc<dyn Channel>>,
    routes: Vec<(Severity, Route)>,
    interval: Option<Duration>,
    send_timeout: Duration,
    clock: Option<Clock>,
    ack_token: Option<String>,
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

impl AlertManagerBuilder {
    pub(super) fn new() -> AlertManagerBuilder {
        AlertManagerBuilder {
            rules: Vec::new(),
            slos: Vec::new(),
            channels: Vec::new(),
            routes: Vec::new(),
            interval: None,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            clock: None,
            ack_token: None,
            errors: Vec::new(),
        }
    }

    /// Adds a rule: an [`AlertRule`], its builder unbuilt, or a `Result` (what [`AlertRule::new`]
    /// returns). A rule's `Err` (no condition, a bad name) is [`build`](Self::build)'s, which
    /// returns the first mistake of the whole configuration. Rule names must be unique.
    ///
    /// ```
    /// use obs_runtime::alerts::{AlertManager, AlertRule, Condition, Severity};
    ///
    /// let error = AlertManager::builder()
    ///     .rule(AlertRule::builder("queue_deep").condition(Condition::gauge("queue_depth").above(100.0)))
    ///     .rule(AlertRule::builder("queue_stuck").severity(Severity::Critical))
    ///     .build()
    ///     .expect_err("a rule without a condition");
    /// assert_eq!(error.to_string(), r#"alert rule "queue_stuck": no condition"#);
    /// ```
    pub fn rule(mut self, rule: impl IntoAlertRule) -> Self {
        match rule.into_alert_rule() {
            Ok(rule) => self.rules.push(rule),
            Err(error) => self.errors.push(error),
        }
        self
    }

    /// Adds a service level objective: its gauges (`slo_objective_ratio`,
    /// `slo_error_budget_remaining_ratio`, `slo_burn_rate{window}`, labelled `slo`), its line of
    /// `/slo`, and a rule for each of its [burn-rate alerts](crate::alerts::BurnRateAlert), named
    /// `{slo}_burn_rate_{long window}` (`users_availability_burn_rate_1h`) and labelled `slo`,
    /// `long_window`, `short_window`, evaluated and delivered as any other rule. Objective names
    /// must be unique.
    ///
    /// The manager counts the objective's calls at each evaluation into time buckets (a sixtieth
    /// of each window): its windows cover what it has seen since it started, and `/slo` says how
    /// much; [`AlertManager::prometheus_rules`] writes the durable form, which Prometheus evaluates
    /// over its own history.
    pub fn slo(mut self, slo: impl IntoSlo) -> Self {
        let slo = match slo.into_slo() {
            Ok(slo) => slo,
            Err(error) => {
                self.errors.push(error);
                return self;
            }
        };
        if self.slos.iter().any(|tracker| tracker.slo.name() == slo.name()) {
            self.errors.push(AlertError::Rule {
                rule: slo.name().to_owned(),
                reason: "SLO: two objectives have this name".into(),
            });
            return self;
        }
        let tracker = Arc::new(Tracker::new(slo.clone()));
        let objective = &slo.inner;
        for alert in &objective.alerts {
            let (long, short) = (window_name(alert.long_window), window_name(alert.short_window));
            let mut rule = AlertRule::builder(format!("{}_burn_rate_{long}", objective.name))
                .condition(Condition::burn_rate(tracker.clone(), alert))
                .severity(alert.severity)
                .message(
                    "{labels.slo}: the error budget burns {burn_rate:.1}x as fast as the objective allows over \
                     {labels.long_window} (this alert: above {threshold}x over {labels.long_window} and \
                     {labels.short_window})",
                )
                .label("slo", objective.name.clone())
                .label("long_window", long)
                .label("short_window", short)
                .for_duration(alert.for_duration);
            for (name, value) in &objective.labels {
                rule = rule.label(name.clone(), value.clone());
            }
            let links = &objective.links;
            if let Some(url) = &links.runbook_url {
                rule = rule.runbook_url(url.clone());
            }
            if let Some(url) = &links.dashboard_url {
                rule = rule.dashboard_url(url.clone());
            }
            if let Some(text) = &links.description {
                rule = rule.description(text.clone());
            }
            self = self.rule(rule);
        }
        self.slos.push(tracker);
        self
    }

    /// Adds a rule from a builder, keeping its error (if any) for [`build`](Self::build).
    #[deprecated(since = "0.2.0", note = "`rule` takes the `Result` too")]
    pub fn rule_result(self, rule: Result<AlertRule, AlertError>) -> Self {
        self.rule(rule)
    }

    /// Adds a notification channel: every notification goes to each channel. Channel names
    /// must be unique (they label the delivery counters); a `Box<dyn Channel>` is a channel too.
    pub fn channel(mut self, channel: impl Channel) -> Self {
        self.channels.push(Arc::new(channel));
        self
    }

    /// Routes the alerts of `severity` to the channels `route` names (by
    /// [`Channel::name`](crate::alerts::Channel::name)), with its escalation levels; see
    /// [`Route`]. The alerts of a severity with no route go to every channel, as without routes;
    /// a channel a severity's route does not name hears none of its alerts (an
    /// [`Alertmanager`](crate::alerts::Alertmanager) channel too: name it in every route, or leave
    /// the severity unrouted).
    ///
    /// Escalation and acknowledgements live in this process: with several replicas, each would
    /// escalate on its own. Route through Alertmanager instead (its routes, `repeat_interval` and
    /// inhibition read the `severity` and rule labels obs sends and exports).
    pub fn route(mut self, severity: Severity, route: Route) -> Self {
        self.routes.push((severity, route));
        self
    }

    /// Where the evaluator reads the time (default: the wall clock at start moved on by the
    /// monotonic clock). For tests of your alerting: a clock you move drives windows, `for`,
    /// cooldowns and escalation delays through a manager that runs and delivers for real.
    pub fn clock(mut self, now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(now));
        self
    }

    /// Turns on `POST /alerts/{name}/ack` on the embedded server (off without a token), for
    /// requests that carry `Authorization: Bearer TOKEN`; `?by=NAME` says who acknowledges (up to
    /// 64 letters, digits, `.`, `_`, `-` or `@`). The token is compared in constant time, never
    /// shown, and must be 16 to 512 visible ASCII characters. Rejected requests are counted in
    /// `obs_alert_ack_requests_total{result}`. From the environment: `OBS_ALERT_ACK_TOKEN`, or a
    /// file holding it, `OBS_ALERT_ACK_TOKEN_FILE`.
    pub fn ack_token(mut self, token: impl Into<String>) -> Self {
        self.ack_token = Some(token.into());
        self
    }

    pub(crate) fn ack_token_unset(&self) -> bool {
        self.ack_token.is_none()
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
    /// | `OBS_SLACK_WEBHOOK_URL` | a [`Slack`](crate::alerts::Slack) incoming webhook |
    /// | `OBS_WEBHOOK_URL` | a generic JSON [`Webhook`](crate::alerts::Webhook) |
    /// | `OBS_ALERTMANAGER_URL` | an [`Alertmanager`](crate::alerts::Alertmanager), e.g. `http://127.0.0.1:9093` |
    /// | `OBS_SMTP_URL`, `OBS_SMTP_FROM`, `OBS_SMTP_TO` | e-mail (feature `alerts-smtp`): `smtp://user:pass@host:587?tls=required` |
    /// | `OBS_ALERT_EVAL_INTERVAL` | the evaluation interval: `500ms`, `1s`, `2m` |
    /// | `OBS_ALERT_ACK_TOKEN`, or `OBS_ALERT_ACK_TOKEN_FILE` | the bearer token of `POST /alerts/{name}/ack` ([`ack_token`](Self::ack_token)); the file is read once, here |
    ///
    /// A bad value is an `Err` from [`build`](Self::build) naming the variable (and never showing
    /// its value, which may hold a secret).
    pub fn from_env(self) -> Self {
        self.from_environment(&crate::Environment::process())
    }

    /// [`from_env`](Self::from_env), reading `environment` instead of the process's (the one
    /// given to [`ObsBuilder::environment`](crate::ObsBuilder::environment), say).
    pub fn from_environment(self, environment: &crate::Environment) -> Self {
        crate::alerts::env::apply(self, |name| environment.trimmed(name))
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
        if let Some(token) = &self.ack_token
            && (!(16..=512).contains(&token.len()) || token.bytes().any(|byte| !byte.is_ascii_graphic()))
        {
            return Err(AlertError::Setting {
                field: "ack_token",
                reason: "must be 16 to 512 visible ASCII characters (no spaces)".into(),
            });
        }
        let names: Vec<String> = self.channels.iter().map(|channel| channel.name().to_owned()).collect();
        let routes = Routes::resolve(self.routes, &names)?;
        let firing = firing_family();
        let rules = self
            .rules
            .into_iter()
            .map(|rule| {
                let firing_gauge =
                    firing.and_then(|family| family.with_labels(&[&rule.name, rule.severity.as_str()]).ok());
                if let Some(gauge) = &firing_gauge {
                    gauge.set(0.0);
                }
                RuleState::new(rule, REFRESH_INTERVAL.max(interval), firing_gauge)
            })
            .collect();
        Ok(AlertManager {
            shared: Arc::new(Shared {
                rules: Mutex::new(rules),
                slos: self.slos,
                running: std::sync::atomic::AtomicBool::new(false),
                interval,
                dispatcher: Dispatcher::new(self.channels, self.send_timeout, routes),
                clock: self.clock,
                ack_token: self.ack_token.map(AckToken),
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

#[cfg(test)]
mod tests {
    use crate::alerts::{AlertManager, AlertRule, Condition};

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
