//! The live page (`page` feature): what `/page.json` says against what the test caused and what
//! the in-memory exporter received, how `/` is served to a browser and to `curl`, gzip; and the
//! page itself rendered by a real browser (Debian's chromium, headless) against the running demo.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use obs_runtime::page::LivePage;
use obs_runtime::trace::{InMemoryExporter, SpanOutput, TraceConfig};
use obs_runtime::{ConfigError, Environment, Obs, trace_operation, track_request};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

#[trace_operation("handle_item")]
fn handle_item(status: u16) -> http::StatusCode {
    item(status)
}

// Two buckets, so that every call (30 ms, however slow this machine) lands in (0.01, 1].
#[track_request("GET", "/page/items/{id}", buckets = [0.01, 1.0], track_concurrency)]
fn item(status: u16) -> http::StatusCode {
    lookup();
    std::thread::sleep(Duration::from_millis(30));
    http::StatusCode::from_u16(status).expect("a status")
}

#[trace_operation("lookup")]
fn lookup() {
    cache_read();
}

#[trace_operation("cache_read")]
fn cache_read() {}

/// `GET path` with `headers`, the raw response: head (lowercased) and body bytes.
fn fetch(addr: SocketAddr, path: &str, headers: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n").expect("a head");
    (String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase(), raw[split + 4..].to_vec())
}

fn page_json(addr: SocketAddr) -> Value {
    let response = common::get(addr, "/page.json").expect("page.json");
    assert_eq!(response.status, 200, "{response:?}");
    serde_json::from_str(&response.body).expect("JSON")
}

fn endpoint<'a>(page: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    page["endpoints"].as_array()?.iter().find(|one| one["method"] == method && one["endpoint"] == path)
}

/// The sum of `field` over an endpoint's chart points.
fn points_sum(endpoint: &Value, field: &str) -> u64 {
    endpoint["points"].as_array().expect("points").iter().map(|point| point[field].as_u64().expect(field)).sum()
}

#[test]
fn page_json_counts_what_was_called_and_shows_the_traces_the_exporter_received() {
    // Wrong settings are `Err`s naming them, and start nothing.
    let bad = |page: LivePage, env: Environment| {
        Obs::builder().environment(env).http_addr("127.0.0.1:0").live_page(page).init().expect_err("invalid")
    };
    let error = bad(LivePage::new().interval(Duration::from_millis(10)), Environment::empty());
    assert!(matches!(error, ConfigError::Invalid { field: "live_page.interval", .. }), "{error}");
    let error = bad(LivePage::new(), Environment::from_pairs([("OBS_PAGE_INTERVAL", "soon")]));
    assert!(matches!(error, ConfigError::Invalid { field: "OBS_PAGE_INTERVAL", .. }), "{error}");
    assert!(!error.to_string().contains("soon"), "the value is not quoted: {error}");
    let error = bad(LivePage::new().points(1), Environment::empty());
    assert!(matches!(error, ConfigError::Invalid { field: "live_page.points", .. }), "{error}");
    let error = bad(LivePage::new().window(Duration::from_secs(3600)), Environment::empty());
    assert!(matches!(error, ConfigError::Invalid { field: "live_page.window", .. }), "{error}");
    let error = bad(LivePage::new().recent_spans(1_000_000), Environment::empty());
    assert!(matches!(error, ConfigError::Invalid { field: "live_page.recent_spans", .. }), "{error}");

    // The default window follows the interval where a minute does not fit its points.
    for (interval, window) in [("500ms", 30.0), ("5m", 300.0)] {
        let obs = Obs::builder()
            .environment(Environment::from_pairs([("OBS_PAGE_INTERVAL", interval)]))
            .http_addr("127.0.0.1:0")
            .init()
            .expect("the defaults take any interval");
        let page = page_json(obs.http_addr().expect("serves"));
        assert_eq!(page["window_seconds"], window, "{interval}");
        assert!(obs.shutdown(), "stopped in time");
    }
    // Left out: `/` is the index for a browser too, and there is no data.
    let obs = Obs::builder()
        .environment(Environment::empty())
        .http_addr("127.0.0.1:0")
        .without_live_page()
        .init()
        .expect("starts");
    let addr = obs.http_addr().expect("serves");
    let (head, body) = fetch(addr, "/", "Accept: text/html\r\n");
    assert!(head.contains("content-type: text/plain"), "{head}");
    assert!(!String::from_utf8_lossy(&body).contains("/page.json"), "not listed");
    assert_eq!(common::get(addr, "/page.json").expect("page.json").status, 404);
    assert!(obs.shutdown(), "stopped in time");

    let spans = InMemoryExporter::new();
    let obs = Obs::builder()
        .service("page-test")
        // The interval from the environment; the window covers every point.
        .environment(Environment::from_pairs([("OBS_PAGE_INTERVAL", "500ms")]))
        .http_addr("127.0.0.1:0")
        .live_page(LivePage::new().points(20).window(Duration::from_secs(10)))
        .tracing(TraceConfig::new().output(SpanOutput::Exporter(Box::new(spans.clone()))))
        .init()
        .expect("starts");
    let addr = obs.http_addr().expect("serves");

    let statuses = [200, 200, 500, 200, 503];
    for status in statuses {
        assert_eq!(handle_item(status).as_u16(), status);
    }
    assert!(obs.traces().expect("tracing is on").flush(), "exported");

    // Until a reading after the last call has been taken: then every call is in the points.
    let give_up = Instant::now() + WAIT;
    let page = loop {
        let page = page_json(addr);
        if endpoint(&page, "GET", "/page/items/{id}").is_some_and(|one| points_sum(one, "requests") == 5) {
            break page;
        }
        assert!(Instant::now() < give_up, "the calls never showed: {page:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(page["service"], "page-test");
    assert_eq!(page["interval_seconds"], 0.5);
    assert_eq!(page["window_seconds"], 10.0);
    let items = endpoint(&page, "GET", "/page/items/{id}").expect("the endpoint");
    assert_eq!(points_sum(items, "errors"), 2, "the two 5xx: {items:#}");
    assert_eq!(items["requests"], 5, "{items:#}");
    assert_eq!(items["errors"], 2, "{items:#}");
    assert_eq!(items["error_ratio"], 0.4, "{items:#}");
    assert_eq!(items["in_flight"], 0, "{items:#}");
    // All five in the bucket (0.01, 1]: histogram_quantile's linear estimate within it, as
    // Prometheus computes it (promql/quantile.go: start + (end - start) * (rank / count)).
    let within = |q: f64| 0.01 + (1.0 - 0.01) * ((q * 5.0) / 5.0);
    assert_eq!(items["p50"], within(0.5), "{items:#}");
    assert_eq!(items["p95"], within(0.95), "{items:#}");
    assert_eq!(items["p99"], within(0.99), "{items:#}");
    let points = items["points"].as_array().expect("points");
    for point in points {
        let requests = point["requests"].as_u64().expect("requests");
        assert_eq!(point["p99"].is_null(), requests == 0, "quantiles only where there were calls: {point}");
    }

    // The waterfalls: every trace the exporter received, slowest first, each span under the
    // parent the exporter has for it.
    assert_eq!(page["recent_spans"], serde_json::json!({ "kept": 15, "capacity": 2048 }));
    let mut roots = spans.named("handle_item");
    roots.sort_by_key(|root| std::cmp::Reverse(root.end_unix_nanos() - root.start_unix_nanos()));
    let traces = page["traces"].as_array().expect("traces");
    let ids = |trace: &Value| trace["trace_id"].as_str().expect("an id").to_owned();
    assert_eq!(
        traces.iter().map(ids).collect::<Vec<_>>(),
        roots.iter().map(|root| root.context().trace_id().to_string()).collect::<Vec<_>>(),
        "the traces, slowest first"
    );
    for (trace, root) in traces.iter().zip(&roots) {
        assert_eq!(trace["root"], "handle_item");
        assert_eq!(trace["spans_total"], 3);
        let expected_seconds = (root.end_unix_nanos() - root.start_unix_nanos()) as f64 / 1e9;
        assert_eq!(trace["duration_seconds"], expected_seconds);
        let lookup = spans.children_of(root).pop().expect("lookup");
        let cache_read = spans.children_of(&lookup).pop().expect("cache_read");
        let id = |span: &obs_runtime::trace::SpanData| span.context().span_id().to_string();
        let listed: Vec<(String, Value, String, u64)> = trace["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .map(|span| {
                let name = span["name"].as_str().expect("a name").to_owned();
                (
                    name,
                    span["parent_id"].clone(),
                    span["span_id"].as_str().expect("an id").to_owned(),
                    span["depth"].as_u64().expect("a depth"),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("handle_item".to_owned(), Value::Null, id(root), 0),
                ("lookup".to_owned(), Value::from(id(root)), id(&lookup), 1),
                ("cache_read".to_owned(), Value::from(id(&lookup)), id(&cache_read), 2),
            ]
        );
    }

    // `/` is the page for a browser and the plain index for the others; both read-only.
    let (head, body) = fetch(addr, "/", "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html; charset=utf-8"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'none'"), "{head}");
    assert!(head.contains("vary: accept, accept-encoding"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("id=\"obs-page\""), "the page");
    let index = common::get(addr, "/").expect("index");
    assert!(index.body.starts_with("obs\n") && index.body.contains("/page.json "), "{index:?}");
    assert_eq!(common::request(addr, "POST", "/page.json", "Content-Length: 0\r\n").expect("post").status, 405);

    // gzip when asked, decoded by the gzip command.
    let (head, body) = fetch(addr, "/page.json", "Accept-Encoding: br, gzip\r\n");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    let mut gunzip = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run gzip");
    gunzip.stdin.take().expect("stdin").write_all(&body).expect("feed gzip");
    let output = gunzip.wait_with_output().expect("gzip ends");
    assert!(output.status.success(), "gzip -d failed");
    let decoded: Value = serde_json::from_slice(&output.stdout).expect("JSON after gunzip");
    assert_eq!(decoded["service"], "page-test");
    let (head, _) = fetch(addr, "/page.json", "Accept-Encoding: gzip;q=0\r\n");
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(obs.shutdown(), "stopped in time");
}

/// The profile service the demo calls: answers after `delay` (a slow dependency on demand).
struct Profiles {
    addr: SocketAddr,
    slow: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How long a profile takes while the dependency is slow: in the demo's (0.25, 0.5] bucket.
const SLOW: Duration = Duration::from_millis(400);

impl Profiles {
    fn start() -> Profiles {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let slow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = slow.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let slow = flag.load(std::sync::atomic::Ordering::Relaxed);
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && stream.read_exact(&mut byte).is_ok() {
                        head.push(byte[0]);
                    }
                    if slow {
                        std::thread::sleep(SLOW);
                    }
                    let body = r#"{"bio":"wrote the first program"}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Profiles { addr, slow }
    }

    fn set_slow(&self, slow: bool) {
        self.slow.store(slow, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The page as headless chromium renders it after its script ran, read by Python's HTML parser.
fn render(metrics: SocketAddr, profile: &common::TempDir) -> Value {
    let mut browser = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            // Virtual time runs the page's timers and waits for its fetches.
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://{metrics}/"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run chromium (scripts/install-backends.sh installs it)");
    // Virtual time waits for the page's fetches: a fetch that never ends would hold it for good.
    let mut stdout = browser.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut dom = Vec::new();
        stdout.read_to_end(&mut dom).map(|_| dom)
    });
    let give_up = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = browser.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > give_up {
            let _ = browser.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium failed: {status:?}");
    let dom = reader.join().expect("the reader").expect("chromium's output");
    let mut parser = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/page_dom.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    parser.stdin.take().expect("stdin").write_all(&dom).expect("feed the DOM");
    let parsed = parser.wait_with_output().expect("the parser ends");
    assert!(parsed.status.success(), "the DOM parser failed");
    let page: Value = serde_json::from_slice(&parsed.stdout).expect("the parser's JSON");
    let refreshes: u64 = page["refreshes"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(refreshes >= 1, "the page never loaded its data: {page:#}");
    page
}

/// The rendered endpoint `name` (`GET /users/{id}`).
fn rendered<'a>(page: &'a Value, method: &str, path: &str) -> &'a Value {
    page["endpoints"]
        .as_array()
        .and_then(|all| all.iter().find(|one| one["method"] == method && one["endpoint"] == path))
        .unwrap_or_else(|| panic!("no {method} {path} on the page: {page:#}"))
}

/// The values of one series of one chart, nulls left out.
fn series(endpoint: &Value, chart: &str, name: &str) -> Vec<f64> {
    endpoint["charts"][chart][name]
        .as_array()
        .unwrap_or_else(|| panic!("no {chart}/{name} series: {endpoint:#}"))
        .iter()
        .filter_map(Value::as_f64)
        .collect()
}

/// Normal: the demo answers in a few milliseconds; slow: at least 250 ms (the profile's 400).
const NORMAL: f64 = 0.1;
const SLOW_P99: f64 = 0.25;

/// The p99 of `GET /users/{id}`'s chart points that had requests, oldest first.
fn p99s(page: &Value) -> Vec<f64> {
    endpoint(page, "GET", "/users/{id}")
        .and_then(|one| one["points"].as_array())
        .map(|points| {
            points
                .iter()
                .filter(|point| point["requests"].as_u64() > Some(0))
                .filter_map(|point| point["p99"].as_f64())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the last `count` values are there and normal.
fn last_normal(p99s: &[f64], count: usize) -> bool {
    p99s.len() >= count && p99s[p99s.len() - count..].iter().all(|p99| *p99 < NORMAL)
}

/// Polls the demo's `/page.json` until `ready` holds (the test fails after [`WAIT`]).
fn wait_for(metrics: SocketAddr, what: &str, ready: impl Fn(&Value) -> bool) {
    let give_up = Instant::now() + WAIT;
    loop {
        let page = page_json(metrics);
        if ready(&page) {
            return;
        }
        assert!(Instant::now() < give_up, "{what}: never seen in {page:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs chromium: scripts/install-backends.sh"]
fn the_page_in_a_browser_shows_every_endpoint_a_slow_burst_and_its_recovery_and_a_waterfall() {
    let profiles = Profiles::start();
    let profile_url = format!("http://{}", profiles.addr);
    let demo = common::demo::Demo::start_with(&[("OBS_PAGE_INTERVAL", "1s"), ("PROFILE_SERVICE_URL", &profile_url)]);
    let browser_profile = common::TempDir::new("live-page-chromium");

    // Traffic on every endpoint until the test ends: two clients, one request after another.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, app) = (stop.clone(), demo.app);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = common::get(app, "/users/1");
                    let _ = common::get(app, "/users");
                    let _ = common::request(
                        app,
                        "POST",
                        "/login",
                        "Content-Type: application/json\r\nContent-Length: 37\r\n\r\n{\"user\":\"ada\",\"password\":\"lovelace\"}",
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();

    // Normal first: the last three points with requests fast (the first ones may not be: the
    // demo warms up).
    wait_for(demo.metrics, "three normal points", |page| {
        ["/users", "/users/{id}"].iter().all(|path| endpoint(page, "GET", path).is_some())
            && endpoint(page, "POST", "/login").is_some()
            && last_normal(&p99s(page), 3)
    });
    let page = render(demo.metrics, &browser_profile);
    for (method, path) in [("GET", "/users"), ("GET", "/users/{id}"), ("POST", "/login")] {
        let shown = rendered(&page, method, path);
        for (chart, names) in
            [("traffic", &["rate"][..]), ("errors", &["error_rate"]), ("latency", &["p50", "p95", "p99"])]
        {
            for name in names {
                assert!(
                    !series(shown, chart, name).is_empty(),
                    "{method} {path}: {chart}/{name} has no points: {shown:#}"
                );
            }
        }
    }
    let users = rendered(&page, "GET", "/users/{id}");
    // What the gate saw in /page.json is on the page: three normal points (the page was rendered
    // after, so later points may have come; a stall of this machine may make one slow).
    let normal = series(users, "latency", "p99").iter().filter(|p99| **p99 < NORMAL).count();
    assert!(normal >= 3, "normal latency: {users:#}");
    // `track_concurrency` on this site: its in-flight count is shown (a number, not "–").
    assert!(users["stats"]["in_flight"].as_str().is_some_and(|value| !value.is_empty()), "{users:#}");
    assert_eq!(page["health"], "degraded", "no dependency is configured: {page:#}");
    let checks: Vec<&str> =
        page["checks"].as_array().expect("checks").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(checks, ["cache", "database", "external_api"]);
    assert!(page["alerts"].as_str().is_some_and(|count| count.parse::<u64>().is_ok()), "{page:#}");
    assert_eq!(page["slo_items"], serde_json::json!(["users_availability", "users_latency"]));

    // The dependency slows down: the burst shows in the latency chart.
    profiles.set_slow(true);
    // Spans reach the ring when the export thread takes its batch (every few seconds).
    wait_for(demo.metrics, "a slow point and a slow trace", |page| {
        p99s(page).last().is_some_and(|p99| *p99 >= SLOW_P99)
            && page["traces"][0]["duration_seconds"].as_f64().is_some_and(|seconds| seconds >= SLOW.as_secs_f64())
    });
    // The demo's latency objective (99 % within 250 ms) burns: its alerts are pending or firing.
    let give_up = Instant::now() + WAIT;
    let burning = loop {
        let alerts = common::get(demo.metrics, "/alerts").expect("/alerts");
        let alerts: Value = serde_json::from_str(&alerts.body).expect("JSON");
        let names: Vec<String> = alerts["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter_map(|alert| alert["alertname"].as_str())
            .filter(|name| name.starts_with("users_latency"))
            .map(str::to_owned)
            .collect();
        if !names.is_empty() {
            break names;
        }
        assert!(Instant::now() < give_up, "the latency objective's alerts never came: {alerts:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let page = render(demo.metrics, &browser_profile);
    let listed: Vec<&Value> = page["alert_items"].as_array().expect("alerts").iter().collect();
    for name in &burning {
        let shown = listed.iter().find(|alert| alert["name"] == name.as_str());
        let status = shown.and_then(|alert| alert["status"].as_str());
        assert!(matches!(status, Some("pending" | "firing")), "{name} on the page: {listed:#?}");
    }
    let users = rendered(&page, "GET", "/users/{id}");
    let p99 = series(users, "latency", "p99");
    assert!(p99.last().is_some_and(|p99| *p99 >= SLOW_P99), "the burst shows: {p99:?}");
    // The slowest trace is a slow request: its waterfall lists the handler's child spans under
    // the spans that made them.
    let slowest = &page["trace_items"][0];
    assert!(slowest["duration"].as_f64().is_some_and(|seconds| seconds >= SLOW.as_secs_f64()), "{slowest:#}");
    let spans = slowest["spans"].as_array().expect("spans");
    let named = |name: &str| {
        spans.iter().find(|span| span["name"] == name).unwrap_or_else(|| panic!("no {name} span in {slowest:#}"))
    };
    let process = named("process_user_request");
    for child in ["database_query", "external_api_call"] {
        assert_eq!(named(child)["parent"], process["id"], "{child} under process_user_request: {slowest:#}");
        assert_eq!(named(child)["depth"], process["depth"].as_i64().expect("a depth") + 1);
    }
    assert_eq!(named("fetch_user_row")["parent"], named("database_query")["id"], "the bridged span: {slowest:#}");
    assert_eq!(spans[0]["parent"], Value::Null, "the root first: {slowest:#}");
    assert_eq!(spans[0]["depth"], 0);
    assert_eq!(slowest["root"], spans[0]["name"]);

    // It recovers: the burst stays in the chart and the line comes back down.
    profiles.set_slow(false);
    wait_for(demo.metrics, "two normal points after the burst", |page| {
        let p99s = p99s(page);
        p99s.iter().any(|p99| *p99 >= SLOW_P99) && last_normal(&p99s, 2)
    });
    let page = render(demo.metrics, &browser_profile);
    let p99 = series(rendered(&page, "GET", "/users/{id}"), "latency", "p99");
    let burst = p99.iter().position(|p99| *p99 >= SLOW_P99).expect("the burst is still in the chart");
    let after = p99[burst..].iter().skip_while(|p99| **p99 >= NORMAL).filter(|p99| **p99 < NORMAL).count();
    assert!(after >= 2, "and the line came back down after it: {p99:?}");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client");
    }
}
