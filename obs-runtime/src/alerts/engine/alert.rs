//! What a notification carries and `/alerts` lists: [`Alert`] and its [`AlertStatus`].

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::alerts::Severity;

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
    /// `Firing` or `Resolved` in a notification; any but `Resolved` in [`AlertManager::active`](crate::alerts::AlertManager::active).
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
    /// The rule's runbook ([`AlertRuleBuilder::runbook_url`](crate::alerts::AlertRuleBuilder::runbook_url)).
    pub runbook_url: Option<String>,
    /// The rule's dashboard ([`AlertRuleBuilder::dashboard_url`](crate::alerts::AlertRuleBuilder::dashboard_url)).
    pub dashboard_url: Option<String>,
    /// The rule's description ([`AlertRuleBuilder::description`](crate::alerts::AlertRuleBuilder::description)).
    pub description: Option<String>,
    /// How far it has escalated ([`Route::escalate_after`](crate::alerts::Route::escalate_after)):
    /// 0 at first, 1 once the second level heard it, and so on.
    pub escalation_level: usize,
    /// Who acknowledged it, if someone did and said who
    /// ([`AlertManager::acknowledge`](crate::alerts::AlertManager::acknowledge)).
    pub acknowledged_by: Option<String>,
    /// When it was acknowledged; `None` while it is not.
    pub acknowledged_at: Option<SystemTime>,
}

impl Alert {
    /// An alert with this name, severity, status and message, no labels, no value, timestamps
    /// now: for testing a [`Channel`](crate::alerts::Channel) of your own (fields are public to adjust).
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
            runbook_url: None,
            dashboard_url: None,
            description: None,
            escalation_level: 0,
            acknowledged_by: None,
            acknowledged_at: None,
        }
    }
}
