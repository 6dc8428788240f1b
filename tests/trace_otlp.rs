//! The demo's spans over OTLP/HTTP to real receivers: a sink decoding with the official
//! `opentelemetry-proto` types (one trace across two processes, retried after a failed export,
//! flushed on SIGTERM), the `rotel` collector, and a collector that is down (the app serves on,
//! spans are dropped and counted, the process still stops at once); the same trace carried by B3
//! (single and multi headers, the debug flag) and W3C Baggage when `OTEL_PROPAGATORS` says so.

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

/// A B3 caller asking for debug tracing, with W3C Baggage (`OTEL_PROPAGATORS=b3multi,baggage`
/// in both services, which sample nothing of their own: only the caller's decision gets spans
/// out): the caller's `tenant` entry crosses both processes into the spans of each (the demos name
/// it), its other entries into none.
#[test]
fn baggage_crosses_both_services_into_the_named_attributes() {
    const TRACE: &str = "a0f198ee56343ba864fe8b2a57d3eff7";
    let sink = Sink::start(0);
    let endpoint = format!("http://127.0.0.1:{}", sink.http_port);
    let settings = [("OTEL_PROPAGATORS", "b3multi,baggage"), ("OTEL_TRACES_SAMPLER", "parentbased_always_off")];
    let (_profile, profile_port) = profile_service(&endpoint, &settings);
    let profile_url = format!("http://127.0.0.1:{profile_port}");
    let demo = Demo::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        settings[0],
        settings[1],
        ("PROFILE_SERVICE_URL", &profile_url),
    ]);
    let headers = format!(
        "X-B3-TraceId: {TRACE}\r\nX-B3-SpanId: e457b5a2e4d86bd1\r\nX-B3-Flags: 1\r\n\
         baggage: tenant=acme%20corp;origin=edge, user=alice\r\n"
    );
    let response = common::request(demo.app, "GET", "/users/1", &headers).expect("GET /users/1");
    assert_eq!(response.status, 200, "{response:?}");
    let spans = sink.wait_for(|spans| spans.iter().filter(|span| span["trace_id"] == TRACE).count() >= 9);
    let trace: Vec<Value> = spans.iter().filter(|span| span["trace_id"] == TRACE).cloned().collect();
    assert_eq!(trace.len(), 9, "{trace:#?}");
    let downstream = named(&trace, "GET /profiles/{id}");
    assert_eq!(downstream["parent_span_id"], named(&trace, "GET")["span_id"], "the profile service joins");
    assert_eq!(downstream["resource"]["service.name"], "profile-service");
    for name in ["GET /users/{id}", "GET", "GET /profiles/{id}", "load_profile"] {
        let span = named(&trace, name);
        assert_eq!(span["attributes"]["tenant"], "acme corp", "{name}: {span:#}");
        assert!(span["attributes"].get("user").is_none(), "{name}: {span:#}");
    }
    let others: Vec<&Value> = spans.iter().filter(|span| span["trace_id"] != TRACE).collect();
    assert!(others.is_empty(), "the services sampled nothing of their own: {others:#?}");
}

/// What the user service writes on its call, read off the wire: with `b3,b3multi,baggage`, a B3
/// caller's debug flag goes on in both B3 formats (never `X-B3-Sampled` beside it, never
/// `X-B3-ParentSpanId`), with the trace id and the client span's id, and the baggage as it came
/// (properties and percent-encoding kept).
#[test]
fn the_outgoing_call_carries_b3_debug_and_the_baggage() {
    const TRACE: &str = "b0f198ee56343ba864fe8b2a57d3eff7";
    let sink = Sink::start(0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let downstream = listener.local_addr().expect("its address");
    let (sent, heads) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let (stream, _) = listener.accept().expect("the user service calls");
        let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
        let mut head = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).expect("a request line") > 2 {
            head.push(line.trim_end().to_owned());
            line.clear();
        }
        let body = r#"{"id":1,"plan":"pro"}"#;
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("answer");
        sent.send(head).expect("the test waits");
    });
    let demo = Demo::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://127.0.0.1:{}", sink.http_port)),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_PROPAGATORS", "b3,b3multi,baggage"),
        ("PROFILE_SERVICE_URL", &format!("http://{downstream}")),
    ]);
    let headers = format!("b3: {TRACE}-e457b5a2e4d86bd1-d\r\nbaggage: tenant=acme%20corp;origin=edge, user=alice\r\n");
    let response = common::request(demo.app, "GET", "/users/1", &headers).expect("GET /users/1");
    assert_eq!(response.status, 200, "{response:?}");
    let head = heads.recv_timeout(Duration::from_secs(30)).expect("the call arrives");
    let header = |name: &str| -> Vec<String> {
        head.iter()
            .filter_map(|line| line.split_once(':'))
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_owned())
            .collect()
    };
    let spans = sink.wait_for(|spans| spans.iter().any(|span| span["trace_id"] == TRACE && span["name"] == "GET"));
    let client = spans.iter().find(|span| span["trace_id"] == TRACE && span["name"] == "GET").expect("found");
    let client_span = client["span_id"].as_str().expect("an id");
    assert_eq!(header("b3"), [format!("{TRACE}-{client_span}-d")], "{head:#?}");
    assert_eq!(header("x-b3-traceid"), [TRACE], "{head:#?}");
    assert_eq!(header("x-b3-spanid"), [client_span], "{head:#?}");
    assert_eq!(header("x-b3-flags"), ["1"], "{head:#?}");
    assert!(header("x-b3-sampled").is_empty() && header("x-b3-parentspanid").is_empty(), "{head:#?}");
    assert!(header("traceparent").is_empty(), "tracecontext is not configured: {head:#?}");
    assert_eq!(header("baggage"), ["tenant=acme%20corp;origin=edge,user=alice"], "{head:#?}");
}

#[test]
fn the_demo_sends_metrics_and_log_records_over_otlp_with_the_environment_alone() {
    let sink = Sink::start(0);
    let endpoint = format!("http://127.0.0.1:{}", sink.http_port);
    let demo = Demo::start_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("OTEL_LOGS_EXPORTER", "otlp,console"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
    ]);
    let body = r#"{"user":"ada","password":"lovelace"}"#;
    let headers = format!("{TRACEPARENT}Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    let login = common::raw_request(
        demo.app,
        &format!("POST /login HTTP/1.1\r\nHost: {}\r\n{headers}Connection: close\r\n\r\n{body}", demo.app),
    )
    .expect("POST /login");
    assert_eq!(login.status, 200, "{login:?}");

    // The log records of the login, in the caller's trace, the password redacted.
    let records = sink.wait_for_logs(|records| {
        records.iter().any(|record| record["body"] == "User login successful")
            && records.iter().any(|record| record["body"] == "request handled")
    });
    let attempt = records.iter().find(|record| record["body"] == "login attempt").expect("the attempt");
    assert_eq!(attempt["attributes"]["password"], "[REDACTED]", "{attempt:#}");
    assert_eq!(attempt["attributes"]["user_id"], "ada");
    assert_eq!((attempt["trace_id"].as_str(), attempt["severity_text"].as_str()), (Some(TRACE_ID), Some("INFO")));
    assert_eq!(attempt["resource"]["service.name"], "user-service");
    let handled = records.iter().find(|record| record["body"] == "request handled").expect("the request line");
    assert_eq!(handled["attributes"]["status"], 200);
    // Its span id is the server span's, as the receiver got it.
    let spans = sink.wait_for(|spans| spans.iter().any(|span| span["name"] == "POST /login"));
    let server = spans.iter().find(|span| span["name"] == "POST /login").expect("the server span");
    assert_eq!((&handled["trace_id"], &handled["span_id"]), (&server["trace_id"], &server["span_id"]));

    // The request metrics, with the login's trace as exemplar.
    let points = sink.wait_for_metrics(|points| {
        points.iter().any(|point| point["name"] == "http_requests" && point["attributes"]["endpoint"] == "/login")
    });
    let logins = points
        .iter()
        .rfind(|point| {
            point["name"] == "http_requests"
                && point["attributes"]["endpoint"] == "/login"
                && point["attributes"]["status"] == "200"
        })
        .expect("the login's series");
    assert_eq!((logins["value"].as_f64(), logins["monotonic"].as_bool()), (Some(1.0), Some(true)), "{logins:#}");
    assert_eq!(logins["exemplars"][0]["trace_id"], TRACE_ID);
    assert_eq!(logins["resource"]["service.name"], "user-service");
    // The lines are still written (console is listed too), with the same ids.
    let line = demo.log_line(|line| line["message"] == "request handled");
    assert_eq!((&line["trace_id"], &line["span_id"]), (&handled["trace_id"], &handled["span_id"]));
    assert!(demo.terminate(Duration::from_secs(15)).success());
}
