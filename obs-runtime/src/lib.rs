//! # obs: instrumentation for Rust services
//!
//! One attribute on a handler gives it Prometheus RED metrics (rate, errors, duration); one `init`
//! serves them on `/metrics`.
//!
//! ```no_run
//! use obs_runtime::track_request;
//!
//! #[derive(Debug)]
//! struct ApiError;
//!
//! #[track_request("GET", "/users")]
//! fn get_users() -> Result<Vec<String>, ApiError> {
//!     Ok(vec!["ada".to_owned()])
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _obs = obs_runtime::init()?; // /metrics on OBS_HTTP_ADDR, default 127.0.0.1:9464
//!     get_users().ok();
//!     Ok(())
//! }
//! ```
//!
//! ## How it is put together
//!
//! One [`Obs::builder()`](Obs::builder) configures everything and one `init` starts it, returning
//! the [`ObsGuard`] that stops it. The service's identity is given once, with
//! [`.service(..)`](ObsBuilder::service) (a [`Service`]: name, version, instance, resource
//! attributes, merged with `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`), and every pillar
//! uses it: `target_info` on `/metrics`, the resource of spans, the `service` of log lines, the
//! alerts. The `OBS_*` and `OTEL_*` variables are read once, through an [`Environment`] (the
//! process's, or a fixed one given to [`ObsBuilder::environment`]).
//!
//! Each pillar (metrics, traces, logs, health, alerts) plugs into that core: the routes it adds to
//! the embedded server, its self-metrics, and its step of the shutdown. Whatever runs in the
//! background shares one thread, `obs`, driving a single-threaded tokio runtime (the server, the
//! alert evaluator and its deliveries, the health checks' schedule, OTLP exports), whether or
//! not the application uses tokio; health checks and alert evaluations run on that runtime's
//! blocking pool (`obs-blocking` threads, made when needed), so a check that blocks never stalls
//! `/metrics`. Spans are batched on `obs-spans` and log lines written on `obs-log`, so the
//! instrumented code never waits for either.
//!
//! ## Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | yes | `#[track_request]` records metrics; the registry, hand-written metrics, collectors, process metrics |
//! | `runtime-metrics` | no | `metrics::register_tokio_runtime`: the app's tokio runtime as metrics |
//! | `prometheus` | no | `metrics::prometheus`: a `prometheus::Registry` on obs's `/metrics`, obs's registry as a `prometheus` collector |
//! | `metrics-rs` | no | `metrics::metrics_rs::ObsRecorder`: the `metrics` facade into obs's registry |
//! | `push` | no | `metrics::push::Pushgateway`: push to a Prometheus Pushgateway, on demand and when obs stops |
//! | `http-server` | yes | the embedded HTTP server: `/metrics`, and `/health*` and `/alerts` with those pillars |
//! | `trace` | yes | [`trace`]: `#[trace_operation]`, `span_attributes!`, spans, propagation (W3C Trace Context, B3, `OTEL_PROPAGATORS`), [`baggage`], batched export (JSON lines, in memory) |
//! | `tracing-bridge` | no | `trace::layer()`: `tracing` spans become obs spans |
//! | `otlp` | no | OTLP export over HTTP/protobuf (gzip with `OTEL_EXPORTER_OTLP_COMPRESSION`) of spans, of the registry ([`metrics::otlp`], with `metrics`) and of log records (`logging::otlp`, with `logging`) |
//! | `otlp-grpc` | no | OTLP export of every signal over gRPC (HTTP/2) |
//! | `tls` | no | [`tls`]: `https://` for OTLP, the alert channels and the HTTP health check; private CAs, the system's store, client certificates |
//! | `tower` | no | `tower` layers: for servers, a server span and the RED metrics of each request, by route template; for clients, [`client::ClientLayer`] (which reads gRPC calls by their status codes); for gRPC servers, [`rpc::GrpcLayer`] |
//! | `reqwest` | no | [`client::reqwest::ObsMiddleware`], a `reqwest-middleware` middleware |
//! | `tonic` | no | [`RequestOutcome`](metrics::RequestOutcome) for `tonic::Status` and `tonic::Response` |
//! | `logging` | no | [`logging`]: JSON lines of `tracing` events, correlated with the [`context`] |
//! | `health` | no | [`health`]: `HealthChecker`, `#[health_check]`, the `/health` endpoints |
//! | `health-tcp`, `health-http`, `health-redis`, `health-postgres` | no | the [built-in checks](health::checks) |
//! | `alerts` | no | [`alerts`]: rules over the metrics, the evaluator, Slack, webhook, Alertmanager and log channels, `/alerts` |
//! | `alerts-tls` | no | `alerts` and `tls` |
//! | `alerts-smtp` | no | e-mail alerts over SMTP (plain, STARTTLS or TLS) |
//! | `dashboards` | no | Grafana dashboards of what obs exports ([`dashboards::grafana`]) |
//! | `testing` | no | Tests of instrumented code in isolation: [`testing::Scope`] (a test's own request counts and spans), [`testing::AlertRecorder`] |
//! | `page` | no | The live page at `/` on the embedded server: golden signals per endpoint, health, alerts, SLOs, the slowest recent traces ([`page`]) |
//!
//! With `default-features = false` the attributes still check their arguments, then leave the
//! function exactly as written: instrumentation that is off costs nothing.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[cfg(feature = "alerts")]
pub mod alerts;
#[cfg(any(feature = "http-server", feature = "health", feature = "alerts", feature = "otlp", feature = "push"))]
mod background;
#[cfg(feature = "trace")]
pub mod baggage;
#[cfg(any(feature = "tower", feature = "reqwest"))]
pub mod client;
#[cfg(any(feature = "metrics", feature = "trace"))]
mod clock;
mod config;
#[cfg(any(feature = "logging", feature = "trace"))]
pub mod context;
mod core;
#[cfg(feature = "dashboards")]
pub mod dashboards;
mod deadline;
mod diagnostics;
mod duration;
#[cfg(feature = "egress")]
mod egress;
mod env;
#[cfg(feature = "health")]
pub mod health;
#[cfg(feature = "http-server")]
mod http;
#[cfg(any(feature = "logging", feature = "trace"))]
mod json;
#[cfg(feature = "logging")]
pub mod logging;
pub mod metrics;
#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "page")]
pub mod page;
mod percent;
#[cfg(any(feature = "trace", feature = "alerts", feature = "egress"))]
mod retry;
#[cfg(feature = "tower")]
pub mod rpc;
mod secret;
mod service;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
mod threads;
#[cfg(any(feature = "health", feature = "logging", feature = "alerts"))]
mod time;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "trace")]
pub mod trace;

#[doc(hidden)]
pub mod __private;

pub use config::{ConfigError, DEFAULT_HTTP_ADDR, DEFAULT_SHUTDOWN_TIMEOUT, Obs, ObsBuilder, ObsGuard};
pub use deadline::Deadline;
pub use duration::parse_duration;
pub use env::Environment;
pub use secret::{DEFAULT_SECRET_NAMES, is_secret_name};
pub use service::Service;

/// Records RED metrics for every call of the function it is on.
///
/// ```
/// use obs_runtime::track_request;
///
/// #[derive(Debug)]
/// struct ApiError;
///
/// // Positional: method, then endpoint.
/// #[track_request("GET", "/doc/list")]
/// fn list() -> Result<Vec<u32>, ApiError> {
///     Ok(vec![1, 2])
/// }
///
/// struct Service;
///
/// impl Service {
///     // The named form, with per-site buckets and the in-flight gauge.
///     #[track_request(method = "POST", endpoint = "/doc/login", buckets = [0.01, 0.1, 1.0], track_concurrency)]
///     async fn login(&self, user: &str) -> Result<String, ApiError> {
///         if user.is_empty() { return Err(ApiError); }   // early return keeps its meaning
///         Ok(format!("token-for-{user}"))
///     }
/// }
///
/// assert_eq!(list().unwrap(), vec![1, 2]);
/// ```
///
/// Each call adds one to `http_requests_total{method, endpoint, status}` and observes its duration
/// in `http_request_duration_seconds{method, endpoint}`. The status comes from the return value
/// through [`metrics::RequestOutcome`]: `Ok` is `"200"`, `Err` is `"500"`, an
/// [`http::StatusCode`](https://docs.rs/http) or `Response` gives its own code, and a panic is
/// `"500"` (and keeps unwinding). For an `async fn` the time covers the whole future, and a future
/// dropped before it completes is recorded as `"499"`. A plain `fn` that returns a future
/// (`-> impl Future<Output = T>`, or the `Pin<Box<dyn Future<Output = T> + Send + '_>>` that
/// `#[async_trait]` makes, or `futures`' `BoxFuture<'_, T>` and `LocalBoxFuture<'_, T>`) is
/// recorded the same way, over the future's run and from its output. Any other future type (a
/// named one such as `std::future::Ready<T>`, an alias of your own, an associated type) hides
/// that it is a future from the attribute, which would then time only the future's construction:
/// with `metrics` on, it is a compile error instead, naming the type
/// `the_attribute_cannot_see_this_future_make_the_fn_async_or_return_impl_Future`. Make the fn
/// `async`, or declare it `-> impl Future<Output = T>`.
/// The body keeps its meaning: `return` and `?` coerce to the declared return type, and a method
/// may return borrows of `&mut self`.
///
/// Options, after the method and endpoint:
///
/// - `buckets = [..]`: this site's histogram bounds in seconds (strictly increasing, at most 32);
///   without it, [`ObsBuilder::default_buckets`] or [`metrics::DEFAULT_BUCKETS`].
/// - `track_concurrency`: maintain `http_requests_in_flight{method, endpoint}` and the
///   `active_connections` gauge (their sum).
/// - `log_errors`: a call that fails with 500 or more logs one ERROR line (feature `logging`).
/// - `trace` or `trace = "name"`: also a server span around the call (feature `trace`), named
///   `"{method} {endpoint}"` by default, with `http.request.method`, `http.route` and
///   `http.response.status_code`: metrics and span from one attribute and one expansion.
/// - `crate = path`: where `obs_runtime` is, for crates that re-export it.
///
/// Misuse (an unknown or repeated option, a literal of the wrong type, a missing endpoint, use on
/// a struct, a `const fn`, a `#[track_caller]` fn or one returning `!`) is a compile error on the
/// offending token.
///
/// The labels are literals resolved once per call site: a call does not hash, allocate, lock or
/// format. Call sites with the same method and endpoint share one series.
pub use obs_runtime_macros::track_request;

/// Opens an OpenTelemetry span around every call of the function:
/// `#[trace_operation("process_user_request")]`, or bare for a span named
/// by the function's path (`my_crate::module::function`).
///
/// ```
/// use obs_runtime::trace_operation;
///
/// #[derive(Debug)]
/// struct Error;
/// impl std::fmt::Display for Error {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("not found") }
/// }
///
/// #[trace_operation("process_user_request", kind = server, args, skip(password), err)]
/// async fn process_user_request(user_id: u64, password: String) -> Result<String, Error> {
///     obs_runtime::span_attributes!(cache_hit = false);
///     let profile = load_profile(user_id)?;          // a child span
///     Ok(profile)
/// }
///
/// #[trace_operation(fields(db.system = "postgresql", db.operation.name = "SELECT"))]
/// fn load_profile(user_id: u64) -> Result<String, Error> {
///     if user_id == 0 { return Err(Error); }
///     Ok(format!("user {user_id}"))
/// }
/// ```
///
/// The span records `operation.name`, `operation.status` (`success` or `error`) and, on an
/// `Err` (or a status of 500 or more, by the rules of `#[track_request]`), `error.message`, the
/// span status `Error` and an `exception` event; a panic ends it as an error and keeps unwinding.
/// An `async fn` (or a fn returning a future) is in its span at every poll, so spans opened and
/// lines logged across `.await`s belong to it. The future types it sees, and the compile error
/// for one it cannot see, are those of [`macro@track_request`].
///
/// Options (none records anything the function does not say, so nothing leaks by default):
///
/// - a name first, or `name = ".."`;
/// - `kind = server | client | internal | producer | consumer` (default `internal`);
/// - `args` records every `name: Type` argument (numbers, booleans and strings as themselves,
///   the rest with `Debug`), `args(a, b)` only those, `skip(a, ..)` all but those; `skip_all`
///   says explicitly that none is (the default);
/// - `fields(key = expr, db.system = "..", "http.route" = expr)` records expressions, evaluated
///   before the body and only when the span records;
/// - a field or argument named like a secret (`password`, `token`, `api_key`, `authorization`,
///   `cookie`, ... see [`is_secret_name`]) is recorded as `[REDACTED]`, decided at compile time,
///   unless listed in `unredacted(name, ..)`;
/// - `err` also logs a failed call as one ERROR line inside the span (with the `logging` pillar);
/// - `ret` records the return value as the `return` attribute;
/// - `crate = path`: where `obs_runtime` is.
///
/// It stacks with `#[track_request]` in either order.
///
/// Without the `trace` feature it still checks its arguments, then leaves the function exactly as
/// written.
pub use obs_runtime_macros::trace_operation;

/// Makes an `async fn` a health check, registrable in one line.
///
/// ```
/// use obs_runtime::health::{CheckOutcome, Detail, HealthChecker, HealthStatus};
/// use obs_runtime::health_check;
///
/// #[derive(Clone)]
/// struct Pool { size: u32 }
///
/// /// The database answers, and its pool size is in the report.
/// #[health_check(name = "database", timeout = "2s", critical)]
/// async fn database(pool: Pool) -> Result<CheckOutcome, std::io::Error> {
///     // A real check would run `SELECT 1` on the pool here.
///     Ok(CheckOutcome::healthy().with_detail("connection_pool_size", pool.size))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), obs_runtime::health::HealthError> {
/// let health = HealthChecker::builder().check(database(Pool { size: 10 })).build()?;
/// let report = health.report().await;
/// assert_eq!(report.status, HealthStatus::Healthy);
/// let details = report.checks[0].details.as_ref().expect("details");
/// assert_eq!(details["connection_pool_size"], Detail::U64(10));
/// // What `/health` serves:
/// assert!(report.to_json().contains(r#""details":{"connection_pool_size":10}"#));
/// # Ok(()) }
/// ```
///
/// The function becomes `fn database(pool: Pool) -> HealthCheck`: each run calls the body with
/// clones of the arguments (so they must be `Clone + Send + Sync + 'static`), and its output is
/// turned into the result by [`health::IntoCheckOutcome`] (`Err(e)` is unhealthy with `e` as the
/// message).
///
/// Options, all optional: `name = ".."` (default: the function's name; may also come first as a
/// bare string), `timeout = ".."` (`"500ms"`, `"2s"`, `"1m"`; default 5 s), `critical` or
/// `critical = false` (default critical), `crate = path`. Misuse (not an `async fn`, `self`, a
/// pattern argument, an unknown option, a zero or malformed timeout) is a compile error on the
/// offending token.
#[cfg(feature = "health")]
pub use obs_runtime_macros::health_check;

/// Starts obs with the defaults and the environment: the same as `Obs::builder().init()`.
pub fn init() -> Result<ObsGuard, ConfigError> {
    Obs::builder().init()
}

/// Sets attributes on the current span:
/// `span_attributes!(user_id = user_id, "http.route" = route)`. Numbers, booleans and strings
/// keep their type; anything else is recorded with `Debug`. A key named like a secret
/// (`password`, `token`, `api_key`, ... see [`crate::is_secret_name`]) is recorded as
/// `[REDACTED]`, its value never looked at. Nothing is evaluated when the span does not record.
///
/// ```
/// # let user_id = "12345";
/// obs_runtime::span_attributes!(user_id = user_id, retries = 3, "db.system" = "postgresql");
/// ```
#[cfg(feature = "trace")]
#[macro_export]
macro_rules! span_attributes {
    ($($key:tt = $value:expr),+ $(,)?) => {{
        let __obs_span = $crate::trace::Span::current();
        // By path: a user's trait in scope with `is_recording(self)` would take a method call.
        if $crate::trace::Span::is_recording(&__obs_span) {
            $(
                $crate::__private::set_attribute!(__obs_span, $key, $value);
            )+
        }
    }};
}

/// Without the `trace` feature: nothing (the values are not evaluated).
#[cfg(not(feature = "trace"))]
#[macro_export]
macro_rules! span_attributes {
    ($($key:tt = $value:expr),+ $(,)?) => {{}};
}
