//! Log records over OTLP: the events the JSON lines are made of, also (or instead) sent to an
//! OpenTelemetry Collector as an `ExportLogsServiceRequest`, with the same resource as the spans.
//!
//! ```no_run
//! use obs_runtime::logging::LoggingConfig;
//! use obs_runtime::logging::otlp::OtlpLogs;
//!
//! let _obs = obs_runtime::Obs::builder()
//!     .service("checkout")
//!     .logging(LoggingConfig::new().otlp(OtlpLogs::new().endpoint("http://collector:4318")))
//!     .init()?;
//! # Ok::<(), obs_runtime::ConfigError>(())
//! ```
//!
//! Each record has the event's severity (`severity_number` 1, 5, 9, 13, 17 for TRACE to ERROR,
//! and its text), its message as the body, its other fields as typed attributes (redacted and
//! masked as the JSON lines are: a secret's field is `"[REDACTED]"`), the baggage entries of
//! [`LoggingConfig::baggage_fields`](super::LoggingConfig::baggage_fields), and the trace id, span
//! id and trace flags of the current span. A record is cut at
//! [`max_line_bytes`](super::LoggingConfig::max_line_bytes): the attributes past it are left out
//! and counted in its `dropped_attributes_count` (the body, masked like the line's message, takes
//! at most half). An event with `trace_id` and `span_id` fields (hex) carries those ids instead of
//! the current span's, as its line does. What the log export says of its own failures is not
//! sent by it (it is still written as a line, or said on stderr), so that a failing export cannot
//! feed itself.
//!
//! Records wait in a bounded queue (never blocking the caller: a record that does not fit is
//! dropped) and go out in batches from obs's background runtime, retried with backoff within the
//! export timeout; `obs_log_records_exported_total` and
//! `obs_log_records_dropped_total{reason="queue_full"|"export_failed"|"rejected"|"shutdown"}`
//! count them. [`LogGuard::flush`](super::LogGuard::flush) sends what is queued; stopping obs sends
//! the rest within the shutdown deadline.
//!
//! Without code, `OTEL_LOGS_EXPORTER` decides: `otlp` sends records instead of writing lines,
//! `otlp,console` does both, `console` (or unset) writes lines only, `none` neither; when the
//! records would go nowhere (OTLP off by `OTEL_SDK_DISABLED=true`, names obs does not know),
//! lines are written. [`LogGuard::records_exported`](super::LogGuard::records_exported) and
//! [`records_dropped`](super::LogGuard::records_dropped) count them also without the `metrics`
//! feature. Values set here win over the environment:
//!
//! | setting | builder | environment | default |
//! |---|---|---|---|
//! | endpoint | [`endpoint`](OtlpLogs::endpoint) | `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` (as is), `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/logs`) | `http://localhost:4318` (`4317` for gRPC) |
//! | transport | [`protocol`](OtlpLogs::protocol) | `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL` | `http/protobuf` |
//! | headers | [`header`](OtlpLogs::header) | `OTEL_EXPORTER_OTLP_LOGS_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS` | none |
//! | compression | [`compression`](OtlpLogs::compression) | `OTEL_EXPORTER_OTLP_LOGS_COMPRESSION`, `OTEL_EXPORTER_OTLP_COMPRESSION` | none |
//! | TLS (feature `tls`) | `tls` | `OTEL_EXPORTER_OTLP_[LOGS_]CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY` | the Mozilla roots |
//! | one request | | `OTEL_EXPORTER_OTLP_LOGS_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms) | 10 s |
//! | batch delay | [`schedule_delay`](OtlpLogs::schedule_delay) | `OTEL_BLRP_SCHEDULE_DELAY` (ms) | 1 s |
//! | queue | [`max_queue_size`](OtlpLogs::max_queue_size) | `OTEL_BLRP_MAX_QUEUE_SIZE` | 2048 records |
//! | batch | [`max_export_batch_size`](OtlpLogs::max_export_batch_size) | `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE` | 512 records |
//! | one batch, retries included | [`export_timeout`](OtlpLogs::export_timeout) | `OTEL_BLRP_EXPORT_TIMEOUT` (ms) | 30 s |

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{Event, Level};

use super::FieldValue;
use super::layer::{FieldSink, Value, Visitor};
use super::redact::{REDACTED, Redactor};
use crate::ConfigError;
use crate::otlp::wire::{
    any_value, bytes_field, double_field, fixed32_field, fixed64_field, key, message, varint, varint_field,
};
use crate::otlp::{Compression, Protocol, Sender};
use crate::trace::{Resource, ValueRef};

/// The export of log records over OTLP: give it to
/// [`LoggingConfig::otlp`](super::LoggingConfig::otlp). See the [module](self) for the settings
/// and their variables.
#[derive(Default, Clone)]
pub struct OtlpLogs {
    endpoint: Option<String>,
    protocol: Option<Protocol>,
    transport: crate::otlp::config::Transport,
    schedule_delay: Option<Duration>,
    max_queue_size: Option<usize>,
    max_export_batch_size: Option<usize>,
    export_timeout: Option<Duration>,
}

impl fmt::Debug for OtlpLogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpLogs")
            .field("endpoint", &crate::otlp::config::shown_endpoint(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("transport", &self.transport)
            .field("schedule_delay", &self.schedule_delay)
            .field("max_queue_size", &self.max_queue_size)
            .field("max_export_batch_size", &self.max_export_batch_size)
            .field("export_timeout", &self.export_timeout)
            .finish()
    }
}

impl OtlpLogs {
    /// Every setting from the environment or its default.
    pub fn new() -> OtlpLogs {
        OtlpLogs::default()
    }

    /// The receiver (`http://host:4318`; `/v1/logs` is appended for `http/protobuf` unless the
    /// URL ends with it already). `https://` needs the `tls` feature.
    pub fn endpoint(mut self, url: impl Into<String>) -> OtlpLogs {
        self.endpoint = Some(url.into());
        self
    }

    /// HTTP/protobuf or gRPC (feature `otlp-grpc`).
    pub fn protocol(mut self, protocol: Protocol) -> OtlpLogs {
        self.protocol = Some(protocol);
        self
    }

    /// A header sent with every request (after those of the environment).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> OtlpLogs {
        self.transport.headers.push((name.into(), value.into()));
        self
    }

    /// Whether requests are gzip-compressed.
    pub fn compression(mut self, compression: Compression) -> OtlpLogs {
        self.transport.compression = Some(compression);
        self
    }

    /// The TLS settings of an `https://` endpoint (they replace those of the environment).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::Tls) -> OtlpLogs {
        self.transport.tls = Some(tls);
        self
    }

    /// How long records gather before a batch goes out (1 ms to 1 min); a full batch goes at once.
    pub fn schedule_delay(mut self, delay: Duration) -> OtlpLogs {
        self.schedule_delay = Some(delay);
        self
    }

    /// How many records wait at most (1 to 1,048,576); past it they are dropped and counted.
    pub fn max_queue_size(mut self, records: usize) -> OtlpLogs {
        self.max_queue_size = Some(records);
        self
    }

    /// How many records one request carries at most (1 to the queue's size).
    pub fn max_export_batch_size(mut self, records: usize) -> OtlpLogs {
        self.max_export_batch_size = Some(records);
        self
    }

    /// How long one batch may take, retries included (1 ms to 10 min).
    pub fn export_timeout(mut self, timeout: Duration) -> OtlpLogs {
        self.export_timeout = Some(timeout);
        self
    }
}

/// Where log events go, as the configuration and `OTEL_LOGS_EXPORTER` decide.
#[derive(Debug)]
pub(crate) struct Destinations {
    /// JSON lines are written.
    pub(crate) lines: bool,
    pub(crate) otlp: Option<Prepared>,
}

/// A checked OTLP export, not started yet.
#[derive(Debug)]
pub(crate) struct Prepared {
    sender: Sender,
    settings: Settings,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    schedule_delay: Duration,
    max_queue_size: usize,
    max_export_batch_size: usize,
    export_timeout: Duration,
    request_timeout: Duration,
}

/// Reads the configuration in code (`config`, and whether lines were turned off there), then the
/// environment: where events go.
pub(crate) fn destinations(
    config: Option<OtlpLogs>,
    lines: Option<bool>,
    environment: &crate::Environment,
) -> Result<Destinations, ConfigError> {
    use crate::otlp::{LOGS, config};
    let env = |name: &str| environment.trimmed(name);
    let warnings = RefCell::new(Vec::<String>::new());
    let tolerate = |variable: &'static str, instead: &str| warnings.borrow_mut().push(format!("{variable} {instead}"));
    let invalid = |field: &'static str, reason: String| ConfigError::Invalid { field, reason };
    let disabled = env(crate::env::OTEL_SDK_DISABLED).is_some_and(|value| value.eq_ignore_ascii_case("true"));
    let listed = config::exporters_of(&LOGS, &["otlp", "console", "none"], &env, &tolerate);
    let (config, lines) = match config {
        Some(config) => (Some(config), lines.unwrap_or(true)),
        None => match listed {
            Some(listed) => {
                let otlp = (listed.contains(&"otlp") && !disabled).then(OtlpLogs::new);
                // Lines when console is listed, or when nothing else would take the events
                // (OTLP off by OTEL_SDK_DISABLED, a list of names obs does not know): only an
                // explicit `none` silences them.
                let console = listed.contains(&"console") || (otlp.is_none() && !listed.contains(&"none"));
                (otlp, lines.unwrap_or(console))
            }
            None => (None, lines.unwrap_or(true)),
        },
    };
    let Some(config) = config else {
        if env(LOGS.endpoint).is_some() && !disabled {
            tolerate(
                LOGS.endpoint,
                "is set, but OTEL_LOGS_EXPORTER does not list otlp: log records are not sent over OTLP",
            );
        }
        say(warnings.into_inner());
        return Ok(Destinations { lines, otlp: None });
    };
    let within = |value: Duration, most: Duration| (Duration::from_millis(1)..=most).contains(&value);
    let schedule_delay = match config.schedule_delay {
        Some(delay) if !within(delay, Duration::from_secs(60)) => {
            return Err(invalid("OtlpLogs::schedule_delay", format!("{delay:?} is not between 1 ms and 1 min")));
        }
        Some(delay) => delay,
        None => config::millis_of(&[crate::env::OTEL_BLRP_SCHEDULE_DELAY], Duration::from_secs(60), &env, &tolerate)
            .unwrap_or(Duration::from_secs(1)),
    };
    let export_timeout = match config.export_timeout {
        Some(timeout) if !within(timeout, Duration::from_secs(600)) => {
            return Err(invalid("OtlpLogs::export_timeout", format!("{timeout:?} is not between 1 ms and 10 min")));
        }
        Some(timeout) => timeout,
        None => config::millis_of(&[crate::env::OTEL_BLRP_EXPORT_TIMEOUT], Duration::from_secs(600), &env, &tolerate)
            .unwrap_or(Duration::from_secs(30)),
    };
    let count = |name: &'static str| -> Option<usize> {
        let value = env(name)?;
        let taken = value.parse::<usize>().ok().filter(|count| (1..=1 << 20).contains(count));
        if taken.is_none() {
            tolerate(name, "is not a count in range: the default is used");
        }
        taken
    };
    let max_queue_size = match config.max_queue_size {
        Some(size) if !(1..=1 << 20).contains(&size) => {
            return Err(invalid("OtlpLogs::max_queue_size", format!("{size} is not between 1 and 1048576")));
        }
        Some(size) => size,
        None => count(crate::env::OTEL_BLRP_MAX_QUEUE_SIZE).unwrap_or(2048),
    };
    let max_export_batch_size = match config.max_export_batch_size {
        Some(size) if !(1..=max_queue_size).contains(&size) => {
            let reason = format!("{size} is not between 1 and the queue size ({max_queue_size})");
            return Err(invalid("OtlpLogs::max_export_batch_size", reason));
        }
        Some(size) => size,
        None => count(crate::env::OTEL_BLRP_MAX_EXPORT_BATCH_SIZE).unwrap_or(512).min(max_queue_size),
    };
    let request_timeout = config::timeout_of(&LOGS, &env, &tolerate).unwrap_or(Duration::from_secs(10));
    let protocol = config::protocol_of(&LOGS, config.protocol, &env, &tolerate)?;
    let endpoint = config::endpoint_of(&LOGS, config.endpoint, "OtlpLogs::endpoint", &env)
        .unwrap_or_else(|| (config::default_endpoint(protocol).to_owned(), LOGS.exporter, true));
    let sender =
        config::sender(&LOGS, config.transport, protocol, (&endpoint.0, endpoint.1, endpoint.2), &env, &tolerate)?;
    say(warnings.into_inner());
    // Off by OTEL_SDK_DISABLED=true, once the values given in code are checked.
    if disabled {
        return Ok(Destinations { lines, otlp: None });
    }
    let settings = Settings { schedule_delay, max_queue_size, max_export_batch_size, export_timeout, request_timeout };
    Ok(Destinations { lines, otlp: Some(Prepared { sender, settings }) })
}

/// The environment's values not taken, said at start.
fn say(warnings: Vec<String>) {
    for warning in warnings {
        crate::diagnostics::warn("config", "invalid_env", &warning);
    }
}

/// The records waiting for export: each already encoded as a `ScopeLogs.log_records` field.
pub(crate) struct Queue {
    state: Mutex<Pending>,
    /// Wakes the export loop: a full batch, a flush, a stop.
    wake: tokio::sync::Notify,
    /// Rounds the export loop finished (each after one take), for flushes.
    rounds: Mutex<u64>,
    round_done: Condvar,
    settings: Settings,
    /// The records' byte budget (`max_line_bytes` each).
    max_record_bytes: usize,
    pub(crate) exported: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Where each record ends in `bytes`.
    ends: Vec<usize>,
    closing: bool,
    /// A flush asked for an export now.
    urgent: bool,
    /// How many times the export loop took what was queued.
    taken: u64,
}

impl Queue {
    /// Takes one encoded record, or drops and counts it.
    fn push(&self, record: &[u8]) {
        let mut pending = crate::sync::lock(&self.state);
        if pending.closing {
            drop(pending);
            self.drop_records("shutdown", 1);
            return;
        }
        if pending.ends.len() >= self.settings.max_queue_size {
            drop(pending);
            self.drop_records("queue_full", 1);
            return;
        }
        pending.bytes.extend_from_slice(record);
        let end = pending.bytes.len();
        pending.ends.push(end);
        let full = pending.ends.len() >= self.settings.max_export_batch_size;
        drop(pending);
        if full {
            self.wake.notify_one();
        }
    }

    fn drop_records(&self, reason: &'static str, records: u64) {
        self.dropped.fetch_add(records, Ordering::Relaxed);
        self_metrics::dropped(reason, records);
    }

    /// Asks for an export of what is queued, and waits (at most `timeout`) until it was tried.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut rounds = crate::sync::lock(&self.rounds);
        // Records still queued go with the next take; those taken already, with a round that
        // has started.
        let target = {
            let mut pending = crate::sync::lock(&self.state);
            pending.urgent = true;
            if pending.ends.is_empty() { pending.taken } else { pending.taken + 1 }
        };
        self.wake.notify_one();
        while *rounds < target {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            rounds = crate::sync::wait_timeout(&self.round_done, rounds, left);
        }
        true
    }

    fn close(&self) {
        crate::sync::lock(&self.state).closing = true;
        self.wake.notify_one();
    }

    /// Whether what is queued goes now: a full batch, a flush, a stop.
    fn ready(&self) -> bool {
        let pending = crate::sync::lock(&self.state);
        pending.urgent || pending.closing || pending.ends.len() >= self.settings.max_export_batch_size
    }

    /// What is queued, taken.
    fn take(&self) -> (Vec<u8>, Vec<usize>) {
        let mut pending = crate::sync::lock(&self.state);
        pending.urgent = false;
        pending.taken += 1;
        (std::mem::take(&mut pending.bytes), std::mem::take(&mut pending.ends))
    }

    fn finish_round(&self) {
        *crate::sync::lock(&self.rounds) += 1;
        self.round_done.notify_all();
    }
}

/// The running export: its queue (which the layer fills) and its loop.
pub(crate) struct Export {
    pub(crate) queue: Arc<Queue>,
    worker: crate::otlp::Worker,
}

impl fmt::Debug for Export {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Export").finish_non_exhaustive()
    }
}

impl Export {
    /// Starts the loop of `prepared`, sending under `resource`; records are cut at
    /// `max_record_bytes`.
    pub(crate) fn start(
        prepared: Prepared,
        resource: Resource,
        max_record_bytes: usize,
    ) -> Result<Export, ConfigError> {
        self_metrics::register();
        let queue = Arc::new(Queue {
            state: Mutex::new(Pending::default()),
            wake: tokio::sync::Notify::new(),
            rounds: Mutex::new(0),
            round_done: Condvar::new(),
            settings: prepared.settings,
            max_record_bytes,
            exported: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let exporter = Exporter { sender: prepared.sender, queue: queue.clone(), resource, body: Vec::new() };
        let worker = crate::otlp::Worker::spawn(|stop| exporter.run(stop)).ok_or_else(|| ConfigError::Invalid {
            field: "otlp",
            reason: "obs's background runtime could not start".to_owned(),
        })?;
        Ok(Export { queue, worker })
    }

    /// Stops taking records and tells the loop to send what is queued by `deadline`; returns at
    /// once.
    pub(crate) fn signal_stop(&self, deadline: crate::Deadline) {
        self.queue.close();
        self.worker.signal_stop(deadline);
    }

    /// Waits for the last export, at most until `deadline`; `false` if it did not end in time:
    /// what is still queued is then counted as dropped (`shutdown`).
    pub(crate) fn wait_stopped(&self, deadline: crate::Deadline) -> bool {
        if self.worker.wait_stopped(deadline) {
            return true;
        }
        let (_, ends) = self.queue.take();
        if !ends.is_empty() {
            self.queue.drop_records("shutdown", ends.len() as u64);
            crate::diagnostics::last_resort(&format!(
                "{} log record(s) not sent over OTLP by the shutdown deadline were dropped",
                ends.len()
            ));
        }
        false
    }
}

struct Exporter {
    sender: Sender,
    queue: Arc<Queue>,
    resource: Resource,
    body: Vec<u8>,
}

impl Exporter {
    async fn run(mut self, mut stop: crate::otlp::StopSignal) {
        let delay = self.queue.settings.schedule_delay;
        'exports: loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                _ = tokio::time::sleep(delay) => {}
                _ = self.queue.wake.notified() => {
                    // A batch that is not full yet (a flush, or records taken by the last
                    // round) gathers until its delay.
                    if !self.queue.ready() {
                        // Gathers until its delay, unless a full batch, a flush or a stop
                        // comes first.
                        let gathered = tokio::time::sleep(delay);
                        tokio::pin!(gathered);
                        loop {
                            tokio::select! {
                                biased;
                                _ = stop.changed() => break 'exports,
                                _ = &mut gathered => break,
                                _ = self.queue.wake.notified() => {
                                    if self.queue.ready() {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            self.export(&stop).await;
            self.queue.finish_round();
        }
        // By the stop's deadline (or, its sender gone, the export timeout).
        self.export(&stop).await;
        self.queue.finish_round();
    }

    /// Sends what is queued in batches, each within the export timeout; `stop`: the last export,
    /// all of it by that deadline (what is left then is dropped as `shutdown`).
    async fn export(&mut self, stop: &crate::otlp::StopSignal) {
        let (bytes, ends) = self.queue.take();
        let mut start = 0;
        for batch in ends.chunks(self.queue.settings.max_export_batch_size) {
            let end = batch.last().copied().unwrap_or(start);
            let records = batch.len();
            let own = crate::Deadline::after(self.queue.settings.export_timeout);
            // A stop signalled meanwhile bounds the rest of the round.
            let stopping = *stop.borrow();
            let deadline = match stopping {
                Some(stop) if stop.instant() < own.instant() => stop,
                _ => own,
            };
            let outcome = if deadline.remaining().is_zero() {
                Err(None)
            } else {
                self.body.clear();
                encode_request(&mut self.body, &self.resource, &bytes[start..end]);
                match self.sender.body(&self.body) {
                    Ok(body) => {
                        let timeout = self.queue.settings.request_timeout;
                        crate::otlp::send_with_retries(&self.sender, body, records, timeout, deadline)
                            .await
                            .map_err(Some)
                    }
                    Err(error) => Err(Some(error)),
                }
            };
            start = end;
            match outcome {
                Ok(rejected) => {
                    let accepted = records as u64 - rejected.min(records as u64);
                    self.queue.exported.fetch_add(accepted, Ordering::Relaxed);
                    self_metrics::exported(accepted);
                    if rejected > 0 {
                        self.queue.drop_records("rejected", rejected.min(records as u64));
                    }
                }
                Err(None) => self.queue.drop_records("shutdown", records as u64),
                Err(Some(error)) => {
                    self.queue.drop_records("export_failed", records as u64);
                    let message = format!("log records export to {} failed: {error}", self.sender.shown());
                    quietly(|| crate::diagnostics::warn("logging", "otlp_export_failed", &message));
                    // While stopping, the lines that would say it are closing: stderr too.
                    if stopping.is_some() {
                        crate::diagnostics::last_resort(&format!("{records} log record(s) dropped: {message}"));
                    }
                }
            }
        }
    }
}

/// `ExportLogsServiceRequest { resource_logs = 1: ResourceLogs { resource = 1, scope_logs = 2:
/// ScopeLogs { scope = 1, log_records = 2 } } }`; `records` are encoded `log_records` fields.
fn encode_request(out: &mut Vec<u8>, resource: &Resource, records: &[u8]) {
    message(out, 1, |out| {
        crate::otlp::wire::resource(out, 1, resource);
        message(out, 2, |out| {
            crate::otlp::wire::scope(out, 1);
            out.extend_from_slice(records);
        });
    });
}

thread_local! {
    /// The record being encoded on this thread (reused).
    static RECORD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Set while the log export says something of itself.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether `target` is one of the crates an export sends with (their events on obs's threads
/// would be records of the export itself).
fn is_transport(target: &str) -> bool {
    let root = target.split("::").next().unwrap_or(target);
    matches!(root, "h2" | "hyper" | "hyper_util" | "rustls" | "tokio_rustls" | "want" | "mio" | "tokio" | "tower")
}

/// Runs `say` (which logs) without making log records of what it logs: for the log export's
/// own warnings.
pub(crate) fn quietly<R>(say: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = QUIET.try_with(|quiet| quiet.set(self.0));
        }
    }
    let _reset = Reset(QUIET.try_with(|quiet| quiet.replace(true)).unwrap_or(false));
    say()
}

/// Encodes `event` as a record and queues it.
pub(crate) fn record_event(pipeline: &super::Pipeline, queue: &Queue, event: &Event<'_>) {
    let metadata = event.metadata();
    record(pipeline, queue, *metadata.level(), metadata.target(), |attributes| {
        event.record(&mut Visitor(attributes));
    });
}

/// Encodes a [`super::StructuredLogger`] call as a record and queues it.
pub(crate) fn record_structured(
    pipeline: &super::Pipeline,
    queue: &Queue,
    level: Level,
    call: &super::layer::Structured<'_>,
) {
    record(pipeline, queue, level, super::layer::STRUCTURED_TARGET, |attributes| {
        attributes.set_body(format_args!("{}", call.message));
        for (name, value) in call.fields {
            attributes.field_value(name, value);
        }
    });
}

fn record(
    pipeline: &super::Pipeline,
    queue: &Queue,
    level: Level,
    target: &str,
    fill: impl FnOnce(&mut Attributes<'_>),
) {
    // What the log export says of its own failures is not sent by it: a failing export must
    // not feed itself (those lines are still written, or said on stderr).
    if QUIET.try_with(std::cell::Cell::get).unwrap_or(false) {
        return;
    }
    // Nor what the transport's crates log while it sends (on obs's threads).
    if crate::threads::is_own() && is_transport(target) {
        return;
    }
    let mut fill = Some(fill);
    let _ = RECORD.try_with(|cell| {
        if let Ok(mut buffer) = cell.try_borrow_mut()
            && let Some(fill) = fill.take()
        {
            encode_record(&mut buffer, pipeline, queue, level, fill);
        }
    });
    // A `Debug` impl that logs while this thread encodes, or a thread being torn down: a buffer
    // of its own.
    if let Some(fill) = fill {
        encode_record(&mut Vec::new(), pipeline, queue, level, fill);
    }
}

fn encode_record(
    out: &mut Vec<u8>,
    pipeline: &super::Pipeline,
    queue: &Queue,
    level: Level,
    fill: impl FnOnce(&mut Attributes<'_>),
) {
    out.clear();
    let mut attributes = Attributes {
        out: Vec::new(),
        redactor: &pipeline.redactor,
        budget: queue.max_record_bytes,
        dropped: 0,
        body: None,
        trace_id: None,
        span_id: None,
    };
    fill(&mut attributes);
    #[cfg(feature = "trace")]
    super::layer::baggage(&mut attributes, &pipeline.baggage_fields);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64);
    let (number, text) = severity(level);
    // LogRecord { time_unix_nano = 1, severity_number = 2, severity_text = 3, body = 5,
    // attributes = 6, dropped_attributes_count = 7, flags = 8, trace_id = 9, span_id = 10,
    // observed_time_unix_nano = 11 }, as field 2 of ScopeLogs.
    message(out, 2, |out| {
        fixed64_field(out, 1, now);
        varint_field(out, 2, number);
        bytes_field(out, 3, text.as_bytes());
        if let Some(body) = &attributes.body {
            message(out, 5, |out| any_value(out, ValueRef::Str(body)));
        }
        out.extend_from_slice(&attributes.out);
        if attributes.dropped > 0 {
            varint_field(out, 7, u64::from(attributes.dropped));
        }
        match (attributes.trace_id, crate::context::SpanContext::current()) {
            // The event names its trace: its ids only (a span id of another trace would mislead).
            (Some(trace_id), _) => {
                bytes_field(out, 9, &trace_id);
                if let Some(span_id) = attributes.span_id {
                    bytes_field(out, 10, &span_id);
                }
            }
            (None, Some(context)) => {
                fixed32_field(out, 8, u32::from(context.trace_flags()));
                bytes_field(out, 9, &context.trace_id().to_bytes());
                bytes_field(out, 10, &attributes.span_id.unwrap_or(context.span_id().to_bytes()));
            }
            // An event's own span id with no trace: kept as the line keeps it.
            (None, None) => {
                if let Some(span_id) = attributes.span_id {
                    bytes_field(out, 10, &span_id);
                }
            }
        }
        fixed64_field(out, 11, now);
    });
    queue.push(out);
}

/// OpenTelemetry's severity numbers for `tracing`'s levels, and their text.
fn severity(level: Level) -> (u64, &'static str) {
    match level {
        Level::TRACE => (1, "TRACE"),
        Level::DEBUG => (5, "DEBUG"),
        Level::INFO => (9, "INFO"),
        Level::WARN => (13, "WARN"),
        Level::ERROR => (17, "ERROR"),
    }
}

/// A record's attributes (`LogRecord.attributes` fields), redacted, within its byte budget.
struct Attributes<'a> {
    out: Vec<u8>,
    redactor: &'a Redactor,
    budget: usize,
    dropped: u32,
    /// The `message` field.
    body: Option<String>,
    /// The ids of `trace_id` and `span_id` fields (32 and 16 hex digits), which name the
    /// record's trace instead of the current one, as in the JSON lines.
    trace_id: Option<[u8; 16]>,
    span_id: Option<[u8; 8]>,
}

/// A value as an attribute holds it.
enum Attribute<'v> {
    Str(&'v str),
    Bytes(&'v [u8]),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl Attributes<'_> {
    /// One attribute, unless it would pass the budget (then counted as dropped); a secret's
    /// field is `"[REDACTED]"`, masked values masked.
    fn write(&mut self, name: &str, value: Attribute<'_>) {
        if let Attribute::Str(text) = value {
            match name {
                "trace_id" if let Some(id) = crate::otlp::wire::hex::<16>(text) => return self.trace_id = Some(id),
                "span_id" if let Some(id) = crate::otlp::wire::hex::<8>(text) => return self.span_id = Some(id),
                _ => {}
            }
        }
        let masked;
        let value = match value {
            _ if self.redactor.is_secret(name) => Attribute::Str(REDACTED),
            Attribute::Str(text) => match self.redactor.mask(text) {
                Some(text) => {
                    masked = text;
                    Attribute::Str(&masked)
                }
                None => Attribute::Str(text),
            },
            other => other,
        };
        let size = name.len()
            + 16
            + match value {
                Attribute::Str(text) => text.len(),
                Attribute::Bytes(bytes) => bytes.len(),
                _ => 10,
            };
        if self.out.len() + size > self.budget {
            self.dropped += 1;
            return;
        }
        // KeyValue { key = 1, value = 2: AnyValue { string 1, bool 2, int 3, double 4, bytes 7 } }.
        message(&mut self.out, 6, |out| {
            bytes_field(out, 1, name.as_bytes());
            message(out, 2, |out| match value {
                Attribute::Str(text) => any_value(out, ValueRef::Str(text)),
                Attribute::Bytes(bytes) => bytes_field(out, 7, bytes),
                Attribute::I64(value) => any_value(out, ValueRef::I64(value)),
                Attribute::F64(value) => any_value(out, ValueRef::F64(value)),
                Attribute::Bool(value) => any_value(out, ValueRef::Bool(value)),
            });
        });
    }

    /// The body: the message, masked, cut at half the record's room (the attributes have the
    /// rest).
    fn set_body(&mut self, message: fmt::Arguments<'_>) {
        let text = super::layer::capped(message, self.budget / 2);
        let text = self.redactor.mask(&text).unwrap_or(text);
        self.budget = self.budget.saturating_sub(text.len());
        self.body = Some(text);
    }

    /// A formatted value, cut at the record's room.
    fn write_fmt(&mut self, name: &str, arguments: fmt::Arguments<'_>) {
        let room = self.budget.saturating_sub(self.out.len() + name.len() + 16);
        let text = super::layer::capped(arguments, room);
        self.write(name, Attribute::Str(&text));
    }

    fn field_value(&mut self, name: &str, value: &FieldValue<'_>) {
        match value {
            FieldValue::Str(text) => self.write(name, Attribute::Str(text)),
            FieldValue::String(text) => self.write(name, Attribute::Str(text)),
            FieldValue::I64(value) => self.write(name, Attribute::I64(*value)),
            FieldValue::U64(value) => self.write(name, unsigned(*value)),
            FieldValue::F64(value) => self.write(name, Attribute::F64(*value)),
            FieldValue::Bool(value) => self.write(name, Attribute::Bool(*value)),
            FieldValue::Null => {}
            FieldValue::Object(entries) => {
                if self.redactor.is_secret(name) {
                    self.write(name, Attribute::Str(REDACTED));
                    return;
                }
                let mut object = Vec::new();
                kvlist(&mut object, self.redactor, entries);
                if self.out.len() + name.len() + object.len() + 16 > self.budget {
                    self.dropped += 1;
                    return;
                }
                // AnyValue { kvlist_value = 6: KeyValueList { values = 1 } }.
                message(&mut self.out, 6, |out| {
                    bytes_field(out, 1, name.as_bytes());
                    message(out, 2, |out| {
                        key(out, 6, 2);
                        varint(out, object.len() as u64);
                        out.extend_from_slice(&object);
                    });
                });
            }
        }
    }
}

/// A `u64` as an attribute: an int when it fits, else a double.
fn unsigned(value: u64) -> Attribute<'static> {
    match i64::try_from(value) {
        Ok(value) => Attribute::I64(value),
        Err(_) => Attribute::F64(value as f64),
    }
}

/// The `values` of a `KeyValueList`, redacted like top-level fields.
fn kvlist(out: &mut Vec<u8>, redactor: &Redactor, entries: &[(&str, FieldValue<'_>)]) {
    for (name, value) in entries {
        message(out, 1, |out| {
            bytes_field(out, 1, name.as_bytes());
            message(out, 2, |out| {
                if redactor.is_secret(name) {
                    return any_value(out, ValueRef::Str(REDACTED));
                }
                match value {
                    FieldValue::Str(text) => {
                        any_value(out, ValueRef::Str(&redactor.mask(text).unwrap_or_else(|| (*text).to_owned())))
                    }
                    FieldValue::String(text) => {
                        any_value(out, ValueRef::Str(&redactor.mask(text).unwrap_or_else(|| text.clone())))
                    }
                    FieldValue::I64(value) => any_value(out, ValueRef::I64(*value)),
                    FieldValue::U64(value) => match i64::try_from(*value) {
                        Ok(value) => any_value(out, ValueRef::I64(value)),
                        Err(_) => double_field(out, 4, *value as f64),
                    },
                    FieldValue::F64(value) => any_value(out, ValueRef::F64(*value)),
                    FieldValue::Bool(value) => any_value(out, ValueRef::Bool(*value)),
                    FieldValue::Null => {}
                    FieldValue::Object(inner) => {
                        let mut object = Vec::new();
                        kvlist(&mut object, redactor, inner);
                        key(out, 6, 2);
                        varint(out, object.len() as u64);
                        out.extend_from_slice(&object);
                    }
                }
            });
        });
    }
}

impl FieldSink for Attributes<'_> {
    fn field(&mut self, name: &str, value: Value<'_>) {
        match value {
            Value::Str(text) if name == "message" => self.set_body(format_args!("{text}")),
            Value::Fmt(arguments) if name == "message" => self.set_body(arguments),
            // `trace_id = %context.trace_id()`: read as the hex it formats to.
            Value::Fmt(arguments) if name == "trace_id" || name == "span_id" => {
                let text = super::layer::capped(arguments, 64);
                self.write(name, Attribute::Str(&text));
            }
            Value::Str(text) => self.write(name, Attribute::Str(text)),
            Value::Fmt(arguments) => self.write_fmt(name, arguments),
            Value::Bytes(bytes) => self.write(name, Attribute::Bytes(bytes)),
            Value::I64(value) => self.write(name, Attribute::I64(value)),
            Value::U64(value) => self.write(name, unsigned(value)),
            Value::F64(value) => self.write(name, Attribute::F64(value)),
            Value::Bool(value) => self.write(name, Attribute::Bool(value)),
            Value::Null => {}
        }
    }
}

/// Registers `obs_log_records_exported_total` and `obs_log_records_dropped_total{reason}` (once).
#[cfg(feature = "metrics")]
pub(crate) fn register_self_metrics() {
    self_metrics::register();
}

/// `obs_log_records_exported_total` and `obs_log_records_dropped_total{reason}`.
mod self_metrics {
    #[cfg(feature = "metrics")]
    static COUNTERS: std::sync::OnceLock<Option<(crate::metrics::Counter, crate::metrics::CounterVec)>> =
        std::sync::OnceLock::new();

    pub(super) fn register() {
        #[cfg(feature = "metrics")]
        COUNTERS.get_or_init(|| {
            let exported =
                crate::metrics::Counter::register("obs_log_records_exported_total", "Log records obs sent over OTLP")
                    .ok()?;
            let dropped = crate::metrics::CounterVec::register(
                "obs_log_records_dropped_total",
                "Log records obs did not deliver over OTLP: queue_full (the export could not keep up), \
                 export_failed (after retries), rejected (by the receiver's partial success) or shutdown \
                 (logged after it began, or not sent by its deadline)",
                &["reason"],
            )
            .ok()?;
            for reason in ["queue_full", "export_failed", "rejected", "shutdown"] {
                dropped.with_labels(&[reason]).ok()?;
            }
            Some((exported, dropped))
        });
    }

    pub(super) fn exported(records: u64) {
        #[cfg(feature = "metrics")]
        if let Some(Some((exported, _))) = COUNTERS.get() {
            exported.inc_by(records as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = records;
    }

    pub(super) fn dropped(reason: &'static str, records: u64) {
        #[cfg(feature = "metrics")]
        if let Some(Some((_, dropped))) = COUNTERS.get()
            && let Ok(counter) = dropped.with_labels(&[reason])
        {
            counter.inc_by(records as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (reason, records);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(config: Option<OtlpLogs>, lines: Option<bool>, vars: &[(&str, &str)]) -> (bool, bool) {
        let environment = crate::Environment::from_pairs(vars.iter().copied());
        let destinations = destinations(config, lines, &environment).expect("valid");
        (destinations.lines, destinations.otlp.is_some())
    }

    #[test]
    fn otel_logs_exporter_decides_where_events_go_unless_the_code_does() {
        const EXPORTER: &str = "OTEL_LOGS_EXPORTER";
        assert_eq!(resolved(None, None, &[]), (true, false), "lines only by default");
        assert_eq!(resolved(None, None, &[(EXPORTER, "otlp")]), (false, true), "records instead of lines");
        assert_eq!(resolved(None, None, &[(EXPORTER, "OTLP, console")]), (true, true));
        assert_eq!(resolved(None, None, &[(EXPORTER, "console")]), (true, false));
        assert_eq!(resolved(None, None, &[(EXPORTER, "none")]), (false, false));
        // Nothing else would take them: the lines stay.
        assert_eq!(resolved(None, None, &[(EXPORTER, "otlp"), ("OTEL_SDK_DISABLED", "true")]), (true, false));
        assert_eq!(resolved(None, None, &[(EXPORTER, "logging")]), (true, false), "an unknown name");
        assert_eq!(resolved(Some(OtlpLogs::new()), None, &[(EXPORTER, "none")]), (true, true), "the code wins");
        assert_eq!(resolved(Some(OtlpLogs::new()), Some(false), &[]), (false, true));
        assert_eq!(resolved(Some(OtlpLogs::new()), None, &[("OTEL_SDK_DISABLED", "true")]), (true, false));
    }

    #[test]
    fn wrong_values_in_code_are_errs_naming_them_even_when_off() {
        let field = |config: OtlpLogs, vars: &[(&str, &str)]| {
            let environment = crate::Environment::from_pairs(vars.iter().copied());
            match destinations(Some(config), None, &environment) {
                Err(ConfigError::Invalid { field, .. }) => Some(field),
                _ => None,
            }
        };
        assert_eq!(field(OtlpLogs::new().max_queue_size(0), &[]), Some("OtlpLogs::max_queue_size"));
        assert_eq!(
            field(OtlpLogs::new().max_queue_size(8).max_export_batch_size(9), &[]),
            Some("OtlpLogs::max_export_batch_size")
        );
        assert_eq!(field(OtlpLogs::new().endpoint("ftp://collector"), &[]), Some("OtlpLogs::endpoint"));
        let disabled = [("OTEL_SDK_DISABLED", "true")];
        assert_eq!(field(OtlpLogs::new().schedule_delay(Duration::ZERO), &disabled), Some("OtlpLogs::schedule_delay"));
    }

    #[test]
    fn debug_shows_neither_credentials_nor_header_values() {
        let config = OtlpLogs::new()
            .endpoint("https://user:S3CRET@collector:4318/T0KEN/v1/logs")
            .header("authorization", "Bearer S3CRET");
        let shown = format!("{config:?}");
        assert!(!shown.contains("S3CRET") && !shown.contains("T0KEN"), "{shown}");
        assert!(shown.contains("collector:4318") && shown.contains("authorization"), "{shown}");
    }
}
