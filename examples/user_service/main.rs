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
//! beside this folder (`cargo run --example track_request`, ...).
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
//! implements `RequestOutcome` (in `service.rs`). Paths no route matches get axum's 404 without
//! touching a handler, so they are not recorded either.
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

mod service;
mod setup;

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use obs_runtime::Deadline;
use obs_runtime::logging::LoggingConfig;

use setup::{alert_rules, env_url, health_checks, trace_config};

/// Where the app listens when `APP_ADDR` is not set.
const DEFAULT_APP_ADDR: &str = "127.0.0.1:8080";

/// How long a client may take to send a request's headers, and a kept-alive connection may wait
/// for its next request: a half-sent request cannot hold the app, or its shutdown.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

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
    let app = service::app();
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
