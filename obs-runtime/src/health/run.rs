//! Running the checks: all at once, each under its own deadline, one run shared by every caller
//! that asks while it is in progress or while its result is fresh.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinHandle;
use tokio::time::timeout_at;

use super::{CheckOutcome, CheckResult, HealthCheck, HealthError, HealthReport, HealthStatus, Runner};

/// The chapter's `HealthChecker`: registered checks, run concurrently, results cached.
///
/// Cheap to clone (clones share the checks and the cache). Give it to
/// [`ObsBuilder::health`](crate::ObsBuilder::health) to serve it, or call [`report`](Self::report)
/// from your own server.
#[derive(Debug, Clone)]
pub struct HealthChecker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    checks: RwLock<Vec<HealthCheck>>,
    readiness: RwLock<Option<Vec<String>>>,
    cache_ttl: Duration,
    slow_fraction: f64,
    /// The last run, and when it finished. Held while a run is in progress, so callers that
    /// arrive meanwhile wait for it instead of starting their own.
    last: tokio::sync::Mutex<Option<(Instant, Arc<HealthReport>)>>,
}

/// How long a result is served from cache by default.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);
/// The fraction of its timeout past which a check is flagged slow, by default.
pub const DEFAULT_SLOW_FRACTION: f64 = 0.5;

impl Default for HealthChecker {
    fn default() -> Self {
        HealthChecker::new()
    }
}

impl HealthChecker {
    /// No checks yet; results cached for 1 s; checks slower than half their timeout flagged.
    pub fn new() -> HealthChecker {
        HealthChecker::with_settings(DEFAULT_CACHE_TTL, DEFAULT_SLOW_FRACTION)
    }

    fn with_settings(cache_ttl: Duration, slow_fraction: f64) -> HealthChecker {
        HealthChecker {
            inner: Arc::new(Inner {
                checks: RwLock::new(Vec::new()),
                readiness: RwLock::new(None),
                cache_ttl,
                slow_fraction,
                last: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// A checker whose results are served from cache for `ttl` after a run finishes (zero: only
    /// callers that were waiting for a run share it), so a storm of probes does not hammer the
    /// dependencies. Call before registering checks.
    pub fn cache_ttl(self, ttl: Duration) -> HealthChecker {
        let checker = HealthChecker::with_settings(ttl, self.inner.slow_fraction);
        checker.copy_checks_from(&self);
        checker
    }

    /// A checker that flags a check `slow` when it takes more than `fraction` of its timeout
    /// (default 0.5). `fraction` must be in `(0, 1]`.
    pub fn slow_fraction(self, fraction: f64) -> Result<HealthChecker, HealthError> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(HealthError::Invalid {
                field: "slow_fraction",
                reason: format!("{fraction} is not in (0, 1]"),
            });
        }
        let checker = HealthChecker::with_settings(self.inner.cache_ttl, fraction);
        checker.copy_checks_from(&self);
        Ok(checker)
    }

    fn copy_checks_from(&self, other: &HealthChecker) {
        let checks = other.inner.checks.read().unwrap_or_else(PoisonError::into_inner).clone();
        let readiness = other.inner.readiness.read().unwrap_or_else(PoisonError::into_inner).clone();
        *self.inner.checks.write().unwrap_or_else(PoisonError::into_inner) = checks;
        *self.inner.readiness.write().unwrap_or_else(PoisonError::into_inner) = readiness;
    }

    /// Adds a check. A second check of the same name, an empty name or a zero timeout is an
    /// `Err` naming it.
    pub fn register(&self, check: HealthCheck) -> Result<(), HealthError> {
        if check.name.is_empty() {
            return Err(HealthError::EmptyName);
        }
        if check.timeout.is_zero() {
            return Err(HealthError::ZeroTimeout(check.name));
        }
        let mut checks = self.inner.checks.write().unwrap_or_else(PoisonError::into_inner);
        if checks.iter().any(|existing| existing.name == check.name) {
            return Err(HealthError::DuplicateName(check.name));
        }
        checks.push(check);
        drop(checks);
        self.invalidate();
        Ok(())
    }

    /// The checks `/health/ready` runs, instead of the critical ones. Every name must be
    /// registered already; an unknown one is an `Err` naming it.
    pub fn set_readiness(&self, names: &[&str]) -> Result<(), HealthError> {
        let checks = self.inner.checks.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(unknown) = names.iter().find(|name| !checks.iter().any(|check| check.name == **name)) {
            return Err(HealthError::UnknownCheck((*unknown).to_owned()));
        }
        drop(checks);
        *self.inner.readiness.write().unwrap_or_else(PoisonError::into_inner) =
            Some(names.iter().map(|name| (*name).to_owned()).collect());
        Ok(())
    }

    /// The names of the registered checks, in order.
    pub fn names(&self) -> Vec<String> {
        self.inner.checks.read().unwrap_or_else(PoisonError::into_inner).iter().map(|c| c.name.clone()).collect()
    }

    fn invalidate(&self) {
        if let Ok(mut last) = self.inner.last.try_lock() {
            *last = None;
        }
    }

    /// Runs every check (or returns the cached run), concurrently, each under its own timeout.
    ///
    /// Runs on the current tokio runtime when there is one (any flavour), else on a thread of its
    /// own: it can be awaited from any executor.
    pub async fn report(&self) -> Arc<HealthReport> {
        let asked = Instant::now();
        let mut last = self.inner.last.lock().await;
        if let Some((finished, report)) = last.as_ref() {
            // Fresh, or finished while this caller was waiting for it.
            if *finished >= asked || finished.elapsed() < self.inner.cache_ttl {
                return report.clone();
            }
        }
        let checks = self.inner.checks.read().unwrap_or_else(PoisonError::into_inner).clone();
        let report = Arc::new(run_on_some_runtime(checks, self.inner.slow_fraction).await);
        *last = Some((Instant::now(), report.clone()));
        report
    }

    /// The readiness report: the [readiness group](Self::set_readiness) if set, else the
    /// critical checks, from the same (cached) run as [`report`](Self::report).
    pub async fn readiness(&self) -> HealthReport {
        let report = self.report().await;
        let group = self.inner.readiness.read().unwrap_or_else(PoisonError::into_inner).clone();
        match group {
            Some(names) => report.subset(|check| names.contains(&check.name)),
            None => report.subset(|check| check.critical),
        }
    }
}

async fn run_on_some_runtime(checks: Vec<HealthCheck>, slow_fraction: f64) -> HealthReport {
    if tokio::runtime::Handle::try_current().is_ok() {
        return run_all(checks, slow_fraction).await;
    }
    let (send, receive) = tokio::sync::oneshot::channel();
    let names: Vec<String> = checks.iter().map(|check| check.name.clone()).collect();
    let spawned = std::thread::Builder::new().name("obs-health".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        if let Ok(runtime) = runtime {
            let _ = send.send(runtime.block_on(run_all(checks, slow_fraction)));
        }
    });
    match (spawned, receive.await) {
        (Ok(_), Ok(report)) => report,
        _ => {
            // No thread or no runtime could be had: every check is unhealthy for that reason.
            let checks: Vec<CheckResult> = names
                .into_iter()
                .map(|name| failed(name, true, Duration::ZERO, "no runtime to run the check on".into(), false))
                .collect();
            HealthReport {
                status: HealthReport::aggregate(&checks),
                checks,
                checked_at: SystemTime::now(),
                duration: Duration::ZERO,
            }
        }
    }
}

/// Starts every check at once, then collects each by its own deadline: the run takes about the
/// longest timeout, whatever the others do.
async fn run_all(checks: Vec<HealthCheck>, slow_fraction: f64) -> HealthReport {
    let checked_at = SystemTime::now();
    let started = Instant::now();
    let running: Vec<(HealthCheck, Instant, JoinHandle<CheckOutcome>)> = checks
        .into_iter()
        .map(|check| {
            let handle = match &check.runner {
                Runner::Async(run) => {
                    let run = run.clone();
                    // Called inside the task, so a check that panics before its first await is
                    // caught like any other panic.
                    tokio::spawn(async move { run().await })
                }
                Runner::Blocking(run) => {
                    let run = run.clone();
                    tokio::task::spawn_blocking(move || run())
                }
            };
            (check, Instant::now(), handle)
        })
        .collect();
    let mut results = Vec::with_capacity(running.len());
    for (check, start, mut handle) in running {
        let deadline = tokio::time::Instant::from_std(start + check.timeout);
        let joined = timeout_at(deadline, &mut handle).await;
        let elapsed = start.elapsed();
        let result = match joined {
            Ok(Ok(outcome)) => CheckResult {
                name: check.name,
                status: outcome.status,
                response_time: elapsed,
                message: outcome.message,
                details: outcome.details,
                critical: check.critical,
                slow: elapsed.as_secs_f64() > check.timeout.as_secs_f64() * slow_fraction,
                timed_out: false,
            },
            Ok(Err(error)) => {
                let message = if error.is_panic() {
                    format!("the check panicked: {}", panic_message(error.into_panic()))
                } else {
                    "the check was cancelled".to_owned()
                };
                failed(check.name, check.critical, elapsed, message, false)
            }
            Err(_) => {
                handle.abort();
                let message = format!("timed out after {:?}", check.timeout);
                failed(check.name, check.critical, elapsed, message, true)
            }
        };
        #[cfg(feature = "metrics")]
        gauges::set(&result);
        results.push(result);
    }
    HealthReport { status: HealthReport::aggregate(&results), checks: results, checked_at, duration: started.elapsed() }
}

fn failed(name: String, critical: bool, elapsed: Duration, message: String, timed_out: bool) -> CheckResult {
    CheckResult {
        name,
        status: HealthStatus::Unhealthy,
        response_time: elapsed,
        message: Some(message),
        details: None,
        critical,
        slow: timed_out,
        timed_out,
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// `health_check_status{check}` and `health_check_duration_seconds{check}`.
#[cfg(feature = "metrics")]
pub(crate) mod gauges {
    use std::sync::OnceLock;

    use crate::metrics::GaugeVec;

    static GAUGES: OnceLock<Option<(GaugeVec, GaugeVec)>> = OnceLock::new();

    /// Registers both families (at init, so they are scraped before the first run).
    pub(crate) fn register() -> Option<&'static (GaugeVec, GaugeVec)> {
        GAUGES
            .get_or_init(|| {
                let status = GaugeVec::register(
                    "health_check_status",
                    "Result of the last run of each health check: 1 healthy, 0.5 degraded, 0 unhealthy",
                    &["check"],
                );
                let duration = GaugeVec::register(
                    "health_check_duration_seconds",
                    "How long the last run of each health check took",
                    &["check"],
                );
                status.ok().zip(duration.ok())
            })
            .as_ref()
    }

    pub(super) fn set(result: &super::CheckResult) {
        if let Some((status, duration)) = register() {
            if let Ok(gauge) = status.with_labels(&[&result.name]) {
                gauge.set(result.status.as_gauge());
            }
            if let Ok(gauge) = duration.with_labels(&[&result.name]) {
                gauge.set(result.response_time.as_secs_f64());
            }
        }
    }
}
