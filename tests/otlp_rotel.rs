//! The three signals to a real OpenTelemetry collector, `rotel` (printing what it receives):
//! a span, a log record in that span and a counter, each over OTLP/HTTP from one service. One
//! subscriber per process: this file holds one test.

mod common;

use std::time::{Duration, Instant};

use common::otlp::Rotel;
use obs_runtime::logging::LoggingConfig;
use obs_runtime::logging::otlp::OtlpLogs;
use obs_runtime::metrics::Counter;
use obs_runtime::metrics::otlp::OtlpMetrics;
use obs_runtime::trace::{Span, TraceConfig};

#[test]
fn rotel_receives_spans_metrics_and_log_records() {
    let rotel = Rotel::start();
    let endpoint = format!("http://127.0.0.1:{}", rotel.http_port);
    let shipped = Counter::register("rotel_test_shipments_total", "Shipments").expect("registers");
    let guard = obs_runtime::Obs::builder()
        .service("rotel-three-signals")
        .environment(obs_runtime::Environment::empty())
        .without_http_server()
        .logging(LoggingConfig::new().filter("info").json_lines(false).otlp(OtlpLogs::new().endpoint(&endpoint)))
        .tracing(TraceConfig::new().otlp_endpoint(&endpoint))
        .otlp_metrics(OtlpMetrics::new().endpoint(&endpoint))
        .init()
        .expect("installs");
    let span = Span::new("rotel_shipment");
    let trace_id = span.context().expect("sampled").trace_id().to_string();
    span.in_scope(|| {
        shipped.inc_by(7.0);
        tracing::info!(carrier = "dhl", "parcel shipped to rotel");
    });
    drop(span);
    // Stopping sends all three (the spans' batch, the last metrics export, the queued record).
    assert!(guard.shutdown(), "stopped in time");
    let expected = [
        "Name           : rotel_shipment".to_owned(),
        format!("Trace ID       : {trace_id}"),
        "-> Name: rotel_test_shipments".to_owned(),
        "-> IsMonotonic: true".to_owned(),
        "Value: 7".to_owned(),
        "Body: Str(parcel shipped to rotel)".to_owned(),
        "-> carrier: Str(dhl)".to_owned(),
        "SeverityNumber: SEVERITY_NUMBER_INFO(9)".to_owned(),
        "-> service.name: Str(rotel-three-signals)".to_owned(),
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output = rotel.output();
        if expected.iter().all(|line| output.contains(line.as_str())) {
            break;
        }
        let missing: Vec<&String> = expected.iter().filter(|line| !output.contains(line.as_str())).collect();
        assert!(Instant::now() < deadline, "rotel did not print {missing:?}:\n{output}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
