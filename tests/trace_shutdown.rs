//! A dead collector and a full queue: spans are dropped and counted (never blocking the caller),
//! and shutting down, with no async runtime at all, returns. One pipeline per process.

mod common;

use std::time::Duration;

use common::backends::free_port;
use obs_runtime::trace::{Span, TraceConfig};

#[test]
fn drops_are_counted_and_shutdown_returns_without_a_runtime() {
    let config = TraceConfig::new()
        .otlp_endpoint(format!("http://127.0.0.1:{}", free_port()))
        .max_queue_size(16)
        .max_export_batch_size(16)
        .schedule_delay(Duration::from_millis(10))
        .export_timeout(Duration::from_secs(1));
    let guard = common::spans::traces_only("doomed", config);
    for index in 0..2000 {
        let span = Span::new("doomed_span");
        span.set_attribute("index", index);
    }
    assert!(guard.shutdown(), "shut down in time");
    let scrape = common::scrape();
    let queue_full = common::sample(&scrape, "obs_spans_dropped_total", &[("reason", "queue_full")]).expect("counted");
    let failed = common::sample(&scrape, "obs_spans_dropped_total", &[("reason", "export_failed")]).expect("counted");
    assert!(queue_full > 0.0, "2000 spans into a queue of 16 with a dead exporter: {scrape}");
    assert_eq!(queue_full + failed, 2000.0, "every span is accounted for: {scrape}");
    assert_eq!(common::sample(&scrape, "obs_spans_exported_total", &[]), Some(0.0));
    // After shutdown, spans record nothing and cost nothing.
    assert!(!Span::new("after").is_recording());
}
