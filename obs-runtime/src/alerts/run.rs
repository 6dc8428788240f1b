//! The alerting thread: evaluates on an interval and delivers, until its guard is dropped.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use super::{AlertError, AlertManager};

/// How long stopping waits for queued notifications to be delivered.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Keeps the alerting thread running; dropping it stops evaluating, delivers what is queued
/// (at most [`FLUSH_TIMEOUT`]) and joins the thread.
#[derive(Debug)]
#[must_use = "dropping the guard stops alerting"]
pub struct AlertsGuard {
    manager: AlertManager,
    stop: Option<tokio::sync::watch::Sender<bool>>,
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
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
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
                    manager.shared.dispatcher.close();
                    let flush = async {
                        for delivery in deliveries {
                            let _ = delivery.await;
                        }
                    };
                    if tokio::time::timeout(FLUSH_TIMEOUT, flush).await.is_err() {
                        manager.shared.dispatcher.count_undelivered();
                    }
                });
                // Not a plain drop: that would wait for blocking tasks (a DNS lookup) unbounded.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(failed)?;
        Ok(AlertsGuard { manager: self.clone(), stop: Some(stop), thread: Some(thread) })
    }
}

impl AlertsGuard {
    /// The manager this guard runs.
    pub fn manager(&self) -> &AlertManager {
        &self.manager
    }
}

impl Drop for AlertsGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.manager.shared.running.store(false, Ordering::Release);
    }
}
