//! The alerting task: evaluates on an interval and delivers, until its guard is dropped.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime};

use super::{AlertError, AlertManager};
use crate::Deadline;

/// How long stopping waits for queued notifications to be delivered, when the guard is dropped
/// on its own: [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT), as every guard.
#[deprecated(since = "0.2.0", note = "every guard stops within `obs_runtime::DEFAULT_SHUTDOWN_TIMEOUT`")]
pub const FLUSH_TIMEOUT: Duration = crate::DEFAULT_SHUTDOWN_TIMEOUT;

/// Keeps the alerting task running; dropping it stops evaluating and delivers what is queued
/// (within [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT), as every guard on its
/// own; with [`ObsGuard`](crate::ObsGuard), within its deadline). What is still undelivered then
/// is counted in `obs_alert_notifications_failed_total`.
#[derive(Debug)]
#[must_use = "dropping the guard stops alerting"]
pub struct AlertsGuard {
    manager: AlertManager,
    /// Tells the task to stop, and by when its deliveries must be done.
    stop: Option<tokio::sync::watch::Sender<Option<Deadline>>>,
    /// Closed by the task once it has delivered what was queued, or counted what was not.
    flushed: Option<Receiver<()>>,
}

impl AlertManager {
    /// Starts evaluating every [`interval`](Self::interval) on obs's background runtime (its own
    /// thread, so it works with or without the application's runtime), delivering to the channels
    /// from there. Each evaluation, and each attempt of a channel's `send`, runs where code that
    /// blocks cannot stall the rest (the runtime's blocking pool). The first
    /// evaluation is at once. [`ObsBuilder::alerts`](crate::ObsBuilder::alerts) calls this for you.
    pub fn start(&self) -> Result<AlertsGuard, AlertError> {
        if self.shared.running.swap(true, Ordering::AcqRel) {
            return Err(AlertError::Setting { field: "start", reason: "this manager runs already".into() });
        }
        let Some(runtime) = crate::background::handle() else {
            self.shared.running.store(false, Ordering::Release);
            let reason = "obs's background runtime could not start".to_owned();
            return Err(AlertError::Setting { field: "start", reason });
        };
        let (stop, mut stopped) = tokio::sync::watch::channel(None::<Deadline>);
        let (flushing, flushed) = std::sync::mpsc::channel::<()>();
        let manager = self.clone();
        runtime.spawn(async move {
            let _flushing = flushing;
            let mut deliveries = manager.shared.dispatcher.open();
            let mut ticker = tokio::time::interval(manager.interval());
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The wall clock at start, moved on by the monotonic clock: windows, `for` and
            // cooldowns never see the wall clock step back (NTP), and timestamps stay wall-clock
            // times.
            let (wall, monotonic) = (SystemTime::now(), std::time::Instant::now());
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        let evaluating = manager.clone();
                        let at = match &manager.shared.clock {
                            Some(clock) => clock(),
                            None => wall + monotonic.elapsed(),
                        };
                        let evaluation = crate::background::isolated(async move { evaluating.evaluate_at(at) });
                        // A condition that hangs holds the next evaluation, not the stop.
                        tokio::select! {
                            _ = evaluation => {}
                            _ = stopped.changed() => break,
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
            // A guard that went away without a word (it cannot, short of a panic) gets the
            // default.
            let deadline = stopped.borrow().unwrap_or_else(|| Deadline::after(crate::DEFAULT_SHUTDOWN_TIMEOUT));
            manager.shared.dispatcher.close();
            let flush = async {
                for delivery in &mut deliveries {
                    let _ = delivery.await;
                }
            };
            // Each pending notification gets the time left; what is left at the deadline is
            // counted, then cancelled (with no await between).
            if tokio::time::timeout(deadline.remaining(), flush).await.is_err() {
                manager.shared.dispatcher.count_undelivered();
            }
            for delivery in deliveries {
                delivery.abort();
            }
        });
        Ok(AlertsGuard { manager: self.clone(), stop: Some(stop), flushed: Some(flushed) })
    }
}

impl AlertsGuard {
    /// The manager this guard runs.
    pub fn manager(&self) -> &AlertManager {
        &self.manager
    }

    /// Stops evaluating; what is queued is delivered until `deadline`. Returns at once.
    pub(crate) fn signal_stop(&mut self, deadline: Deadline) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Some(deadline));
        }
    }

    /// Waits until what was queued is delivered or counted as failed: by `deadline` (the one given
    /// to [`signal_stop`](Self::signal_stop)) and a moment to count. `false` if the thread did not
    /// report by then (it is left to end on its own).
    pub(crate) fn wait_stopped(&mut self, deadline: Deadline) -> bool {
        let Some(flushed) = self.flushed.take() else { return true };
        let done =
            matches!(flushed.recv_timeout(deadline.with_grace().remaining()), Err(RecvTimeoutError::Disconnected));
        if !done {
            // The alerting task did not report in time (the runtime's thread stalled, or slower than
            // the grace): what it still holds is counted here (the count is taken once, whoever
            // takes it first).
            self.manager.shared.dispatcher.count_undelivered();
        }
        self.manager.shared.running.store(false, Ordering::Release);
        done
    }
}

impl Drop for AlertsGuard {
    fn drop(&mut self) {
        let deadline = Deadline::after(crate::DEFAULT_SHUTDOWN_TIMEOUT);
        self.signal_stop(deadline);
        self.wait_stopped(deadline);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, mpsc};
    use std::time::{Duration, SystemTime};

    use crate::Deadline;
    use crate::alerts::{Alert, AlertManager, AlertRule, AlertStatus, AlertsGuard, Channel, Condition};
    use crate::alerts::{SendError, SendFuture};
    use crate::metrics::Snapshot;

    /// Holds each notification at a gate the test opens (and leaves open), telling the test which
    /// one it holds; records what it delivered.
    struct Held {
        name: &'static str,
        gate: Arc<tokio::sync::Semaphore>,
        sending: Mutex<mpsc::Sender<AlertStatus>>,
        delivered: Arc<Mutex<Vec<AlertStatus>>>,
    }

    impl Channel for Held {
        fn name(&self) -> &str {
            self.name
        }
        fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
            Box::pin(async move {
                let _ = self.sending.lock().map(|sending| sending.send(alert.status));
                drop(self.gate.acquire().await.map_err(|_| SendError::permanent("the gate closed"))?);
                self.delivered.lock().map_err(|_| SendError::permanent("poisoned"))?.push(alert.status);
                Ok(())
            })
        }
    }

    struct Running {
        manager: AlertManager,
        guard: AlertsGuard,
        gate: Arc<tokio::sync::Semaphore>,
        delivered: Arc<Mutex<Vec<AlertStatus>>>,
    }

    /// A running manager whose channel `name` holds the firing notification of the evaluation at
    /// start (at its gate, still shut) and has the resolution that follows waiting in its queue.
    fn firing_held_and_resolution_queued(name: &'static str) -> Running {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (sending, is_sending) = mpsc::channel();
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let channel = Held { name, gate: gate.clone(), sending: Mutex::new(sending), delivered: delivered.clone() };
        let high = Arc::new(AtomicBool::new(true));
        let reading = high.clone();
        let level = move |_: &Snapshot| Some(if reading.load(Ordering::SeqCst) { 5.0 } else { 0.0 });
        let manager = AlertManager::builder()
            .rule(
                AlertRule::builder(name)
                    .condition(Condition::custom("level", level).above(1.0))
                    .cooldown(Duration::ZERO)
                    .build()
                    .expect("a valid rule"),
            )
            .channel(channel)
            // Only the evaluation at start runs on its own; the test makes the next one.
            .interval(Duration::from_secs(3600))
            .send_timeout(Duration::from_secs(300))
            .build()
            .expect("a valid manager");
        let guard = manager.start().expect("starts");
        assert_eq!(is_sending.recv_timeout(Duration::from_secs(60)), Ok(AlertStatus::Firing));
        high.store(false, Ordering::SeqCst);
        let resolved = manager.evaluate_at(SystemTime::now() + Duration::from_secs(1));
        assert_eq!(resolved.iter().map(|alert| alert.status).collect::<Vec<_>>(), [AlertStatus::Resolved]);
        Running { manager, guard, gate, delivered }
    }

    fn failed(channel: &str) -> Option<f64> {
        Snapshot::internal().sum("obs_alert_notifications_failed_total", &[("channel", channel)])
    }

    #[test]
    fn stopping_delivers_what_is_in_flight_and_queued() {
        // Catches: a stop that cancels the send in flight or drops the queue behind it (closing
        // the queues, ending the runtime) instead of delivering both before its deadline.
        let Running { manager, mut guard, gate, delivered } = firing_held_and_resolution_queued("run_test_flushed");
        let deadline = Deadline::after(Duration::from_secs(60));
        // The stop is signalled while both notifications are still undelivered; then the gate opens.
        guard.signal_stop(deadline);
        gate.add_permits(1);
        assert!(guard.wait_stopped(deadline), "the alerting thread did not report its flush");
        assert_eq!(*delivered.lock().expect("delivered"), [AlertStatus::Firing, AlertStatus::Resolved]);
        assert_eq!(failed("run_test_flushed"), Some(0.0));
        // Stopped: it may be started again.
        drop(guard);
        drop(manager.start().expect("starts again after a stop"));
    }

    #[test]
    fn what_the_deadline_leaves_undelivered_is_counted_once_each() {
        // Catches: undelivered notifications lost silently at stop, or counted twice (by the
        // thread and by the waiting guard), or the send in flight not counted.
        let Running { manager: _manager, mut guard, gate: _shut, delivered } =
            firing_held_and_resolution_queued("run_test_abandoned");
        let deadline = Deadline::after(Duration::from_millis(100));
        guard.signal_stop(deadline);
        // Whether the thread reported in time or the waiter counted for it, the count is the same.
        guard.wait_stopped(deadline);
        assert_eq!(failed("run_test_abandoned"), Some(2.0));
        assert_eq!(*delivered.lock().expect("delivered"), []);
        drop(guard);
        assert_eq!(failed("run_test_abandoned"), Some(2.0));
    }
}
