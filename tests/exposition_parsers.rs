//! What the embedded server serves, read by the official parsers: the Python client's text-format
//! parser and its strict OpenMetrics parser (`prometheus-client`, in the venv
//! `scripts/install-backends.sh` makes), and `promtool check metrics`. Each scrape asks with a
//! different `Accept` header; the body must be in the format the negotiation picks, labelled so,
//! and hold exactly the values this test recorded.

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};

use http::StatusCode;
use obs_runtime::metrics::{CounterVec, Gauge, HistogramVec};
use serde_json::{Value, json};

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Label values a parser must get back byte for byte: a quote, a backslash, a newline, UTF-8.
const ODD: &str = "say \"hi\" \\ C:\\dir\nnext line: café ☕ 日本 😀";

#[obs_runtime::track_request("GET", "/parsers/users/{id}")]
fn lookup(found: bool) -> Result<(), String> {
    if found { Ok(()) } else { Err("no such user".to_owned()) }
}

#[obs_runtime::track_request("POST", "/parsers/orders")]
fn order(status: StatusCode) -> StatusCode {
    status
}

#[obs_runtime::track_request("GET", "/exemplar/traced", buckets = [0.5])]
fn traced() -> Result<(), String> {
    Ok(())
}

/// The trace the `/exemplar/traced` call (outside `/parsers/`, which the counts above cover) is recorded in (the W3C specification's example).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

/// Records what the assertions expect, once (the registry is per process).
fn record() {
    let context = obs_runtime::context::SpanContext::from_traceparent(&format!("00-{TRACE_ID}-{SPAN_ID}-01"))
        .expect("the example parses");
    let charges =
        CounterVec::register("exemplar_charges_total", "Charges", &["outcome"]).expect("registers").with_exemplars();
    let plain = CounterVec::register("exemplar_plain_total", "No exemplars asked", &["outcome"]).expect("registers");
    let rows =
        HistogramVec::register("exemplar_rows", "Rows", &["table"], &[0.1, 0.5]).expect("registers").with_exemplars();
    {
        let _current = context.attach();
        traced().expect("ok");
        charges.with_labels(&["declined"]).expect("labels").inc_by(2.5);
        plain.with_labels(&["declined"]).expect("labels").inc();
        rows.with_labels(&["users"]).expect("labels").observe(0.3);
    }
    // Outside the span: counted, but the exemplar stays the one recorded in the span.
    charges.with_labels(&["declined"]).expect("labels").inc();
    for found in [true, true, true, false, false] {
        let _ = lookup(found);
    }
    for status in [StatusCode::CREATED, StatusCode::NOT_FOUND, StatusCode::CREATED, StatusCode::CONFLICT] {
        order(status);
    }
    let jobs = CounterVec::register("parsers_jobs_total", "Jobs done, by \"queue\" \\ note", &["queue", "note"])
        .expect("registers");
    jobs.with_labels(&["plain", ""]).expect("labels").inc_by(2.5);
    jobs.with_labels(&["odd", ODD]).expect("labels").inc_by(7.0);
    let temperature = Gauge::register("parsers_temperature_celsius", "A gauge below zero").expect("registers");
    temperature.set(-3.25);
    let latency =
        HistogramVec::register("parsers_latency_seconds", "Latency", &["route"], &[0.1, 0.5, 2.5]).expect("registers");
    let route = latency.with_labels(&["/a\"b"]).expect("labels");
    // 0.1 lands in le="0.1" (bounds are inclusive); 3 only in +Inf.
    for seconds in [0.05, 0.1, 0.3, 3.0] {
        route.observe(seconds);
    }
}

/// Runs `command` with `body` on its stdin, and waits for it.
fn pipe(mut command: Command, body: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?} ({error}): run scripts/install-backends.sh"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(body.as_bytes()).expect("write the body");
    drop(stdin);
    child.wait_with_output().expect("it runs")
}

/// Runs the Python client's parser on `body`: `Ok(families)` or `Err(what it raised)`.
fn python_parse(format: &str, body: &str) -> Result<Vec<Value>, String> {
    let mut python = Command::new(common::venv().join("bin/python"));
    python.args([concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/parse_exposition.py"), format]);
    let output = pipe(python, body);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        assert!(!stderr.contains("ModuleNotFoundError"), "{stderr}: run scripts/install-backends.sh");
        return Err(stderr);
    }
    let parsed: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    Ok(parsed["families"].as_array().expect("families").clone())
}

fn family<'a>(families: &'a [Value], name: &str) -> &'a Value {
    families.iter().find(|family| family["name"] == name).unwrap_or_else(|| panic!("no family {name}: {families:?}"))
}

/// The samples of a family as `(sample name, labels, value)`, in exposition order.
fn samples(family: &Value) -> Vec<(String, Value, Value)> {
    family["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|sample| {
            (sample["name"].as_str().expect("name").to_owned(), sample["labels"].clone(), sample["value"].clone())
        })
        .collect()
}

fn sample_value(family: &Value, name: &str, labels: &Value) -> Option<f64> {
    samples(family).into_iter().find(|(n, l, _)| n == name && l == labels).and_then(|(_, _, value)| value.as_f64())
}

/// Everything `record` caused, as either parser reports it (both name a counter family without
/// `_total`, and keep `_total` on its samples).
fn assert_recorded(families: &[Value], format: &str) {
    let requests = family(families, "http_requests");
    assert_eq!(requests["type"], "counter", "{format}: {requests}");
    let ours: Vec<_> = samples(requests)
        .into_iter()
        .filter(|(_, labels, _)| labels["endpoint"].as_str().is_some_and(|endpoint| endpoint.starts_with("/parsers/")))
        .collect();
    let label =
        |method: &str, endpoint: &str, status: &str| json!({"method": method, "endpoint": endpoint, "status": status});
    let mut expected = vec![
        ("http_requests_total".to_owned(), label("GET", "/parsers/users/{id}", "200"), json!(3.0)),
        ("http_requests_total".to_owned(), label("GET", "/parsers/users/{id}", "500"), json!(2.0)),
        ("http_requests_total".to_owned(), label("POST", "/parsers/orders", "201"), json!(2.0)),
        ("http_requests_total".to_owned(), label("POST", "/parsers/orders", "404"), json!(1.0)),
        ("http_requests_total".to_owned(), label("POST", "/parsers/orders", "409"), json!(1.0)),
    ];
    let key = |sample: &(String, Value, Value)| sample.1.to_string();
    let mut got = ours.clone();
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got, expected, "{format}: {requests}");

    let durations = family(families, "http_request_duration_seconds");
    assert_eq!(durations["type"], "histogram", "{format}");
    for (method, endpoint, calls) in [("GET", "/parsers/users/{id}", 5.0), ("POST", "/parsers/orders", 4.0)] {
        let labels = json!({"method": method, "endpoint": endpoint});
        assert_eq!(sample_value(durations, "http_request_duration_seconds_count", &labels), Some(calls), "{format}");
        let inf = json!({"method": method, "endpoint": endpoint, "le": "+Inf"});
        assert_eq!(sample_value(durations, "http_request_duration_seconds_bucket", &inf), Some(calls), "{format}");
    }

    let jobs = family(families, "parsers_jobs");
    assert_eq!(jobs["type"], "counter", "{format}");
    assert_eq!(jobs["help"], "Jobs done, by \"queue\" \\ note", "{format}");
    // Series of a family come in the registry's order, which is not the order of recording.
    let mut got = samples(jobs);
    got.sort_by_key(key);
    let mut expected = vec![
        ("parsers_jobs_total".to_owned(), json!({"queue": "plain", "note": ""}), json!(2.5)),
        ("parsers_jobs_total".to_owned(), json!({"queue": "odd", "note": ODD}), json!(7.0)),
    ];
    expected.sort_by_key(key);
    assert_eq!(got, expected, "{format}");

    let temperature = family(families, "parsers_temperature_celsius");
    assert_eq!(temperature["type"], "gauge", "{format}");
    assert_eq!(samples(temperature), [("parsers_temperature_celsius".to_owned(), json!({}), json!(-3.25))], "{format}");

    let latency = family(families, "parsers_latency_seconds");
    assert_eq!(latency["type"], "histogram", "{format}");
    let route = "/a\"b";
    let bucket = |le: &str, count: f64| {
        ("parsers_latency_seconds_bucket".to_owned(), json!({"route": route, "le": le}), json!(count))
    };
    assert_eq!(
        samples(latency),
        [
            bucket("0.1", 2.0),
            bucket("0.5", 3.0),
            bucket("2.5", 3.0),
            bucket("+Inf", 4.0),
            ("parsers_latency_seconds_sum".to_owned(), json!({"route": route}), json!(3.45)),
            ("parsers_latency_seconds_count".to_owned(), json!({"route": route}), json!(4.0)),
        ],
        "{format}"
    );
}

/// The exemplars of the `/exemplar/traced` call (outside `/parsers/`, which the counts above cover), as the strict parser reads them: on its request
/// counter (value 1) and on the bucket it landed in (its duration), none on the others.
fn assert_exemplars(families: &[Value]) {
    let traced = |sample: &Value| sample["labels"]["endpoint"] == "/exemplar/traced";
    let ids = json!({"trace_id": TRACE_ID, "span_id": SPAN_ID});
    let requests = family(families, "http_requests");
    let counter: Vec<&Value> = requests["samples"].as_array().expect("samples").iter().filter(|s| traced(s)).collect();
    assert_eq!(counter.len(), 1, "{requests}");
    assert_eq!(counter[0]["exemplar"]["labels"], ids, "{requests}");
    assert_eq!(counter[0]["exemplar"]["value"], 1.0, "{requests}");
    assert!(counter[0]["exemplar"]["timestamp"].as_f64().is_some_and(|at| at > 1.7e9), "{requests}");
    let durations = family(families, "http_request_duration_seconds");
    let buckets: Vec<&Value> = durations["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter(|s| traced(s) && s["name"] == "http_request_duration_seconds_bucket")
        .collect();
    // A call of a function that returns at once is under 0.5 s: its exemplar is on `le="0.5"`.
    assert_eq!(buckets.len(), 2, "{durations}");
    assert_eq!(buckets[0]["labels"]["le"], "0.5", "{durations}");
    assert_eq!(buckets[0]["exemplar"]["labels"], ids, "{durations}");
    let seconds = buckets[0]["exemplar"]["value"].as_f64().expect("a duration");
    assert!(seconds > 0.0 && seconds <= 0.5, "{durations}");
    assert_eq!(buckets[1]["exemplar"], Value::Null, "{durations}");
    // Hand-written families that opted in: the counter's increment, the bucket's observation.
    let charges = family(families, "exemplar_charges");
    let charge = &charges["samples"][0];
    assert_eq!((charge["value"].clone(), charge["exemplar"]["labels"].clone()), (json!(3.5), ids.clone()), "{charges}");
    assert_eq!(charge["exemplar"]["value"], 2.5, "{charges}");
    assert_eq!(family(families, "exemplar_plain")["samples"][0]["exemplar"], Value::Null, "not asked for");
    let rows = family(families, "exemplar_rows");
    let exemplars: Vec<(Value, Value)> = rows["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter(|s| s["name"] == "exemplar_rows_bucket")
        .map(|s| (s["labels"]["le"].clone(), s["exemplar"]["value"].clone()))
        .collect();
    assert_eq!(
        exemplars,
        [(json!("0.1"), Value::Null), (json!("0.5"), json!(0.3)), (json!("+Inf"), Value::Null)],
        "{rows}"
    );
    // Calls in no trace have none.
    let untraced = requests["samples"].as_array().expect("samples").iter().filter(|s| !traced(s));
    assert!(
        untraced
            .filter(|s| s["labels"]["endpoint"].as_str().is_some_and(|e| e.starts_with("/parsers/")))
            .all(|s| s["exemplar"].is_null()),
        "{requests}"
    );
}

fn scrape(addr: SocketAddr, accept: Option<&str>) -> (String, String) {
    let header = accept.map(|accept| format!("Accept: {accept}\r\n")).unwrap_or_default();
    let response = common::request(addr, "GET", "/metrics", &header).expect("scrape");
    assert_eq!(response.status, 200, "{accept:?}: {response:?}");
    let content_type = response.header("content-type").expect("a Content-Type").to_owned();
    (content_type, response.body)
}

#[test]
fn the_official_parsers_read_each_negotiated_format_exactly() {
    let obs = obs_runtime::Obs::builder().http_addr("127.0.0.1:0").init().expect("server starts");
    let addr = obs.http_addr().expect("running");
    record();

    let cases: [(Option<&str>, &str); 9] = [
        (None, TEXT),
        (Some("*/*"), TEXT),
        // What Prometheus 2.42 sends (captured from a real scrape).
        (
            Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                 text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ),
            OPENMETRICS,
        ),
        (Some("application/openmetrics-text;q=0.1, text/plain"), TEXT),
        (Some("text/plain;q=0.5, application/openmetrics-text;q=0.6"), OPENMETRICS),
        (Some("text/plain;q=0, */*"), OPENMETRICS),
        (Some("application/openmetrics-text;version=0.0.1"), OPENMETRICS),
        (Some("text/plain;version=0.0.1, application/openmetrics-text;q=0.2"), OPENMETRICS),
        (Some("Application/OpenMetrics-Text ; Version=2.0.0, TEXT/*;q=0.3"), TEXT),
    ];
    for (accept, wanted) in cases {
        let (content_type, body) = scrape(addr, accept);
        assert_eq!(content_type, wanted, "Accept: {accept:?}");
        if content_type == TEXT {
            let families = python_parse("text", &body)
                .unwrap_or_else(|error| panic!("the text parser rejected it ({accept:?}): {error}\n{body}"));
            assert_recorded(&families, "text");
            // The strict OpenMetrics parser refuses it (counter families named `_total`, no
            // `# EOF`): the Content-Type is not a formality.
            python_parse("openmetrics", &body).expect_err("a text body is not OpenMetrics");
            let (clean, said) = common::promtool_check_metrics(&body);
            assert!(clean, "promtool check metrics ({accept:?}): {said}\n{body}");
        } else {
            assert!(body.ends_with("\n# EOF\n"), "{body}");
            let families = python_parse("openmetrics", &body)
                .unwrap_or_else(|error| panic!("the OpenMetrics parser rejected it ({accept:?}): {error}\n{body}"));
            assert_recorded(&families, "openmetrics");
            assert_exemplars(&families);
        }
    }
}
