//! The demo's spans over OTLP/HTTP to real receivers: a sink decoding with the official
//! `opentelemetry-proto` types (one trace across two processes, retried after a failed export,
//! flushed on SIGTERM), the `rotel` collector, and a collector that is down (the app serves on,
//! spans are dropped and counted, the process still stops at once); the same trace carried by B3
//! (single and multi headers) when `OTEL_PROPAGATORS` says so.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::backends::free_port;
use common::demo::{Demo, KillOnDrop, example};
use common::otlp::{Rotel, Sink};
use serde_json::Value;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n";

/// Starts the profile service exporting to `endpoint`; returns it and its address.
fn profile_service(endpoint: &str, extra: &[(&str, &str)]) -> (KillOnDrop, u16) {
    let port = free_port();
    let child = Command::new(example("profile_service"))
        .env("PROFILE_ADDR", format!("127.0.0.1:{port}"))
        .env("OBS_HTTP_ADDR", "127.0.0.1:0")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the profile service");
    let mut process = KillOnDrop::new("profile_service", child);
    process.collect_stderr();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the profile service did not listen: {}", process.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    (process, port)
}

fn named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    let found: Vec<&Value> = spans.iter().filter(|span| span["name"] == name).collect();
    assert_eq!(found.len(), 1, "one span named {name} in {spans:#?}");
    found[0]
}

#[test]
fn one_trace_crosses_two_processes_and_reaches_a_real_decoder() {
    // The first export is refused (503): it is retried, and nothing is lost.
    let sink = Sink::start(1);
    let endpoint = format!("http://127.0.0.1:{}", sink.http_port);
    let (mut profile, profile_port) = profile_service(&endpoint, &[]);
    let demo = Demo::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,service.version=1.2.3"),
        ("PROFILE_SERVICE_URL", &format!("http://127.0.0.1:{profile_port}")),
    ]);
    let response = common::request(demo.app, "GET", "/users/1", TRACEPARENT).expect("GET /users/1");
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.body.contains("\"plan\":\"pro\""), "the profile service answered: {}", response.body);
    let failed = common::request(demo.app, "GET", "/users/2?fail=1", "").expect("GET ?fail=1");
    assert_eq!(failed.status, 500);

    let spans = sink.wait_for(|spans| {
        spans.iter().filter(|span| span["trace_id"] == TRACE_ID).count() >= 9
            && spans.iter().any(|span| span["attributes"]["operation.status"] == "error")
    });
    let trace: Vec<Value> = spans.iter().filter(|span| span["trace_id"] == TRACE_ID).cloned().collect();
    assert_eq!(trace.len(), 9, "{trace:#?}");
    let server = named(&trace, "GET /users/{id}");
    let operation = named(&trace, "process_user_request");
    let query = named(&trace, "database_query");
    let external = named(&trace, "external_api_call");
    let client = named(&trace, "GET");
    let downstream = named(&trace, "GET /profiles/{id}");
    let load = named(&trace, "load_profile");
    // `tracing` spans, bridged: tower-http's request span and the instrumented row fetch.
    let tower = named(&trace, "request");
    let row = named(&trace, "fetch_user_row");
    // The tree, across the process boundary.
    assert_eq!(server["parent_span_id"], "00f067aa0ba902b7", "the caller's traceparent is the parent");
    assert_eq!(tower["parent_span_id"], server["span_id"]);
    assert_eq!(operation["parent_span_id"], tower["span_id"]);
    assert_eq!(row["parent_span_id"], query["span_id"]);
    assert_eq!(row["attributes"]["id"], 1);
    assert_eq!(query["parent_span_id"], operation["span_id"]);
    assert_eq!(external["parent_span_id"], operation["span_id"]);
    assert_eq!(client["parent_span_id"], external["span_id"]);
    assert_eq!(downstream["parent_span_id"], client["span_id"], "the downstream server span joins the trace");
    assert_eq!(load["parent_span_id"], downstream["span_id"]);
    // Resources, kinds, attributes with their types, statuses.
    for span in [server, operation, query, external, client] {
        assert_eq!(span["resource"]["service.name"], "user-service");
        assert_eq!(span["resource"]["deployment.environment.name"], "test");
        assert_eq!(span["resource"]["service.version"], "1.2.3");
        assert_eq!(span["resource"]["telemetry.sdk.name"], "obs");
        assert_eq!(span["scope"], "obs");
        assert_eq!(span["transport"], "http");
        assert_eq!(span["flags"], 1, "sampled");
        assert!(span["end_time_unix_nano"].as_u64() >= span["start_time_unix_nano"].as_u64());
    }
    assert_eq!(downstream["resource"]["service.name"], "profile-service");
    assert_eq!(load["resource"]["service.name"], "profile-service");
    assert_eq!(
        (server["kind"].as_u64(), query["kind"].as_u64(), operation["kind"].as_u64()),
        (Some(2), Some(3), Some(1))
    );
    assert_eq!(server["attributes"]["http.route"], "/users/{id}");
    assert_eq!(server["attributes"]["http.response.status_code"], 200, "an integer, not a string");
    assert_eq!(operation["attributes"]["operation.name"], "process_user_request");
    assert_eq!(operation["attributes"]["operation.status"], "success");
    assert_eq!(operation["attributes"]["user_id"], "1");
    assert_eq!(operation["status"]["code"], 1, "OK");
    assert_eq!(query["attributes"]["db.system"], "postgresql");
    assert_eq!(load["attributes"]["id"], 1);

    // ?fail=1: the operation ends as an error, with the message and an exception event.
    let failed = spans
        .iter()
        .find(|span| span["name"] == "process_user_request" && span["attributes"]["operation.status"] == "error")
        .expect("the failed operation");
    assert_eq!(failed["attributes"]["error.message"], "failure requested with ?fail=1");
    assert_eq!(failed["status"], serde_json::json!({"code": 2, "message": "failure requested with ?fail=1"}));
    assert_eq!(failed["events"][0]["name"], "exception");
    assert_eq!(failed["events"][0]["attributes"]["exception.message"], "failure requested with ?fail=1");

    // The self-metrics count what went out.
    let scrape = demo.scrape();
    assert!(
        common::sample(&scrape, "obs_spans_exported_total", &[]).is_some_and(|exported| exported >= 7.0),
        "{scrape}"
    );
    assert_eq!(common::sample(&scrape, "obs_spans_dropped_total", &[("reason", "export_failed")]), Some(0.0));

    assert!(demo.terminate(Duration::from_secs(15)).success());
    assert!(profile.signal_and_wait("TERM", Duration::from_secs(15)).success());
}

#[test]
fn a_collector_that_is_down_costs_dropped_spans_not_service() {
    let closed = free_port();
    let demo = Demo::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://127.0.0.1:{closed}")),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ]);
    for _ in 0..10 {
        let response = common::get(demo.app, "/users/3").expect("GET /users/3");
        assert_eq!(response.status, 200);
    }
    // Each request makes 7 spans (server, tower-http's request, operation, query, the row fetch,
    // external call, client), all dropped after the retries, and counted.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let scrape = demo.scrape();
        let dropped = common::sample(&scrape, "obs_spans_dropped_total", &[("reason", "export_failed")]).unwrap_or(0.0);
        if dropped >= 70.0 {
            // Catches: a span counted twice (once per failed attempt) or never.
            assert_eq!(dropped, 70.0, "{scrape}");
            assert_eq!(common::sample(&scrape, "obs_spans_exported_total", &[]), Some(0.0));
            break;
        }
        assert!(Instant::now() < deadline, "spans were not counted as dropped: {scrape}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Stopping does not wait on the dead collector for long.
    let stopping = Instant::now();
    assert!(demo.terminate(Duration::from_secs(20)).success());
    eprintln!("stopped {:?} after SIGTERM", stopping.elapsed());
}

#[test]
fn a_real_collector_receives_the_trace_of_both_processes() {
    let rotel = Rotel::start();
    let endpoint = format!("http://127.0.0.1:{}", rotel.http_port);
    let (mut profile, profile_port) = profile_service(&endpoint, &[]);
    let demo = Demo::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("PROFILE_SERVICE_URL", &format!("http://127.0.0.1:{profile_port}")),
    ]);
    let response = common::request(demo.app, "GET", "/users/1", TRACEPARENT).expect("GET /users/1");
    assert_eq!(response.status, 200);
    assert!(demo.terminate(Duration::from_secs(15)).success());
    assert!(profile.signal_and_wait("TERM", Duration::from_secs(15)).success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output = rotel.output();
        let received =
            ["process_user_request", "database_query", "external_api_call", "load_profile", "GET /profiles/{id}"]
                .iter()
                .all(|name| output.contains(name));
        if received
            && output.contains(TRACE_ID)
            && output.contains("user-service")
            && output.contains("profile-service")
        {
            break;
        }
        assert!(Instant::now() < deadline, "rotel did not print the trace:\n{output}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// With `OTEL_PROPAGATORS` set alike in both services, a caller speaking only B3 (one header, or
/// the `X-B3-*` ones) joins the trace, which crosses to the profile service in the same format.
#[test]
fn b3_single_and_multi_carry_one_trace_across_both_services() {
    const B3_TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const B3_SPAN: &str = "e457b5a2e4d86bd1";
    for (propagators, header) in [
        ("b3", format!("b3: {B3_TRACE}-{B3_SPAN}-1\r\n")),
        ("b3multi", format!("X-B3-TraceId: {B3_TRACE}\r\nX-B3-SpanId: {B3_SPAN}\r\nX-B3-Sampled: 1\r\n")),
        // A service that speaks both: the B3-only caller is found by the second.
        ("tracecontext,b3", format!("b3: {B3_TRACE}-{B3_SPAN}-1\r\n")),
    ] {
        let sink = Sink::start(0);
        let endpoint = format!("http://127.0.0.1:{}", sink.http_port);
        let (_profile, profile_port) = profile_service(&endpoint, &[("OTEL_PROPAGATORS", propagators)]);
        let demo = Demo::start_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_PROPAGATORS", propagators),
            ("PROFILE_SERVICE_URL", &format!("http://127.0.0.1:{profile_port}")),
        ]);
        let response = common::request(demo.app, "GET", "/users/1", &header).expect("GET /users/1");
        assert_eq!(response.status, 200, "{propagators}: {response:?}");
        let spans = sink.wait_for(|spans| spans.iter().filter(|span| span["trace_id"] == B3_TRACE).count() >= 9);
        let trace: Vec<Value> = spans.iter().filter(|span| span["trace_id"] == B3_TRACE).cloned().collect();
        assert_eq!(trace.len(), 9, "{propagators}: {trace:#?}");
        let server = named(&trace, "GET /users/{id}");
        assert_eq!(server["parent_span_id"], B3_SPAN, "{propagators}: the B3 caller is the parent");
        let client = named(&trace, "GET");
        let downstream = named(&trace, "GET /profiles/{id}");
        assert_eq!(downstream["parent_span_id"], client["span_id"], "{propagators}: the profile service joins");
        assert_eq!(downstream["resource"]["service.name"], "profile-service");
    }
}
