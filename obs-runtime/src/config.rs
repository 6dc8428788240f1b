//! Start-up: one builder, one `init`, one guard.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::core::{AsAny, Context, Part, Pillar};

/// The address the embedded server listens on when neither the builder nor `OBS_HTTP_ADDR` sets one.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:9464";

/// How long stopping may take, all parts together, when neither the builder nor
/// `OBS_SHUTDOWN_TIMEOUT` sets it: well inside the 30 s a container orchestrator waits.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest shutdown timeout accepted.
const MAX_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(600);

/// Configures and starts obs: the service's identity, the embedded server, the shutdown deadline,
/// and the pillars to run. Values set here win over the environment, which wins over defaults
/// (the rule for what is wrong: [`Environment`](crate::Environment)).
///
/// | setting | builder | environment | default |
/// |---|---|---|---|
/// | the service's identity | [`service`](Self::service) | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | `unknown_service:<executable>` |
/// | embedded server address | [`http_addr`](Self::http_addr) | `OBS_HTTP_ADDR` | `127.0.0.1:9464` |
/// | connections per peer | [`max_connections_per_peer`](Self::max_connections_per_peer) | `OBS_HTTP_MAX_CONNECTIONS_PER_PEER` | 16 |
/// | default duration buckets | [`default_buckets`](Self::default_buckets) | | [`metrics::DEFAULT_BUCKETS`](crate::metrics::DEFAULT_BUCKETS) |
/// | shutdown deadline | [`shutdown_timeout`](Self::shutdown_timeout) | `OBS_SHUTDOWN_TIMEOUT` (`500ms`, `10s`, `1m`) | 10 s |
/// | where variables are read | [`environment`](Self::environment) | | the process's |
///
/// ```
/// # fn main() -> Result<(), obs_runtime::ConfigError> {
/// let obs = obs_runtime::Obs::builder()
///     .service("user-service")
///     .http_addr("127.0.0.1:0") // any free port
///     .init()?;
/// let addr = obs.http_addr().expect("the server runs");
/// assert!(addr.port() != 0);
/// assert_eq!(obs.service_name(), "user-service");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ObsBuilder {
    service: crate::Service,
    environment: crate::Environment,
    serve_http: bool,
    server: ServerOptions,
    shutdown_timeout: Option<Duration>,
    /// The pillars to start: those always there with their features (metrics, the OTLP export of
    /// metrics, the live page), and those the builder's methods add (a pillar that can be given
    /// once and was given twice is a `Refused` one, which `init` reports).
    pillars: Vec<Box<dyn Pillar>>,
}

/// The embedded server's settings as given to the builder.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServerOptions {
    pub(crate) addr: Option<String>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_connections_per_peer: Option<Option<usize>>,
    pub(crate) header_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) connection_lifetime: Option<Duration>,
    pub(crate) max_header_bytes: Option<usize>,
}

/// The entry point: `Obs::builder()...init()`, or [`crate::init`] for the defaults.
#[derive(Debug)]
pub struct Obs;

impl Obs {
    /// A builder with every setting at its default (the server on): the same as
    /// `ObsBuilder::default()`.
    pub fn builder() -> ObsBuilder {
        ObsBuilder::default()
    }
}

impl Default for ObsBuilder {
    fn default() -> ObsBuilder {
        ObsBuilder {
            service: crate::Service::default(),
            environment: crate::Environment::default(),
            serve_http: true,
            server: ServerOptions::default(),
            shutdown_timeout: None,
            pillars: vec![
                #[cfg(feature = "metrics")]
                Box::new(crate::metrics::Pillar::default()),
                // Off unless `otlp_metrics` or `OTEL_METRICS_EXPORTER` turns it on.
                #[cfg(all(feature = "metrics", feature = "otlp"))]
                Box::new(crate::metrics::otlp::Pillar::default()),
                #[cfg(feature = "page")]
                Box::new(crate::page::Pillar::default()),
            ],
        }
    }
}

/// The builder's pillars, by type. (Which of these the builder's methods use depends on the
/// features: `metrics` configures its pillar in place, `trace` adds one.)
#[cfg_attr(not(all(feature = "metrics", feature = "trace")), allow(dead_code))]
impl ObsBuilder {
    /// Its pillar of type `P`, added with `P`'s defaults if there is none yet.
    fn pillar<P: Pillar + Default>(&mut self) -> &mut P {
        let at = match self.pillars.iter().position(|pillar| AsAny::as_any(&**pillar).is::<P>()) {
            Some(at) => at,
            None => {
                self.pillars.push(Box::new(P::default()));
                self.pillars.len() - 1
            }
        };
        match AsAny::as_any_mut(&mut *self.pillars[at]).downcast_mut::<P>() {
            Some(pillar) => pillar,
            None => unreachable!("the pillar at {at} is a {}", std::any::type_name::<P>()),
        }
    }

    /// Adds `pillar`, which the builder's method `field` gives: given a second time, `init` says
    /// so, with `why` one is enough (two global subscribers or span pipelines cannot both start;
    /// a second alert manager or health checker would hide the first's rules or checks).
    fn add_once<P: Pillar>(&mut self, pillar: P, field: &'static str, why: &str) {
        if self.pillars.iter().any(|given| AsAny::as_any(&**given).is::<P>()) {
            self.refuse(field, format!("given twice: {why}"));
        } else {
            self.pillars.push(Box::new(pillar));
        }
    }

    /// Makes `init` fail, naming `field`.
    fn refuse(&mut self, field: &'static str, reason: String) {
        self.pillars.push(Box::new(Refused { field, reason }));
    }

    #[cfg(feature = "page")]
    fn remove_pillar<P: Pillar>(&mut self) {
        self.pillars.retain(|pillar| !AsAny::as_any(&**pillar).is::<P>());
    }
}

impl ObsBuilder {
    /// Who is reporting: the service's name (`"user-service"`) or its whole identity
    /// ([`Service`](crate::Service): version, instance, other attributes). Given once, used by
    /// every pillar: the `service` of log lines, the resource of spans, `target_info` on
    /// `/metrics`.
    pub fn service(mut self, service: impl Into<crate::Service>) -> Self {
        self.service = service.into();
        self
    }

    /// Where obs reads its `OBS_*` and `OTEL_*` variables (default: the process's environment).
    /// [`Environment::empty()`](crate::Environment::empty) in a test makes it independent of the
    /// environment it runs in.
    pub fn environment(mut self, environment: crate::Environment) -> Self {
        self.environment = environment;
        self
    }

    /// Where the embedded server listens, as `host:port` (`127.0.0.1:9464`, `[::1]:0`,
    /// `localhost:9464`). Port 0 picks a free port; [`ObsGuard::http_addr`] tells which.
    pub fn http_addr(mut self, addr: impl Into<String>) -> Self {
        self.server.addr = Some(addr.into());
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
        #[cfg(feature = "metrics")]
        {
            self.pillar::<crate::metrics::Pillar>().default_buckets = Some(buckets.to_vec());
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = buckets;
            self.refuse("default_buckets", "the `metrics` feature is off".to_owned());
        }
        self
    }

    /// How many label sets a metric family holds before new ones go to its one overflow series
    /// `{otel_metric_overflow="true"}` (default [`metrics::DEFAULT_SERIES_LIMIT`](crate::metrics::DEFAULT_SERIES_LIMIT),
    /// 2,000; see [`metrics::set_series_limit`](crate::metrics::set_series_limit)). Set at `init`.
    #[cfg(feature = "metrics")]
    pub fn series_limit(mut self, family: impl Into<String>, limit: usize) -> Self {
        self.pillar::<crate::metrics::Pillar>().limits.per_family.push((family.into(), limit));
        self
    }

    /// The series limit of every family without one of its own (default 2,000). Set at `init`.
    #[cfg(feature = "metrics")]
    pub fn default_series_limit(mut self, limit: usize) -> Self {
        self.pillar::<crate::metrics::Pillar>().limits.default = Some(limit);
        self
    }

    /// The most connections the embedded server keeps open at once (default 64, at most 65536).
    /// At the limit, the connection idle longest (or stuck sending headers, or not reading its
    /// response) is closed to admit a newcomer; a newcomer is refused only when every connection
    /// is serving a request.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.server.max_connections = Some(max);
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
        self.server.max_connections_per_peer = Some(max.into());
        self
    }

    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection waits for its next request (default 5 s, at most an hour).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.server.header_timeout = Some(timeout);
        self
    }

    /// How long a response may wait for the client to read it before the connection is closed
    /// (default 10 s, at most an hour): a client that sends requests and never reads the answers
    /// does not keep its connection.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.server.write_timeout = Some(timeout);
        self
    }

    /// The longest a connection stays open, however busy (default 60 s, at most an hour); it is
    /// closed after the request in progress.
    pub fn connection_lifetime(mut self, lifetime: Duration) -> Self {
        self.server.connection_lifetime = Some(lifetime);
        self
    }

    /// The largest request head the server reads, in bytes (default and minimum 8192, at most 1 MiB).
    pub fn max_header_bytes(mut self, max: usize) -> Self {
        self.server.max_header_bytes = Some(max);
        self
    }

    /// The health checks the embedded server serves on `/health` and `/health/ready`
    /// (`/health/live` is always served). Takes a
    /// [`HealthChecker`](crate::health::HealthChecker), its
    /// [builder](crate::health::HealthChecker::builder) or the builder's `build()`, checked with
    /// the rest at `init` (its
    /// `Err` is one naming `health`; so is giving a second checker: one holds every check):
    ///
    /// ```
    /// use obs_runtime::health::{HealthCheck, HealthChecker};
    ///
    /// let database = || HealthCheck::new("database", || async { Ok::<_, std::io::Error>(()) });
    /// let error = obs_runtime::Obs::builder()
    ///     .without_http_server()
    ///     .health(HealthChecker::builder().check(database()).check(database()))
    ///     .init()
    ///     .expect_err("two checks of one name");
    /// assert_eq!(error.to_string(), r#"invalid `health`: a health check named "database" is already registered"#);
    /// ```
    #[cfg(feature = "health")]
    pub fn health(mut self, checker: impl crate::health::IntoHealthChecker) -> Self {
        if self.pillar::<crate::health::Pillar>().checker.replace(checker.into_health_checker()).is_some() {
            self.refuse("health", "given twice: one checker holds every check".to_owned());
        }
        self
    }

    /// How often the health checks run in the background, so that the `health_check_*` gauges
    /// stay current whoever serves `/metrics` (default 10 s, at most an hour; a run still fresh
    /// for the checker's `cache_ttl` is not repeated). Scrapes of the embedded `/metrics` also start
    /// a run when the last report is older than `cache_ttl`; they never wait for one.
    #[cfg(feature = "health")]
    pub fn health_refresh_interval(mut self, interval: Duration) -> Self {
        self.pillar::<crate::health::Pillar>().refresh_interval = Some(interval);
        self
    }

    /// Writes `tracing` events as JSON lines (see [`crate::logging`]), installing obs's subscriber
    /// as the global one. Given twice, `init` is an `Err` naming `logging`.
    #[cfg(feature = "logging")]
    pub fn logging(mut self, config: crate::logging::LoggingConfig) -> Self {
        self.add_once(crate::logging::Pillar::new(config), "logging", "one global subscriber writes every line");
        self
    }

    /// Evaluates these alert rules on their interval and sends their notifications (see
    /// [`crate::alerts`]); the embedded server lists the active alerts at `/alerts`. Takes an
    /// [`AlertManager`](crate::alerts::AlertManager), its builder or the builder's `build()`,
    /// checked with the rest at
    /// `init` (its `Err` is one naming `alerts`; so is giving a second manager: one holds every
    /// rule):
    ///
    /// ```
    /// use obs_runtime::alerts::{AlertManager, Log};
    ///
    /// let error = obs_runtime::Obs::builder()
    ///     .without_http_server()
    ///     .alerts(AlertManager::builder().channel(Log::new()).channel(Log::new()))
    ///     .init()
    ///     .expect_err("two channels of one name");
    /// assert!(error.to_string().starts_with("invalid `alerts`: "), "{error}");
    /// ```
    #[cfg(feature = "alerts")]
    pub fn alerts(mut self, manager: impl crate::alerts::IntoAlertManager) -> Self {
        self.add_once(crate::alerts::Pillar::new(manager), "alerts", "one alert manager holds every rule");
        self
    }

    /// Pushes the registry to `gateway` when obs stops (the guard dropped or stopped), within the
    /// shutdown deadline: for a batch job or a CLI that ends before anyone scrapes it (see
    /// [`crate::metrics::push`]). A push that fails is said and counted
    /// (`obs_internal_errors_total{component="push",reason="push_failed"}`), and the stop is
    /// reported as not in time. Each gateway given is pushed to.
    #[cfg(feature = "push")]
    pub fn pushgateway(mut self, gateway: crate::metrics::push::Pushgateway) -> Self {
        self.pillars.push(Box::new(crate::metrics::push::Pillar::new(gateway)));
        self
    }

    /// Exports the registry over OTLP on an interval (see [`crate::metrics::otlp`]); without
    /// this, `OTEL_METRICS_EXPORTER=otlp` turns the export on with the environment's settings.
    /// `/metrics` is served either way.
    #[cfg(all(feature = "metrics", feature = "otlp"))]
    pub fn otlp_metrics(mut self, export: crate::metrics::otlp::OtlpMetrics) -> Self {
        self.pillar::<crate::metrics::otlp::Pillar>().config = Some(export);
        self
    }

    /// The live page's settings (see [`crate::page`]): served at `/` with the defaults when this
    /// is not called.
    #[cfg(feature = "page")]
    pub fn live_page(mut self, page: crate::page::LivePage) -> Self {
        *self.pillar::<crate::page::Pillar>() = crate::page::Pillar::new(page);
        self
    }

    /// Do not serve the live page (`/` keeps its plain index for every client, and no registry
    /// reading or span ring is kept).
    #[cfg(feature = "page")]
    pub fn without_live_page(mut self) -> Self {
        self.remove_pillar::<crate::page::Pillar>();
        self
    }

    /// Records spans and exports them (see [`crate::trace`]). Given twice, `init` is an `Err`
    /// naming `tracing`.
    #[cfg(feature = "trace")]
    pub fn tracing(mut self, config: crate::trace::TraceConfig) -> Self {
        self.add_once(crate::trace::Pillar::new(config), "tracing", "one span pipeline exports every span");
        self
    }

    /// How long [`ObsGuard::shutdown`] (or dropping the guard) may take, all parts together
    /// (default 10 s, more than zero and at most 10 minutes; `OBS_SHUTDOWN_TIMEOUT` when not
    /// set here). What cannot be delivered by then is dropped and counted.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Checks the configuration and starts what it asks for. An `Err` names what is wrong, and
    /// nothing runs then (what started before the failing part is stopped; the self-metrics of
    /// the pillars may be registered, at zero).
    pub fn init(mut self) -> Result<ObsGuard, ConfigError> {
        let env = &self.environment;
        let shutdown_timeout = shutdown_timeout(self.shutdown_timeout, env)?;
        let mut tolerated = Vec::new();
        let service = std::sync::Arc::new(
            self.service.resolve(env, &mut |variable, instead| tolerated.push(format!("{variable} {instead}")))?,
        );
        let mut pillars = std::mem::take(&mut self.pillars);
        let cx = Context { env, service: &service, serving: self.serve_http };
        for pillar in &mut pillars {
            pillar.prepare(&cx)?;
        }
        for warning in tolerated {
            crate::diagnostics::warn("config", "invalid_env", &warning);
        }
        // Checked before the self-metrics are registered and anything starts.
        #[cfg(feature = "http-server")]
        let server = if self.serve_http { Some(crate::http::settings(&self.server, env)?) } else { None };
        #[cfg(not(feature = "http-server"))]
        if self.serve_http && self.server.addr.is_some() {
            let reason = "the `http-server` feature is off".to_owned();
            return Err(ConfigError::Invalid { field: "http_addr", reason });
        }
        #[cfg(feature = "metrics")]
        for pillar in &pillars {
            pillar.self_metrics(&cx);
        }
        let mut parts: Vec<Box<dyn Part>> = Vec::new();
        #[cfg_attr(not(feature = "http-server"), allow(unused_mut))]
        let mut http_addr = None;
        #[cfg(feature = "http-server")]
        if let Some((addr, limits)) = server {
            let mut routes = crate::http::Routes::default();
            for pillar in &pillars {
                pillar.routes(&mut routes);
            }
            let server = crate::http::Server::start(addr, limits, routes)?;
            http_addr = Some(server.local_addr());
            parts.push(Box::new(server));
        }
        pillars.sort_by_key(|pillar| pillar.rank());
        for pillar in pillars {
            // On an `Err`, what started already is stopped as `parts` drops.
            if let Some(part) = pillar.start(&cx)? {
                parts.push(part);
            }
        }
        Ok(ObsGuard { shutdown_timeout, service, http_addr, parts, environment: self.environment })
    }
}

/// The builder's shutdown timeout, else `OBS_SHUTDOWN_TIMEOUT`'s, else the default; checked.
fn shutdown_timeout(set: Option<Duration>, env: &crate::Environment) -> Result<Duration, ConfigError> {
    use crate::env::OBS_SHUTDOWN_TIMEOUT;
    let (timeout, field) = match set {
        Some(timeout) => (timeout, "shutdown_timeout"),
        None => match env.duration(OBS_SHUTDOWN_TIMEOUT)? {
            None => (DEFAULT_SHUTDOWN_TIMEOUT, "shutdown_timeout"),
            Some(timeout) => (timeout, OBS_SHUTDOWN_TIMEOUT),
        },
    };
    if timeout.is_zero() || timeout > MAX_SHUTDOWN_TIMEOUT {
        return Err(ConfigError::Invalid { field, reason: "must be more than zero and at most 10 minutes".to_owned() });
    }
    Ok(timeout)
}

/// Keeps obs running; dropping it (or [`shutdown`](Self::shutdown)) stops every part at once,
/// within one deadline ([`ObsBuilder::shutdown_timeout`], default 10 s).
#[derive(Debug)]
#[must_use = "dropping the guard stops obs"]
pub struct ObsGuard {
    shutdown_timeout: Duration,
    service: std::sync::Arc<crate::service::Identity>,
    http_addr: Option<SocketAddr>,
    /// What the pillars left running, the embedded server among them.
    parts: Vec<Box<dyn Part>>,
    /// What the configuration read its variables from (for [`ObsGuard::logging_layer`]).
    #[cfg_attr(not(feature = "logging"), allow(dead_code))]
    environment: crate::Environment,
}

impl ObsGuard {
    /// The address the embedded server listens on, if it runs.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The service's name (`service.name`), as resolved from [`ObsBuilder::service`] and the
    /// environment.
    pub fn service_name(&self) -> &str {
        self.service.name()
    }

    /// The running alert manager, if [`ObsBuilder::alerts`] gave one.
    #[cfg(feature = "alerts")]
    pub fn alerts(&self) -> Option<&crate::alerts::AlertManager> {
        crate::core::find::<crate::alerts::AlertsGuard>(&self.parts).map(crate::alerts::AlertsGuard::manager)
    }

    /// The health checker [`ObsBuilder::health`] serves (built from its builder, if it was given
    /// one), to [register](crate::health::HealthChecker::register) checks while it runs or to
    /// ask for a report.
    #[cfg(feature = "health")]
    pub fn health(&self) -> Option<&crate::health::HealthChecker> {
        crate::core::find::<crate::health::Refresher>(&self.parts).map(|refresher| &refresher.checker)
    }

    /// The span pipeline's guard, to flush it or read its counts.
    #[cfg(feature = "trace")]
    pub fn traces(&self) -> Option<&crate::trace::TraceGuard> {
        crate::core::find::<crate::trace::TraceGuard>(&self.parts)
    }

    /// obs's JSON log layer, for a `tracing` subscriber of your own (instead of
    /// [`ObsBuilder::logging`], which installs obs's as the global one): its lines carry this
    /// obs's service name, and its writer stops with this guard, last, like the logging pillar's.
    /// `config`'s filter is not used: your subscriber filters.
    ///
    /// ```
    /// use tracing_subscriber::layer::SubscriberExt as _;
    /// # fn main() -> Result<(), obs_runtime::ConfigError> {
    /// let mut obs = obs_runtime::Obs::builder().service("user-service").without_http_server().init()?;
    /// let layer = obs.logging_layer(obs_runtime::logging::LoggingConfig::new())?;
    /// let subscriber = tracing_subscriber::registry().with(layer);
    /// # drop(subscriber); Ok(()) }
    /// ```
    #[cfg(feature = "logging")]
    pub fn logging_layer(
        &mut self,
        config: crate::logging::LoggingConfig,
    ) -> Result<crate::logging::JsonLayer, ConfigError> {
        let (layer, guard) = crate::logging::layer(config, &self.service, &self.environment)?;
        self.parts.push(Box::new(guard));
        Ok(layer)
    }

    /// The export of the registry over OTLP, if it runs ([`ObsBuilder::otlp_metrics`] or
    /// `OTEL_METRICS_EXPORTER=otlp`): to export now.
    #[cfg(all(feature = "metrics", feature = "otlp"))]
    pub fn metrics_export(&self) -> Option<&crate::metrics::otlp::MetricsExporter> {
        crate::core::find::<crate::metrics::otlp::MetricsExporter>(&self.parts)
    }

    /// The log writer's guard (of [`ObsBuilder::logging`] or the first
    /// [`logging_layer`](Self::logging_layer)), to flush it or read its counts.
    #[cfg(feature = "logging")]
    pub fn logs(&self) -> Option<&crate::logging::LogGuard> {
        crate::core::find::<crate::logging::LogGuard>(&self.parts)
    }

    /// How long [`shutdown`](Self::shutdown) may take ([`ObsBuilder::shutdown_timeout`]).
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Keeps the embedded server running for the rest of the process, without holding the guard
    /// (`let _ = init()?` would drop it, and stop the server, at once).
    ///
    /// The log writer keeps running too; lines still buffered when the process exits are lost,
    /// so a service that logs should keep the guard (or call [`shutdown`](Self::shutdown)).
    pub fn detach(mut self) {
        // Their threads run on; only the handles that would stop them are gone.
        for part in self.parts.drain(..) {
            part.detach();
        }
    }

    /// Stops obs within the [shutdown timeout](ObsBuilder::shutdown_timeout) (default 10 s) from
    /// now, whatever hangs; dropping the guard does the same. See [`shutdown_by`](Self::shutdown_by).
    pub fn shutdown(self) -> bool {
        let deadline = crate::Deadline::after(self.shutdown_timeout);
        self.shutdown_by(deadline)
    }

    /// Stops every part at once, all by `deadline`, and returns by then (plus about 0.1 s)
    /// whatever hangs: a collector or webhook that never answers, a log output that blocks, a
    /// client that holds a connection. `true` if every part finished its work in time; `false` if
    /// something was left (dropped, and counted as below).
    ///
    /// The embedded server is told first to stop accepting; at the same time alerting delivers its
    /// queued notifications, the span exporter exports what is queued and the health refresh
    /// stops. All of them have until shortly before the deadline (the open connections too): the
    /// log writer, stopped last, keeps the last tenth of the time (at most 0.5 s) to write the
    /// lines logged meanwhile. What is not done by the
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
    pub fn shutdown_by(mut self, deadline: crate::Deadline) -> bool {
        crate::core::stop_all(&mut self.parts, deadline)
    }
}

impl Drop for ObsGuard {
    fn drop(&mut self) {
        crate::core::stop_all(&mut self.parts, crate::Deadline::after(self.shutdown_timeout));
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

/// A setting the builder cannot take (its feature is off, or it was given twice): `init` says so.
#[cfg_attr(not(all(feature = "metrics", feature = "trace")), allow(dead_code))]
#[derive(Debug)]
struct Refused {
    field: &'static str,
    reason: String,
}

impl Pillar for Refused {
    fn prepare(&mut self, _: &Context<'_>) -> Result<(), ConfigError> {
        Err(ConfigError::Invalid { field: self.field, reason: std::mem::take(&mut self.reason) })
    }

    fn start(self: Box<Self>, _: &Context<'_>) -> Result<Option<Box<dyn Part>>, ConfigError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ObsBuilder {
        Obs::builder().without_http_server().environment(crate::Environment::empty())
    }

    /// The field an `init` that fails names.
    fn refused(builder: ObsBuilder) -> &'static str {
        refused_because(builder).0
    }

    /// The field an `init` that fails names, and why.
    fn refused_because(builder: ObsBuilder) -> (&'static str, String) {
        match builder.init() {
            Err(ConfigError::Invalid { field, reason }) => (field, reason),
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    /// Refused, naming `field`, for being given twice (not for another reason of the same field).
    #[cfg_attr(
        not(any(feature = "trace", feature = "logging", feature = "alerts", feature = "health")),
        allow(dead_code)
    )]
    fn refused_as_twice(builder: ObsBuilder, field: &str) {
        let (named, reason) = refused_because(builder);
        assert_eq!(named, field);
        assert!(reason.starts_with("given twice: "), "{reason}");
    }

    #[test]
    fn a_shutdown_timeout_is_more_than_zero_and_at_most_ten_minutes() {
        assert_eq!(refused(builder().shutdown_timeout(Duration::ZERO)), "shutdown_timeout");
        assert_eq!(refused(builder().shutdown_timeout(Duration::from_secs(601))), "shutdown_timeout");
        let obs = builder().shutdown_timeout(Duration::from_secs(600)).init().expect("ten minutes");
        assert_eq!(obs.shutdown_timeout(), Duration::from_secs(600));
    }

    #[cfg(feature = "health")]
    #[test]
    fn a_refresh_interval_needs_health_checks_given_before_or_after_it() {
        let hour = Duration::from_secs(3600);
        assert_eq!(refused(builder().health_refresh_interval(hour)), "health_refresh_interval");
        let checks = || crate::health::HealthChecker::new();
        assert_eq!(
            refused(builder().health(checks()).health_refresh_interval(Duration::ZERO)),
            "health_refresh_interval"
        );
        drop(builder().health_refresh_interval(hour).health(checks()).init().expect("interval first"));
        drop(builder().health(checks()).health_refresh_interval(hour).init().expect("checks first"));
        let check = || crate::health::HealthCheck::new("db", || async { Ok::<_, std::io::Error>(()) });
        let twice = crate::health::HealthChecker::builder().check(check()).check(check());
        assert_eq!(refused(builder().health(twice)), "health");
    }

    /// A second alert manager, span pipeline or log pipeline is refused at `init`, before
    /// anything starts (a second manager would hide the first's rules; two global subscribers
    /// or span pipelines cannot both start).
    #[test]
    fn a_pillar_given_twice_is_refused_naming_it() {
        #[cfg(feature = "alerts")]
        {
            use crate::alerts::AlertManager;
            let twice = builder().alerts(AlertManager::builder()).alerts(AlertManager::builder());
            refused_as_twice(twice, "alerts");
            let once = builder().alerts(AlertManager::builder()).init().expect("one manager");
            assert!(once.alerts().is_some());
        }
        #[cfg(feature = "trace")]
        {
            use crate::trace::TraceConfig;
            refused_as_twice(builder().tracing(TraceConfig::new()).tracing(TraceConfig::new()), "tracing");
        }
        #[cfg(feature = "logging")]
        {
            use crate::logging::LoggingConfig;
            refused_as_twice(builder().logging(LoggingConfig::new()).logging(LoggingConfig::new()), "logging");
        }
    }

    /// The checker served is the one built from the builder given, and takes checks while it runs.
    #[cfg(feature = "health")]
    #[test]
    fn the_guard_hands_out_the_checker_it_serves() {
        use crate::health::{HealthCheck, HealthChecker};
        let check = |name: &str| HealthCheck::new(name, || async { Ok::<_, std::io::Error>(()) });
        let obs = builder().health(HealthChecker::builder().check(check("db"))).init().expect("starts");
        let checker = obs.health().expect("served");
        checker.register(check("cache")).expect("a new name");
        assert_eq!(checker.names(), ["db", "cache"]);
        assert!(builder().init().expect("starts").health().is_none());
        refused_as_twice(builder().health(HealthChecker::builder()).health(HealthChecker::builder()), "health");
        // `build()`'s `Result`, as the builder: served when `Ok`.
        let built = HealthChecker::builder().check(check("db")).build();
        let obs = builder().health(built).init().expect("starts");
        assert_eq!(obs.health().expect("served").names(), ["db"]);
    }

    #[cfg(feature = "page")]
    #[test]
    fn the_page_given_after_it_was_taken_away_is_served() {
        let has_page = |builder: &ObsBuilder| {
            builder.pillars.iter().filter(|pillar| AsAny::as_any(&***pillar).is::<crate::page::Pillar>()).count()
        };
        assert_eq!(has_page(&Obs::builder()), 1, "on by default");
        assert_eq!(has_page(&Obs::builder().without_live_page()), 0);
        assert_eq!(has_page(&Obs::builder().without_live_page().live_page(crate::page::LivePage::new())), 1);
        assert_eq!(has_page(&Obs::builder().live_page(crate::page::LivePage::new())), 1, "replaced, not added");
    }

    #[cfg(not(feature = "metrics"))]
    #[test]
    fn default_buckets_without_the_metrics_feature_are_refused() {
        assert_eq!(refused(builder().default_buckets(&[0.1, 1.0])), "default_buckets");
    }
}
