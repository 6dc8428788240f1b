//! Start-up: one builder, one `init`, one guard.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The address the embedded server listens on when neither the builder nor `OBS_HTTP_ADDR` sets one.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:9464";

/// Configures and starts obs. Values set here win over the environment, which wins over defaults.
///
/// | setting | builder | environment | default |
/// |---|---|---|---|
/// | embedded server address | [`http_addr`](Self::http_addr) | `OBS_HTTP_ADDR` | `127.0.0.1:9464` |
/// | default duration buckets | [`default_buckets`](Self::default_buckets) | | [`metrics::DEFAULT_BUCKETS`](crate::metrics::DEFAULT_BUCKETS) |
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
    header_timeout: Option<Duration>,
    max_header_bytes: Option<usize>,
    #[cfg(feature = "health")]
    health: Option<crate::health::HealthChecker>,
    #[cfg(feature = "logging")]
    logging: Option<crate::logging::LoggingConfig>,
    #[cfg(feature = "trace")]
    tracing: Option<crate::trace::TraceConfig>,
    #[cfg(feature = "alerts")]
    alerts: Option<crate::alerts::AlertManager>,
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
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// How long a client may take to send a request's headers (default 5 s, at most an hour).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = Some(timeout);
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

    /// Checks the configuration and starts what it asks for.
    #[cfg_attr(not(any(feature = "logging", feature = "trace")), allow(unused_mut))]
    pub fn init(mut self) -> Result<ObsGuard, ConfigError> {
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
            server,
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
            None => match std::env::var("OBS_HTTP_ADDR") {
                Ok(addr) => (addr, "OBS_HTTP_ADDR"),
                Err(std::env::VarError::NotPresent) => (DEFAULT_HTTP_ADDR.to_owned(), "http_addr"),
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(ConfigError::Invalid { field: "OBS_HTTP_ADDR", reason: "not UTF-8".to_owned() });
                }
            },
        };
        let addr = resolve(&addr, field)?;
        let limits = crate::http::Limits {
            max_connections: self.max_connections.unwrap_or(64),
            header_timeout: self.header_timeout.unwrap_or(Duration::from_secs(5)),
            max_header_bytes: self.max_header_bytes.unwrap_or(crate::http::MIN_HEADER_BYTES),
        };
        use crate::http::{MAX_CONNECTIONS, MAX_HEADER_BYTES, MAX_HEADER_TIMEOUT, MIN_HEADER_BYTES};
        let invalid = |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
        if !(1..=MAX_CONNECTIONS).contains(&limits.max_connections) {
            return invalid("max_connections", format!("must be from 1 to {MAX_CONNECTIONS}"));
        }
        if limits.header_timeout.is_zero() || limits.header_timeout > MAX_HEADER_TIMEOUT {
            return invalid("header_timeout", format!("must be more than zero and at most {MAX_HEADER_TIMEOUT:?}"));
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

/// Keeps obs running; dropping it (or [`shutdown`](Self::shutdown)) stops the embedded server,
/// bounded in time.
#[derive(Debug)]
#[must_use = "dropping the guard stops the embedded server"]
pub struct ObsGuard {
    #[cfg(feature = "http-server")]
    server: Option<crate::http::Server>,
    #[cfg(not(feature = "http-server"))]
    server: Option<()>,
    /// Stopped after the server, before the spans and logs: its last notifications go out.
    #[cfg(feature = "alerts")]
    alerts: Option<crate::alerts::AlertsGuard>,
    /// Dropped after the server (fields drop in order): the last spans are exported.
    #[cfg(feature = "trace")]
    traces: Option<crate::trace::TraceGuard>,
    /// Dropped after the server (fields drop in order), so its last lines are written.
    #[cfg(feature = "logging")]
    logs: Option<crate::logging::LogGuard>,
}

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

    /// Keeps the embedded server running for the rest of the process, as the chapter's
    /// `start_http_server` does, without holding the guard (`let _ = init()?` would drop it, and
    /// stop the server, at once).
    ///
    /// The log writer keeps running too; lines still buffered when the process exits are lost,
    /// so a service that logs should keep the guard (or call [`shutdown`](Self::shutdown)).
    pub fn detach(self) {
        #[cfg(feature = "http-server")]
        if let Some(server) = self.server {
            // Its thread runs on; only the handle that would stop it is gone.
            std::mem::forget(server);
        }
        #[cfg(feature = "alerts")]
        if let Some(alerts) = self.alerts {
            std::mem::forget(alerts);
        }
        #[cfg(feature = "trace")]
        if let Some(traces) = self.traces {
            std::mem::forget(traces);
        }
        #[cfg(feature = "logging")]
        if let Some(logs) = self.logs {
            std::mem::forget(logs);
        }
        #[cfg(not(any(feature = "http-server", feature = "logging", feature = "trace")))]
        let _ = self;
    }

    /// Stops the embedded server: no new connections, open ones finish their request, at most
    /// about two seconds. It blocks the calling thread for that long at most: in async code, call
    /// it after the runtime has stopped, or from `spawn_blocking`. Dropping the guard does the same.
    pub fn shutdown(mut self) {
        #[cfg(feature = "http-server")]
        if let Some(server) = self.server.as_mut() {
            server.shutdown(crate::http::SHUTDOWN_GRACE);
        }
        self.server = None;
        // Then alerting: queued notifications are delivered (at most 10 s).
        #[cfg(feature = "alerts")]
        drop(self.alerts.take());
        // Then the spans: what is queued is exported (bounded by the export timeout).
        #[cfg(feature = "trace")]
        drop(self.traces.take());
        // Then the logs: what is buffered is written (at most 5 s).
        #[cfg(feature = "logging")]
        drop(self.logs.take());
    }
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
