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
    /// Every channel the alert's route has reached (all of them without a route).
    Everyone,
    /// Of those, the channels that forget alerts not re-sent (Alertmanager).
    RefreshOnly,
    /// The channels one escalation level adds.
    Level(usize),
}

/// Where the evaluator reads the time.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The token of `POST /alerts/{name}/ack`; never shown. (Without the embedded server, nothing
/// reads it.)
#[cfg_attr(not(feature = "http-server"), allow(dead_code))]
pub(crate) struct AckToken(pub(crate) String);

#[cfg_attr(not(feature = "http-server"), allow(dead_code))]
impl AckToken {
    /// Whether `offered` is the token, in time that depends on their lengths only.
    pub(crate) fn matches(&self, offered: &[u8]) -> bool {
        let token = self.0.as_bytes();
        let mut differ = u8::from(token.len() != offered.len());
        for (index, byte) in token.iter().enumerate() {
            differ |= byte ^ offered.get(index).copied().unwrap_or(!byte);
        }
        std::hint::black_box(differ) == 0
    }
}

pub(crate) struct Shared {
    rules: Mutex<Vec<RuleState>>,
    /// The objectives, updated (under the rules' lock) before the rules read them.
    pub(crate) slos: Vec<Arc<Tracker>>,
    pub(crate) running: std::sync::atomic::AtomicBool,
    pub(crate) interval: Duration,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) clock: Option<Clock>,
    #[cfg_attr(not(feature = "http-server"), allow(dead_code))]
    pub(crate) ack_token: Option<AckToken>,
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
                state.evaluate(&snapshot, now, &self.shared.dispatcher.routes, &mut out);
            }
        }
        let mut announced = Vec::with_capacity(out.len());
        for (alert, audience) in out {
            let alert = Arc::new(alert);
            self.shared.dispatcher.dispatch(&alert, audience);
            if audience != Audience::RefreshOnly {
                announced.push(Arc::unwrap_or_clone(alert));
            }
        }
        announced
    }

    /// The service level objectives, as of the last evaluation (what `/slo` shows).
    pub fn slos(&self) -> Vec<SloStatus> {
        self.shared.slos.iter().map(|tracker| tracker.status()).collect()
    }

    /// Acknowledges the alert of rule `name` while it fires: its escalation stops (and it is not
    /// repeated) until it resolves; the next time it fires starts over. `by` says who (it shows in
    /// `/alerts` and the notifications that follow). Returns the alert, or `None` when no alert of
    /// that name fires. `POST /alerts/{name}/ack` on the embedded server calls this, given a token
    /// ([`AlertManagerBuilder::ack_token`]).
    pub fn acknowledge(&self, name: &str, by: Option<&str>) -> Option<Alert> {
        let now = self.shared.clock.as_ref().map_or_else(SystemTime::now, |clock| clock());
        let mut rules = self.lock();
        let state = rules.iter_mut().find(|state| state.rule.name == name)?;
        state.acknowledge(by, now)
    }

    /// The alerts pending or firing (suppressed included), as of the last evaluation.
    pub fn active(&self) -> Vec<Alert> {
        self.lock().iter().filter_map(RuleState::current).collect()
    }
}

/// Registers `obs_alert_evaluations_total` (once).
pub(crate) fn register_self_metrics() {
    evaluations();
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

#[cfg(test)]
mod tests {
    use super::AckToken;

    #[test]
    fn a_token_matches_itself_only() {
        let token = AckToken("0123456789abcdef".to_owned());
        assert!(token.matches(b"0123456789abcdef"));
        for other in [&b"0123456789abcdeF"[..], b"0123456789abcde", b"0123456789abcdef0", b"", b"1123456789abcdef"] {
            assert!(!token.matches(other), "{:?}", String::from_utf8_lossy(other));
        }
    }
}
