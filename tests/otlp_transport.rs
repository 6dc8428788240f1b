//! OTLP in production, against real receivers started here: the sink decoding with the official
//! `opentelemetry-proto` types (scripts/otlp_sink.py) serving TLS with a CA of the test's own,
//! requiring a client certificate, answering 429 with `Retry-After`, gRPC UNAVAILABLE with a
//! `RetryInfo`, or a partial success; a loopback proxy in the path (CONNECT, and absolute-form).
//! Each export runs `examples/otlp_check.rs` (one span pipeline per process), configured only by
//! the `OTEL_*` and proxy variables a deployment would set.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};

use common::otlp::Sink;
use common::proxy::Proxy;
use common::tls::Certificates;

/// What one run of `otlp_check` did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// A counter it printed (`obs_spans_exported_total`, `obs_spans_dropped_total{reason="x"}`).
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        common::sample(&self.stdout, name, labels).unwrap_or_else(|| panic!("{name} not printed: {self:#?}"))
    }

    fn dropped(&self, reason: &str) -> f64 {
        self.counter("obs_spans_dropped_total", &[("reason", reason)])
    }

    /// The trace id it printed.
    fn trace_id(&self) -> String {
        let line = self.stdout.lines().find_map(|line| line.strip_prefix("# trace ")).expect("the trace line");
        line.split(':').next().expect("an id").to_owned()
    }
}

/// Runs `otlp_check` sending `spans` spans with exactly these environment variables (the test's
/// own, proxies included, do not leak in), one batch (flushed at the end).
fn otlp_check(spans: u32, vars: &[(&str, &str)]) -> Run {
    let output = Command::new(common::demo::example("otlp_check"))
        .arg(spans.to_string())
        .env_clear()
        .env("OTEL_BSP_SCHEDULE_DELAY", "60000")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run otlp_check");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn path(path: &std::path::Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// The request events of the sink, by `status`.
fn statuses(sink: &Sink) -> Vec<u64> {
    sink.requests().iter().map(|request| request["status"].as_u64().expect("a status")).collect()
}

#[test]
#[ignore = "needs the openssl command and the venv of scripts/install-backends.sh"]
fn https_with_a_private_ca_gzip_and_a_connect_proxy_reach_the_decoder() {
    let certificates = Certificates::new();
    let sink = Sink::builder().tls(&certificates).start();
    let proxy = Proxy::start();
    let proxy_url = proxy.url().replacen("http://", "http://obs:pr0xy@", 1);
    // A host name only the proxy resolves: the request cannot have gone around it.
    let endpoint = format!("https://collector.test:{}", sink.http_port);
    let run = otlp_check(
        4,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&certificates.ca_path())),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("HTTPS_PROXY", &proxy_url),
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.counter("obs_spans_exported_total", &[]), 4.0);
    let spans = sink.wait_for(|spans| spans.len() >= 4);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert!(spans.iter().all(|span| span["trace_id"] == run.trace_id().as_str()), "{spans:#?}");
    assert_eq!(spans.iter().filter(|span| span["name"] == "otlp_check_child").count(), 3);
    // W3C trace flags: sampled, and (Level 2) random: obs made the trace id.
    assert!(spans.iter().all(|span| span["flags"] == 3), "{spans:#?}");
    let requests = sink.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0]["encoding"], "gzip");
    assert_eq!(requests[0]["user_agent"], concat!("obs/", env!("CARGO_PKG_VERSION")));
    assert_eq!(proxy.seen(), [format!("CONNECT collector.test:{} HTTP/1.1", sink.http_port)]);
    // obs:pr0xy, as RFC 7617 Basic credentials.
    assert_eq!(proxy.authorizations(), [Some("Basic b2JzOnByMHh5".to_owned())]);
    assert!(!run.stderr.contains("pr0xy") && !run.stdout.contains("pr0xy"), "{run:#?}");
}

#[test]
#[ignore = "needs the openssl command and the venv of scripts/install-backends.sh"]
fn an_untrusted_certificate_is_one_attempt_per_batch_dropped_as_refused_and_named_by_host() {
    let certificates = Certificates::new();
    let sink = Sink::builder().tls(&certificates).start();
    let endpoint = format!("https://127.0.0.1:{}/S3CRET", sink.http_port);
    // The Mozilla roots do not vouch for the test's CA.
    let run = otlp_check(3, &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint)]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.counter("obs_spans_exported_total", &[]), 0.0);
    assert_eq!(run.dropped("refused"), 3.0, "{run:#?}");
    assert_eq!(run.dropped("export_failed"), 0.0, "{run:#?}");
    let expected =
        format!("TLS handshake with https://127.0.0.1:{}: invalid peer certificate: UnknownIssuer", sink.http_port);
    assert!(run.stderr.contains(&expected), "{run:#?}");
    assert!(!run.stderr.contains("S3CRET"), "{run:#?}");
    // One attempt, no retry: a handshake of the test's own after the run is the second failure
    // the sink counts (a gate: the sink has logged every attempt made before it).
    let gate = std::net::TcpStream::connect(("127.0.0.1", sink.http_port)).expect("connect");
    drop(gate);
    let events = sink
        .wait_for_events(|events| events.iter().filter(|event| event["event"] == "tls_handshake_failed").count() >= 2);
    assert_eq!(sink.handshake_failures(), 2, "{events:#?}");
    assert!(sink.spans().is_empty());
}

#[test]
#[ignore = "needs the openssl command and the venv of scripts/install-backends.sh"]
fn mutual_tls_sends_the_client_certificate_and_one_from_another_ca_is_refused() {
    let certificates = Certificates::new();
    let sink = Sink::builder().tls(&certificates).client_ca(&certificates.ca_path()).start();
    let endpoint = format!("https://127.0.0.1:{}", sink.http_port);
    let ca = certificates.ca_path();
    let (certificate, key) = certificates.client();
    let run = otlp_check(
        2,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&ca)),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", path(&certificate)),
            ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", path(&key)),
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(sink.wait_for(|spans| spans.len() >= 2).len(), 2);
    // A certificate from a CA the receiver does not trust.
    let (other, other_key) = certificates.other_client();
    let refused = otlp_check(
        2,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&ca)),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", path(&other)),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", path(&other_key)),
        ],
    );
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    // TLS 1.3 ends the client's handshake before the server checks the client's certificate: the
    // refusal comes as an alert after the request, or as a reset that loses the alert. The first
    // is permanent (dropped as refused), the second looks like a connection cut (retried, then
    // dropped as export_failed): either way, both spans are dropped and the host is named.
    assert_eq!(refused.dropped("refused") + refused.dropped("export_failed"), 2.0, "{refused:#?}");
    assert!(refused.stderr.contains(&format!("https://127.0.0.1:{}", sink.http_port)), "{refused:#?}");
    assert!(sink.handshake_failures() >= 1);
    assert_eq!(sink.spans().len(), 2, "nothing more arrived");
    // Only half of a client identity is a configuration error naming the missing half's partner.
    let half = otlp_check(
        1,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", path(&certificate))],
    );
    assert_eq!(half.code, Some(2), "{half:#?}");
    assert!(half.stderr.contains("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"), "{half:#?}");
}

#[test]
#[ignore = "needs the openssl command and the venv of scripts/install-backends.sh"]
fn grpc_over_tls_waits_as_long_as_retry_info_says() {
    let certificates = Certificates::new();
    let ca = certificates.ca_path();
    let grpc = |sink: &Sink, batch_timeout: &str| {
        let endpoint = format!("https://localhost:{}", sink.grpc_port);
        otlp_check(
            2,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&ca)),
                ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
                ("OTEL_BSP_EXPORT_TIMEOUT", batch_timeout),
            ],
        )
    };
    // UNAVAILABLE with RetryInfo of 1 s, within a batch timeout of 20 s: retried once, delivered.
    let sink = Sink::builder().tls(&certificates).fail_first(1).retry_after_secs(1).start();
    let run = grpc(&sink, "20000");
    assert_eq!(run.code, Some(0), "{run:#?}");
    let spans = sink.wait_for(|spans| spans.len() >= 2);
    assert!(spans.iter().all(|span| span["transport"] == "grpc"), "{spans:#?}");
    let requests = sink.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(requests.iter().all(|request| request["encoding"] == "gzip"), "{requests:#?}");
    // RetryInfo of 30 s, longer than the batch timeout (2 s): no second attempt (the backoff
    // alone would have retried within 100 to 150 ms), and the spans are dropped as export_failed.
    let sink = Sink::builder().tls(&certificates).fail_first(1).retry_after_secs(30).start();
    let run = grpc(&sink, "2000");
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.dropped("export_failed"), 2.0, "{run:#?}");
    assert_eq!(sink.requests().len(), 1, "{:#?}", sink.requests());
}

#[test]
#[ignore = "needs the venv of scripts/install-backends.sh"]
fn http_retry_after_and_a_partial_success_through_a_forwarding_proxy() {
    // 429 with Retry-After: 30 within a batch timeout of 2 s: one attempt only.
    let sink = Sink::builder().fail_first(1).fail_status(429).retry_after_secs(30).start();
    let endpoint = format!("http://127.0.0.1:{}", sink.http_port);
    let run = otlp_check(1, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_BSP_EXPORT_TIMEOUT", "2000")]);
    assert_eq!((run.code, run.dropped("export_failed")), (Some(1), 1.0), "{run:#?}");
    assert_eq!(statuses(&sink), [429]);
    // Retry-After: 1, then a partial success rejecting 2 of 3 spans; through HTTP_PROXY, which
    // gets the absolute URL (no tunnel for plain HTTP/1.1).
    let sink = Sink::builder().fail_first(1).fail_status(429).retry_after_secs(1).reject(2).start();
    let proxy = Proxy::start();
    let endpoint = format!("http://collector.test:{}", sink.http_port);
    let run = otlp_check(3, &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("http_proxy", &proxy.url())]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.counter("obs_spans_exported_total", &[]), 1.0, "{run:#?}");
    assert_eq!(run.dropped("rejected"), 2.0, "{run:#?}");
    assert!(run.stderr.contains("rejected 2 span(s) of a batch of 3: OTLP_SINK_REJECT"), "{run:#?}");
    assert_eq!(statuses(&sink), [429, 200]);
    let line = format!("POST http://collector.test:{}/v1/traces HTTP/1.1", sink.http_port);
    assert_eq!(proxy.seen(), [line.clone(), line]);
    // NO_PROXY names the host: it is reached directly (and, with no proxy to resolve it, not at all).
    let direct = otlp_check(
        1,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("http_proxy", &proxy.url()),
            ("NO_PROXY", "collector.test"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "2000"),
        ],
    );
    assert_eq!(direct.code, Some(1), "{direct:#?}");
    assert_eq!(proxy.seen().len(), 2, "not proxied");
}

#[test]
#[ignore = "needs the openssl command and python3 (scripts/install-backends.sh checks them)"]
fn the_http_health_check_takes_https_with_a_private_ca() {
    use obs_runtime::health::HealthChecker;
    use obs_runtime::health::checks::{http_get, http_get_with_tls};

    let certificates = Certificates::new();
    let (cert, key) = certificates.server();
    let receiver = common::receiver::HttpsReceiver::start(&cert, &key);
    let url = receiver.url("/health?api_key=S3CRET");
    let tls = obs_runtime::tls::Tls::trusting_only(&certificates.ca_pem()).expect("the CA");
    let health = HealthChecker::new();
    // The receiver answers GET with 501: an answer, over TLS.
    health.register(http_get_with_tls("trusted", &url, 501, tls).expect("valid")).expect("registers");
    health.register(http_get("untrusted", &url, 501).expect("valid")).expect("registers");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let report = runtime.block_on(health.report());
    let by_name: HashMap<&str, _> = report.checks.iter().map(|check| (check.name.as_str(), check)).collect();
    assert_eq!(by_name["trusted"].status.as_str(), "healthy", "{report:#?}");
    let message = by_name["untrusted"].message.as_deref().unwrap_or_default();
    let host = url.split("/health").next().expect("a URL");
    assert_eq!(message, format!("TLS handshake with {host}: invalid peer certificate: UnknownIssuer"), "{report:#?}");
    assert!(!report.to_json().contains("S3CRET"));
}
