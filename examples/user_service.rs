//! A user service with every pillar of obs: an axum app whose handlers get Prometheus RED metrics
//! from one attribute each, with `/metrics` served by obs on a port of its own.
//!
//! Run it:
//!
//! ```text
//! cargo run --example user_service
//! # app listening on http://127.0.0.1:8080
//! # metrics on http://127.0.0.1:9464/metrics
//! ```
//!
//! `APP_ADDR` (default `127.0.0.1:8080`) and `OBS_HTTP_ADDR` (default `127.0.0.1:9464`) choose the
//! addresses; port 0 picks a free port, and the two lines above always show the real ones.
//!
//! This is the showcase, every pillar at once. Each one alone, in a page that runs and exits:
//! `track_request`, `trace_operation`, `logging`, `health_checks`, `alerts` and `tower_layer`
//! beside this file (`cargo run --example track_request`, ...).
//!
//! Open the observability port in a browser (`http://127.0.0.1:9464/`) for the live page: each
//! endpoint's request rate, errors, latency quantiles and requests in flight over the last
//! minutes, the health checks, the alerts, the SLOs and a waterfall of the slowest recent traces,
//! refreshed every 5 s (`OBS_PAGE_INTERVAL=1s` for faster). `curl` at `/` still gets the plain
//! list of paths.
//!
//! Three health checks (its database, its cache, an outside API) are served on `/health` (and
//! `/health/ready`, `/health/live`) beside `/metrics`, each against what the environment
//! configures:
//!
//! | check | variable | example |
//! |---|---|---|
//! | `database` (critical) | `DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/postgres` |
//! | `cache` (critical) | `REDIS_URL` | `redis://127.0.0.1:6379` |
//! | `external_api` (not critical) | `EXTERNAL_API_URL` | `http://127.0.0.1:9464/health/live` |
//!
//! A check whose variable is unset reports `degraded` ("DATABASE_URL is not set"), so the service
//! runs, and says what is missing, without any of them; a malformed URL stops it at start-up.
//!
//! Then, from another terminal:
//!
//! ```text
//! curl -i localhost:8080/users                 # 200, the list
//! curl -i localhost:8080/users/1               # 200, one user
//! curl -i localhost:8080/users/999             # 404
//! curl -i 'localhost:8080/users?fail=1'        # 500: every route fails on demand with ?fail=1
//! curl -i localhost:8080/login -H 'content-type: application/json' -d '{"user":"ada","password":"lovelace"}'
//! curl -i localhost:8080/login -d 'user=ada&password=wrong'   # a form body works too: 401
//! curl -s localhost:9464/metrics | grep -E '^(http_requests|active_connections)'
//! curl -s localhost:9464/health                # the checks as JSON (503 when a critical one fails)
//! ```
//!
//! The scrape shows `http_requests_total{method="GET",endpoint="/users/{id}",status="404"}`: the
//! endpoint label is the route template, never the raw path, so the number of series stays
//! bounded however many ids clients try. The status is the real one because `ApiError`
//! implements [`RequestOutcome`]. Paths no route matches get axum's 404 without touching a
//! handler, so they are not recorded either.
//!
//! Each handled request, and each login, is logged as one JSON line on stdout (after the address
//! lines): timestamp, service, level, message, trace and span ids, the fields; the login's
//! `password` field is written as `"[REDACTED]"`, a card number in any value (a user name, say)
//! as `**** **** **** 1111`, and a request that carries a W3C `traceparent` is logged with its
//! `trace_id`. `RUST_LOG` filters the lines (default `info`).
//!
//! `GET /users/{id}` is traced across two services: a server span per request (from
//! obs's tower layer, joining the caller's trace when it sends a `traceparent`), then
//! `process_user_request` with the child spans `database_query` and `external_api_call`; the
//! latter is a real HTTP call to the profile service (`cargo run --example profile_service`, at
//! `PROFILE_SERVICE_URL`, default `http://127.0.0.1:8081`; a query there, such as
//! `?api_key=..`, goes with every call, and the call's span records the URL with secret values
//! redacted), which joins the same trace. When it is not running, the call's span records the
//! error and the user is returned without a profile. `?fail=1` ends `process_user_request` with `operation.status = error` and an
//! `error.message`. Spans go to the OTLP collector named by `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (Jaeger takes OTLP: `http://127.0.0.1:4318`), or else as JSON lines to the file named by
//! `OBS_SPANS_FILE`, or else to stdout.
//!
//! Four alert rules (CPU, memory, error rate, the runtime's saturation) are evaluated every `OBS_ALERT_EVAL_INTERVAL`
//! (default 15 s), and the alerts pending or firing are listed at `/alerts` beside `/metrics`:
//!
//! | rule | condition | severity |
//! |---|---|---|
//! | `high_cpu_usage` | the process's CPU use over 1 min > 80 % of a core | warning |
//! | `high_memory_usage` | resident memory > 90 % of the memory limit | critical |
//! | `high_error_rate` | 5xx share of requests over `OBS_ERROR_RATE_WINDOW` (default `5m`) > 5 %, for `OBS_ERROR_RATE_FOR` (default `1m`) | critical |
//! | `runtime_saturated` | the tokio runtime's workers busy > 90 % of the time, for 1 min | warning |
//!
//! Notifications go to the log (a JSON line) and to the channels the environment names:
//! `OBS_SLACK_WEBHOOK_URL`, `OBS_WEBHOOK_URL`, `OBS_ALERTMANAGER_URL` (e.g.
//! `http://127.0.0.1:9093`), and e-mail with `OBS_SMTP_URL` (`smtp://user:pass@host:587?tls=required`),
//! `OBS_SMTP_FROM` and `OBS_SMTP_TO` (comma-separated). A burst of `?fail=1` requests fires
//! `high_error_rate`; when the errors stop and leave the window, each channel gets the resolution:
//!
//! ```text
//! OBS_ALERT_EVAL_INTERVAL=1s OBS_ERROR_RATE_WINDOW=30s OBS_ERROR_RATE_FOR=5s cargo run --example user_service
//! for i in $(seq 20); do curl -s 'localhost:8080/users/1?fail=1' >/dev/null; done
//! curl -s localhost:9464/alerts               # pending, then firing
//! ```
//!
//! Two service level objectives watch `GET /users/{id}` over 30 days: 99.9% of requests succeed
//! (`users_availability`), and 99% take at most 250 ms (`users_latency`). Each brings the SRE
//! workbook's four burn-rate alerts (`users_availability_burn_rate_1h` pages when the error budget
//! burns 14.4 times too fast over an hour and five minutes, and so on: see the README), and
//! `/slo` shows each objective's SLI, the error budget left and the burn rate over each window:
//!
//! ```text
//! curl -s localhost:9464/slo
//! ```
//!
//! With `OBS_ALERT_ACK_TOKEN` set (16 characters or more), a firing alert is acknowledged over
//! HTTP: `curl -X POST -H "Authorization: Bearer $OBS_ALERT_ACK_TOKEN"
//! 'localhost:9464/alerts/high_error_rate/ack?by=me'`.
//!
//! `cargo run --example user_service -- --grafana-dashboard > dashboard.json` prints a Grafana
//! dashboard for it (golden signals per endpoint, the two objectives, health, alerts, the
//! process; exemplars open their trace at `OBS_TRACE_URL`, default Jaeger's
//! `http://127.0.0.1:16686/trace/${__value.raw}`) to import, and exits.
//!
//! With many replicas, let Prometheus evaluate the same rules instead: `cargo run --example
//! user_service -- --prometheus-rules > rules.yml` prints them as a Prometheus rules file (for
//! `rule_files`; `high_memory_usage` has no PromQL form and is listed as such), the objectives'
//! recording rules and burn-rate alerts included, and exits.
//!
//! Ctrl-C (SIGINT) or SIGTERM stops it within one deadline, `OBS_SHUTDOWN_TIMEOUT` (default
//! `10s`), whatever hangs: the app stops accepting and gives the requests in flight half of it
//! (a client must send its request's headers within 5 s anyway); then obs stops its server and
//! flushes spans, alert notifications and log lines, all at once, in the rest; it exits 0.

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector;
use obs_runtime::alerts::{self, AlertManager, AlertRule, Condition, Log, Severity, Slo};
use obs_runtime::client::{ClientLayer, ClientService};
use obs_runtime::health::{CheckOutcome, HealthCheck, HealthChecker, checks};
use obs_runtime::logging::LoggingConfig;
use obs_runtime::metrics::RequestOutcome;
use obs_runtime::trace::tower::HttpLayer;
use obs_runtime::trace::{SpanOutput, TraceConfig};
use obs_runtime::{Deadline, trace_operation, track_request};
use serde_json::{Value, json};
use tower::{Layer as _, ServiceExt as _};
use tower_http::trace::{DefaultMakeSpan, TraceLayer};

/// Where the app listens when `APP_ADDR` is not set.
const DEFAULT_APP_ADDR: &str = "127.0.0.1:8080";

/// How long a client may take to send a request's headers, and a kept-alive connection may wait
/// for its next request: a half-sent request cannot hold the app, or its shutdown.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

struct User {
    id: u32,
    name: &'static str,
    email: &'static str,
    /// A demo: a real service stores a password hash, never the password.
    password: &'static str,
}

const USERS: [User; 3] = [
    User { id: 1, name: "ada", email: "ada@example.com", password: "lovelace" },
    User { id: 2, name: "grace", email: "grace@example.com", password: "hopper" },
    User { id: 3, name: "edsger", email: "edsger@example.com", password: "dijkstra" },
];

impl User {
    fn to_json(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "email": self.email })
    }
}

fn app() -> Router {
    Router::new()
        .route("/users", get(list_users))
        .route("/users/{id}", get(get_user))
        .route("/login", post(login))
        // tower-http's span of each request (a `tracing` span, at INFO so that the default filter
        // keeps it): bridged into the request's trace, under the server span; the handlers' spans
        // and log lines are in it.
        .layer(TraceLayer::new_for_http().make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO)))
        .layer(axum::middleware::from_fn(log_request))
        // Outermost: the server span (the caller's trace, the route template) covers the rest.
        // The handlers record their own metrics with #[track_request], so the layer only traces.
        .layer(
            HttpLayer::new(|extensions| extensions.get::<axum::extract::MatchedPath>().map(|path| path.as_str()))
                .without_metrics(),
        )
}

/// Logs each handled request as one JSON line (method, path, status, duration, a request id),
/// inside the request's server span, so the line carries its `trace_id` and `span_id`.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let request_id = REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    if status >= 500 {
        tracing::error!(request_id, %method, path, status, duration_ms, "request failed");
    } else {
        tracing::info!(request_id, %method, path, status, duration_ms, "request handled");
    }
    response
}

/// The query string every route reads: `?fail=1` makes the handler fail with a 500.
type Params = Query<HashMap<String, String>>;

// The positional form: method, then endpoint.
#[track_request("GET", "/users")]
async fn list_users(Query(params): Params) -> Result<Json<Value>, ApiError> {
    fail_on_demand(&params)?;
    let users: Vec<Value> = USERS.iter().map(User::to_json).collect();
    Ok(Json(json!({ "users": users })))
}

// The named form. The endpoint is the route's template, so `/users/1` and `/users/999` share the
// series of "/users/{id}". `track_concurrency` keeps `http_requests_in_flight` and
// `active_connections` up to date.
//
// The id is taken as a string so that every request reaches the handler and is recorded: with
// `Path<u32>`, axum would answer `/users/abc` itself, before any instrumented code runs.
#[track_request(method = "GET", endpoint = "/users/{id}", track_concurrency)]
async fn get_user(Path(id): Path<String>, Query(params): Params) -> Result<Json<Value>, ApiError> {
    process_user_request(&id, &params).await.map(Json)
}

// A traced operation: a span with `operation.name`, `operation.status`, and on
// failure `error.message` and an `exception` event; its children are the two calls below.
#[trace_operation("process_user_request")]
async fn process_user_request(user_id: &str, params: &HashMap<String, String>) -> Result<Value, ApiError> {
    obs_runtime::span_attributes!(user_id = user_id);
    fail_on_demand(params)?;
    let id: u32 = user_id.parse().map_err(|_| ApiError::NotFound)?;
    let user = database_query(id).await?;
    let mut body = user.to_json();
    // The profile comes from another service; without it the user is still returned.
    if let Ok(profile) = external_api_call(id).await {
        body["profile"] = profile;
    }
    Ok(body)
}

#[trace_operation("database_query", kind = client, fields(db.system = "postgresql", db.operation.name = "SELECT"))]
async fn database_query(id: u32) -> Result<&'static User, ApiError> {
    fetch_user_row(id).await.ok_or(ApiError::NotFound)
}

/// Stands in for a database driver, which speaks `tracing`: its span joins the trace, under
/// `database_query` (feature `tracing-bridge`).
#[tracing::instrument(level = "info")]
async fn fetch_user_row(id: u32) -> Option<&'static User> {
    // Stands in for the query: a few milliseconds of waiting.
    tokio::time::sleep(Duration::from_millis(3)).await;
    USERS.iter().find(|user| user.id == id)
}

#[trace_operation("external_api_call", kind = client)]
async fn external_api_call(id: u32) -> Result<Value, String> {
    let base = std::env::var("PROFILE_SERVICE_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".to_owned());
    // The base may carry a query (`?api_key=..`): it goes after the path.
    let (base, query) = base.split_once('?').map_or((base.as_str(), None), |(base, query)| (base, Some(query)));
    let url = format!("{}/profiles/{id}", base.trim_end_matches('/'));
    let url = match query {
        Some(query) => format!("{url}?{query}"),
        None => url,
    };
    get_json(&url).await
}

/// The client of the outgoing calls: hyper-util's (pooled connections) with a 2 s budget per
/// call, under obs's client layer, which makes each call's client span, writes its context into
/// the request (the service called joins this trace) and records it in
/// `http_client_request_duration_seconds`.
type Client = ClientService<tower::timeout::Timeout<LegacyClient<HttpConnector, Empty<Bytes>>>>;

fn client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let client = LegacyClient::builder(hyper_util::rt::TokioExecutor::new()).build_http();
            ClientLayer::new().layer(tower::timeout::Timeout::new(client, Duration::from_secs(2)))
        })
        .clone()
}

/// `GET url`, through [`client`].
async fn get_json(url: &str) -> Result<Value, String> {
    // Never in an error message: the URL may carry a secret.
    let request = axum::http::Request::get(url).body(Empty::new()).map_err(|_| "not a URL".to_owned())?;
    // The span records `url.full` from the whole URL, secrets redacted.
    let response = client().oneshot(request).await.map_err(|error| error.to_string())?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|error| error.to_string())?.to_bytes();
    if status != StatusCode::OK {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    serde_json::from_slice(&body).map_err(|error| error.to_string())
}

// Positional, with options: this site's own buckets (logins are slower than lookups) and the
// in-flight gauge.
#[track_request("POST", "/login", buckets = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5], track_concurrency)]
async fn login(Query(params): Params, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    fail_on_demand(&params)?;
    let (name, password) = credentials(&headers, &body)?;
    // The password is a field like any other here: obs writes it as "[REDACTED]".
    tracing::info!(user_id = %name, password = %password, "login attempt");
    let Some(user) = USERS.iter().find(|user| user.name == name && user.password == password) else {
        tracing::warn!(user_id = %name, "login failed");
        return Err(ApiError::Unauthorized);
    };
    tracing::info!(user_id = user.id, "User login successful");
    Ok(Json(json!({ "token": format!("demo-token-{}-{}", user.id, user.name), "token_type": "Bearer" })))
}

fn fail_on_demand(params: &HashMap<String, String>) -> Result<(), ApiError> {
    match params.get("fail").map(String::as_str) {
        Some("1" | "true") => Err(ApiError::Internal("failure requested with ?fail=1")),
        _ => Ok(()),
    }
}

/// `user` and `password` from a JSON body (`{"user": .., "password": ..}`) or a form body
/// (`user=..&password=..`), chosen by `Content-Type`.
///
/// The body is read here rather than by axum's `Json` extractor so that a malformed login is
/// answered by the handler, and therefore recorded, like any other failed login.
fn credentials(headers: &HeaderMap, body: &[u8]) -> Result<(String, String), ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let (user, password) = match media_type.as_str() {
        "application/json" => {
            let body: Value =
                serde_json::from_slice(body).map_err(|_| ApiError::BadRequest("the body is not valid JSON"))?;
            let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
            (field("user"), field("password"))
        }
        "application/x-www-form-urlencoded" => {
            // A form body is a query string: axum's `Query` decodes it (`+`, `%XX`).
            let mut form = std::str::from_utf8(body)
                .ok()
                .and_then(|body| format!("/?{body}").parse::<axum::http::Uri>().ok())
                .and_then(|uri| Params::try_from_uri(&uri).ok())
                .ok_or(ApiError::BadRequest("the body is not a valid form"))?
                .0;
            (form.remove("user"), form.remove("password"))
        }
        _ => return Err(ApiError::BadRequest("send a JSON or form body with `user` and `password`")),
    };
    match (user, password) {
        (Some(user), Some(password)) => Ok((user, password)),
        _ => Err(ApiError::BadRequest("`user` and `password` are both required")),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors: one type that is both the HTTP response and the recorded status
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum ApiError {
    BadRequest(&'static str),
    Unauthorized,
    NotFound,
    Internal(&'static str),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            ApiError::BadRequest(message) | ApiError::Internal(message) => message,
            ApiError::Unauthorized => "unknown user or wrong password",
            ApiError::NotFound => "no such user",
        }
    }
}

/// What the span's `error.message` says.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// What the client gets.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({ "error": self.message() }))).into_response()
    }
}

/// What `#[track_request]` records in the `status` label: the same code the client gets.
impl RequestOutcome for ApiError {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

// ---------------------------------------------------------------------------------------------
// Start-up and shutdown
// ---------------------------------------------------------------------------------------------

/// The checks: database, cache and external API, against what the environment names.
fn health_checks() -> Result<HealthChecker, String> {
    let health = HealthChecker::new();
    let register = |check: HealthCheck| health.register(check).map_err(|error| error.to_string());
    let timeout = Duration::from_secs(2);
    register(
        match env_url("DATABASE_URL")? {
            Some(url) => checks::postgres("database", &url).map_err(|error| format!("DATABASE_URL: {error}"))?,
            None => not_configured("database", "DATABASE_URL"),
        }
        .timeout(timeout),
    )?;
    register(
        match env_url("REDIS_URL")? {
            Some(url) => checks::redis("cache", &url).map_err(|error| format!("REDIS_URL: {error}"))?,
            None => not_configured("cache", "REDIS_URL"),
        }
        .timeout(timeout),
    )?;
    register(
        match env_url("EXTERNAL_API_URL")? {
            Some(url) => {
                checks::http_get("external_api", &url, 200).map_err(|error| format!("EXTERNAL_API_URL: {error}"))?
            }
            None => not_configured("external_api", "EXTERNAL_API_URL"),
        }
        .timeout(Duration::from_secs(5))
        // An outside API being down degrades this service; it does not take it out of rotation.
        .critical(false),
    )?;
    Ok(health)
}

/// Spans to the OTLP collector of `OTEL_EXPORTER_OTLP_ENDPOINT` if set (obs reads the `OTEL_*`
/// variables), else JSON lines to `OBS_SPANS_FILE`, else to stdout. With
/// `OTEL_PROPAGATORS=tracecontext,baggage`, a caller's `tenant` baggage entry becomes an attribute
/// of the request's spans (here and, carried on, in the profile service); no other entry does.
fn trace_config() -> TraceConfig {
    let config = TraceConfig::new().baggage_attributes(["tenant"]);
    match std::env::var_os("OBS_SPANS_FILE") {
        Some(path) if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() => {
            config.output(SpanOutput::File(path.into()))
        }
        _ => config,
    }
}

/// The three rules, with the log channel and the channels the environment names.
fn alert_rules() -> Result<AlertManager, String> {
    let duration = |name: &str, default: Duration| -> Result<Duration, String> {
        match env_url(name)? {
            Some(text) => {
                alerts::parse_duration(&text).ok_or_else(|| format!("{name}: not a duration (1s, 500ms, 5m)"))
            }
            None => Ok(default),
        }
    };
    let window = duration("OBS_ERROR_RATE_WINDOW", Duration::from_secs(300))?;
    let pending = duration("OBS_ERROR_RATE_FOR", Duration::from_secs(60))?;
    let service = [("service", "user-service")];
    let rules = [
        AlertRule::new(
            "high_cpu_usage",
            Condition::cpu_usage_percent().above(80.0),
            Severity::Warning,
            "CPU usage is {cpu_usage_percent:.1}%",
            &service,
        ),
        AlertRule::new(
            "high_memory_usage",
            Condition::memory_usage_percent().above(90.0),
            Severity::Critical,
            "Memory usage is {memory_usage_percent:.1}%",
            &service,
        ),
        AlertRule::builder("high_error_rate")
            .condition(Condition::error_rate_percent().window(window).above(5.0))
            .severity(Severity::Critical)
            .message("Error rate is {error_rate_percent:.1}%")
            .description("More than 5% of requests fail with a 5xx: users see errors.")
            .runbook_url("https://runbooks.example.com/user-service/high-error-rate")
            .dashboard_url("https://grafana.example.com/d/user-service")
            .label("service", "user-service")
            .for_duration(pending)
            .build(),
        // Saturation: the runtime's workers busy nearly all the time for a minute.
        AlertRule::builder("runtime_saturated")
            .condition(Condition::runtime_busy_percent().above(90.0))
            .severity(Severity::Warning)
            .message("The runtime's workers are {runtime_busy_percent:.0}% busy")
            .label("service", "user-service")
            .for_duration(Duration::from_secs(60))
            .build(),
    ];
    let mut manager = AlertManager::builder();
    for rule in rules {
        manager = manager.rule(rule.map_err(|error| error.to_string())?);
    }
    // The objectives of `GET /users/{id}`, each with the workbook's four burn-rate alerts.
    let availability = Slo::availability("users_availability", 0.999)
        .endpoint("/users/{id}")
        .method("GET")
        .runbook_url("https://runbooks.example.com/user-service/users-availability")
        .dashboard_url("https://grafana.example.com/d/user-service")
        .label("service", "user-service")
        .build();
    // 250 ms is a bound of the default buckets, which the site uses.
    let latency = Slo::latency("users_latency", 0.99, Duration::from_millis(250))
        .endpoint("/users/{id}")
        .method("GET")
        .label("service", "user-service")
        .build();
    for slo in [availability, latency] {
        manager = manager.slo(slo.map_err(|error| error.to_string())?);
    }
    manager.channel(Log::new()).from_env().build().map_err(|error| format!("alerting: {error}"))
}

fn env_url(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(url) if url.is_empty() => Ok(None),
        Ok(url) => Ok(Some(url)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not UTF-8")),
    }
}

/// A dependency the environment does not name: degraded, saying which variable would name it.
fn not_configured(name: &'static str, variable: &'static str) -> HealthCheck {
    HealthCheck::new(name, move || async move { CheckOutcome::degraded(format!("{variable} is not set")) })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("user_service: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    if std::env::args().nth(1).as_deref() == Some("--grafana-dashboard") {
        // Exemplars open their trace in Jaeger, or where OBS_TRACE_URL says.
        let trace_url =
            env_url("OBS_TRACE_URL")?.unwrap_or_else(|| "http://127.0.0.1:16686/trace/${__value.raw}".into());
        let dashboard = obs_runtime::dashboards::grafana("user-service")
            .slos(&alert_rules()?)
            .trace_url(&trace_url)
            .map_err(|error| format!("OBS_TRACE_URL: {error}"))?;
        println!("{}", dashboard.json());
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("--prometheus-rules") {
        let rules = alert_rules()?.prometheus_rules("user-service");
        print!("{}", rules.yaml());
        return Ok(());
    }
    let app_addr = match std::env::var("APP_ADDR") {
        Ok(addr) => addr,
        Err(std::env::VarError::NotPresent) => DEFAULT_APP_ADDR.to_owned(),
        Err(std::env::VarError::NotUnicode(_)) => return Err("APP_ADDR is not UTF-8".to_owned()),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the tokio runtime: {error}"))?;
    // Saturation where the service saturates: its runtime's workers, tasks and queue on /metrics.
    // Registered before obs starts, so that the alert rule on it has its metric from the first
    // evaluation.
    obs_runtime::metrics::register_tokio_runtime(runtime.handle())
        .map_err(|error| format!("cannot serve the runtime's metrics: {error}"))?;

    // obs serves /metrics and /health from its own thread, on OBS_HTTP_ADDR; a bad address, or a
    // malformed dependency URL, is an error here.
    let health = health_checks()?;
    let alerts = alert_rules()?;
    let obs = obs_runtime::Obs::builder()
        // The service's identity, given once: the `service` of log lines, the spans' resource.
        .service("user-service")
        .health(health)
        .alerts(alerts)
        // JSON log lines on stdout, after the two address lines; RUST_LOG filters them. Card
        // numbers and bearer tokens are masked wherever they appear (a user name, a message).
        .logging(LoggingConfig::new().mask_values(true))
        .tracing(trace_config())
        .init()
        .map_err(|error| format!("cannot start observability: {error}"))?;
    // `build_info{version, revision, rustc} 1`: which build of the demo is running.
    obs_runtime::build_info!().map_err(|error| format!("cannot serve build_info: {error}"))?;
    let metrics_addr = obs.http_addr().ok_or("the metrics server is not running")?;

    let deadline = runtime.block_on(serve(&app_addr, metrics_addr, obs.shutdown_timeout()))?;
    // The connections still open are cancelled with the runtime's tasks; then obs stops, every
    // part at once, in what is left of the deadline.
    runtime.shutdown_timeout(deadline.remaining().min(Duration::from_secs(1)));
    obs.shutdown_by(deadline);
    eprintln!("user_service: stopped");
    Ok(())
}

/// Serves the app until SIGINT or SIGTERM, then lets the requests in flight finish for at most
/// half of `shutdown_timeout`; returns the deadline of the whole stop.
async fn serve(app_addr: &str, metrics_addr: SocketAddr, shutdown_timeout: Duration) -> Result<Deadline, String> {
    let listener = tokio::net::TcpListener::bind(app_addr)
        .await
        .map_err(|error| format!("cannot listen on APP_ADDR={app_addr:?}: {error}"))?;
    let bound = listener.local_addr().map_err(|error| format!("cannot read the app's address: {error}"))?;

    // The signal handlers go in before the service says it is ready, so that a SIGTERM sent right
    // after the "listening" line stops it cleanly.
    let signal = shutdown_signal().map_err(|error| format!("cannot install signal handlers: {error}"))?;

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "app listening on http://{bound}")
        .and_then(|()| writeln!(stdout, "metrics on http://{metrics_addr}/metrics"))
        .and_then(|()| writeln!(stdout, "health on http://{metrics_addr}/health"))
        .and_then(|()| writeln!(stdout, "alerts on http://{metrics_addr}/alerts"))
        .and_then(|()| writeln!(stdout, "live page on http://{metrics_addr}/"))
        .and_then(|()| stdout.flush())
        .map_err(|error| format!("cannot write to stdout: {error}"))?;
    drop(stdout);

    // hyper's own connection loop rather than `axum::serve`, which has no header timeout.
    let mut http = hyper::server::conn::http1::Builder::new();
    // A client that half-closes after its request still gets the answer.
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).half_close(true);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let app = app();
    let mut signal = std::pin::pin!(signal);
    let signal = loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            signal = &mut signal => break signal,
        };
        let Ok((stream, _peer)) = accepted else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = connections.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
        });
    };
    // One budget for the whole stop, from the signal on.
    let deadline = Deadline::after(shutdown_timeout);
    drop(listener);
    eprintln!("user_service: {signal} received, finishing the requests in flight");
    let requests = shutdown_timeout / 2;
    if tokio::time::timeout(requests, connections.shutdown()).await.is_err() {
        eprintln!("user_service: requests still in flight after {requests:?}; stopping anyway");
    }
    Ok(deadline)
}

/// Resolves with the signal's name on SIGINT (Ctrl-C) or SIGTERM (what `docker stop` and
/// Kubernetes send). The handlers are installed when this is called, not when it is first polled.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(error) => {
                eprintln!("user_service: cannot listen for Ctrl-C ({error}); stop the process another way");
                std::future::pending().await
            }
        }
    })
}
