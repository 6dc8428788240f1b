//! Start-up: one builder, one `init`, one guard.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The address the embedded server listens on when neither the builder nor `OBS_HTTP_ADDR` sets one.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:9464";

/// How long stopping may take, all parts together, when neither the builder nor
/// `OBS_SHUTDOWN_TIMEOUT` sets it: well inside the 30 s a container orchestrator waits.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest shutdown timeout accepted.
const MAX_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(600);

/// Configures and starts obs. Values set here win over the environment, which wins over defaults.
///
/// | setting | builder | environment | default |
/// |---|---|---|---|
/// | embedded server address | [`http_addr`](Self::http_addr) | `OBS_HTTP_ADDR` | `127.0.0.1:9464` |
/// | default duration buckets | [`default_buckets`](Self::default_buckets) | | [`metrics::DEFAULT_BUCKETS`](crate::metrics::DEFAULT_BUCKETS) |
/// | shutdown deadline | [`shutdown_timeout`](Self::shutdown_timeout) | `OBS_SHUTDOWN_TIMEOUT` (`500ms`, `10s`, `1m`) | 10 s |
///
/// ```
/// # fn main() -> Result<(), obs_runtime::ConfigError> {
/// let obs = obs_runtime::Obs::builder()
///     .http_addr("127.0.0.1:0") // any free port
///     .init()?;
/// let addr = obs.http_addr().expect("the server runs");
/// assert!(addr.port() != 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct ObsBuilder {
    http_addr: Option<String>,
    serve_http: bool,
    default_buckets: Option<Vec<f64>>,
    max_connections: Option<usize>,
    max_connections_per_peer: Option<Option<usize>>,
    header_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    connection_lifetime: Option<Duration>,
    max_header_bytes: Option<usize>,
    #[cfg(feature = "health")]
    health: Option<crate::health::HealthChecker>,
    #[cfg(feature = "health")]
    health_refresh_interval: Option<Duration>,
    #[cfg(feature = "logging")]
    logging: Option<crate::logging::LoggingConfig>,
    #[cfg(feature = "trace")]
    tracing: Option<crate::trace::TraceConfig>,
    #[cfg(feature = "alerts")]
    alerts: Option<crate::alerts::AlertManager>,
    shutdown_timeout: Option<Duration>,
}

/// The entry point: `Obs::builder()...init()`, or [`crate::init`] for the defaults.
#[derive(Debug)]
pub struct Obs;

impl Obs {
    /// A builder with every setting at its default (the server on).
    pub fn builder() -> ObsBuilder {
        ObsBuilder { serve_http: true, ..ObsBuilder::default() }
    }
}

impl ObsBuilder {
    /// Where the embedded server listens, as `host:port` (`127.0.0.1:9464`, `[::1]:0`,
    /// `localhost:9464`). Port 0 picks a free port; [`ObsGuard::http_addr`] tells which.
    pub fn http_addr(mut self, addr: impl Into<String>) -> Self {
        self.http_addr = Some(addr.into());
        self
    }

    /// Do not start the embedded server (serve [`crate::metrics::encode`] from your own).
    pub fn without_http_server(mut self) -> Self {
        self.serve_http = false;
        self
    }

    /// The buckets, in seconds, of request-duration histograms whose call site sets none. Applies
    /// to series first called after `init`.
    pub fn default_buckets(mut self, buckets: &[f64]) -> Self {
        self.default_buckets = Some(buckets.to_vec());
        self
    }

    /// The most connections the embedded server keeps open at once (default 64, at most 65536).
    /// At the limit, the connection idle longest (or stuck sending headers, or not reading its
    /// response) is closed to admit a newcomer; a newcomer is refused only when every connection
    /// is serving a request.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// The most connections one peer address may hold open at once (default 16; `None` for no
    /// cap, as behind a sidecar proxy where every peer is `127.0.0.1`). At the cap, that peer's own
    /// idle or stalled connection makes room, or the newcomer is refused. Overrides
    /// `OBS_HTTP_MAX_CONNECTIONS_PER_PEER` (`0` there means no cap).
    ///
    /// ```
    /// # fn main() -> Result<(), obs_runtime::ConfigError> {
    /// let behind_a_proxy = obs_runtime::Obs::builder().http_addr("127.0.0.1:0").max_connections_per_peer(None).init()?;
    /// let capped = obs_runtime::Obs::builder().http_addr("127.0.0.1:0").max_connections_per_peer(4).init()?;
    /// # drop((behind_a_proxy, capped)); Ok(()) }
    /// ```
    pub fn max_connections_per_peer(mut self, max: impl Into<Option<usize>>) -> Self {
        self.max_connections_per_peer = Some(max.into());
        self
    }

    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection waits for its next request (default 5 s, at most an hour).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = Some(timeout);
        self
    }

    /// How long a response may wait for the client to read it before the connection is closed
    /// (default 10 s, at most an hour): a client that sends requests and never reads the answers
    /// does not keep its connection.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = Some(timeout);
        self
    }

    /// The longest a connection stays open, however busy (default 60 s, at most an hour); it is
    /// closed after the request in progress.
    pub fn connection_lifetime(mut self, lifetime: Duration) -> Self {
        self.connection_lifetime = Some(lifetime);
        self
    }

    /// The largest request head the server reads, in bytes (default and minimum 8192, at most 1 MiB).
    pub fn max_header_bytes(mut self, max: usize) -> Self {
        self.max_header_bytes = Some(max);
        self
    }

    /// The health checks the embedded server serves on `/health`, `/health/ready` and
    /// `/health/live` (without it, only `/health/live`).
    #[cfg(feature = "health")]
    pub fn health(mut self, checker: crate::health::HealthChecker) -> Self {
        self.health = Some(checker);
        self
    }

    /// Writes `tracing` events as JSON lines (see [`crate::logging`]), installing obs's subscriber
    /// as the global one.
    #[cfg(feature = "logging")]
    pub fn logging(mut self, config: crate::logging::LoggingConfig) -> Self {
        self.logging = Some(config);
        self
    }

    /// How often the health checks run in the background, so that the `health_check_*` gauges
    /// stay current whoever serves `/metrics` (default 10 s, at most an hour; a run still fresh
    /// for the checker's `cache_ttl` is not repeated). Scrapes of the embedded `/metrics` also start
    /// a run when the last report is older than `cache_ttl`; they never wait for one.
    #[cfg(feature = "health")]
    pub fn health_refresh_interval(mut self, interval: Duration) -> Self {
        self.health_refresh_interval = Some(interval);
        self
    }

    /// Evaluates these alert rules on their interval and sends their notifications (see
    /// [`crate::alerts`]); the embedded server lists the active alerts at `/alerts`.
    #[cfg(feature = "alerts")]
    pub fn alerts(mut self, manager: crate::alerts::AlertManager) -> Self {
        self.alerts = Some(manager);
        self
    }

    /// Records spans and exports them (see [`crate::trace`]).
    #[cfg(feature = "trace")]
    pub fn tracing(mut self, config: crate::trace::TraceConfig) -> Self {
        self.tracing = Some(config);
        self
    }

    /// How long [`ObsGuard::shutdown`] (or dropping the guard) may take, all parts together
    /// (default 10 s, more than zero and at most 10 minutes; `OBS_SHUTDOWN_TIMEOUT` when not
    /// set here). What cannot be delivered by then is dropped and counted.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Checks the configuration and starts what it asks for.
    #[cfg_attr(not(any(feature = "logging", feature = "trace")), allow(unused_mut))]
    pub fn init(mut self) -> Result<ObsGuard, ConfigError> {
        let shutdown_timeout = shutdown_timeout(self.shutdown_timeout)?;
        #[cfg(feature = "metrics")]
        if let Some(buckets) = &self.default_buckets {
            crate::metrics::check_request_buckets(buckets)
                .map_err(|error| ConfigError::Invalid { field: "default_buckets", reason: error.to_string() })?;
        }
        #[cfg(not(feature = "metrics"))]
        if self.default_buckets.is_some() {
            return Err(ConfigError::Invalid {
                field: "default_buckets",
                reason: "the `metrics` feature is off".to_owned(),
            });
        }
        #[cfg(feature = "metrics")]
        crate::metrics::warm_up();
        #[cfg(all(feature = "health", feature = "metrics"))]
        if self.health.is_some() {
            crate::health::register_metrics();
        }
        // The first report is under way before the first scrape asks for it.
        #[cfg(feature = "health")]
        let health_refresh = match (&self.health, self.health_refresh_interval) {
            (_, Some(interval)) if interval.is_zero() || interval > Duration::from_secs(3600) => {
                return Err(ConfigError::Invalid {
                    field: "health_refresh_interval",
                    reason: "must be more than zero and at most an hour".to_owned(),
                });
            }
            (Some(checker), interval) => {
                Some(checker.refresh_every(interval.unwrap_or(crate::health::DEFAULT_REFRESH_INTERVAL)))
            }
            (None, _) => None,
        };
        #[cfg(feature = "trace")]
        let traces = self.tracing.take().map(crate::trace::TraceConfig::prepare).transpose()?;
        let server = if self.serve_http { self.start_server()? } else { None };
        #[cfg(feature = "trace")]
        let traces = traces.map(|traces| traces.install()).transpose()?;
        #[cfg(feature = "alerts")]
        let alerts = self
            .alerts
            .as_ref()
            .map(crate::alerts::AlertManager::start)
            .transpose()
            .map_err(|error| ConfigError::Invalid { field: "alerts", reason: error.to_string() })?;
        // Last: it installs the global subscriber, which cannot be taken back.
        #[cfg(feature = "logging")]
        let logs = self.logging.take().map(crate::logging::install).transpose()?;
        // Only once nothing can fail any more: an `Err` from `init` changes nothing.
        #[cfg(feature = "metrics")]
        if let Some(buckets) = &self.default_buckets {
            crate::metrics::set_default_buckets(buckets)
                .map_err(|error| ConfigError::Invalid { field: "default_buckets", reason: error.to_string() })?;
        }
        Ok(ObsGuard {
            shutdown_timeout,
            server,
            #[cfg(feature = "health")]
            health_refresh,
            #[cfg(feature = "alerts")]
            alerts,
            #[cfg(feature = "trace")]
            traces,
            #[cfg(feature = "logging")]
            logs,
        })
    }

    #[cfg(feature = "http-server")]
    fn start_server(&self) -> Result<Option<crate::http::Server>, ConfigError> {
        let (addr, field) = match &self.http_addr {
            Some(addr) => (addr.clone(), "http_addr"),
            None => match obs_var("OBS_HTTP_ADDR")? {
                Some(addr) => (addr, "OBS_HTTP_ADDR"),
                None => (DEFAULT_HTTP_ADDR.to_owned(), "http_addr"),
            },
        };
        let addr = resolve(&addr, field)?;
        use crate::http::{self as server, MAX_CONNECTIONS, MAX_HEADER_BYTES, MAX_TIMEOUT, MIN_HEADER_BYTES};
        let max_connections_per_peer = match self.max_connections_per_peer {
            Some(max) => max,
            None => per_peer_from_env()?,
        };
        let limits = server::Limits {
            max_connections: self.max_connections.unwrap_or(server::DEFAULT_MAX_CONNECTIONS),
            max_connections_per_peer,
            header_timeout: self.header_timeout.unwrap_or(server::DEFAULT_HEADER_TIMEOUT),
            write_timeout: self.write_timeout.unwrap_or(server::DEFAULT_WRITE_TIMEOUT),
            connection_lifetime: self.connection_lifetime.unwrap_or(server::DEFAULT_CONNECTION_LIFETIME),
            max_header_bytes: self.max_header_bytes.unwrap_or(MIN_HEADER_BYTES),
        };
        let invalid = |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
        if !(1..=MAX_CONNECTIONS).contains(&limits.max_connections) {
            return invalid("max_connections", format!("must be from 1 to {MAX_CONNECTIONS}"));
        }
        if let Some(max) = limits.max_connections_per_peer
            && !(1..=MAX_CONNECTIONS).contains(&max)
        {
            return invalid("max_connections_per_peer", format!("must be from 1 to {MAX_CONNECTIONS}, or None"));
        }
        for (field, timeout) in [
            ("header_timeout", limits.header_timeout),
            ("write_timeout", limits.write_timeout),
            ("connection_lifetime", limits.connection_lifetime),
        ] {
            if timeout.is_zero() || timeout > MAX_TIMEOUT {
                return invalid(field, format!("must be more than zero and at most {MAX_TIMEOUT:?}"));
            }
        }
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&limits.max_header_bytes) {
            return invalid("max_header_bytes", format!("must be from {MIN_HEADER_BYTES} to {MAX_HEADER_BYTES}"));
        }
        let routes = crate::http::Routes {
            #[cfg(feature = "health")]
            health: self.health.clone(),
            #[cfg(feature = "alerts")]
            alerts: self.alerts.clone(),
        };
        crate::http::Server::start(addr, limits, routes).map(Some)
    }

    #[cfg(not(feature = "http-server"))]
    fn start_server(&self) -> Result<Option<()>, ConfigError> {
        if self.http_addr.is_some() {
            return Err(ConfigError::Invalid {
                field: "http_addr",
                reason: "the `http-server` feature is off".to_owned(),
            });
        }
        Ok(None)
    }
}

/// `OBS_HTTP_MAX_CONNECTIONS_PER_PEER`: a count, `0` for no cap; unset: the default.
#[cfg(feature = "http-server")]
fn per_peer_from_env() -> Result<Option<usize>, ConfigError> {
    const VARIABLE: &str = "OBS_HTTP_MAX_CONNECTIONS_PER_PEER";
    let invalid = |reason: &str| ConfigError::Invalid { field: VARIABLE, reason: reason.to_owned() };
    match obs_var(VARIABLE)? {
        None => Ok(Some(crate::http::DEFAULT_MAX_CONNECTIONS_PER_PEER)),
        Some(value) => match value.trim().parse::<usize>() {
            Ok(0) => Ok(None),
            Ok(max) if max <= crate::http::MAX_CONNECTIONS => Ok(Some(max)),
            Ok(_) => Err(invalid("more than 65536")),
            Err(_) => Err(invalid("not a whole number (0 for no cap)")),
        },
    }
}

/// An `OBS_*` variable: `None` when unset, an `Err` naming it when it is not UTF-8.
fn obs_var(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(ConfigError::Invalid { field: name, reason: "not UTF-8".to_owned() })
        }
    }
}

/// The builder's shutdown timeout, else `OBS_SHUTDOWN_TIMEOUT`'s, else the default; checked.
fn shutdown_timeout(set: Option<Duration>) -> Result<Duration, ConfigError> {
    const VARIABLE: &str = "OBS_SHUTDOWN_TIMEOUT";
    let (timeout, field) = match set {
        Some(timeout) => (timeout, "shutdown_timeout"),
        None => match obs_var(VARIABLE)? {
            None => (DEFAULT_SHUTDOWN_TIMEOUT, "shutdown_timeout"),
            // The value is not shown: the variables' errors never echo them.
            Some(text) => match crate::duration::parse(&text) {
                Some(timeout) => (timeout, VARIABLE),
                None => {
                    let reason = "not a duration (500ms, 10s, 1m)".to_owned();
                    return Err(ConfigError::Invalid { field: VARIABLE, reason });
                }
            },
        },
    };
    if timeout.is_zero() || timeout > MAX_SHUTDOWN_TIMEOUT {
        return Err(ConfigError::Invalid { field, reason: "must be more than zero and at most 10 minutes".to_owned() });
    }
    Ok(timeout)
}

#[cfg(feature = "http-server")]
fn resolve(addr: &str, field: &'static str) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs as _;
    let invalid = |reason: String| ConfigError::Invalid { field, reason: format!("{addr:?}: {reason}") };
    if let Ok(addr) = addr.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !addr.contains(':') {
        return Err(invalid("expected host:port, e.g. 127.0.0.1:9464".to_owned()));
    }
    addr.to_socket_addrs()
        .map_err(|error| invalid(error.to_string()))?
        .next()
        .ok_or_else(|| invalid("resolves to no address".to_owned()))
}

/// Keeps obs running; dropping it (or [`shutdown`](Self::shutdown)) stops every part at once,
/// within one deadline ([`ObsBuilder::shutdown_timeout`], default 10 s).
#[derive(Debug)]
#[must_use = "dropping the guard stops obs"]
pub struct ObsGuard {
    shutdown_timeout: Duration,
    /// Stopped first: no new connections.
    #[cfg(feature = "http-server")]
    server: Option<crate::http::Server>,
    #[cfg(not(feature = "http-server"))]
    server: Option<()>,
    /// Runs the health checks in the background until dropped.
    #[cfg(feature = "health")]
    health_refresh: Option<crate::health::Refresher>,
    /// Delivers its queued notifications while the spans are exported.
    #[cfg(feature = "alerts")]
    alerts: Option<crate::alerts::AlertsGuard>,
    #[cfg(feature = "trace")]
    traces: Option<crate::trace::TraceGuard>,
    /// Closed last, so that the lines the others log while they stop are written.
    #[cfg(feature = "logging")]
    logs: Option<crate::logging::LogGuard>,
}

/// The end of the shutdown budget the log writer keeps to itself (a tenth, at most this).
const LOG_SHARE: Duration = Duration::from_millis(500);

impl ObsGuard {
    /// The address the embedded server listens on, if it runs.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "http-server")]
        return self.server.as_ref().map(crate::http::Server::local_addr);
        #[cfg(not(feature = "http-server"))]
        return None;
    }

    /// The running alert manager, if [`ObsBuilder::alerts`] gave one.
    #[cfg(feature = "alerts")]
    pub fn alerts(&self) -> Option<&crate::alerts::AlertManager> {
        self.alerts.as_ref().map(crate::alerts::AlertsGuard::manager)
    }

    /// The span pipeline's guard, to flush it or read its counts.
    #[cfg(feature = "trace")]
    pub fn traces(&self) -> Option<&crate::trace::TraceGuard> {
        self.traces.as_ref()
    }

    /// How long [`shutdown`](Self::shutdown) may take ([`ObsBuilder::shutdown_timeout`]).
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Keeps the embedded server running for the rest of the process, as the chapter's
    /// `start_http_server` does, without holding the guard (`let _ = init()?` would drop it, and
    /// stop the server, at once).
    ///
    /// The log writer keeps running too; lines still buffered when the process exits are lost,
    /// so a service that logs should keep the guard (or call [`shutdown`](Self::shutdown)).
    pub fn detach(mut self) {
        // Their threads run on; only the handles that would stop them are gone.
        #[cfg(feature = "http-server")]
        std::mem::forget(self.server.take());
        #[cfg(feature = "alerts")]
        std::mem::forget(self.alerts.take());
        #[cfg(feature = "trace")]
        std::mem::forget(self.traces.take());
        #[cfg(feature = "logging")]
        std::mem::forget(self.logs.take());
        #[cfg(feature = "health")]
        std::mem::forget(self.health_refresh.take());
        #[cfg(not(feature = "http-server"))]
        self.server.take();
    }

    /// Stops obs within the [shutdown timeout](ObsBuilder::shutdown_timeout) (default 10 s) from
    /// now, whatever hangs; dropping the guard does the same. See [`shutdown_by`](Self::shutdown_by).
    pub fn shutdown(self) {
        let deadline = crate::Deadline::after(self.shutdown_timeout);
        self.shutdown_by(deadline);
    }

    /// Stops every part at once, all by `deadline`, and returns by then (plus about 0.1 s)
    /// whatever hangs: a collector or webhook that never answers, a log output that blocks, a
    /// client that holds a connection.
    ///
    /// The embedded server stops accepting first, and gives open connections until the deadline.
    /// At the same time alerting delivers its queued notifications and the span exporter exports
    /// what is queued, both until shortly before the deadline; the log writer keeps the last tenth
    /// of the time (at most 0.5 s) to write the lines logged meanwhile. What is not done by the
    /// deadline is dropped and counted: `obs_alert_notifications_failed_total`,
    /// `obs_spans_dropped_total{reason="shutdown"}`, `obs_log_lines_dropped_total{reason="shutdown"}`.
    ///
    /// It blocks the calling thread: in async code, call it after the runtime has stopped, or from
    /// `spawn_blocking`. A service that also drains its own requests on a signal can give both one
    /// budget:
    ///
    /// ```no_run
    /// # fn main() -> Result<(), obs_runtime::ConfigError> {
    /// let obs = obs_runtime::Obs::builder().init()?;
    /// // ... on SIGTERM:
    /// let deadline = obs_runtime::Deadline::after(obs.shutdown_timeout());
    /// // ... the app's own requests finish (by a part of the deadline) ...
    /// obs.shutdown_by(deadline);
    /// # Ok(()) }
    /// ```
    pub fn shutdown_by(mut self, deadline: crate::Deadline) {
        self.stop(deadline);
    }

    fn stop(&mut self, deadline: crate::Deadline) {
        let parts = deadline.earlier_by((deadline.remaining() / 10).min(LOG_SHARE));
        // The server first: it stops accepting at once, then waits for its open connections on a
        // thread of its own while the others stop.
        #[cfg(feature = "http-server")]
        let server = self.server.take().map(|mut server| in_background(move || server.shutdown(parts)));
        #[cfg(not(feature = "http-server"))]
        self.server.take();
        #[cfg(not(any(feature = "http-server", feature = "alerts", feature = "trace")))]
        let _ = parts;
        // Alerting and the span exporter are told together; each then gets the time left.
        #[cfg(feature = "alerts")]
        let mut alerts = self.alerts.take();
        #[cfg(feature = "alerts")]
        if let Some(alerts) = &mut alerts {
            alerts.signal_stop(parts);
        }
        #[cfg(feature = "trace")]
        let mut traces = self.traces.take();
        #[cfg(feature = "trace")]
        if let Some(traces) = &traces {
            traces.signal_stop(parts);
        }
        #[cfg(feature = "alerts")]
        if let Some(alerts) = &mut alerts {
            alerts.wait_stopped(parts);
        }
        #[cfg(feature = "trace")]
        if let Some(traces) = &mut traces {
            traces.wait_stopped(parts);
        }
        #[cfg(feature = "http-server")]
        if let Some(server) = server {
            let _ = server.recv_timeout(parts.with_grace().remaining());
        }
        // The logs last: what the others logged is buffered; it is written by the deadline.
        #[cfg(feature = "logging")]
        if let Some(mut logs) = self.logs.take() {
            logs.stop(deadline);
        }
    }
}

impl Drop for ObsGuard {
    fn drop(&mut self) {
        self.stop(crate::Deadline::after(self.shutdown_timeout));
    }
}

/// Runs `job` on a thread of its own (here if none can be started); the receiver is disconnected
/// when it is done.
#[cfg(feature = "http-server")]
fn in_background(job: impl FnOnce() + Send + 'static) -> std::sync::mpsc::Receiver<()> {
    use std::sync::{Arc, Mutex, PoisonError};
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let job = Arc::new(Mutex::new(Some(job)));
    let theirs = job.clone();
    let spawned = std::thread::Builder::new().name("obs-stop".into()).spawn(move || {
        let job = theirs.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(job) = job {
            job();
        }
        drop(done);
    });
    if spawned.is_err() {
        let job = job.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(job) = job {
            job();
        }
    }
    finished
}

/// Why obs could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting's value is wrong. `field` names the builder method or environment variable.
    Invalid {
        /// The builder method or environment variable.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The embedded server could not listen on its address (taken, or not allowed).
    HttpBind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The embedded server's thread or runtime could not be started.
    ServerThread(std::io::Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid { field, reason } => write!(f, "invalid `{field}`: {reason}"),
            ConfigError::HttpBind { addr, source } => {
                write!(f, "the obs HTTP server cannot listen on {addr}: {source}")
            }
            ConfigError::ServerThread(source) => write!(f, "the obs HTTP server cannot start: {source}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::HttpBind { source, .. } | ConfigError::ServerThread(source) => Some(source),
            ConfigError::Invalid { .. } => None,
        }
    }
}
