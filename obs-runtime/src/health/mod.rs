//! Health checks: a [`HealthChecker`] runs them concurrently, each under its own timeout,
//! with cached results, served on the embedded server and exported as metrics.
//!
//! ```
//! use std::time::Duration;
//! use obs_runtime::health::{CheckOutcome, HealthCheck, HealthChecker, HealthStatus};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), obs_runtime::health::HealthError> {
//! let health = HealthChecker::builder()
//!     // Any async fn or closure whose output is a `CheckOutcome`, a `Result<_, impl Display>`, ...
//!     .check(HealthCheck::new("cache", || async { Ok::<_, std::io::Error>(()) }))
//!     .check(
//!         HealthCheck::new("search", || async { CheckOutcome::degraded("reindexing").with_detail("shards", 3) })
//!             .timeout(Duration::from_secs(2))
//!             .critical(false),
//!     )
//!     .build()?;
//! let report = health.report().await;
//! assert_eq!(report.status, HealthStatus::Degraded);
//! assert_eq!(report.http_status(), 200);
//! # Ok(()) }
//! ```
//!
//! A checker is configured in one expression, as the other pillars are: its mistakes (two checks
//! of one name, a readiness group naming no check) come from `build`, or from `init` when the
//! builder is given to [`ObsBuilder::health`](crate::ObsBuilder::health) unbuilt. A running
//! checker still takes checks: [`HealthChecker::register`].
//!
//! Overall status: no checks, or any critical check unhealthy, is
//! unhealthy; all healthy is healthy; anything else is degraded (a non-critical check can degrade
//! the whole, never fail it). A check that returns an error or panics is unhealthy with the
//! message; one that outlives its timeout is unhealthy with a message saying so, and does not delay
//! the others: a report takes about as long as the slowest timeout, not the sum. A check slower
//! than [`HealthCheckerBuilder::slow_fraction`] of its timeout is flagged `slow`.
//!
//! With [`crate::ObsBuilder::health`], the embedded server serves `/health` (the full report;
//! 200 when healthy or degraded, 503 when unhealthy), `/health/ready` (the critical checks, or the
//! [readiness group](HealthCheckerBuilder::readiness)) and `/health/live` (the process answers).
//! Each run sets `health_check_status{check}` (1 healthy, 0.5 degraded, 0 unhealthy) and
//! `health_check_duration_seconds{check}`.

mod builder;
#[cfg(any(feature = "health-tcp", feature = "health-http", feature = "health-redis", feature = "health-postgres"))]
pub mod checks;
mod pillar;
mod run;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

// serde_json builds the JSON text, an internal dependency: its map keeps keys sorted, the order
// `/health` has always shown.
use serde_json::{Map, Value};

pub use builder::{HealthCheckerBuilder, IntoHealthChecker};
pub(crate) use pillar::Pillar;
pub(crate) use run::Refresher;
#[cfg(feature = "metrics")]
pub(crate) use run::gauges::register as register_metrics;
pub use run::{DEFAULT_CACHE_TTL, DEFAULT_REFRESH_INTERVAL, DEFAULT_SLOW_FRACTION, HealthChecker};

/// The status of one check, or of the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HealthStatus {
    /// Working.
    Healthy,
    /// Working, impaired: slow, partly unavailable, or a non-critical dependency down.
    Degraded,
    /// Not working.
    Unhealthy,
}

impl HealthStatus {
    /// `"healthy"`, `"degraded"` or `"unhealthy"`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// The value of the `health_check_status` gauge: 1, 0.5 or 0.
    pub fn as_gauge(self) -> f64 {
        match self {
            HealthStatus::Healthy => 1.0,
            HealthStatus::Degraded => 0.5,
            HealthStatus::Unhealthy => 0.0,
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a check found: a status, and optionally a message and details.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// The status.
    pub status: HealthStatus,
    /// Why, in a few words (errors, "HTTP 503", ...).
    pub message: Option<String>,
    /// Anything the dependency reported (pool size, connected clients, memory used, ...), by name.
    pub details: Option<BTreeMap<String, Detail>>,
}

impl CheckOutcome {
    /// Healthy, without a message.
    pub fn healthy() -> CheckOutcome {
        CheckOutcome { status: HealthStatus::Healthy, message: None, details: None }
    }

    /// Degraded, with why.
    pub fn degraded(message: impl Into<String>) -> CheckOutcome {
        CheckOutcome { status: HealthStatus::Degraded, message: Some(message.into()), details: None }
    }

    /// Unhealthy, with why.
    pub fn unhealthy(message: impl Into<String>) -> CheckOutcome {
        CheckOutcome { status: HealthStatus::Unhealthy, message: Some(message.into()), details: None }
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> CheckOutcome {
        self.message = Some(message.into());
        self
    }

    /// Adds one detail: a number, a boolean or a string (`.with_detail("pool_size", 10)`,
    /// `.with_detail("host", "db")`). A second detail of one name replaces the first.
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Detail>) -> CheckOutcome {
        self.details.get_or_insert_with(BTreeMap::new).insert(key.into(), value.into());
        self
    }
}

/// One detail of a [`CheckOutcome`], as `/health` shows it: a JSON boolean, number or string.
///
/// ```
/// use obs_runtime::health::{CheckOutcome, Detail};
///
/// let outcome = CheckOutcome::healthy().with_detail("connections", 10).with_detail("host", "db");
/// let details = outcome.details.expect("details");
/// assert_eq!(details["connections"], Detail::I64(10));
/// assert_eq!(details["host"].to_string(), "db");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// `true` or `false`.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number (not finite: `null` in the JSON).
    F64(f64),
    /// A string.
    Str(String),
}

impl Detail {
    fn to_value(&self) -> serde_json::Value {
        match self {
            Detail::Bool(value) => (*value).into(),
            Detail::I64(value) => (*value).into(),
            Detail::U64(value) => (*value).into(),
            Detail::F64(value) => (*value).into(),
            Detail::Str(value) => value.as_str().into(),
        }
    }
}

/// The value as text: a string as it is, a number or a boolean as Rust prints it.
impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Bool(value) => value.fmt(f),
            Detail::I64(value) => value.fmt(f),
            Detail::U64(value) => value.fmt(f),
            Detail::F64(value) => value.fmt(f),
            Detail::Str(value) => f.write_str(value),
        }
    }
}

macro_rules! detail_from {
    ($variant:ident as $wide:ty: $($ty:ty),*) => {$(
        impl From<$ty> for Detail {
            fn from(value: $ty) -> Detail {
                Detail::$variant(<$wide>::from(value))
            }
        }
    )*};
}

detail_from!(Bool as bool: bool);
detail_from!(I64 as i64: i8, i16, i32, i64);
detail_from!(U64 as u64: u8, u16, u32, u64);
detail_from!(F64 as f64: f32, f64);
detail_from!(Str as String: String, &str, &String, Box<str>, Cow<'_, str>);

impl From<isize> for Detail {
    fn from(value: isize) -> Detail {
        // isize is at most 64 bits on every target Rust supports.
        Detail::I64(value as i64)
    }
}

impl From<usize> for Detail {
    fn from(value: usize) -> Detail {
        Detail::U64(value as u64)
    }
}

/// What a check function may return.
///
/// `CheckOutcome` and `HealthStatus` as they are; `()` is healthy; `Result<T, E>` is `T`'s
/// outcome when `Ok`, and unhealthy with `E`'s `Display` as the message when `Err`.
pub trait IntoCheckOutcome {
    /// The outcome.
    fn into_check_outcome(self) -> CheckOutcome;
}

impl IntoCheckOutcome for CheckOutcome {
    fn into_check_outcome(self) -> CheckOutcome {
        self
    }
}

impl IntoCheckOutcome for HealthStatus {
    fn into_check_outcome(self) -> CheckOutcome {
        CheckOutcome { status: self, message: None, details: None }
    }
}

impl IntoCheckOutcome for () {
    fn into_check_outcome(self) -> CheckOutcome {
        CheckOutcome::healthy()
    }
}

impl<T: IntoCheckOutcome, E: fmt::Display> IntoCheckOutcome for Result<T, E> {
    fn into_check_outcome(self) -> CheckOutcome {
        match self {
            Ok(value) => value.into_check_outcome(),
            Err(error) => CheckOutcome::unhealthy(error.to_string()),
        }
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = CheckOutcome> + Send>>;

/// How a check runs: a future on the runtime, or a blocking function on its blocking pool.
#[derive(Clone)]
enum Runner {
    Async(Arc<dyn Fn() -> BoxFuture + Send + Sync>),
    Blocking(Arc<dyn Fn() -> CheckOutcome + Send + Sync>),
}

/// The default timeout of a check.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// One named check, ready to [register](HealthChecker::register).
#[derive(Clone)]
pub struct HealthCheck {
    name: String,
    timeout: Duration,
    critical: bool,
    runner: Runner,
    /// The run of this check that has not ended, if any (a blocking one past its timeout cannot
    /// be stopped): when it started, and where its result will be.
    in_flight: Arc<std::sync::Mutex<Option<run::Running>>>,
}

impl fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthCheck")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("critical", &self.critical)
            .field("blocking", &matches!(self.runner, Runner::Blocking(_)))
            .finish()
    }
}

impl HealthCheck {
    /// An async check: `check` is called for each run and its future awaited on a thread of obs's
    /// blocking pool, driven by obs's background runtime (tokio: it may use tokio's I/O, and a
    /// check that blocks its thread stalls neither the others' timeouts nor the embedded server).
    /// Critical, with a timeout of 5 s, until changed.
    pub fn new<F, Fut, O>(name: impl Into<String>, check: F) -> HealthCheck
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: IntoCheckOutcome,
    {
        let runner = Runner::Async(Arc::new(move || {
            let future = check();
            Box::pin(async move { future.await.into_check_outcome() }) as BoxFuture
        }));
        HealthCheck { name: name.into(), timeout: DEFAULT_TIMEOUT, critical: true, runner, in_flight: Arc::default() }
    }

    /// A blocking check (a synchronous client, a file system probe): it runs on tokio's blocking
    /// pool, never on the thread that serves `/health`. A blocking call cannot be interrupted:
    /// past its timeout it is reported unhealthy and left to finish on its own, and until it does
    /// no second copy is started (later runs report it unhealthy, still running).
    pub fn blocking<F, O>(name: impl Into<String>, check: F) -> HealthCheck
    where
        F: Fn() -> O + Send + Sync + 'static,
        O: IntoCheckOutcome,
    {
        let runner = Runner::Blocking(Arc::new(move || check().into_check_outcome()));
        HealthCheck { name: name.into(), timeout: DEFAULT_TIMEOUT, critical: true, runner, in_flight: Arc::default() }
    }

    /// How long a run may take before it is reported unhealthy (default 5 s; must not be zero).
    pub fn timeout(mut self, timeout: Duration) -> HealthCheck {
        self.timeout = timeout;
        self
    }

    /// Whether this check can make the whole unhealthy (default `true`). A non-critical check
    /// that fails degrades the whole, and is left out of readiness.
    pub fn critical(mut self, critical: bool) -> HealthCheck {
        self.critical = critical;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The result of one check in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// Its status.
    pub status: HealthStatus,
    /// How long it took, measured by the runner (at most about its timeout).
    pub response_time: Duration,
    /// Why, if it said (or the error, the panic, the timeout).
    pub message: Option<String>,
    /// What it reported, by name.
    pub details: Option<BTreeMap<String, Detail>>,
    /// Whether it can make the whole unhealthy.
    pub critical: bool,
    /// It took longer than the slow fraction of its timeout.
    pub slow: bool,
    /// It did not finish within its timeout.
    pub timed_out: bool,
}

impl CheckResult {
    /// As JSON text, the object `/health` shows for it: `critical`, `details`, `message`, `name`,
    /// `response_time_ms`, `slow`, `status`, `timed_out`.
    pub fn to_json(&self) -> String {
        self.json_value().to_string()
    }

    fn json_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("name".into(), self.name.clone().into());
        object.insert("status".into(), self.status.as_str().into());
        object.insert("response_time_ms".into(), millis(self.response_time));
        object.insert("message".into(), self.message.clone().map_or(Value::Null, Value::from));
        let details = self.details.as_ref().map(|details| {
            Value::Object(details.iter().map(|(name, detail)| (name.clone(), detail.to_value())).collect())
        });
        object.insert("details".into(), details.unwrap_or(Value::Null));
        object.insert("critical".into(), self.critical.into());
        object.insert("slow".into(), self.slow.into());
        object.insert("timed_out".into(), self.timed_out.into());
        Value::Object(object)
    }
}

/// The results of one run of every check (or of the readiness checks).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// The overall status.
    pub status: HealthStatus,
    /// Each check's result, in registration order.
    pub checks: Vec<CheckResult>,
    /// When the run started.
    pub checked_at: SystemTime,
    /// How long the run took.
    pub duration: Duration,
}

impl HealthReport {
    /// The overall status of `checks`: none, or a critical one
    /// unhealthy, is unhealthy; all healthy is healthy; anything else is degraded.
    pub fn aggregate(checks: &[CheckResult]) -> HealthStatus {
        if checks.is_empty() {
            return HealthStatus::Unhealthy;
        }
        if checks.iter().all(|check| check.status == HealthStatus::Healthy) {
            HealthStatus::Healthy
        } else if checks.iter().any(|check| check.critical && check.status == HealthStatus::Unhealthy) {
            HealthStatus::Unhealthy
        } else {
            HealthStatus::Degraded
        }
    }

    /// What `/health` answers: 200 when healthy or degraded, 503 when unhealthy.
    pub fn http_status(&self) -> u16 {
        if self.status == HealthStatus::Unhealthy { 503 } else { 200 }
    }

    /// The report as `/health` serves it, JSON text: `checked_at` (RFC 3339), `checks` (an object
    /// of each check's result by name, as [`CheckResult::to_json`]), `duration_ms` and `status`.
    pub fn to_json(&self) -> String {
        let checks: Map<String, Value> =
            self.checks.iter().map(|check| (check.name.clone(), check.json_value())).collect();
        let mut object = Map::new();
        object.insert("status".into(), self.status.as_str().into());
        object.insert("checked_at".into(), crate::time::rfc3339_micros(self.checked_at).into());
        object.insert("duration_ms".into(), millis(self.duration));
        object.insert("checks".into(), Value::Object(checks));
        Value::Object(object).to_string()
    }
}

fn millis(duration: Duration) -> Value {
    // Microsecond precision is plenty, and keeps the JSON short.
    Value::from((duration.as_secs_f64() * 1_000_000.0).round() / 1000.0)
}

/// A health check or checker that cannot be set up as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthError {
    /// Two checks with one name.
    DuplicateName(String),
    /// A check's name is empty.
    EmptyName,
    /// A check's timeout is zero.
    ZeroTimeout(String),
    /// The readiness group names a check that is not registered.
    UnknownCheck(String),
    /// A setting is out of range.
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthError::DuplicateName(name) => write!(f, "a health check named {name:?} is already registered"),
            HealthError::EmptyName => f.write_str("a health check needs a name"),
            HealthError::ZeroTimeout(name) => write!(f, "the health check {name:?} has a zero timeout"),
            HealthError::UnknownCheck(name) => {
                write!(f, "the readiness group names {name:?}, which is not a registered health check")
            }
            HealthError::Invalid { field, reason } => write!(f, "invalid `{field}`: {reason}"),
        }
    }
}

impl std::error::Error for HealthError {}
