//! The evaluator: [`AlertManager`] runs each rule's state machine over the live registry and
//! hands the notifications its changes make to the channels (and the background thread that
//! evaluates on an interval and delivers).
//!
//! One concept a file: the manager (here), its builder ([`builder`]), the per-rule state machine
//! ([`state`]), and the alert a notification carries ([`alert`]).

mod alert;
mod builder;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub use alert::{Alert, AlertStatus};
pub use builder::{AlertManagerBuilder, DEFAULT_INTERVAL, DEFAULT_SEND_TIMEOUT};
pub(crate) use state::REFRESH_INTERVAL;
use state::RuleState;

use super::channel::Dispatcher;
use super::rule::AlertRule;
use super::slo::{SloStatus, Tracker};
use crate::metrics::Snapshot;
use crate::sync;

/// Who a notification goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    Everyone,
    /// Only channels that forget alerts not re-sent (Alertmanager).
    RefreshOnly,
}

pub(crate) struct Shared {
    rules: Mutex<Vec<RuleState>>,
    /// The objectives, updated (under the rules' lock) before the rules read them.
    slos: Vec<Arc<Tracker>>,
    pub(crate) running: std::sync::atomic::AtomicBool,
    pub(crate) interval: Duration,
    pub(crate) dispatcher: Dispatcher,
}

/// Evaluates rules against the live registry and sends what changes to the channels.
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

impl AlertManager {
    /// Starts a manager with no rules and no channels.
    pub fn builder() -> AlertManagerBuilder {
        AlertManagerBuilder::new()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<RuleState>> {
        sync::lock(&self.shared.rules)
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
            for tracker in &self.shared.slos {
                tracker.update(&snapshot, now);
            }
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

    /// The service level objectives, as of the last evaluation (what `/slo` shows).
    pub fn slos(&self) -> Vec<SloStatus> {
        self.shared.slos.iter().map(|tracker| tracker.status()).collect()
    }

    /// The alerts pending or firing (suppressed included), as of the last evaluation.
    pub fn active(&self) -> Vec<Alert> {
        self.lock().iter().filter_map(RuleState::current).collect()
    }
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
