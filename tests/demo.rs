//! The demo (`examples/user_service/`) as a user runs it: a real process on free ports, real
//! HTTP requests, a real scrape of `/metrics`, and a real signal to stop it.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::demo::{Demo, post, run_to_exit};
use common::receiver::Hanging;
use common::{get, sample};

/// How long the demo may take to stop after a signal: its own bound is its shutdown deadline,
/// 10 s by default, and nothing hangs here.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

fn requests_total(body: &str, method: &str, endpoint: &str, status: &str) -> Option<f64> {
    sample(body, "http_requests_total", &[("method", method), ("endpoint", endpoint), ("status", status)])
}

#[test]
fn the_user_service_answers_records_red_metrics_and_stops_on_sigterm() {
    let demo = Demo::start();
    let app = demo.app;
    let status_of = |path: &str| get(app, path).expect("request the demo").status;

    let users = get(app, "/users").expect("GET /users");
    assert_eq!(users.status, 200, "{users:?}");
    assert!(users.body.contains(r#""name":"ada""#), "{}", users.body);
    let ada = get(app, "/users/1").expect("GET /users/1");
    assert_eq!(ada.status, 200, "{ada:?}");
    assert!(ada.body.contains(r#""id":1"#) && ada.body.contains(r#""name":"ada""#), "{}", ada.body);
    assert_eq!(status_of("/users/999"), 404);
    assert_eq!(status_of("/users/not-a-number"), 404);
    assert_eq!(status_of("/users?fail=1"), 500);
    assert_eq!(status_of("/users/1?fail=1"), 500);

    let good_json = post(app, "/login", JSON, r#"{"user":"ada","password":"lovelace"}"#).expect("POST /login");
    assert_eq!(good_json.status, 200, "{good_json:?}");
    assert!(good_json.body.contains(r#""token":"#), "{}", good_json.body);
    let good_form = post(app, "/login", FORM, "user=gr%61ce&password=hopper").expect("POST /login");
    assert_eq!(good_form.status, 200, "{good_form:?}");
    let wrong_password = post(app, "/login", JSON, r#"{"user":"ada","password":"nope"}"#).expect("POST /login");
    assert_eq!(wrong_password.status, 401, "{wrong_password:?}");
    assert!(!wrong_password.body.contains("token"), "{}", wrong_password.body);
    let unknown_user = post(app, "/login", FORM, "user=mallory&password=lovelace").expect("POST /login");
    assert_eq!(unknown_user.status, 401, "{unknown_user:?}");
    assert_eq!(post(app, "/login?fail=1", JSON, r#"{"user":"ada","password":"lovelace"}"#).expect("POST").status, 500);

    // A fresh process: every count is exactly what was sent above, recorded before the response
    // went out.
    let body = demo.scrape();
    let expected = [
        ("GET", "/users", "200", 1.0),
        ("GET", "/users", "500", 1.0),
        ("GET", "/users/{id}", "200", 1.0),
        ("GET", "/users/{id}", "404", 2.0),
        ("GET", "/users/{id}", "500", 1.0),
        ("POST", "/login", "200", 2.0),
        ("POST", "/login", "401", 2.0),
        ("POST", "/login", "500", 1.0),
    ];
    for (method, endpoint, status, count) in expected {
        assert_eq!(
            requests_total(&body, method, endpoint, status),
            Some(count),
            "{method} {endpoint} {status}\n{body}"
        );
    }
    assert!(body.contains("# TYPE http_requests_total counter\n"), "{body}");
    assert!(body.contains("# TYPE http_request_duration_seconds histogram\n"), "{body}");

    // Exactly the three labels on every request counter, and no series beyond those sent.
    let counters: Vec<&str> = body.lines().filter(|line| line.starts_with("http_requests_total{")).collect();
    assert_eq!(counters.len(), expected.len(), "{body}");
    for line in &counters {
        let labels = &line["http_requests_total{".len()..line.rfind('}').expect("closing brace")];
        let names: Vec<&str> =
            labels.split(',').filter_map(|label| label.split_once('=')).map(|(name, _)| name).collect();
        assert_eq!(names, ["method", "endpoint", "status"], "{line}");
    }

    // The endpoint label is the route template, never the path a client sent.
    for raw in ["/users/1\"", "/users/999", "/users/not-a-number", "fail="] {
        assert!(!body.contains(raw), "the scrape contains {raw:?}:\n{body}");
    }

    let id_labels = [("method", "GET"), ("endpoint", "/users/{id}")];
    assert_eq!(sample(&body, "http_request_duration_seconds_count", &id_labels), Some(4.0), "{body}");
    let inf_bucket = [("method", "GET"), ("endpoint", "/users/{id}"), ("le", "+Inf")];
    assert_eq!(sample(&body, "http_request_duration_seconds_bucket", &inf_bucket), Some(4.0), "{body}");
    // /login has its own buckets, those of its attribute in examples/user_service/service.rs
    // (catches: a site's buckets ignored for the defaults), and its 5 requests are in +Inf.
    let login_bounds: Vec<&str> = body
        .lines()
        .filter(|line| {
            line.starts_with("http_request_duration_seconds_bucket{") && line.contains("endpoint=\"/login\"")
        })
        .filter_map(|line| line.split("le=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(login_bounds, ["0.001", "0.005", "0.025", "0.1", "0.5", "2.5", "+Inf"], "{body}");
    let login_inf = [("method", "POST"), ("endpoint", "/login"), ("le", "+Inf")];
    assert_eq!(sample(&body, "http_request_duration_seconds_bucket", &login_inf), Some(5.0), "{body}");

    // The sites with `track_concurrency` have in-flight gauges, summed in `active_connections`;
    // nothing is in flight between requests.
    assert_eq!(sample(&body, "http_requests_in_flight", &id_labels), Some(0.0), "{body}");
    assert_eq!(sample(&body, "active_connections", &[]), Some(0.0), "{body}");
    assert!(sample(&body, "http_requests_in_flight", &[("method", "GET"), ("endpoint", "/users")]).is_none());

    let status = demo.terminate(STOP_TIMEOUT);
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}");
}

#[test]
fn sigint_stops_the_demo_cleanly_too() {
    let mut demo = Demo::start();
    assert_eq!(get(demo.app, "/users").expect("GET /users").status, 200);
    let status = demo.process.signal_and_wait("INT", STOP_TIMEOUT);
    assert_eq!(status.code(), Some(0), "exit status after SIGINT: {status}");
    let stderr = demo.process.stderr_after_exit();
    assert!(stderr.contains("SIGINT received") && stderr.contains("stopped"), "{stderr}");
}

#[test]
fn bad_addresses_exit_non_zero_with_a_message_naming_the_variable() {
    for (variable, value) in [
        ("APP_ADDR", "nonsense"),
        ("OBS_HTTP_ADDR", "nonsense"),
        ("OBS_HTTP_ADDR", "127.0.0.1:99999"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("DATABASE_URL", "postgres://127.0.0.1:notaport/db"),
        ("EXTERNAL_API_URL", "ftp://api.example.com/health"),
        ("EXTERNAL_API_URL", "https://user:pw@api.example.com/health?api_key=S3CRET"),
    ] {
        let (status, stdout, stderr) = run_to_exit(&[(variable, value)], STOP_TIMEOUT);
        assert!(!status.success(), "{variable}={value}: {status}");
        assert_eq!(status.code(), Some(1), "{variable}={value} exits 1 (not a panic's 101): {status}\n{stderr}");
        // A URL is shown as scheme://host:port only (its path, query and user info may be
        // secrets); a database URL (which may hold a password) is named, not shown.
        let shown = match variable {
            "DATABASE_URL" => true,
            "EXTERNAL_API_URL" => {
                stderr.contains("://api.example.com") && !stderr.contains("/health") && !stderr.contains("S3CRET")
            }
            _ => stderr.contains(value),
        };
        assert!(stderr.contains(variable) && shown, "{variable}={value}: {stderr}");
        assert!(!stderr.contains("user:pw"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stdout.contains("listening"), "{variable}={value} must not claim to be ready: {stdout}");
    }
}

fn health(demo: &Demo) -> (u16, serde_json::Value) {
    let response = get(demo.metrics, "/health").expect("GET /health");
    let body = serde_json::from_str(&response.body).expect("JSON");
    (response.status, body)
}

#[test]
fn without_dependencies_the_demo_is_degraded_and_says_what_is_missing() {
    let demo = Demo::start();
    let (status, body) = health(&demo);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    for (check, variable) in
        [("database", "DATABASE_URL"), ("cache", "REDIS_URL"), ("external_api", "EXTERNAL_API_URL")]
    {
        assert_eq!(body["checks"][check]["status"], "degraded", "{body}");
        assert_eq!(body["checks"][check]["message"], format!("{variable} is not set"), "{body}");
    }
    assert_eq!(get(demo.metrics, "/health/live").expect("live").status, 200);
}

#[test]
#[ignore = "needs redis-server and postgresql: scripts/install-backends.sh"]
fn with_its_dependencies_the_demo_is_healthy_and_fails_when_one_goes() {
    let mut redis = common::backends::Redis::start();
    let postgres = common::backends::Postgres::start();
    let api = obs_runtime::Obs::builder().http_addr("127.0.0.1:0").init().expect("a live HTTP endpoint");
    let api_url = format!("http://{}/health/live", api.http_addr().expect("running"));
    let demo = Demo::start_with(&[
        ("DATABASE_URL", &postgres.url()),
        ("REDIS_URL", &redis.url()),
        ("EXTERNAL_API_URL", &api_url),
    ]);
    let (status, body) = health(&demo);
    assert_eq!((status, body["status"].as_str()), (200, Some("healthy")), "{body}");
    assert!(body["checks"]["cache"]["details"]["connected_clients"].as_u64().is_some(), "{body}");
    assert!(body["checks"]["database"]["details"]["active_connections"].as_u64().is_some(), "{body}");

    redis.stop();
    // The demo caches results for a second: poll until the failure shows, within a bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        let (status, body) = health(&demo);
        if status == 503 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["cache"]["status"], "unhealthy", "{body}");
    assert_eq!(get(demo.metrics, "/health/ready").expect("ready").status, 503);
    let scrape = demo.scrape();
    assert!(scrape.contains("health_check_status{check=\"cache\"} 0"), "{scrape}");
}

#[test]
fn the_demo_logs_each_request_and_login_as_json_with_the_password_redacted() {
    let spans_file = std::env::temp_dir().join(format!("obs-demo-spans-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&spans_file);
    let demo = Demo::start_with(&[("OBS_SPANS_FILE", spans_file.to_str().expect("UTF-8"))]);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response =
        common::request(demo.app, "GET", "/users", &format!("traceparent: {traceparent}\r\n")).expect("GET /users");
    assert_eq!(response.status, 200);
    let handled = demo.log_line(|line| line["message"] == "request handled" && line["metadata"]["path"] == "/users");
    assert_eq!(handled["service"], "user-service");
    assert_eq!(handled["level"], "INFO");
    // The line is in the request's server span, a child of the caller's.
    assert_eq!(handled["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(handled["span_id"].as_str().is_some_and(|id| id.len() == 16 && id != "00f067aa0ba902b7"), "{handled}");
    assert_eq!(handled["metadata"]["status"], 200);
    // The first request this process served (its readiness is read from stdout, not asked over
    // HTTP): its request id is 1. Catches: ids that do not count requests from the start.
    assert_eq!(handled["request_id"], 1, "{handled}");
    assert!(handled["metadata"]["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{handled}");

    let body = r#"{"user":"ada","password":"lovelace"}"#;
    assert_eq!(post(demo.app, "/login", "application/json", body).expect("login").status, 200);
    let attempt = demo.log_line(|line| line["message"] == "login attempt");
    assert_eq!(attempt["user_id"], "ada");
    assert_eq!(attempt["metadata"]["password"], "[REDACTED]");
    assert!(
        attempt["trace_id"].as_str().is_some_and(|id| id != "4bf92f3577b34da6a3ce929d0e0e4736"),
        "a trace of its own"
    );

    // With a traceparent, the handler's own lines are in the caller's trace too.
    let login = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\ntraceparent: {traceparent}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(common::raw_request(demo.app, &login).expect("login").status, 200);
    let traced = demo.log_line(|line| line["message"] == "login attempt");
    assert_eq!(traced["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let success = demo.log_line(|line| line["message"] == "User login successful");
    assert_eq!(success["user_id"], 1);

    assert_eq!(common::get(demo.app, "/users?fail=1").expect("GET").status, 500);
    let failed = demo.log_line(|line| line["message"] == "request failed");
    assert_eq!(failed["level"], "ERROR");

    // Correlation: each line's trace_id and span_id are those of an exported span (written to
    // OBS_SPANS_FILE, flushed when the demo stops).
    assert!(demo.terminate(Duration::from_secs(15)).success());
    let spans: Vec<serde_json::Value> = std::fs::read_to_string(&spans_file)
        .expect("the spans file")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON span"))
        .collect();
    // The request lines are in the server span; the handlers' lines in tower-http's request span
    // inside it (a `tracing` span, bridged), the innermost.
    for (line, span_name, kind) in [
        (&handled, "GET /users", "server"),
        (&attempt, "request", "internal"),
        (&traced, "request", "internal"),
        (&failed, "GET /users", "server"),
    ] {
        let span = spans
            .iter()
            .find(|span| span["span_id"] == line["span_id"])
            .unwrap_or_else(|| panic!("no exported span has the span_id of {line}: {spans:#?}"));
        assert_eq!(span["trace_id"], line["trace_id"], "{line}");
        assert_eq!(span["name"], span_name, "{line}");
        assert_eq!(span["kind"], kind, "{line}");
    }
    let _ = std::fs::remove_file(&spans_file);
}

#[test]
fn a_bad_shutdown_timeout_exits_non_zero_naming_the_variable_not_its_value() {
    for value in ["soonish", "0s", "11m"] {
        let (status, stdout, stderr) = run_to_exit(&[("OBS_SHUTDOWN_TIMEOUT", value)], STOP_TIMEOUT);
        assert_eq!(status.code(), Some(1), "OBS_SHUTDOWN_TIMEOUT={value}: {status}\n{stderr}");
        assert!(stderr.contains("OBS_SHUTDOWN_TIMEOUT") && !stderr.contains(value), "{value}: {stderr}");
        assert!(!stdout.contains("listening"), "{value} must not claim to be ready: {stdout}");
    }
}

/// Sends the start of a request to `addr` and never the rest.
fn half_sent_request(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.write_all(b"GET /users HTTP/1.1\r\nHost: x\r\n").expect("half a request");
    stream
}

#[test]
fn sigterm_stops_the_demo_within_its_deadline_with_a_hanging_collector_webhook_and_client() {
    let collector = Hanging::start();
    let webhook = Hanging::start();
    let mut demo = Demo::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OBS_WEBHOOK_URL", &webhook.url()),
        ("OBS_ALERT_EVAL_INTERVAL", "100ms"),
        ("OBS_ERROR_RATE_WINDOW", "10s"),
        ("OBS_ERROR_RATE_FOR", "0s"),
        ("OBS_SHUTDOWN_TIMEOUT", "3s"),
    ]);
    // Failing requests fire high_error_rate: its notification goes to the webhook, which holds it;
    // their spans go to the collector, which holds the export.
    for _ in 0..10 {
        assert_eq!(get(demo.app, "/users/1?fail=1").expect("request the demo").status, 500);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while webhook.accepted() == 0 || collector.accepted() == 0 {
        assert!(Instant::now() < deadline, "no notification or export reached the hanging servers");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _held = half_sent_request(demo.app);

    // Three times its deadline, and well below the 23.6 s the parts took one after the other.
    let started = Instant::now();
    let status = demo.process.signal_and_wait("TERM", Duration::from_secs(9));
    eprintln!("the demo stopped {:?} after SIGTERM (its deadline: 3 s)", started.elapsed());
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}");
    let stderr = demo.process.stderr_after_exit();
    assert!(stderr.contains("SIGTERM received") && stderr.contains("stopped"), "{stderr}");
}

#[test]
fn the_demo_masks_card_numbers_in_its_logs_redacts_the_profile_calls_url_and_times_out_headers() {
    let spans = common::TempDir::new("demo-masking");
    let spans_file = spans.path().join("spans.jsonl");
    let demo = Demo::start_with(&[
        ("OBS_SPANS_FILE", spans_file.to_str().expect("UTF-8")),
        // Port 9 is closed: the call fails, and its span is exported all the same.
        ("PROFILE_SERVICE_URL", "http://127.0.0.1:9/?api_key=s3cr3t-profile-key"),
    ]);
    // A client that never finishes its headers is closed by the app's header timeout (5 s).
    let mut half_sent = half_sent_request(demo.app);
    half_sent.set_read_timeout(Some(Duration::from_secs(20))).expect("a read timeout");

    let card = "4111 1111 1111 1111";
    let login = post(demo.app, "/login", "application/json", &format!(r#"{{"user":"{card}","password":"x"}}"#));
    assert_eq!(login.expect("POST /login").status, 401);
    for message in ["login attempt", "login failed"] {
        let line = demo.log_line(|line| line["message"] == message);
        assert_eq!(line["user_id"], "**** **** **** 1111", "{line}");
        assert!(!line.to_string().contains("4111 1111"), "{line}");
    }

    let user = get(demo.app, "/users/1").expect("GET /users/1");
    assert_eq!(user.status, 200, "without the profile service, the user comes without a profile");
    // The call is counted by the client middleware, with what went wrong.
    let refused = [
        ("http_request_method", "GET"),
        ("server_address", "127.0.0.1"),
        ("server_port", "9"),
        ("http_response_status_code", ""),
        ("error_type", "connection_refused"),
    ];
    let body = demo.scrape();
    assert_eq!(sample(&body, "http_client_request_duration_seconds_count", &refused), Some(1.0), "{body}");

    let mut rest = Vec::new();
    let closed = half_sent.read_to_end(&mut rest);
    assert!(closed.is_ok(), "the half-sent request is still held after 20 s: {closed:?}");

    assert!(demo.terminate(STOP_TIMEOUT).success());
    let text = std::fs::read_to_string(&spans_file).expect("the spans file");
    assert!(!text.contains("s3cr3t-profile-key"), "{text}");
    let spans: Vec<serde_json::Value> =
        text.lines().map(|line| serde_json::from_str(line).expect("a JSON span")).collect();
    let call = spans
        .iter()
        .find(|span| span["kind"] == "client" && span["attributes"]["url.full"].is_string())
        .unwrap_or_else(|| panic!("no client span with url.full: {spans:#?}"));
    assert_eq!(call["attributes"]["url.full"], "http://127.0.0.1:9/profiles/1?api_key=REDACTED", "{call}");
    assert_eq!(call["attributes"]["error.type"], "connection_refused", "{call}");
}
