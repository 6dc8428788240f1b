//! `Obs::builder().logging(..)`: obs's subscriber installed globally, with its filter, a rotated
//! file, the drop counter on `/metrics`, and a flush when the guard goes. One process, one global
//! subscriber: this file holds one test.

mod common;

use obs_runtime::logging::{LoggingConfig, Output, Rotation, StructuredLogger};
use obs_runtime::{Obs, track_request};

// No `log_errors` here: the global setting turns it on for every site.
#[track_request("GET", "/global/fails")]
fn fails() -> Result<(), String> {
    Err("upstream timed out".to_owned())
}

#[test]
fn the_global_subscriber_filters_writes_a_rotated_file_and_flushes_on_shutdown() {
    let dir = std::env::temp_dir().join(format!("obs-logging-global-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("service.log");

    // A malformed filter is an Err naming it, and installs nothing.
    let error = Obs::builder()
        .without_http_server()
        .logging(LoggingConfig::new().filter("info,[[["))
        .init()
        .expect_err("bad filter");
    assert!(error.to_string().starts_with("invalid `filter`: "), "{error}");

    let obs = Obs::builder()
        .service("svc")
        .without_http_server()
        .logging(
            LoggingConfig::new()
                .filter("warn,logging_global=debug")
                .log_request_errors(true)
                .output(Output::rotating_file(&path, Rotation::Size(4096), 3)),
        )
        .init()
        .expect("starts");

    // A second subscriber cannot be installed: an Err, not a silent no-op.
    let again = Obs::builder().without_http_server().logging(LoggingConfig::new()).init();
    let again = again.expect_err("one global subscriber");
    assert!(again.to_string().contains("global tracing subscriber"), "{again}");

    for line in 0..200 {
        tracing::debug!(line, "kept: this crate is at debug");
    }
    tracing::info!(target: "elsewhere", "dropped by the filter: other targets are at warn");
    tracing::warn!(target: "elsewhere", "kept: warn");
    StructuredLogger::new().info("structured info is at info: filtered", &[]);
    StructuredLogger::new().error("structured error", &[("code", 7.into())]);
    assert!(fails().is_err());

    let scrape = common::scrape();
    assert!(scrape.contains("obs_log_lines_dropped_total{reason=\"buffer_full\"} 0"), "{scrape}");
    // Dropping the guard writes everything still buffered.
    drop(obs);

    let mut lines = Vec::new();
    for file in ["service.log.3", "service.log.2", "service.log.1", "service.log"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        lines.extend(text.lines().map(str::to_owned));
    }
    assert!(dir.join("service.log.1").exists(), "200 lines of ~250 bytes rotate a 4 KiB file");
    assert!(!dir.join("service.log.4").exists(), "only 3 rotated files are kept");
    let messages: Vec<String> = lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .map(|value| value["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(messages.contains(&"kept: warn".to_owned()), "{messages:?}");
    assert!(messages.contains(&"structured error".to_owned()), "{messages:?}");
    assert!(!messages.iter().any(|message| message.contains("filtered")), "{messages:?}");
    assert!(!messages.iter().any(|message| message.contains("dropped by the filter")), "{messages:?}");
    // Rotation keeps the newest lines, in order: the last debug line, then the warn, then the error.
    assert_eq!(
        &messages[messages.len() - 4..],
        ["kept: this crate is at debug", "kept: warn", "structured error", "request failed"]
    );
    let last: serde_json::Value = serde_json::from_str(lines.last().expect("lines")).expect("JSON");
    assert_eq!(last["metadata"]["error"], "upstream timed out");
    assert_eq!(last["metadata"]["endpoint"], "/global/fails");
    let _ = std::fs::remove_dir_all(&dir);
}
