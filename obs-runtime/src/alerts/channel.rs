//! Notification channels and their delivery: one queue and one task per channel, a timeout per
//! attempt, bounded retries with backoff, and every failure counted.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::engine::{Alert, Audience};
use crate::metrics::{Counter, CounterVec};
use crate::sync;

/// What [`Channel::send`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Where notifications go: Slack, a webhook, e-mail, Alertmanager, the log, or your own.
///
/// Each attempt runs on a thread of obs's blocking pool (`obs-blocking`), driven by obs's background
/// runtime, one notification at a time per channel: a `send` that blocks its thread stalls neither
/// `/metrics`, the health probes, the evaluator nor the other channels. Await I/O all the same: an
/// attempt that outlives the manager's send timeout is cancelled at its next `.await`; while one
/// that blocks still holds its thread, the channel's next attempt waits for that thread (up to the
/// send timeout, then fails and is counted) instead of taking another. Each attempt is retried
/// (three attempts in all) while the error is retryable.
///
/// ```
/// use obs_runtime::alerts::{Alert, Channel, SendError, SendFuture};
///
/// struct Pager;
///
/// impl Channel for Pager {
///     fn name(&self) -> &str {
///         "pager"
///     }
///     fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
///         Box::pin(async move {
///             if alert.message.is_empty() {
///                 return Err(SendError::permanent("nothing to say"));
///             }
///             // ... call the pager's API here ...
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Channel: Send + Sync + 'static {
    /// The channel's name: the `channel` label of `obs_alert_notifications_*_total`.
    fn name(&self) -> &str;

    /// Delivers one notification.
    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a>;

    /// Whether the channel forgets a firing alert that is not sent again (Alertmanager does):
    /// such channels also get each firing alert once a minute.
    fn wants_refresh(&self) -> bool {
        false
    }
}

impl<C: Channel + ?Sized> Channel for Box<C> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        (**self).send(alert)
    }
    fn wants_refresh(&self) -> bool {
        (**self).wants_refresh()
    }
}

impl<C: Channel + ?Sized> Channel for Arc<C> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        (**self).send(alert)
    }
    fn wants_refresh(&self) -> bool {
        (**self).wants_refresh()
    }
}

/// Why a notification was not delivered. Its text must not hold secrets (webhook URLs,
/// passwords): it is printed.
#[derive(Debug, Clone)]
pub struct SendError {
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl SendError {
    /// A failure another attempt may fix (a timeout, a refused connection, HTTP 5xx or 429).
    pub fn retryable(message: impl Into<String>) -> SendError {
        SendError { message: message.into(), retryable: true, retry_after: None }
    }

    /// A failure another attempt will not fix (HTTP 4xx, a rejected address).
    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError { message: message.into(), retryable: false, retry_after: None }
    }

    /// Whether it is worth another attempt.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The receiver asked to be retried after `wait` (HTTP `Retry-After`): the next attempt
    /// waits that long (at most 5 min) instead of the backoff.
    pub fn with_retry_after(mut self, wait: Duration) -> SendError {
        self.retry_after = Some(wait);
        self
    }

    /// What [`with_retry_after`](Self::with_retry_after) set.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SendError {}

/// Attempts per notification: the first and two retries, backing off about 250 and 500 ms, or as
/// long as the receiver asks.
const RETRY: crate::retry::Policy = crate::retry::Policy { attempts: 3, first_pause: Duration::from_millis(250) };
/// Attempts per notification.
pub(crate) const ATTEMPTS: u32 = RETRY.attempts;
/// Notifications waiting per channel; beyond, new ones are dropped and counted as failed.
const QUEUE: usize = 256;

struct Slot {
    channel: Arc<dyn Channel>,
    sent: Option<Counter>,
    failed: Option<Counter>,
    /// Queued and not yet delivered or given up on.
    pending: AtomicUsize,
    /// The one thread of the blocking pool the channel's attempts may hold.
    thread: Arc<Thread>,
}

impl Slot {
    fn failed(&self, alert: &Alert, why: &str) {
        self.count_failed(1);
        crate::diagnostics::warn(
            "alerts",
            "notification_failed",
            &format!(
                "the {} notification of alert {} via channel {} was not delivered: {why}",
                alert.status.as_str(),
                alert.name,
                self.channel.name()
            ),
        );
    }

    fn count_failed(&self, how_many: usize) {
        if let Some(failed) = &self.failed {
            failed.inc_by(how_many as f64);
        }
    }
}

/// The channels, and their queues while the manager runs.
pub(crate) struct Dispatcher {
    slots: Vec<Arc<Slot>>,
    pub(crate) routes: super::route::Routes,
    send_timeout: Duration,
    queues: Mutex<Vec<mpsc::Sender<Arc<Alert>>>>,
}

/// Registers `obs_alert_notifications_sent_total` and `obs_alert_notifications_failed_total` (once).
pub(crate) fn register_self_metrics() {
    counters();
}

fn counters() -> Option<&'static (CounterVec, CounterVec)> {
    static COUNTERS: std::sync::OnceLock<Option<(CounterVec, CounterVec)>> = std::sync::OnceLock::new();
    COUNTERS
        .get_or_init(|| {
            let sent = CounterVec::register(
                "obs_alert_notifications_sent_total",
                "Alert notifications delivered, by channel",
                &["channel"],
            );
            let failed = CounterVec::register(
                "obs_alert_notifications_failed_total",
                "Alert notifications not delivered (after retries, or dropped on a full queue), by channel",
                &["channel"],
            );
            Some((sent.ok()?, failed.ok()?))
        })
        .as_ref()
}

impl Dispatcher {
    pub(crate) fn new(
        channels: Vec<Arc<dyn Channel>>,
        send_timeout: Duration,
        routes: super::route::Routes,
    ) -> Dispatcher {
        let counters = counters();
        let slots = channels
            .into_iter()
            .map(|channel| {
                let name = channel.name().to_owned();
                Arc::new(Slot {
                    sent: counters.and_then(|(sent, _)| sent.with_labels(&[&name]).ok()),
                    failed: counters.and_then(|(_, failed)| failed.with_labels(&[&name]).ok()),
                    channel,
                    pending: AtomicUsize::new(0),
                    thread: Arc::new(Thread { held: AtomicBool::new(false), back: tokio::sync::Notify::new() }),
                })
            })
            .collect();
        Dispatcher { slots, routes, send_timeout, queues: Mutex::new(Vec::new()) }
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.slots.iter().map(|slot| slot.channel.name().to_owned()).collect()
    }

    /// Queues `alert` for each channel it is for; never waits.
    pub(crate) fn dispatch(&self, alert: &Arc<Alert>, audience: Audience) {
        let queues = sync::lock(&self.queues);
        let (severity, level) = (alert.severity, alert.escalation_level);
        for (index, (slot, queue)) in self.slots.iter().zip(queues.iter()).enumerate() {
            let hears = match audience {
                Audience::Everyone => self.routes.up_to(severity, level, index),
                Audience::RefreshOnly => slot.channel.wants_refresh() && self.routes.up_to(severity, level, index),
                Audience::Level(level) => self.routes.at_level(severity, level, index),
            };
            if !hears {
                continue;
            }
            slot.pending.fetch_add(1, Ordering::Relaxed);
            let refused = match queue.try_send(alert.clone()) {
                Ok(()) => continue,
                Err(mpsc::error::TrySendError::Full(_)) => "its queue is full (the channel is slower than the alerts)",
                Err(mpsc::error::TrySendError::Closed(_)) => "its delivery task has ended",
            };
            slot.pending.fetch_sub(1, Ordering::Relaxed);
            slot.failed(alert, refused);
        }
    }

    /// Opens the queues and spawns one delivery task per channel on the current runtime.
    pub(crate) fn open(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut queues = sync::lock(&self.queues);
        queues.clear();
        self.slots
            .iter()
            .map(|slot| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                queues.push(sender);
                tokio::spawn(deliver(slot.clone(), receiver, self.send_timeout))
            })
            .collect()
    }

    /// Closes the queues: the delivery tasks finish what is queued, then end.
    pub(crate) fn close(&self) {
        sync::lock(&self.queues).clear();
    }

    /// Counts what is still queued as failed: stopping gave up on it.
    pub(crate) fn count_undelivered(&self) {
        for slot in &self.slots {
            let left = slot.pending.swap(0, Ordering::Relaxed);
            if left > 0 {
                slot.count_failed(left);
                crate::diagnostics::warn(
                    "alerts",
                    "dropped_at_stop",
                    &format!(
                        "{left} alert notification(s) via channel {} still undelivered when alerting stopped were dropped",
                        slot.channel.name()
                    ),
                );
            }
        }
    }
}

async fn deliver(slot: Arc<Slot>, mut queue: mpsc::Receiver<Arc<Alert>>, timeout: Duration) {
    while let Some(alert) = queue.recv().await {
        deliver_one(&slot, &alert, timeout).await;
        slot.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn deliver_one(slot: &Slot, alert: &Arc<Alert>, timeout: Duration) {
    let mut attempt = 1;
    loop {
        // At most one thread per channel: an attempt that blocks its thread past its timeout
        // keeps it, and the channel gets no other until it returns.
        let Some(holding) = Thread::take(&slot.thread, timeout).await else {
            slot.failed(alert, &format!("its previous attempt had not given its thread back after {timeout:?} more"));
            return;
        };
        let (channel, notification) = (slot.channel.clone(), alert.clone());
        // Off the runtime's thread: a channel that blocks stalls nothing else. A panic, in `send`
        // or while its future runs, fails this notification, not the delivery task.
        let send = crate::background::isolated(async move {
            let _holding = holding;
            channel.send(&notification).await
        });
        let result = match tokio::time::timeout(timeout, send).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SendError::permanent("the channel panicked")),
            Err(_) => Err(SendError::retryable(format!("no answer within {timeout:?}"))),
        };
        match result {
            Ok(()) => {
                if let Some(sent) = &slot.sent {
                    sent.inc();
                }
                break;
            }
            Err(error) if error.retryable && attempt < ATTEMPTS => {
                tokio::time::sleep(RETRY.pause(attempt, error.retry_after)).await;
                attempt += 1;
            }
            Err(error) => {
                slot.failed(alert, &format!("{error} (attempt {attempt} of {ATTEMPTS})"));
                break;
            }
        }
    }
}

/// Whether a channel's attempt holds its thread of the blocking pool, and a wake-up for the next
/// attempt when it gives it back.
struct Thread {
    held: AtomicBool,
    back: tokio::sync::Notify,
}

impl Thread {
    /// The channel's thread, once no attempt holds it; `None` if one still does after `timeout`.
    async fn take(thread: &Arc<Thread>, timeout: Duration) -> Option<Holding> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the flag is read: a give-back in between still wakes this wait.
            let back = thread.back.notified();
            tokio::pin!(back);
            back.as_mut().enable();
            if !thread.held.swap(true, Ordering::AcqRel) {
                return Some(Holding(thread.clone()));
            }
            tokio::time::timeout_at(deadline, back).await.ok()?;
        }
    }
}

/// Gives the channel's thread back when the attempt's future is dropped: when it finished, was
/// cancelled, or never started.
struct Holding(Arc<Thread>);

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.held.store(false, Ordering::Release);
        self.0.back.notify_waiters();
    }
}
