//! Alerting: rules over the live metrics registry, an inactive → pending → firing → resolved
//! lifecycle with `for`, `keep_firing_for`, a cooldown and a repeat interval, notifications to
//! Slack, webhooks, e-mail, Alertmanager and the log, and the same rules as a Prometheus rules
//! file.
//!
//! ```no_run
//! use std::time::Duration;
//! use obs_runtime::alerts::{AlertManager, AlertRule, Condition, Log, Severity, Webhook};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let alerts = AlertManager::builder()
//!     .rule(
//!         AlertRule::builder("high_error_rate")
//!             .condition(Condition::error_rate_percent().window(Duration::from_secs(300)).above(5.0))
//!             .severity(Severity::Critical)
//!             .message("Error rate is {error_rate_percent:.1}%")
//!             .label("service", "api-gateway")
//!             .build()?,
//!     )
//!     .channel(Webhook::new("http://127.0.0.1:8080/alerts")?)
//!     .channel(Log::new())
//!     .from_env() // OBS_SLACK_WEBHOOK_URL, OBS_ALERTMANAGER_URL, OBS_SMTP_URL, ...
//!     .build()?;
//! // Evaluates every 15 s, serves the active alerts at /alerts.
//! let obs = obs_runtime::Obs::builder().alerts(alerts).init()?;
//! # Ok(())
//! # }
//! ```
//!
//! Delivery never holds up the application or the evaluator: each channel has a queue (256) and a
//! task of its own on obs's background runtime (the thread `obs`); each attempt runs on its
//! blocking pool, so a channel that blocks its thread stalls nothing else, and has a timeout
//! (5 s); a notification gets three attempts with backoff, and what is not delivered is counted in
//! `obs_alert_notifications_failed_total{channel}` and reported as a warning (a `tracing` event
//! under the `obs` target, else stderr; counted in `obs_internal_errors_total{component="alerts"}`)
//! without the channel's URL or password. `alerts_firing{alertname,severity}` is 1 while an alert
//! fires.

mod channel;
mod channels;
mod condition;
mod engine;
mod env;
mod pillar;
mod promql;
mod route;
mod rule;
mod run;
mod slo;
#[cfg(feature = "alerts-smtp")]
mod smtp;

pub use channel::{Channel, SendError, SendFuture};
pub use channels::{Alertmanager, Log, Slack, Webhook};
pub use condition::{Condition, DEFAULT_CPU_WINDOW, DEFAULT_WINDOW, Query};
pub use engine::{Alert, AlertManager, AlertManagerBuilder, AlertStatus, DEFAULT_INTERVAL, DEFAULT_SEND_TIMEOUT};
#[allow(deprecated)]
pub use env::parse_duration;
pub use pillar::IntoAlertManager;
pub(crate) use pillar::Pillar;
pub use promql::PrometheusRules;
pub use route::Route;
pub use rule::{AlertRule, AlertRuleBuilder, DEFAULT_COOLDOWN, DEFAULT_REPEAT_INTERVAL, IntoAlertRule, Severity};
pub use run::AlertsGuard;
#[allow(deprecated)]
pub use run::FLUSH_TIMEOUT;
#[cfg(feature = "dashboards")]
pub(crate) use slo::window_name;
pub use slo::{BurnRateAlert, DEFAULT_SLO_WINDOW, IntoSlo, Slo, SloBuilder, SloStatus, WindowStatus};
#[cfg(feature = "alerts-smtp")]
pub use smtp::Smtp;

/// Why a rule, a channel or a setting is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertError {
    /// A rule is wrong.
    Rule {
        /// The rule's name.
        rule: String,
        /// What is wrong.
        reason: String,
    },
    /// A message template has a placeholder nothing can fill.
    Placeholder {
        /// The rule's name.
        rule: String,
        /// The placeholder, braces included.
        placeholder: String,
    },
    /// A channel's settings are wrong (its URL is never shown: it may hold a secret).
    Channel {
        /// The channel.
        channel: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A manager setting or an environment variable is wrong.
    Setting {
        /// The builder method or variable.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl std::fmt::Display for AlertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlertError::Rule { rule, reason } => write!(f, "alert rule {rule:?}: {reason}"),
            AlertError::Placeholder { rule, placeholder } => write!(
                f,
                "alert rule {rule:?}: the message placeholder {placeholder} can never be filled \
                 (known: value, the condition's value name, threshold, alertname, severity, labels.NAME)"
            ),
            AlertError::Channel { channel, reason } => write!(f, "alert channel {channel}: {reason}"),
            AlertError::Setting { field, reason } => write!(f, "invalid `{field}`: {reason}"),
        }
    }
}

impl std::error::Error for AlertError {}

/// The body of `/slo`: `{"slos": [...]}`, each objective as [`SloStatus::json`] writes it.
#[cfg(feature = "http-server")]
pub(crate) fn slo_json(manager: &AlertManager) -> String {
    let slos: Vec<serde_json::Value> = manager.slos().iter().map(SloStatus::json).collect();
    serde_json::json!({ "slos": slos }).to_string()
}

/// The body of `/alerts`: `{"alerts": [...]}`, each alert as the generic webhook sends it, with
/// `status` `pending`, `firing` or `suppressed`.
#[cfg(feature = "http-server")]
pub(crate) fn active_json(manager: &AlertManager) -> String {
    let alerts: Vec<serde_json::Value> = manager.active().iter().map(channels::alert_json).collect();
    serde_json::json!({ "alerts": alerts }).to_string()
}
