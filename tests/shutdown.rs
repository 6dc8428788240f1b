//! Stopping under one deadline: with a collector and a webhook that never answer, a log output
//! that blocks and a client that never finishes its request, `ObsGuard::shutdown` still returns
//! within its deadline, and what it gave up on is counted. One `ObsGuard` with logging per process
//! (it installs the global subscriber), so this is a binary of its own.

mod common;

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::receiver::Hanging;
use obs_runtime::alerts::{AlertManager, AlertRule, Condition, Webhook};
use obs_runtime::logging::{LoggingConfig, Output};
use obs_runtime::metrics::Gauge;
use obs_runtime::trace::{Span, TraceConfig};
use obs_runtime::{ConfigError, Obs};

/// A log output whose first write never returns (it says when it started).
struct Stuck {
    entered: mpsc::Sender<()>,
}

impl Write for Stuck {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        let _ = self.entered.send(());
        loop {
            std::thread::park();
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const SPANS: u64 = 7;
const LINES: u64 = 5;

/// Waits (at most 20 s) until `done` holds.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within 20 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn every_part_stops_within_one_deadline_whatever_hangs_and_counts_what_it_gave_up() {
    let collector = Hanging::start();
    let webhook = Hanging::start();
    let (entered, writer_blocked) = mpsc::channel();
    let load = Gauge::register("shutdown_test_load", "load").expect("a new gauge");
    load.set(5.0);
    let alerts = AlertManager::builder()
        .rule(
            AlertRule::builder("overload")
                .condition(Condition::gauge("shutdown_test_load").above(1.0))
                .build()
                .expect("a valid rule"),
        )
        .channel(Webhook::new(&webhook.url()).expect("an http URL").named("hanging"))
        .interval(Duration::from_millis(50))
        // Longer than the test waits: only the shutdown deadline can end the attempt.
        .send_timeout(Duration::from_secs(60))
        .build()
        .expect("a valid manager");
    let obs = Obs::builder()
        .service("shutdown-test")
        .http_addr("127.0.0.1:0")
        // A half-sent request is not cut by its header timeout before the test ends.
        .header_timeout(Duration::from_secs(600))
        .alerts(alerts)
        // No export before the shutdown: a batch waits for a minute or 512 spans.
        .tracing(
            TraceConfig::new()
                .otlp_endpoint(collector.url())
                .schedule_delay(Duration::from_secs(60))
                .export_timeout(Duration::from_secs(60)),
        )
        .logging(LoggingConfig::new().filter("shutdown=info").output(Output::Writer(Box::new(Stuck { entered }))))
        .shutdown_timeout(Duration::from_secs(2))
        .init()
        .expect("obs starts");
    assert_eq!(obs.shutdown_timeout(), Duration::from_secs(2));

    // A notification on its way to a webhook that never answers (an attempt may take 60 s).
    wait_until("the webhook's first connection", || webhook.accepted() >= 1);
    // Spans queued for a collector that accepts and never answers (an export may take 60 s).
    for index in 0..SPANS {
        let span = Span::new("doomed");
        span.set_attribute("index", index as i64);
    }
    // Log lines for an output that blocks.
    for index in 0..LINES {
        tracing::info!(index, "a line that is never written");
    }
    writer_blocked.recv_timeout(Duration::from_secs(20)).expect("the log writer is writing");
    // A client that never finishes its request on the embedded server.
    let mut half_sent = std::net::TcpStream::connect(obs.http_addr().expect("the server runs")).expect("connect");
    half_sent.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").expect("half a request");

    // The old order waited for each part in turn (2 s + 10 s + 12 s + 5 s): far more than this.
    let (stopped, returned) = mpsc::channel();
    std::thread::spawn(move || {
        obs.shutdown();
        let _ = stopped.send(());
    });
    // Every part's own timeout is longer than this wait: only the shared deadline stops them.
    returned.recv_timeout(Duration::from_secs(9)).expect("shutdown returns within its 2 s deadline (and a little)");
    // The half-sent request was closed by the stop (not left to its 10-minute header timeout).
    half_sent.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let mut rest = Vec::new();
    let read = std::io::Read::read_to_end(&mut half_sent, &mut rest);
    assert!(
        read.is_ok() || read.as_ref().is_err_and(|error| error.kind() == std::io::ErrorKind::ConnectionReset),
        "the server did not close the half-sent request: {read:?}"
    );

    let scrape = common::scrape();
    let dropped = |reason: &str| common::sample(&scrape, "obs_spans_dropped_total", &[("reason", reason)]);
    assert_eq!(dropped("shutdown"), Some(SPANS as f64), "{scrape}");
    assert_eq!(dropped("export_failed"), Some(0.0), "{scrape}");
    assert_eq!(common::sample(&scrape, "obs_spans_exported_total", &[]), Some(0.0), "{scrape}");
    assert!(collector.accepted() >= 1, "the export was attempted");
    let failed = common::sample(&scrape, "obs_alert_notifications_failed_total", &[("channel", "hanging")]);
    assert_eq!(failed, Some(1.0), "the firing notification was given up on: {scrape}");
    let lines = |reason: &str| common::sample(&scrape, "obs_log_lines_dropped_total", &[("reason", reason)]);
    assert_eq!(lines("shutdown"), Some(LINES as f64), "{scrape}");
    assert_eq!(lines("buffer_full"), Some(0.0), "{scrape}");
}

#[test]
fn a_zero_or_absurd_shutdown_timeout_is_an_err_naming_the_field() {
    for timeout in [Duration::ZERO, Duration::from_secs(601)] {
        let error = Obs::builder().without_http_server().shutdown_timeout(timeout).init().expect_err("rejected");
        assert!(matches!(error, ConfigError::Invalid { field: "shutdown_timeout", .. }), "{error:?}");
    }
    let obs = Obs::builder().without_http_server().shutdown_timeout(Duration::from_secs(600)).init().expect("valid");
    assert_eq!(obs.shutdown_timeout(), Duration::from_secs(600));
}
