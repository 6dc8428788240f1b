//! The demo against the real Prometheus tools: `promtool` lints a real scrape, and a real
//! Prometheus server scrapes the demo and answers a query about it.
//!
//! Ignored by default: they need `prometheus` and `promtool` on PATH. `scripts/test.sh` installs
//! them (`scripts/install-backends.sh`) and runs these with `--include-ignored`.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::demo::{Demo, KillOnDrop, post};
use common::otlp::Sink;
use common::{TempDir, get, request};

/// Prometheus 2.42 shows the first sample about 5 s after it starts, even scraping every second.
const QUERY_DEADLINE: Duration = Duration::from_secs(60);

/// Requests of every outcome, so the scrape has every kind of series: 200, 404, 401 and 500.
fn drive(demo: &Demo) {
    for (path, status) in [("/users", 200), ("/users/1", 200), ("/users/999", 404), ("/users/1?fail=1", 500)] {
        assert_eq!(get(demo.app, path).expect("request the demo").status, status, "GET {path}");
    }
    let login = post(demo.app, "/login", "application/json", r#"{"user":"ada","password":"wrong"}"#).expect("login");
    assert_eq!(login.status, 401, "{login:?}");
}

#[test]
#[ignore = "needs prometheus and promtool: run scripts/test.sh"]
fn promtool_accepts_a_real_scrape_of_the_demo() {
    let demo = Demo::start();
    drive(&demo);

    let text = demo.scrape();
    assert!(text.contains(r#"endpoint="/users/{id}",status="404""#), "{text}");
    let (clean, said) = common::promtool_check_metrics(&text);
    assert!(clean, "promtool check metrics rejected the scrape: {said}\n--- scrape ---\n{text}");

    // The same scrape as Prometheus 2.42 asks for it (the header captured from a real scrape).
    // promtool lints only the 0.0.4 text format, so OpenMetrics is checked for its shape here,
    // parsed for real by Prometheus in the next test, and by the official strict OpenMetrics
    // parser in tests/exposition_parsers.rs.
    let accept = "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                  text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";
    let openmetrics = request(demo.metrics, "GET", "/metrics", accept).expect("scrape as OpenMetrics");
    assert_eq!(openmetrics.status, 200, "{openmetrics:?}");
    assert!(
        openmetrics.header("content-type").is_some_and(|value| value.starts_with("application/openmetrics-text")),
        "{openmetrics:?}"
    );
    assert!(openmetrics.body.contains("# TYPE http_requests counter\n"), "{}", openmetrics.body);
    assert!(openmetrics.body.contains(r#"endpoint="/users/{id}",status="404""#), "{}", openmetrics.body);
    assert!(openmetrics.body.ends_with("# EOF\n"), "{}", openmetrics.body);
    assert_eq!(openmetrics.body.matches("# EOF").count(), 1, "{}", openmetrics.body);

    let status = demo.terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
#[ignore = "needs prometheus and promtool: run scripts/test.sh"]
fn prometheus_scrapes_the_demo_and_answers_a_query() {
    let demo = Demo::start();
    drive(&demo);

    let Prometheus { dir, web, mut prometheus } = Prometheus::start(demo.metrics, &[]);
    let prometheus_log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();

    let deadline = Instant::now() + QUERY_DEADLINE;
    let mut last_answer = String::from("(no answer yet)");
    let series = loop {
        if let Some(status) = prometheus.try_wait() {
            panic!("prometheus exited early: {status}\n{}", prometheus_log());
        }
        if let Ok(response) = get(web, "/api/v1/query?query=http_requests_total") {
            if let Some(series) = find_series(&response.body, "/users/{id}", "404") {
                break series;
            }
            last_answer = format!("{} {}", response.status, response.body);
        }
        assert!(
            Instant::now() < deadline,
            "no http_requests_total{{endpoint=\"/users/{{id}}\",status=\"404\"}} within {QUERY_DEADLINE:?}. \
             Last answer: {last_answer}\n--- prometheus log ---\n{}",
            prometheus_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };

    // Prometheus added its target labels to the demo's own, and the value is what was sent.
    assert_eq!(series["metric"]["__name__"], "http_requests_total", "{series}");
    assert_eq!(series["metric"]["method"], "GET", "{series}");
    assert_eq!(series["metric"]["job"], "user_service", "{series}");
    assert_eq!(series["metric"]["instance"], demo.metrics.to_string().as_str(), "{series}");
    assert_eq!(series["value"][1], "1", "{series}");

    // Stop Prometheus before the demo, so it does not log failed scrapes.
    let stopped = prometheus.signal_and_wait("TERM", Duration::from_secs(30));
    assert!(stopped.success(), "prometheus after SIGTERM: {stopped}\n{}", prometheus_log());
    let status = demo.terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status}");
}

/// A Prometheus server scraping `target` every second.
struct Prometheus {
    dir: TempDir,
    web: SocketAddr,
    prometheus: KillOnDrop,
}

impl Prometheus {
    fn start(target: SocketAddr, flags: &[&str]) -> Prometheus {
        Prometheus::start_with_rules(target, flags, None)
    }

    /// With `rules` (a rules file's YAML) evaluated every second.
    fn start_with_rules(target: SocketAddr, flags: &[&str], rules: Option<&str>) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = dir.path().join("prometheus.yml");
        let rule_files = match rules {
            Some(rules) => {
                let file = dir.path().join("rules.yml");
                std::fs::write(&file, rules).expect("write rules.yml");
                format!("rule_files:\n  - {}\n", file.display())
            }
            None => String::new(),
        };
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n{rule_files}\
                 scrape_configs:\n  - job_name: user_service\n    static_configs:\n      - targets: ['{target}']\n",
            ),
        )
        .expect("write prometheus.yml");
        let web = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("create the log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={web}"))
            .args(flags)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run prometheus ({error}): run scripts/install-backends.sh"));
        Prometheus { dir, web, prometheus: KillOnDrop::new("prometheus", child) }
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[test]
#[ignore = "needs prometheus and the OTLP sink: run scripts/test.sh"]
fn prometheus_stores_the_exemplar_of_a_request_with_the_trace_id_its_span_was_exported_with() {
    let sink = Sink::start(0);
    let endpoint = format!("http://127.0.0.1:{}", sink.http_port);
    let demo = Demo::start_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "100")]);
    // A request in a sampled trace of ours: its call is the exemplar of its bucket.
    let traceparent = format!("traceparent: 00-{TRACE_ID}-00f067aa0ba902b7-01\r\n");
    let response = request(demo.app, "GET", "/users", &traceparent).expect("GET /users");
    assert_eq!(response.status, 200, "{response:?}");

    let Prometheus { dir, web, mut prometheus } =
        Prometheus::start(demo.metrics, &["--enable-feature=exemplar-storage"]);
    let prometheus_log = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    let deadline = Instant::now() + QUERY_DEADLINE;
    let mut last_answer = String::from("(no answer yet)");
    let query = "/api/v1/query_exemplars?query=http_request_duration_seconds_bucket%7Bendpoint%3D%22%2Fusers%22%7D\
                 &start=0&end=4102444800";
    let (series, exemplar) = loop {
        if let Some(status) = prometheus.try_wait() {
            panic!("prometheus exited early: {status}\n{}", prometheus_log());
        }
        if let Ok(response) = get(web, query) {
            if let Some(exemplar) = find_exemplar(&response.body, TRACE_ID) {
                break exemplar;
            }
            last_answer = format!("{} {}", response.status, response.body);
        }
        assert!(
            Instant::now() < deadline,
            "no exemplar of trace {TRACE_ID} within {QUERY_DEADLINE:?}. Last answer: {last_answer}\n\
             --- prometheus log ---\n{}",
            prometheus_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let span_id = exemplar["labels"]["span_id"].as_str().expect("a span id").to_owned();
    assert_eq!(span_id.len(), 16, "{exemplar}");
    // The span the exemplar names is one the OTLP receiver got, in the trace of the request.
    let spans = sink.wait_for(|spans| spans.iter().any(|span| span["span_id"] == span_id.as_str()));
    let span = spans.iter().find(|span| span["span_id"] == span_id.as_str()).expect("received");
    assert_eq!(span["trace_id"], TRACE_ID, "{span}");
    // The handler's call runs inside that span: the exemplar's duration fits in the span's, and
    // in its bucket; its time is within the span's.
    let value: f64 = exemplar["value"].as_str().and_then(|value| value.parse().ok()).expect("a value");
    let nanos = |field: &str| span[field].as_u64().unwrap_or_else(|| panic!("{field} in {span}"));
    let (start, end) = (nanos("start_time_unix_nano"), nanos("end_time_unix_nano"));
    assert!(value > 0.0 && value <= (end - start) as f64 / 1e9, "{exemplar} in {span}");
    let le: f64 = series["le"].as_str().and_then(|le| le.parse().ok()).expect("a bucket bound");
    assert!(value <= le, "{exemplar} in {series}");
    let at = (exemplar["timestamp"].as_f64().expect("a timestamp") * 1e9) as u64;
    // (Exemplar times have millisecond precision, read back as a float: a millisecond each way.)
    assert!(start <= at + 1_000_000 && at <= end + 1_000_000, "{exemplar} in {span}");

    let stopped = prometheus.signal_and_wait("TERM", Duration::from_secs(30));
    assert!(stopped.success(), "prometheus after SIGTERM: {stopped}\n{}", prometheus_log());
    let status = demo.terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status}");
}

/// The first exemplar of `trace_id` in a `query_exemplars` answer, with its series' labels.
fn find_exemplar(answer: &str, trace_id: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    let answer: serde_json::Value = serde_json::from_str(answer).ok()?;
    answer["data"].as_array()?.iter().find_map(|series| {
        let exemplars = series["exemplars"].as_array()?;
        let exemplar = exemplars.iter().find(|exemplar| exemplar["labels"]["trace_id"] == trace_id)?;
        Some((series["seriesLabels"].clone(), exemplar.clone()))
    })
}

/// The series of an instant-query answer with `method="GET"` and the given endpoint and status.
fn find_series(answer: &str, endpoint: &str, status: &str) -> Option<serde_json::Value> {
    let answer: serde_json::Value = serde_json::from_str(answer).ok()?;
    if answer["status"] != "success" || answer["data"]["resultType"] != "vector" {
        return None;
    }
    answer["data"]["result"]
        .as_array()?
        .iter()
        .find(|series| {
            let labels = &series["metric"];
            labels["method"] == "GET" && labels["endpoint"] == endpoint && labels["status"] == status
        })
        .cloned()
}

/// A port that was free a moment ago on 127.0.0.1 (Prometheus cannot be told to pick one).
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address")
}

/// `query` as a URL query value.
fn url_encoded(query: &str) -> String {
    query.bytes().fold(String::new(), |mut out, byte| {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
        out
    })
}

/// The demo's Grafana dashboard (`--grafana-dashboard`) passes Grafana's own dashboard schema
/// (the Grafana Foundation SDK's models), and every query of every panel, its template variables
/// substituted as Grafana does, parses and returns data from a real Prometheus scraping the demo.
#[test]
#[ignore = "needs prometheus and the venv: run scripts/test.sh"]
fn the_demo_dashboard_passes_grafanas_schema_and_every_panel_returns_data_from_prometheus() {
    let json = common::demo::prints("--grafana-dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&json).expect("the dashboard is JSON");

    // Grafana's schema, and a wrong key is caught by it (the check is not vacuous).
    let dir = TempDir::new("grafana-dashboard");
    let schema_check = |json: &str| {
        let file = dir.path().join("dashboard.json");
        std::fs::write(&file, json).expect("write the dashboard");
        Command::new(common::venv().join("bin/python"))
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/grafana_schema_check.py"))
            .arg(&file)
            .output()
            .expect("run the schema check: scripts/install-backends.sh makes the venv")
    };
    let checked = schema_check(&json);
    assert!(checked.status.success(), "{}\n--- dashboard ---\n{json}", common::said(&checked));
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("grafana schema: ok (12 panels)"),
        "{}",
        common::said(&checked)
    );
    let mut wrong = dashboard.clone();
    wrong["panels"][1]["gridPosition"] = serde_json::json!({"x": 0});
    let refused = schema_check(&wrong.to_string());
    assert!(!refused.status.success(), "{}", common::said(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("$.panels[1].gridPosition"),
        "{}",
        common::said(&refused)
    );

    // The queries: every panel's, and the template variables'.
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .map(|target| target["expr"].as_str().expect("an expr").to_owned())
        .collect();
    assert_eq!(exprs.len(), 26, "{exprs:#?}");
    let variables: Vec<String> = dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter(|variable| variable["type"] == "query")
        .map(|variable| variable["query"].as_str().expect("a query").to_owned())
        .collect();
    assert_eq!(
        variables,
        ["label_values(http_requests_total, job)", r#"label_values(http_requests_total{job=~"$job"}, endpoint)"#]
    );

    // The objectives' panels read their recording rules: Prometheus evaluates the demo's.
    let rules = common::demo::prints("--prometheus-rules");
    let demo = Demo::start();
    drive(&demo);
    assert_eq!(get(demo.metrics, "/health").expect("GET /health").status / 100, 2);
    let Prometheus { dir: prometheus_dir, web, mut prometheus } =
        Prometheus::start_with_rules(demo.metrics, &[], Some(&rules));
    let prometheus_log = || std::fs::read_to_string(prometheus_dir.path().join("prometheus.log")).unwrap_or_default();
    let deadline = Instant::now() + QUERY_DEADLINE;
    // As Grafana substitutes them: All (`.*`), and one endpoint, regex-escaped in a PromQL string.
    // As Grafana substitutes them: All (`.*`), one endpoint, and two, regex-escaped in a PromQL
    // string.
    for endpoint in [".*", r"/users/\\{id\\}", r"(/users|/users/\\{id\\})"] {
        for expr in &exprs {
            let query =
                expr.replace("$__rate_interval", "1m").replace("$job", "user_service").replace("$endpoint", endpoint);
            let mut last = String::from("(no answer yet)");
            loop {
                if let Some(status) = prometheus.try_wait() {
                    panic!("prometheus exited early: {status}\n{}", prometheus_log());
                }
                // Traffic all along, so that rates over the last minute have something to say.
                let _ = get(demo.app, "/users");
                let _ = get(demo.app, "/users/1");
                let _ = get(demo.app, "/users/1?fail=1");
                if let Ok(response) = get(web, &format!("/api/v1/query?query={}", url_encoded(&query))) {
                    let answer: serde_json::Value = serde_json::from_str(&response.body).unwrap_or_default();
                    assert_ne!(answer["status"], "error", "{query} does not parse: {}", response.body);
                    let finite = answer["data"]["result"].as_array().is_some_and(|result| {
                        result.iter().any(|sample| {
                            sample["value"][1]
                                .as_str()
                                .and_then(|value| value.parse::<f64>().ok())
                                .is_some_and(f64::is_finite)
                        })
                    });
                    if finite {
                        break;
                    }
                    last = response.body;
                }
                assert!(
                    Instant::now() < deadline,
                    "no data for {query}: {last}\n--- prometheus log ---\n{}",
                    prometheus_log()
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
    // An endpoint that never failed is at 0% errors, not missing from the panel.
    let errors = exprs.iter().find(|expr| expr.contains(r#"status=~"5..""#)).expect("the error panel's query");
    let query = errors.replace("$__rate_interval", "1m").replace("$job", "user_service").replace("$endpoint", "/users");
    let answer = get(web, &format!("/api/v1/query?query={}", url_encoded(&query))).expect("query");
    let answer: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
    assert_eq!(answer["data"]["result"][0]["metric"]["endpoint"], "/users", "{answer}");
    assert_eq!(answer["data"]["result"][0]["value"][1], "0", "{answer}");
    // The variables' values, as Grafana asks for them.
    for (label, matcher) in
        [("job", "http_requests_total"), ("endpoint", r#"http_requests_total{job=~"user_service"}"#)]
    {
        let response =
            get(web, &format!("/api/v1/label/{label}/values?match[]={}", url_encoded(matcher))).expect("GET values");
        let values: serde_json::Value = serde_json::from_str(&response.body).expect("JSON");
        let values: Vec<&str> =
            values["data"].as_array().expect("values").iter().filter_map(|value| value.as_str()).collect();
        let expected = if label == "job" { "user_service" } else { "/users/{id}" };
        assert!(values.contains(&expected), "{label}: {values:?}");
    }

    let stopped = prometheus.signal_and_wait("TERM", Duration::from_secs(30));
    assert!(stopped.success(), "prometheus after SIGTERM: {stopped}\n{}", prometheus_log());
    let status = demo.terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status}");
}
