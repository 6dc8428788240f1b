//! Log records over OTLP/gRPC configured by the environment alone: `OTEL_LOGS_EXPORTER=otlp`
//! sends records instead of writing lines, to the logs signal's endpoint, in batches of
//! `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`; the queue (`OTEL_BLRP_MAX_QUEUE_SIZE`) is bounded: of
//! 2,000 records logged at once, every one is either received by a real decoder or counted as
//! dropped, exactly. One subscriber per process: this file holds one test.

mod common;

use common::TempDir;
use common::otlp::Sink;
use obs_runtime::logging::{LoggingConfig, Output};
use obs_runtime::metrics::Snapshot;

#[test]
fn the_environment_sends_records_instead_of_lines_and_the_queue_is_bounded() {
    let sink = Sink::start(0);
    let dir = TempDir::new("otlp-logs-env");
    let lines_path = dir.path().join("app.log");
    let endpoint = format!("http://127.0.0.1:{}", sink.grpc_port);
    let environment = obs_runtime::Environment::from_pairs([
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "64"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "16"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
    ]);
    let guard = obs_runtime::Obs::builder()
        .service("otlp-logs-env-test")
        .environment(environment)
        .without_http_server()
        .logging(LoggingConfig::new().filter("info").output(Output::file(&lines_path)))
        .init()
        .expect("installs");
    const LOGGED: u64 = 2_000;
    for index in 0..LOGGED {
        tracing::info!(index, "burst");
    }
    assert!(guard.logs().expect("the log guard").flush(), "flushed");
    let snapshot = Snapshot::take();
    let exported = snapshot.sum("obs_log_records_exported_total", &[]).expect("registered");
    let dropped = snapshot.sum("obs_log_records_dropped_total", &[]).expect("registered");
    let queue_full = snapshot.sum("obs_log_records_dropped_total", &[("reason", "queue_full")]);
    let received = sink.logs();
    assert_eq!(received.len() as f64, exported, "what was exported is what the receiver decoded");
    assert_eq!(exported + dropped, LOGGED as f64, "every record is received or counted");
    assert_eq!(queue_full, Some(dropped), "only for a full queue");
    assert!(received.iter().all(|record| record["transport"] == "grpc" && record["body"] == "burst"));
    // In order, each with its own index, none twice.
    let indexes: Vec<i64> =
        received.iter().map(|record| record["attributes"]["index"].as_i64().expect("an index")).collect();
    assert!(indexes.windows(2).all(|pair| pair[0] < pair[1]), "{indexes:?}");
    // Batches of at most 16.
    let requests = sink.requests();
    let logs: Vec<_> = requests.iter().filter(|request| request["signal"] == "logs").collect();
    assert!(logs.len() * 16 >= received.len() && logs.iter().all(|request| request["status"] == 0), "{logs:#?}");
    assert!(guard.shutdown(), "stopped in time");
    // No lines: OTEL_LOGS_EXPORTER does not list console.
    assert_eq!(std::fs::read_to_string(&lines_path).unwrap_or_default(), "");
}
