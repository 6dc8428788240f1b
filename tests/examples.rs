//! The small examples (`examples/*.rs` beside the showcase) as a user runs them: each one built,
//! run as a process of its own until it exits by itself, and what it prints checked against what
//! its code did (the calls it made, the spans it opened, the alert it drove).

mod common;

use std::time::Duration;

use common::demo::run_example;
use serde_json::Value;

/// How long an example may run: each one does a few calls and exits in well under a second.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `name`, asserts that it exited 0, and returns its stdout.
fn run(name: &'static str) -> String {
    let (status, stdout, stderr) = run_example(name, RUN_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{name}: {status}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
    stdout
}

/// The lines of `stdout` that are JSON objects.
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout.lines().filter(|line| line.starts_with('{')).map(|line| serde_json::from_str(line).expect("JSON")).collect()
}

/// The JSON object on the line after `heading`.
fn json_after(stdout: &str, heading: &str) -> Value {
    let mut lines = stdout.lines().skip_while(|line| *line != heading);
    assert_eq!(lines.next(), Some(heading), "{stdout}");
    serde_json::from_str(lines.next().expect("a line after the heading")).expect("JSON")
}

#[test]
fn track_request_prints_the_series_of_the_calls_it_made() {
    let stdout = run("track_request");
    let mut series: Vec<&str> = stdout.lines().filter(|line| line.starts_with("http_requests_total{")).collect();
    series.sort_unstable();
    // get_user(1) twice, get_user(999) once (404 from its error's RequestOutcome), login once.
    assert_eq!(
        series,
        [
            r#"http_requests_total{method="GET",endpoint="/users/{id}",status="200"} 2"#,
            r#"http_requests_total{method="GET",endpoint="/users/{id}",status="404"} 1"#,
            r#"http_requests_total{method="POST",endpoint="/login",status="200"} 1"#,
        ],
        "{stdout}"
    );
}

#[test]
fn trace_operation_exports_each_operation_with_its_child_and_the_failure() {
    let spans = json_lines(&run("trace_operation"));
    assert_eq!(spans.len(), 4, "two requests, each with its query: {spans:#?}");
    for request in spans.iter().filter(|span| span["name"] == "process_user_request") {
        let query = spans
            .iter()
            .find(|span| span["name"] == "database_query" && span["parent_span_id"] == request["span_id"])
            .unwrap_or_else(|| panic!("no child query of {request}"));
        assert_eq!(query["trace_id"], request["trace_id"]);
        assert_eq!(query["kind"], "client");
        assert_eq!(query["attributes"]["db.system"], "postgresql");
        let failed = request["attributes"]["user_id"] == 2;
        let status = if failed { "error" } else { "success" };
        for span in [request, query] {
            assert_eq!(span["attributes"]["operation.status"], status, "{span}");
            assert_eq!(span["service"], "trace-example", "{span}");
        }
        if failed {
            assert_eq!(request["status"]["message"], "no such user", "{request}");
            assert_eq!(request["events"][0]["name"], "exception", "{request}");
        }
    }
}

#[test]
fn health_checks_serves_the_report_and_readiness_of_its_checks() {
    let stdout = run("health_checks");
    let health = json_after(&stdout, "GET /health: 200");
    // A non-critical check degraded: degraded overall, still 200.
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["checks"]["database"]["status"], "healthy", "{health}");
    assert_eq!(health["checks"]["search"]["status"], "degraded", "{health}");
    assert_eq!(health["checks"]["search"]["details"]["healthy_shards"], 2, "{health}");
    // Readiness runs the critical checks only.
    let ready = json_after(&stdout, "GET /health/ready: 200");
    assert_eq!(ready["status"], "healthy", "{ready}");
    assert_eq!(ready["checks"].as_object().map(|checks| checks.len()), Some(1), "{ready}");
}

#[test]
fn alerts_fires_then_resolves_through_its_channel_and_prints_the_rule_for_prometheus() {
    let stdout = run("alerts");
    let notifications: Vec<&str> = stdout.lines().filter(|line| line.contains(" queue_backlog ")).collect();
    assert_eq!(
        notifications,
        [
            "firing queue_backlog (Warning): 250 jobs are waiting",
            // A resolution repeats the message the alert fired with.
            "resolved queue_backlog (Warning): 250 jobs are waiting",
        ],
        "{stdout}"
    );
    assert!(stdout.contains(r#"expr: "max(example_queue_depth) > 100""#), "{stdout}");
}

#[test]
fn logging_writes_json_lines_with_secrets_redacted_and_the_spans_ids() {
    let lines = json_lines(&run("logging"));
    let messages: Vec<&str> = lines.iter().filter_map(|line| line["message"].as_str()).collect();
    assert_eq!(messages, ["card on file", "login attempt", "login failed"], "{lines:#?}");
    assert_eq!(lines[0]["metadata"]["card"], "**** **** **** 1111", "{}", lines[0]);
    assert_eq!(lines[0]["trace_id"], Value::Null, "{}", lines[0]);
    assert_eq!(lines[1]["metadata"]["password"], "[REDACTED]", "{}", lines[1]);
    assert!(lines[1]["trace_id"].as_str().is_some_and(|id| id.len() == 32), "in the login span: {}", lines[1]);
    assert_eq!(lines[2]["level"], "WARN", "{}", lines[2]);
}

#[test]
fn tower_layer_records_by_route_and_joins_the_callers_trace() {
    let stdout = run("tower_layer");
    let mut series: Vec<&str> = stdout.lines().filter(|line| line.starts_with("http_requests_total{")).collect();
    series.sort_unstable();
    assert_eq!(
        series,
        [
            r#"http_requests_total{method="GET",endpoint="/users/{id}",status="200"} 2"#,
            r#"http_requests_total{method="GET",endpoint="/users/{id}",status="404"} 1"#,
        ],
        "{stdout}"
    );
    let spans = json_lines(&stdout);
    assert_eq!(spans.len(), 3, "a server span per request: {spans:#?}");
    assert!(spans.iter().all(|span| span["kind"] == "server" && span["name"] == "GET /users/{id}"), "{spans:#?}");
    let joined = spans
        .iter()
        .find(|span| span["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736")
        .unwrap_or_else(|| panic!("no span in the caller's trace: {spans:#?}"));
    assert_eq!(joined["parent_span_id"], "00f067aa0ba902b7", "{joined}");
}
