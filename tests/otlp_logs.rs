//! Log records over OTLP/HTTP to a real decoder (the official `opentelemetry-proto` types), from
//! obs's own subscriber, as well as the JSON lines: severity, body, typed attributes redacted as
//! the lines are, a `StructuredLogger` object as a key-value list, the trace and span ids of the
//! current span (the ones the same receiver got the span with), the spans' resource, a record
//! past its size with its attributes counted as dropped, and `LogGuard::flush` as the gate. One
//! subscriber per process: this file holds one test.

mod common;

use std::time::Duration;

use common::TempDir;
use common::otlp::Sink;
use obs_runtime::logging::otlp::OtlpLogs;
use obs_runtime::logging::{LoggingConfig, Output, StructuredLogger};
use obs_runtime::trace::{Span, TraceConfig};
use serde_json::{Value, json};

#[test]
fn events_reach_a_real_decoder_as_log_records_and_as_lines() {
    let sink = Sink::start(0);
    let endpoint = format!("http://127.0.0.1:{}", sink.http_port);
    let dir = TempDir::new("otlp-logs");
    let lines_path = dir.path().join("app.log");
    let guard = obs_runtime::Obs::builder()
        .service("otlp-logs-test")
        .environment(obs_runtime::Environment::empty())
        .without_http_server()
        .logging(
            LoggingConfig::new()
                .filter("info")
                .output(Output::file(&lines_path))
                .max_line_bytes(1024)
                .mask_values(true)
                .otlp(OtlpLogs::new().endpoint(&endpoint).schedule_delay(Duration::from_secs(60))),
        )
        .tracing(TraceConfig::new().otlp_endpoint(&endpoint).schedule_delay(Duration::from_millis(20)))
        .init()
        .expect("installs");

    let root = Span::new("otlp_logs_root");
    let context = root.context().expect("sampled");
    root.in_scope(|| {
        tracing::info!(
            user_id = "12345",
            password = "hunter2",
            duration_ms = 150,
            ratio = 0.5,
            ok = true,
            "User login successful"
        );
        StructuredLogger::new().error(
            "payment failed for 4111 1111 1111 1111",
            &[(
                "order",
                obs_runtime::logging::FieldValue::Object(vec![
                    ("id", 42.into()),
                    ("card_token", "tok_123".into()),
                    ("card", "4111 1111 1111 1111".into()),
                ]),
            )],
        );
    });
    drop(root);
    tracing::warn!(big = "x".repeat(2000).as_str(), small = 1, "outside any span");
    // The trace id as `%` formats it (the usual idiom), the span id as a string.
    tracing::info!(trace_id = %"4bf92f3577b34da6a3ce929d0e0e4736", span_id = "00f067aa0ba902b7", "from elsewhere");
    // The schedule delay is a minute: the flush is what sends them.
    assert!(guard.logs().expect("the log guard").flush(), "flushed");
    let records = sink.logs();
    assert_eq!(records.len(), 4, "{records:#?}");

    let login = &records[0];
    assert_eq!((login["severity_number"].as_i64(), login["severity_text"].as_str()), (Some(9), Some("INFO")));
    assert_eq!(login["body"], "User login successful");
    assert_eq!(
        login["attributes"],
        json!({"user_id": "12345", "password": "[REDACTED]", "duration_ms": 150, "ratio": 0.5, "ok": true})
    );
    assert_eq!(login["trace_id"], context.trace_id().to_string().as_str());
    assert_eq!(login["span_id"], context.span_id().to_string().as_str());
    assert_eq!(login["flags"], 3, "sampled, random trace id");
    assert_eq!(login["resource"]["service.name"], "otlp-logs-test");
    assert_eq!((login["scope"].as_str(), login["transport"].as_str()), (Some("obs"), Some("http")));
    assert!(login["time_unix_nano"].as_u64().is_some_and(|time| time > 0));

    let payment = &records[1];
    assert_eq!(payment["severity_number"], 17);
    assert!(!payment["body"].as_str().is_some_and(|body| body.contains("4111 1111 1111")), "{payment:#}");
    assert_eq!(payment["attributes"]["order"]["id"], 42);
    assert_eq!(payment["attributes"]["order"]["card_token"], "[REDACTED]");
    assert_eq!(payment["span_id"], login["span_id"]);

    let outside = &records[2];
    assert_eq!((outside["severity_number"].as_i64(), outside["trace_id"].as_str()), (Some(13), Some("")));
    assert_eq!(outside["attributes"], json!({"small": 1}), "the long value is past the record's 1024 bytes");
    assert_eq!(outside["dropped_attributes_count"], 1);
    // An event that names its own trace carries those ids, not attributes.
    let elsewhere = &records[3];
    assert_eq!(
        (elsewhere["trace_id"].as_str(), elsewhere["span_id"].as_str()),
        (Some("4bf92f3577b34da6a3ce929d0e0e4736"), Some("00f067aa0ba902b7"))
    );
    assert_eq!(elsewhere["attributes"], json!({}));

    // The root span the records name is the one the receiver got.
    let spans = sink.wait_for(|spans| spans.iter().any(|span| span["name"] == "otlp_logs_root"));
    let span = spans.iter().find(|span| span["name"] == "otlp_logs_root").expect("the root");
    assert_eq!((&span["trace_id"], &span["span_id"]), (&login["trace_id"], &login["span_id"]));

    // The lines were written too, with the same ids.
    assert!(guard.shutdown(), "stopped in time");
    let lines = std::fs::read_to_string(&lines_path).expect("the lines");
    let lines: Vec<Value> = lines.lines().map(|line| serde_json::from_str(line).expect("JSON")).collect();
    let login_line = lines.iter().find(|line| line["message"] == "User login successful").expect("the line");
    assert_eq!(login_line["span_id"], login["span_id"]);
    assert_eq!(login_line["metadata"]["password"], "[REDACTED]");
    // Masked as the lines mask them: the same text.
    let payment_line = lines.iter().find(|line| line["level"] == "ERROR").expect("the payment line");
    assert_eq!(payment["body"], payment_line["message"]);
    assert_eq!(payment["attributes"]["order"]["card"], payment_line["metadata"]["order"]["card"]);
    let elsewhere_line = lines.iter().find(|line| line["message"] == "from elsewhere").expect("the line");
    assert_eq!(
        (&elsewhere_line["trace_id"], &elsewhere_line["span_id"]),
        (&elsewhere["trace_id"], &elsewhere["span_id"])
    );
    let requests = sink.requests();
    assert!(requests.iter().filter(|request| request["signal"] == "logs").all(|request| request["status"] == 200));
}
