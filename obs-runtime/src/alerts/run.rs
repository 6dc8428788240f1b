//! The alerting thread: evaluates on an interval and delivers, until its guard is dropped.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime};

use super::{AlertError, AlertManager};
use crate::Deadline;

/// How long stopping waits for queued notifications to be delivered, when the guard is dropped
/// on its own (with [`ObsGuard`](crate::ObsGuard), its shutdown deadline instead).
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Keeps the alerting thread running; dropping it stops evaluating and delivers what is queued
/// (at most [`FLUSH_TIMEOUT`]; what is still undelivered then is counted in
/// `obs_alert_notifications_failed_total`).
#[derive(Debug)]
#[must_use = "dropping the guard stops alerting"]
pub struct AlertsGuard {
    manager: AlertManager,
    /// Tells the thread to stop, and by when its deliveries must be done.
    stop: Option<tokio::sync::watch::Sender<Option<Deadline>>>,
    /// Closed by the thread once it has delivered what was queued, or counted what was not.
    flushed: Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AlertManager {
    /// Starts evaluating every [`interval`](Self::interval) on a thread of its own (named
    /// `obs-alerts`, with its own single-threaded tokio runtime, so it works with or without the
    /// application's runtime), delivering to the channels from there. The first evaluation is at
    /// once. [`ObsBuilder::alerts`](crate::ObsBuilder::alerts) calls this for you.
    pub fn start(&self) -> Result<AlertsGuard, AlertError> {
        if self.shared.running.swap(true, Ordering::AcqRel) {
            return Err(AlertError::Setting { field: "start", reason: "this manager runs already".into() });
        }
        let failed = |error: std::io::Error| {
            self.shared.running.store(false, Ordering::Release);
            AlertError::Setting { field: "start", reason: format!("cannot start the alerting thread: {error}") }
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
        let (stop, mut stopped) = tokio::sync::watch::channel(None::<Deadline>);
        let (flushing, flushed) = std::sync::mpsc::channel::<()>();
        let manager = self.clone();
        let thread = std::thread::Builder::new()
            .name("obs-alerts".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let deliveries = manager.shared.dispatcher.open();
                    let mut ticker = tokio::time::interval(manager.interval());
                    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    // The wall clock at start, moved on by the monotonic clock: windows, `for`
                    // and cooldowns never see the wall clock step back (NTP), and timestamps
                    // stay wall-clock times.
                    let (wall, monotonic) = (SystemTime::now(), std::time::Instant::now());
                    loop {
                        tokio::select! {
                            _ = ticker.tick() => {
                                manager.evaluate_at(wall + monotonic.elapsed());
                            }
                            _ = stopped.changed() => break,
                        }
                    }
                    // A guard that went away without a word (it cannot, short of a panic) gets
                    // the default.
                    let deadline = stopped.borrow().unwrap_or_else(|| Deadline::after(FLUSH_TIMEOUT));
                    manager.shared.dispatcher.close();
                    let flush = async {
                        for delivery in deliveries {
                            let _ = delivery.await;
                        }
                    };
                    // Each pending notification gets the time left; what is left at the deadline
                    // is counted (the runtime's shutdown below cancels it, with no await between).
                    if tokio::time::timeout(deadline.remaining(), flush).await.is_err() {
                        manager.shared.dispatcher.count_undelivered();
                    }
                });
                drop(flushing);
                // Not a plain drop: that would wait for blocking tasks (a DNS lookup) unbounded.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(failed)?;
        Ok(AlertsGuard { manager: self.clone(), stop: Some(stop), flushed, thread: Some(thread) })
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
        let Some(thread) = self.thread.take() else { return true };
        let done =
            matches!(self.flushed.recv_timeout(deadline.with_grace().remaining()), Err(RecvTimeoutError::Disconnected));
        if !done {
            // The alerting thread is stuck (a channel blocking its thread): what it still holds is
            // counted here (the count is taken once, whoever takes it first).
            self.manager.shared.dispatcher.count_undelivered();
        }
        // The runtime may still be winding down blocking work (a DNS lookup): not waited for.
        if done && thread.is_finished() {
            let _ = thread.join();
        }
        self.manager.shared.running.store(false, Ordering::Release);
        done
    }
}

impl Drop for AlertsGuard {
    fn drop(&mut self) {
        let deadline = Deadline::after(FLUSH_TIMEOUT);
        self.signal_stop(deadline);
        self.wait_stopped(deadline);
    }
}
