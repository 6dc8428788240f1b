//! Running the checks: all at once, each on a thread of obs's blocking pool (driven by obs's
//! background runtime) under its own deadline
//! inside its task, one run shared by every caller that asks while it is in progress or while its
//! result is fresh. A run belongs to no caller: a caller that goes away (a probe that timed out)
//! does not cancel it, and its result still fills the cache.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::sync;

use tokio::sync::watch;

use super::{CheckOutcome, CheckResult, HealthCheck, HealthError, HealthReport, HealthStatus, Runner};

/// The registered health checks: run concurrently, each under its own timeout, results cached.
///
/// Cheap to clone (clones share the checks and the cache). Give it to
/// [`ObsBuilder::health`](crate::ObsBuilder::health) to serve it, or call [`report`](Self::report)
/// from your own server (from any executor).
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
    /// Every check, for `/health`.
    all: Flight,
    /// The readiness checks only, for `/health/ready`: a slow non-critical check cannot make a
    /// readiness probe wait.
    ready: Flight,
    /// When the last run of every check finished; `None` before the first.
    refreshed: Mutex<Option<Instant>>,
}

/// One cached, shared run.
#[derive(Debug, Default)]
struct Flight {
    state: Mutex<FlightState>,
}

#[derive(Debug, Default)]
struct FlightState {
    /// The last result and when it finished.
    last: Option<(Instant, Arc<HealthReport>)>,
    /// The run in progress: its result arrives here.
    running: Option<watch::Receiver<Option<Arc<HealthReport>>>>,
    /// Bumped by registrations: a run started before a change does not fill the cache.
    generation: u64,
}

/// Stops the background refresh of [`HealthChecker::refresh_every`] when dropped.
#[derive(Debug)]
pub(crate) struct Refresher {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// What it refreshes (for [`ObsGuard::health`](crate::ObsGuard::health)).
    pub(crate) checker: HealthChecker,
}

impl Refresher {
    /// Stops the background refresh (also when dropped).
    pub(crate) fn stop(&mut self) {
        self.stop.take();
    }
}

/// How often the checks run in the background by default (see
/// [`ObsBuilder::health_refresh_interval`](crate::ObsBuilder::health_refresh_interval)).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// How long a result is served from cache by default.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);
/// The fraction of its timeout past which a check is flagged slow, by default.
pub const DEFAULT_SLOW_FRACTION: f64 = 0.5;

/// `fraction` is a share of a timeout past which a check is slow: in `(0, 1]`.
pub(super) fn check_slow_fraction(fraction: f64) -> Result<(), HealthError> {
    if fraction > 0.0 && fraction <= 1.0 {
        return Ok(());
    }
    Err(HealthError::Invalid { field: "slow_fraction", reason: format!("{fraction} is not in (0, 1]") })
}

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

    pub(super) fn with_settings(cache_ttl: Duration, slow_fraction: f64) -> HealthChecker {
        HealthChecker {
            inner: Arc::new(Inner {
                checks: RwLock::new(Vec::new()),
                readiness: RwLock::new(None),
                cache_ttl,
                slow_fraction,
                all: Flight::default(),
                ready: Flight::default(),
                refreshed: Mutex::new(None),
            }),
        }
    }

    /// A checker whose results are served from cache for `ttl` after a run finishes (zero: only
    /// callers that arrive while a run is in progress share it), so a storm of probes does not
    /// hammer the dependencies. Call before registering checks and before cloning.
    #[deprecated(since = "0.2.0", note = "use `HealthChecker::builder().cache_ttl(..)`")]
    pub fn cache_ttl(self, ttl: Duration) -> HealthChecker {
        let checker = HealthChecker::with_settings(ttl, self.inner.slow_fraction);
        checker.copy_checks_from(&self);
        checker
    }

    /// A checker that flags a check `slow` when it takes more than `fraction` of its timeout
    /// (default 0.5). `fraction` must be in `(0, 1]`. Call before cloning.
    #[deprecated(since = "0.2.0", note = "use `HealthChecker::builder().slow_fraction(..)`")]
    pub fn slow_fraction(self, fraction: f64) -> Result<HealthChecker, HealthError> {
        check_slow_fraction(fraction)?;
        let checker = HealthChecker::with_settings(self.inner.cache_ttl, fraction);
        checker.copy_checks_from(&self);
        Ok(checker)
    }

    fn copy_checks_from(&self, other: &HealthChecker) {
        let checks = sync::read(&other.inner.checks).clone();
        let readiness = sync::read(&other.inner.readiness).clone();
        *sync::write(&self.inner.checks) = checks;
        *sync::write(&self.inner.readiness) = readiness;
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
        let mut checks = sync::write(&self.inner.checks);
        if checks.iter().any(|existing| existing.name == check.name) {
            return Err(HealthError::DuplicateName(check.name));
        }
        checks.push(check);
        drop(checks);
        self.invalidate();
        Ok(())
    }

    /// The checks `/health/ready` runs, instead of the critical ones; each counts as critical
    /// there. Every name must be registered already; an unknown one is an `Err` naming it.
    pub fn set_readiness(&self, names: &[&str]) -> Result<(), HealthError> {
        let checks = sync::read(&self.inner.checks);
        if let Some(unknown) = names.iter().find(|name| !checks.iter().any(|check| check.name == **name)) {
            return Err(HealthError::UnknownCheck((*unknown).to_owned()));
        }
        drop(checks);
        *sync::write(&self.inner.readiness) = Some(names.iter().map(|name| (*name).to_owned()).collect());
        self.invalidate();
        Ok(())
    }

    /// The names of the registered checks, in order.
    pub fn names(&self) -> Vec<String> {
        sync::read(&self.inner.checks).iter().map(|c| c.name.clone()).collect()
    }

    fn invalidate(&self) {
        for flight in [&self.inner.all, &self.inner.ready] {
            let mut state = sync::lock(&flight.state);
            state.last = None;
            state.running = None;
            state.generation += 1;
        }
    }

    /// Runs every check (or returns the cached or running run), concurrently, each under its own
    /// timeout. The run starts when this is called (with the checks registered then), and can be
    /// awaited from any executor: the checks run on obs's background runtime.
    pub fn report(&self) -> impl std::future::Future<Output = Arc<HealthReport>> + Send + use<> {
        let checks = sync::read(&self.inner.checks).clone();
        self.run_shared(|inner| &inner.all, checks)
    }

    /// Starts a run of every check in the background if the cached report is stale and none is
    /// running, without waiting for it; and sets `health_report_age_seconds`. `/metrics` calls
    /// this, so a scrape serves the gauges of the last report and never waits for a check.
    #[cfg(all(feature = "http-server", feature = "metrics"))]
    pub(crate) fn refresh_in_background(&self) {
        let stale = {
            let state = sync::lock(&self.inner.all.state);
            state.running.is_none()
                && state.last.as_ref().is_none_or(|(finished, _)| finished.elapsed() >= self.inner.cache_ttl)
        };
        if stale {
            let checker = self.clone();
            // The run belongs to no caller: it fills the cache (and the gauges) when it ends.
            spawn_run(async move {
                checker.report().await;
            });
        }
        gauges::set_age(sync::lock(&self.inner.refreshed).map(|at| at.elapsed()));
    }

    /// Runs every check each `interval` in the background (a run still fresh for `cache_ttl` is
    /// not repeated), so the health gauges stay current whoever serves `/metrics`, until the
    /// returned guard drops.
    pub(crate) fn refresh_every(&self, interval: Duration) -> Refresher {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let checker = self.clone();
        // Under way now, with the checks registered now.
        let first = self.report();
        spawn_run(async move {
            tokio::select! {
                _ = first => {}
                _ = &mut stopped => return,
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = &mut stopped => return,
                }
                tokio::select! {
                    _ = checker.report() => {}
                    _ = &mut stopped => return,
                }
            }
        });
        Refresher { stop: Some(stop), checker: self.clone() }
    }

    /// The readiness report: the [readiness group](Self::set_readiness) if set (each member
    /// counting as critical), else the critical checks. Only those run: a slow non-critical check
    /// does not hold it up. No readiness checks at all is ready.
    pub async fn readiness(&self) -> HealthReport {
        let group = sync::read(&self.inner.readiness).clone();
        let checks: Vec<HealthCheck> = sync::read(&self.inner.checks)
            .iter()
            .filter(|check| match &group {
                Some(names) => names.contains(&check.name),
                None => check.critical,
            })
            .cloned()
            .map(|check| check.critical(true))
            .collect();
        if checks.is_empty() {
            return HealthReport {
                status: HealthStatus::Healthy,
                checks: Vec::new(),
                checked_at: SystemTime::now(),
                duration: Duration::ZERO,
            };
        }
        (*self.run_shared(|inner| &inner.ready, checks).await).clone()
    }

    /// The cached, running or a new run of `checks`, in the flight `which` picks: a new run starts
    /// at the call.
    fn run_shared(
        &self,
        which: fn(&Inner) -> &Flight,
        checks: Vec<HealthCheck>,
    ) -> impl std::future::Future<Output = Arc<HealthReport>> + Send + use<> {
        let flight = which(&self.inner);
        let receiver = {
            let mut state = sync::lock(&flight.state);
            if let Some((finished, report)) = &state.last
                && finished.elapsed() < self.inner.cache_ttl
            {
                Err(report.clone())
            } else {
                Ok(match &state.running {
                    Some(running) => running.clone(),
                    None => {
                        let (sender, receiver) = watch::channel(None);
                        state.running = Some(receiver.clone());
                        let generation = state.generation;
                        let inner = self.inner.clone();
                        spawn_run(async move {
                            let report = Arc::new(run_all(checks, inner.slow_fraction).await);
                            if std::ptr::eq(which(&inner), &inner.all) && !report.checks.is_empty() {
                                *sync::lock(&inner.refreshed) = Some(Instant::now());
                            }
                            let mut state = sync::lock(&which(&inner).state);
                            if state.generation == generation {
                                state.last = Some((Instant::now(), report.clone()));
                                state.running = None;
                            }
                            drop(state);
                            let _ = sender.send(Some(report));
                        });
                        receiver
                    }
                })
            }
        };
        let checker = self.clone();
        async move {
            let mut receiver = match receiver {
                Ok(receiver) => receiver,
                Err(cached) => return cached,
            };
            loop {
                if let Some(report) = receiver.borrow_and_update().clone() {
                    return report;
                }
                if receiver.changed().await.is_err() {
                    // The run ended without a result (its runtime went away): say so, and let the
                    // next caller start another.
                    let mut state = sync::lock(&which(&checker.inner).state);
                    state.running = None;
                    return Arc::new(no_runtime(&checker.names()));
                }
            }
        }
    }
}

/// Runs are scheduled on obs's background runtime; each check itself runs on its blocking pool
/// ([`crate::background::isolated`]), so that checks never run on the application's executor,
/// and one that blocks its thread stalls neither the others' timers nor the embedded server.
fn spawn_run(run: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Some(runtime) = crate::background::handle() {
        runtime.spawn(run);
    }
    // Else the sender is dropped unsent: callers get the "no runtime" report.
}

fn no_runtime(names: &[String]) -> HealthReport {
    let checks: Vec<CheckResult> = names
        .iter()
        .map(|name| failed(name.clone(), true, Duration::ZERO, "no runtime to run the check on".into(), false))
        .collect();
    HealthReport {
        status: HealthReport::aggregate(&checks),
        checks,
        checked_at: SystemTime::now(),
        duration: Duration::ZERO,
    }
}

/// A check's run that has not ended: when it started, and where its result will be (for a run
/// that asks for the same check meanwhile, from the other report: `/health` and
/// `/health/ready` each have theirs).
#[derive(Debug)]
pub(crate) struct Running {
    started: Instant,
    result: watch::Receiver<Option<Ran>>,
}

/// Clears a check's run when it ends, however it ends (finished, aborted, or panicked).
struct InFlight(Arc<Mutex<Option<Running>>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *sync::lock(&self.0) = None;
    }
}

/// What a check's task reports: its outcome (or why it has none) and how long it took.
#[derive(Debug, Clone)]
pub(crate) enum Ran {
    Done(CheckOutcome, Duration),
    TimedOut(Duration),
    Panicked(String, Duration),
    StillRunning,
}

/// Starts every check at once, each timed and bounded inside its own task: the run takes about
/// the longest timeout, and each check's time is its own, whatever the order.
async fn run_all(checks: Vec<HealthCheck>, slow_fraction: f64) -> HealthReport {
    let checked_at = SystemTime::now();
    let started = Instant::now();
    let tasks: Vec<(HealthCheck, tokio::task::JoinHandle<Ran>)> =
        checks.into_iter().map(|check| (check.clone(), tokio::spawn(run_one(check)))).collect();
    let mut results = Vec::with_capacity(tasks.len());
    for (check, task) in tasks {
        let ran = match task.await {
            Ok(ran) => ran,
            Err(error) if error.is_panic() => Ran::Panicked(panic_message(error.into_panic()), Duration::ZERO),
            Err(_) => Ran::StillRunning,
        };
        let result = match ran {
            Ran::Done(outcome, elapsed) => CheckResult {
                name: check.name,
                status: outcome.status,
                response_time: elapsed,
                message: outcome.message,
                details: outcome.details,
                critical: check.critical,
                slow: elapsed.as_secs_f64() > check.timeout.as_secs_f64() * slow_fraction,
                timed_out: false,
            },
            Ran::TimedOut(elapsed) => {
                failed(check.name, check.critical, elapsed, format!("timed out after {:?}", check.timeout), true)
            }
            Ran::Panicked(message, elapsed) => {
                failed(check.name, check.critical, elapsed, format!("the check panicked: {message}"), false)
            }
            Ran::StillRunning => failed(
                check.name,
                check.critical,
                Duration::ZERO,
                "the previous run of this check is still running (past its timeout)".to_owned(),
                true,
            ),
        };
        #[cfg(feature = "metrics")]
        gauges::set(&result);
        results.push(result);
    }
    HealthReport { status: HealthReport::aggregate(&results), checks: results, checked_at, duration: started.elapsed() }
}

/// One check under its timeout, measured from its own start; or, when a run of it is under way
/// (the other report's), that run's result; or, when that run is past its timeout (blocked),
/// `StillRunning`.
async fn run_one(check: HealthCheck) -> Ran {
    let sender = {
        let mut slot = sync::lock(&check.in_flight);
        match &*slot {
            Some(running) if running.started.elapsed() >= check.timeout => return Ran::StillRunning,
            Some(running) => Err((running.started, running.result.clone())),
            None => {
                let (sender, result) = watch::channel(None);
                *slot = Some(Running { started: Instant::now(), result });
                Ok(sender)
            }
        }
    };
    match sender {
        Ok(sender) => {
            let ran = run_owned(&check).await;
            let _ = sender.send(Some(ran.clone()));
            ran
        }
        Err((started, mut result)) => {
            // Its owner reports it by its timeout at the latest.
            let left = check.timeout.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, result.wait_for(Option::is_some)).await {
                Ok(Ok(ran)) => ran.clone().unwrap_or(Ran::StillRunning),
                Ok(Err(_)) => Ran::StillRunning,
                Err(_) => Ran::TimedOut(started.elapsed()),
            }
        }
    }
}

/// The run of `check` this caller owns (its slot in `in_flight` is set).
async fn run_owned(check: &HealthCheck) -> Ran {
    let guard = InFlight(check.in_flight.clone());
    let start = Instant::now();
    match &check.runner {
        Runner::Async(run) => {
            let run = run.clone();
            // Off the runtime's thread, so that a check that blocks stalls nothing else; a panic
            // is caught, and a timeout cancels it at its next `.await` (one that blocks keeps its
            // thread, and its in-flight flag, until it returns).
            let task = crate::background::isolated(async move {
                let _guard = guard;
                run().await
            });
            match tokio::time::timeout(check.timeout, task).await {
                Ok(Ok(outcome)) => Ran::Done(outcome, start.elapsed()),
                Ok(Err(error)) => Ran::Panicked(panic_text(error), start.elapsed()),
                Err(_) => Ran::TimedOut(start.elapsed()),
            }
        }
        Runner::Blocking(run) => {
            let run = run.clone();
            // A blocking call cannot be stopped: the flag stays set until it returns.
            let task = tokio::task::spawn_blocking(move || {
                let _guard = guard;
                run()
            });
            match tokio::time::timeout(check.timeout, task).await {
                Ok(Ok(outcome)) => Ran::Done(outcome, start.elapsed()),
                Ok(Err(error)) => Ran::Panicked(panic_text(error), start.elapsed()),
                Err(_) => Ran::TimedOut(start.elapsed()),
            }
        }
    }
}

fn panic_text(error: tokio::task::JoinError) -> String {
    if error.is_panic() { panic_message(error.into_panic()) } else { "cancelled".to_owned() }
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
    static AGE: OnceLock<Option<crate::metrics::Gauge>> = OnceLock::new();

    /// `health_report_age_seconds`: how old the report behind the health gauges is.
    fn age() -> Option<&'static crate::metrics::Gauge> {
        AGE.get_or_init(|| {
            crate::metrics::Gauge::register(
                "health_report_age_seconds",
                "Seconds since the last run of every health check finished (the health_check_* gauges \
                 are from that run; scrapes never wait for a check)",
            )
            .ok()
        })
        .as_ref()
    }

    /// The age of the last report; NaN before the first (there is none to be old).
    #[cfg(feature = "http-server")]
    pub(super) fn set_age(elapsed: Option<std::time::Duration>) {
        if let Some(gauge) = age() {
            gauge.set(elapsed.map_or(f64::NAN, |elapsed| elapsed.as_secs_f64()));
        }
    }

    /// Registers both families (at init, so they are scraped before the first run).
    pub(crate) fn register() -> Option<&'static (GaugeVec, GaugeVec)> {
        age();
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
