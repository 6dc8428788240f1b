//! Cost at the service level: the demo's kind of axum service with every pillar of obs on, against
//! the same service bare, under the same load from a loopback load generator.
//!
//! One run of `cargo bench --manifest-path benches/Cargo.toml --bench service` starts the service
//! in a child process (this same binary, re-executed with `SERVICE_BENCH_MODE=bare` or `=obs`), so
//! that the CPU seconds, the resident memory and the threads read from `/proc/<pid>` are the
//! service's own. The parent is the load generator: `CONNECTIONS` HTTP/1.1 keep-alive connections
//! (hyper's client, one handshake each, one request at a time on each, no pipelining) on a
//! current-thread tokio runtime, cycling through the same mix of requests: `WARMUP` at full speed,
//! then `PHASE` at a fixed rate (`FIXED_RATE` requests/s in all, each connection sending on its
//! own schedule: the same load for both variants, so their CPU and latency compare directly), then
//! `PHASE` at full speed (each connection sends its next request as soon as the last is answered:
//! throughput). Every request's latency is recorded, from before the request is written to after
//! the last byte of its body is read (at the fixed rate, from when it is actually sent: tokio's
//! timer has 1 ms ticks, so sends due within a tick go out together). Both processes share the
//! machine's cores: the numbers are those of a service whose client is on the same box.
//!
//! The variants run interleaved (bare, obs, obs, bare, bare, obs, ...), `ROUNDS` of each
//! (`SERVICE_BENCH_ROUNDS` overrides it), and the medians are printed as a Markdown table, with the
//! ratios obs / bare. `SERVICE_BENCH_VARIANTS=bare,obs,obs-no-logs,obs-no-spans,obs-metrics` adds
//! partial variants, to see which pillar costs what. Every response's status is
//! checked against the one its request must get (the same in both variants), and the obs child
//! reports how many spans and log lines it exported, wrote and dropped: a dropped span would look
//! cheap. Nothing here is a timed assertion.
//!
//! The service, in both variants: `GET /users/{id}` (a lookup, JSON; 404 for an unknown id),
//! `POST /login` (a JSON body parsed, a password compared after a few hundred rounds of hashing,
//! JSON or 401) and `GET /reports/{id}` (always fails: 500). The "obs" variant is what a user of
//! the demo runs: `Obs::builder()` with the embedded server (`/metrics`, `/health*`, `/alerts`), a
//! health checker (a TCP check of the service's own port and a custom one), an alert manager (two
//! rules, the `Log` channel, evaluated every 5 s), JSON logging (to a sink: stdout would flood) and
//! tracing (to an exporter that counts and discards); the tower layer `HttpLayer` (a server span
//! per request, `without_metrics`, as the demo), a middleware that logs one JSON line per request
//! (as the demo), `#[track_request]` on each handler and `#[trace_operation]` on the work each does
//! (one child span per request). The load generator also scrapes `/metrics` every 5 s in the obs
//! variant, as Prometheus would (more often than its default).

mod support;

use std::collections::BTreeMap;
use std::hash::Hasher as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt as _, Full};
use obs_runtime::alerts::{AlertManager, AlertRule, Condition, Log, Severity};
use obs_runtime::health::{CheckOutcome, HealthCheck, HealthChecker, checks};
use obs_runtime::logging::{LoggingConfig, Output};
use obs_runtime::metrics::RequestOutcome;
use obs_runtime::trace::tower::HttpLayer;
use obs_runtime::trace::{SpanOutput, TraceConfig};
use obs_runtime::{trace_operation, track_request};
use serde_json::{Value, json};

/// Selects the child's variant; unset in the parent.
const MODE_VAR: &str = "SERVICE_BENCH_MODE";
const CONNECTIONS: usize = 16;
const WARMUP: Duration = Duration::from_secs(2);
/// The length of each measured phase: the fixed rate, then full speed.
const PHASE: Duration = Duration::from_secs(10);
/// The fixed-rate phase's load, requests per second over all connections.
const FIXED_RATE: u32 = 10_000;
/// Runs of each variant (`SERVICE_BENCH_ROUNDS` overrides it).
const ROUNDS: usize = 5;
/// How often the load generator scrapes obs's `/metrics` (obs variant only).
const SCRAPE_EVERY: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The service: the same work in both variants
// ---------------------------------------------------------------------------------------------

struct User {
    id: u32,
    name: &'static str,
    email: &'static str,
    password: &'static str,
}

const USERS: [User; 3] = [
    User { id: 1, name: "ada", email: "ada@example.com", password: "lovelace" },
    User { id: 2, name: "grace", email: "grace@example.com", password: "hopper" },
    User { id: 3, name: "edsger", email: "edsger@example.com", password: "dijkstra" },
];

#[derive(Debug)]
enum ApiError {
    BadRequest,
    Unauthorized,
    NotFound,
    Internal,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            ApiError::BadRequest => "send a JSON body with `user` and `password`",
            ApiError::Unauthorized => "unknown user or wrong password",
            ApiError::NotFound => "no such user",
            ApiError::Internal => "the report service is down",
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({ "error": self.message() }))).into_response()
    }
}

impl RequestOutcome for ApiError {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

fn find_user(id: &str) -> Result<Value, ApiError> {
    let id: u32 = id.parse().map_err(|_| ApiError::NotFound)?;
    let user = USERS.iter().find(|user| user.id == id).ok_or(ApiError::NotFound)?;
    Ok(json!({ "id": user.id, "name": user.name, "email": user.email }))
}

/// Stands in for a password hash check: a few hundred rounds of SipHash (a few microseconds).
fn check_password(body: &[u8]) -> Result<Value, ApiError> {
    let body: Value = serde_json::from_slice(body).map_err(|_| ApiError::BadRequest)?;
    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let (Some(name), Some(password)) = (field("user"), field("password")) else {
        return Err(ApiError::BadRequest);
    };
    // The same event in both variants: with no subscriber (bare) it costs a few nanoseconds.
    tracing::info!(user_id = %name, password = %password, "login attempt");
    let digest = |text: &str| {
        // `DefaultHasher::new()` has fixed keys: the same digest on every call.
        let mut value = 0u64;
        for round in 0..300u64 {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            hasher.write_u64(value ^ round);
            hasher.write(text.as_bytes());
            value = hasher.finish();
        }
        value
    };
    let given = digest(&password);
    let Some(user) = USERS.iter().find(|user| user.name == name && digest(user.password) == given) else {
        tracing::warn!(user_id = %name, "login failed");
        return Err(ApiError::Unauthorized);
    };
    tracing::info!(user_id = user.id, "User login successful");
    Ok(json!({ "token": format!("demo-token-{}-{}", user.id, user.name), "token_type": "Bearer" }))
}

fn report(_id: &str) -> Result<Value, ApiError> {
    Err(ApiError::Internal)
}

mod bare {
    use super::*;

    pub async fn get_user(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
        find_user(&id).map(Json)
    }

    pub async fn login(body: Bytes) -> Result<Json<Value>, ApiError> {
        check_password(&body).map(Json)
    }

    pub async fn get_report(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
        report(&id).map(Json)
    }

    pub fn app() -> Router {
        Router::new()
            .route("/users/{id}", get(get_user))
            .route("/login", post(login))
            .route("/reports/{id}", get(get_report))
    }
}

mod instrumented {
    use super::*;

    #[track_request(method = "GET", endpoint = "/users/{id}", track_concurrency)]
    pub async fn get_user(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
        lookup_user(&id).await.map(Json)
    }

    #[trace_operation("lookup_user")]
    async fn lookup_user(id: &str) -> Result<Value, ApiError> {
        obs_runtime::span_attributes!(user_id = id);
        find_user(id)
    }

    #[track_request("POST", "/login", track_concurrency)]
    pub async fn login(body: Bytes) -> Result<Json<Value>, ApiError> {
        authenticate(&body).await.map(Json)
    }

    #[trace_operation("authenticate")]
    async fn authenticate(body: &[u8]) -> Result<Value, ApiError> {
        check_password(body)
    }

    #[track_request("GET", "/reports/{id}")]
    pub async fn get_report(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
        build_report(&id).await.map(Json)
    }

    #[trace_operation("build_report")]
    async fn build_report(id: &str) -> Result<Value, ApiError> {
        report(id)
    }

    /// One JSON line per handled request, inside its server span (as the demo's `log_request`).
    async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
        static REQUESTS: AtomicU64 = AtomicU64::new(1);
        let request_id = REQUESTS.fetch_add(1, Ordering::Relaxed);
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let started = Instant::now();
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

    /// The instrumented handlers; `logs` adds the request log line, `spans` the server span.
    pub fn app(logs: bool, spans: bool) -> Router {
        let mut app = Router::new()
            .route("/users/{id}", get(get_user))
            .route("/login", post(login))
            .route("/reports/{id}", get(get_report));
        if logs {
            app = app.layer(axum::middleware::from_fn(log_request));
        }
        if spans {
            app = app.layer(
                HttpLayer::new(|extensions| extensions.get::<MatchedPath>().map(MatchedPath::as_str)).without_metrics(),
            );
        }
        app
    }
}

/// The child: serves until its standard input closes, then prints what obs counted and exits.
fn serve(mode: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a port on 127.0.0.1");
    let app_addr = listener.local_addr().expect("the app's address");
    let exported = Arc::new(AtomicU64::new(0));
    let (obs, app) = match mode {
        "bare" => (None, bare::app()),
        "obs" | "obs-no-logs" | "obs-no-spans" | "obs-metrics" => {
            // "obs": every pillar. The others, to see where the cost goes: without the logging
            // pillar (and the request log line), without the tracing pillar (and the server
            // span), and with the metrics alone (the handlers' `#[track_request]` and /metrics).
            let all = mode != "obs-metrics";
            let logs = all && mode != "obs-no-logs";
            let spans = all && mode != "obs-no-spans";
            let mut builder = obs_runtime::Obs::builder().service("bench-service").http_addr("127.0.0.1:0");
            if all {
                let health = HealthChecker::new();
                health
                    .register(checks::tcp("self", app_addr.to_string()).timeout(Duration::from_secs(1)))
                    .expect("a check");
                health
                    .register(HealthCheck::new("config", || async { CheckOutcome::healthy() }).critical(false))
                    .expect("a check");
                let labels = [("service", "bench-service")];
                let alerts = AlertManager::builder()
                    .rule(
                        AlertRule::new(
                            "high_error_rate",
                            Condition::error_rate_percent().window(Duration::from_secs(60)).above(50.0),
                            Severity::Critical,
                            "Error rate is {error_rate_percent:.1}%",
                            &labels,
                        )
                        .expect("a rule"),
                    )
                    .rule(
                        AlertRule::new(
                            "high_memory_usage",
                            Condition::memory_usage_percent().above(90.0),
                            Severity::Critical,
                            "Memory usage is {memory_usage_percent:.1}%",
                            &labels,
                        )
                        .expect("a rule"),
                    )
                    .channel(Log::new())
                    .interval(Duration::from_secs(5))
                    .build()
                    .expect("the alert manager");
                builder = builder.health(health).alerts(alerts);
            }
            if logs {
                builder = builder
                    .logging(LoggingConfig::new().filter("info").output(Output::Writer(Box::new(std::io::sink()))));
            }
            if spans {
                builder = builder.tracing(
                    TraceConfig::new().output(SpanOutput::Exporter(Box::new(support::Counting(exported.clone())))),
                );
            }
            (Some(builder.init().expect("obs starts")), instrumented::app(logs, spans))
        }
        other => panic!("{MODE_VAR}={other}: expected bare or obs"),
    };
    let obs_addr = obs.as_ref().and_then(|obs| obs.http_addr()).map_or("-".to_owned(), |addr| addr.to_string());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        // EOF (or an error) on stdin: the parent is done.
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        let _ = stop.send(());
    });
    println!("ready {app_addr} {obs_addr}");
    std::io::stdout().flush().expect("stdout");
    runtime.block_on(async move {
        axum::serve(listener, app).with_graceful_shutdown(async move { drop(stopped.await) }).await.expect("serve");
    });
    let mut stats = String::new();
    if let Some(traces) = obs.as_ref().and_then(|obs| obs.traces()) {
        traces.flush();
        let exported = exported.load(Ordering::Relaxed);
        stats += &format!(" spans_exported={exported} spans_dropped={}", traces.dropped());
    }
    if let Some(logs) = obs.as_ref().and_then(|obs| obs.logs()) {
        logs.flush();
        stats += &format!(" logs_written={} logs_dropped={}", logs.written(), logs.dropped());
    }
    println!("stats{stats}");
    if let Some(obs) = obs {
        obs.shutdown();
    }
    drop(runtime);
}

// ---------------------------------------------------------------------------------------------
// The load generator
// ---------------------------------------------------------------------------------------------

/// The mix each connection cycles through: (method, path, body, the status it must get).
const MIX: [(&str, &str, Option<&str>, u16); 8] = [
    ("GET", "/users/1", None, 200),
    ("GET", "/users/2", None, 200),
    ("POST", "/login", Some(r#"{"user":"ada","password":"lovelace"}"#), 200),
    ("GET", "/users/3", None, 200),
    ("GET", "/users/999", None, 404),
    ("POST", "/login", Some(r#"{"user":"grace","password":"wrong"}"#), 401),
    ("GET", "/users/1", None, 200),
    ("GET", "/reports/7", None, 500),
];

/// One phase's numbers.
#[derive(Debug, Default, Clone)]
struct Phase {
    requests_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    server_cpu_s: f64,
    client_cpu_s: f64,
    /// The server's context switches (voluntary, involuntary), all its threads.
    switches: (f64, f64),
}

impl Phase {
    fn new(mut latencies_ns: Vec<u64>, server_cpu_s: f64, client_cpu_s: f64, switches: (f64, f64)) -> Phase {
        latencies_ns.sort_unstable();
        let n = latencies_ns.len();
        let quantile = |q: f64| latencies_ns[((n as f64 * q) as usize).min(n - 1)] as f64 / 1e3;
        Phase {
            requests_per_s: n as f64 / PHASE.as_secs_f64(),
            p50_us: quantile(0.50),
            p99_us: quantile(0.99),
            server_cpu_s,
            client_cpu_s,
            switches,
        }
    }

    /// The server's voluntary context switches (a thread that waits: for work, a lock, a
    /// futex) per 1,000 requests.
    fn waits_per_1000(&self) -> f64 {
        self.switches.0 * 1e3 / (self.requests_per_s * PHASE.as_secs_f64())
    }

    /// The server's CPU time per 1,000 requests, in milliseconds.
    fn cpu_ms_per_1000(&self) -> f64 {
        self.server_cpu_s * 1e6 / (self.requests_per_s * PHASE.as_secs_f64())
    }
}

#[derive(Debug, Default, Clone)]
struct Run {
    fixed: Phase,
    full: Phase,
    rss_idle_mib: f64,
    rss_end_mib: f64,
    rss_peak_mib: f64,
    threads: f64,
    thread_names: BTreeMap<String, usize>,
    wrong_statuses: u64,
    stats: String,
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: &str, ticks_per_s: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a stat line") + 2..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name's.
    let ticks: f64 = fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / ticks_per_s
}

/// A field of /proc/<pid>/status (VmRSS and VmHWM in kB, Threads).
fn status_field(pid: &str, name: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let line = status.lines().find(|line| line.starts_with(&format!("{name}:"))).expect("the field");
    line[name.len() + 1..].split_whitespace().next().expect("a value").parse().expect("a number")
}

/// The context switches of every thread of a process (voluntary, involuntary); a thread that
/// exited in between is not counted.
fn context_switches(pid: u32) -> (f64, f64) {
    let mut total = (0.0, 0.0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/<pid>/task").flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
        for line in status.lines() {
            let value = |line: &str| line.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            if line.starts_with("voluntary_ctxt_switches:") {
                total.0 += value(line);
            } else if line.starts_with("nonvoluntary_ctxt_switches:") {
                total.1 += value(line);
            }
        }
    }
    total
}

fn thread_names(pid: u32) -> BTreeMap<String, usize> {
    let mut names = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/<pid>/task").flatten() {
        if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
            *names.entry(comm.trim().to_owned()).or_insert(0) += 1;
        }
    }
    names
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    sender
}

async fn send(sender: &mut Sender, host: &str, method: &str, path: &str, body: Option<&'static str>) -> u16 {
    sender.ready().await.expect("the connection stays open");
    let mut request = http::Request::builder().method(method).uri(path).header(http::header::HOST, host);
    if body.is_some() {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    let request = request.body(Full::new(Bytes::from_static(body.unwrap_or("").as_bytes()))).expect("a request");
    let response = sender.send_request(request).await.expect("a response");
    let status = response.status().as_u16();
    response.into_body().collect().await.expect("the body");
    status
}

/// One run of one variant: start the child, load it, read /proc, stop it.
fn run_once(mode: &str, ticks_per_s: f64) -> Run {
    let exe = std::env::current_exe().expect("this binary");
    let mut command = Command::new(exe);
    // Neither variant reads the developer's observability settings.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("OTEL_") || name.starts_with("OBS_") || name == "RUST_LOG" {
            command.env_remove(&*name);
        }
    }
    let mut child = command
        .env(MODE_VAR, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the service starts");
    let pid = child.id();
    let pid_text = pid.to_string();
    let mut stdout = BufReader::new(child.stdout.take().expect("its stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("its first line");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("ready"), "the service's first line: {line}");
    let app_addr: SocketAddr = words.next().expect("the app's address").parse().expect("an address");
    let obs_addr: Option<SocketAddr> = words.next().and_then(|addr| addr.parse().ok());
    let rss_idle_kib = status_field(&pid_text, "VmRSS");

    let client = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let mut run = client.block_on(async {
        let host = app_addr.to_string();
        let started = tokio::time::Instant::now();
        let fixed_from = started + WARMUP;
        let full_from = fixed_from + PHASE;
        let full_to = full_from + PHASE;
        let wrong = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for connection in 0..CONNECTIONS {
            let host = host.clone();
            let wrong = wrong.clone();
            tasks.push(tokio::spawn(async move {
                let mut sender = connect(app_addr).await;
                let mut fixed_ns: Vec<u64> = Vec::with_capacity(1 << 14);
                let mut full_ns: Vec<u64> = Vec::with_capacity(1 << 18);
                // This connection's share of the fixed rate, its sends spread over the period.
                let period = Duration::from_secs_f64(CONNECTIONS as f64 / FIXED_RATE as f64);
                let mut due = fixed_from + period.mul_f64(connection as f64 / CONNECTIONS as f64);
                // Each connection starts at another point of the mix.
                let mut next = connection;
                loop {
                    let now = tokio::time::Instant::now();
                    if now >= full_to {
                        break;
                    }
                    if now >= fixed_from && now < full_from {
                        if due >= full_from {
                            // This connection's share of the fixed rate is sent: the next send is
                            // at full speed.
                            tokio::time::sleep_until(full_from).await;
                            continue;
                        }
                        tokio::time::sleep_until(due).await;
                        due += period;
                    }
                    let (method, path, body, expected) = MIX[next % MIX.len()];
                    next += 1;
                    let sent = tokio::time::Instant::now();
                    let status = send(&mut sender, &host, method, path, body).await;
                    let latency = sent.elapsed().as_nanos() as u64;
                    if status != expected {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                    if sent >= full_from {
                        if sent < full_to {
                            full_ns.push(latency);
                        }
                    } else if sent >= fixed_from {
                        fixed_ns.push(latency);
                    }
                }
                (fixed_ns, full_ns)
            }));
        }
        if let Some(obs_addr) = obs_addr {
            let obs_host = obs_addr.to_string();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(started + SCRAPE_EVERY, SCRAPE_EVERY);
                loop {
                    tick.tick().await;
                    let mut sender = connect(obs_addr).await;
                    let status = send(&mut sender, &obs_host, "GET", "/metrics", None).await;
                    assert_eq!(status, 200, "a scrape of /metrics");
                }
            });
        }
        let cpu = || (cpu_seconds(&pid_text, ticks_per_s), cpu_seconds("self", ticks_per_s), context_switches(pid));
        let delta = |to: (f64, f64), from: (f64, f64)| (to.0 - from.0, to.1 - from.1);
        tokio::time::sleep_until(fixed_from).await;
        let at_fixed = cpu();
        tokio::time::sleep_until(full_from).await;
        let at_full = cpu();
        tokio::time::sleep_until(full_to).await;
        let at_end = cpu();
        let rss_end_kib = status_field(&pid_text, "VmRSS");
        let rss_peak_kib = status_field(&pid_text, "VmHWM");
        let threads = status_field(&pid_text, "Threads");
        let names = thread_names(pid);
        let (mut fixed_ns, mut full_ns) = (Vec::new(), Vec::new());
        for task in tasks {
            let (fixed, full) = task.await.expect("a connection's task");
            fixed_ns.extend(fixed);
            full_ns.extend(full);
        }
        Run {
            fixed: Phase::new(fixed_ns, at_full.0 - at_fixed.0, at_full.1 - at_fixed.1, delta(at_full.2, at_fixed.2)),
            full: Phase::new(full_ns, at_end.0 - at_full.0, at_end.1 - at_full.1, delta(at_end.2, at_full.2)),
            rss_idle_mib: rss_idle_kib / 1024.0,
            rss_end_mib: rss_end_kib / 1024.0,
            rss_peak_mib: rss_peak_kib / 1024.0,
            threads,
            thread_names: names,
            wrong_statuses: wrong.load(Ordering::Relaxed),
            stats: String::new(),
        }
    });
    drop(client);
    // Closing its stdin stops the service; its last line is what obs counted.
    drop(child.stdin.take());
    line.clear();
    stdout.read_line(&mut line).expect("its last line");
    run.stats = line.trim().trim_start_matches("stats").trim().to_owned();
    let exit = child.wait().expect("the service exits");
    assert!(exit.success(), "the {mode} service exited with {exit}");
    run
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

fn main() {
    if let Ok(mode) = std::env::var(MODE_VAR) {
        serve(&mode);
        return;
    }
    let ticks_per_s = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    let rounds: usize = std::env::var("SERVICE_BENCH_ROUNDS").ok().and_then(|text| text.parse().ok()).unwrap_or(ROUNDS);
    println!(
        "service: {CONNECTIONS} keep-alive connections; {WARMUP:?} warm-up at full speed, then {PHASE:?} at \
         {FIXED_RATE} requests/s, then {PHASE:?} at full speed; {rounds} runs of each variant, interleaved; \
         the load generator runs in this process, on one thread"
    );
    // `SERVICE_BENCH_VARIANTS=bare,obs,obs-no-logs,obs-no-spans,obs-metrics` adds the partial
    // variants; the first is the reference of the ratios.
    let variants: Vec<String> = std::env::var("SERVICE_BENCH_VARIANTS")
        .unwrap_or_else(|_| "bare,obs".to_owned())
        .split(',')
        .map(|variant| variant.trim().to_owned())
        .collect();
    let mut runs: BTreeMap<&str, Vec<Run>> = BTreeMap::new();
    for round in 0..rounds {
        // Each round starts with another variant: bare, obs; obs, bare; ...
        let mut order: Vec<&str> = variants.iter().map(String::as_str).collect();
        order.rotate_left(round % variants.len());
        for mode in order {
            let run = run_once(mode, ticks_per_s);
            for (name, phase) in [("fixed", &run.fixed), ("full", &run.full)] {
                println!(
                    "run {round} {mode:>4} {name:>5}: {:>7.0} req/s  p50 {:>6.0} us  p99 {:>6.0} us  \
                     server CPU {:.2} s ({:.2} ms per 1,000)  client CPU {:.2} s  \
                     server context switches {:.0} voluntary + {:.0} involuntary",
                    phase.requests_per_s,
                    phase.p50_us,
                    phase.p99_us,
                    phase.server_cpu_s,
                    phase.cpu_ms_per_1000(),
                    phase.client_cpu_s,
                    phase.switches.0,
                    phase.switches.1,
                );
            }
            println!(
                "run {round} {mode:>4}: RSS idle {:.1} / end {:.1} / peak {:.1} MiB  threads {}  \
                 wrong statuses {}  {}",
                run.rss_idle_mib, run.rss_end_mib, run.rss_peak_mib, run.threads, run.wrong_statuses, run.stats
            );
            runs.entry(mode).or_default().push(run);
        }
    }
    for (mode, runs) in &runs {
        println!("threads of {mode} (last run): {:?}", runs.last().expect("a run").thread_names);
    }

    type Metric = (String, fn(&Run) -> f64);
    let metrics: [Metric; 17] = [
        (format!("{FIXED_RATE} req/s: requests/s reached"), |run| run.fixed.requests_per_s),
        (format!("{FIXED_RATE} req/s: p50 (us)"), |run| run.fixed.p50_us),
        (format!("{FIXED_RATE} req/s: p99 (us)"), |run| run.fixed.p99_us),
        (format!("{FIXED_RATE} req/s: server CPU (s in 10 s)"), |run| run.fixed.server_cpu_s),
        (format!("{FIXED_RATE} req/s: server CPU per 1,000 requests (ms)"), |run| run.fixed.cpu_ms_per_1000()),
        (format!("{FIXED_RATE} req/s: server's voluntary context switches per 1,000 requests"), |run| {
            run.fixed.waits_per_1000()
        }),
        ("full speed: requests/s".to_owned(), |run| run.full.requests_per_s),
        ("full speed: p50 (us)".to_owned(), |run| run.full.p50_us),
        ("full speed: p99 (us)".to_owned(), |run| run.full.p99_us),
        ("full speed: server CPU (s in 10 s)".to_owned(), |run| run.full.server_cpu_s),
        ("full speed: server CPU per 1,000 requests (ms)".to_owned(), |run| run.full.cpu_ms_per_1000()),
        ("full speed: server's voluntary context switches per 1,000 requests".to_owned(), |run| {
            run.full.waits_per_1000()
        }),
        ("full speed: load generator CPU (s in 10 s)".to_owned(), |run| run.full.client_cpu_s),
        ("RSS idle, before the load (MiB)".to_owned(), |run| run.rss_idle_mib),
        ("RSS at the end of the load (MiB)".to_owned(), |run| run.rss_end_mib),
        ("RSS peak, VmHWM (MiB)".to_owned(), |run| run.rss_peak_mib),
        ("threads".to_owned(), |run| run.threads),
    ];
    println!();
    let reference = variants[0].as_str();
    let others = &variants[1..];
    let mut header = format!("| median of {rounds} runs |");
    for variant in &variants {
        header += &format!(" {variant} |");
    }
    for variant in others {
        header += &format!(" {variant} / {reference} |");
    }
    println!("{header}");
    println!("|---|{}", "---:|".repeat(variants.len() + others.len()));
    for (name, metric) in metrics {
        let medians: Vec<f64> = variants
            .iter()
            .map(|variant| median(&mut runs[variant.as_str()].iter().map(metric).collect::<Vec<_>>()))
            .collect();
        let mut row = format!("| {name} |");
        for value in &medians {
            row += &format!(" {} |", shown(*value));
        }
        for value in &medians[1..] {
            row += &format!(" {:.2} |", value / medians[0]);
        }
        println!("{row}");
    }
    let wrong: u64 = runs.values().flatten().map(|run| run.wrong_statuses).sum();
    println!("\nresponses with another status than expected: {wrong}");
}

fn shown(value: f64) -> String {
    if value >= 100.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}
