//! Structured JSON logs: every `tracing` event as one JSON object a line (timestamp, service,
//! level, message, the current trace and span ids, the other fields under `metadata`), secrets
//! redacted, written by a thread of its own so that logging never blocks the application.
//!
//! ```
//! use obs_runtime::logging::{LoggingConfig, Output};
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)] struct Lines(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Lines {
//! #     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().extend_from_slice(bytes); Ok(bytes.len()) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let lines = Lines::default();
//! # let output = Output::Writer(Box::new(lines.clone()));
//! let mut obs = obs_runtime::Obs::builder().service("user-service").without_http_server().init()?;
//! // Usually `Obs::builder().logging(..)`, which installs the global subscriber; here a layer of a
//! // local one.
//! let layer = obs.logging_layer(LoggingConfig::new().output(output))?;
//! let subscriber = tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!(user_id = "12345", password = "hunter2", duration_ms = 150, "User login successful");
//! });
//! obs.logs().expect("the layer's writer").flush();
//! # let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
//! # assert!(text.contains(r#""level":"INFO","message":"User login successful""#), "{text}");
//! # assert!(text.contains(r#""user_id":"12345""#) && text.contains(r#""password":"[REDACTED]""#), "{text}");
//! # Ok::<(), obs_runtime::ConfigError>(())
//! ```
//!
//! writes
//!
//! ```text
//! {"timestamp":"2026-11-29T03:04:05.123456Z","service":"user-service","level":"INFO","message":"User login successful","trace_id":null,"span_id":null,"user_id":"12345","request_id":null,"metadata":{"password":"[REDACTED]","duration_ms":150}}
//! ```
//!
//! - `trace_id` and `span_id` come from the [current context](crate::context::SpanContext) (or
//!   from fields of those names); `null` when there is none.
//! - `metadata` holds every other field with its JSON type: numbers stay numbers, booleans
//!   booleans, `Debug` and `Display` values become strings.
//! - Fields whose names hold a secret's ([`DEFAULT_REDACTED_FIELDS`], configurable) as a word
//!   (`access_token`, `x-api-key`, `user.password`, `user[password]`, `accessToken`; the rule of
//!   [`is_secret_name`](crate::is_secret_name)) are written as `"[REDACTED]"`;
//!   [`LoggingConfig::mask_values`] also masks bearer tokens and card numbers inside values.
//! - A line longer than [`LoggingConfig::max_line_bytes`] is cut, value by value, with
//!   `...[truncated]` and `"truncated":true`, and is still valid JSON.
//! - Lines go to a bounded buffer; when it is full they are dropped and counted in
//!   `obs_log_lines_dropped_total{reason}` (and [`LogGuard::dropped`]), never blocking. The guard
//!   flushes what is buffered when dropped; lines not written by then (an output that blocks) are
//!   counted too (`reason="shutdown"`).

mod layer;
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub mod otlp;
mod pillar;
mod redact;
mod sink;

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use layer::JsonLayer;
pub(crate) use pillar::Pillar;
pub use redact::DEFAULT_REDACTED_FIELDS;

use crate::ConfigError;

/// Where log lines go.
pub enum Output {
    /// Standard output (the default).
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, appended to, rotated as asked.
    File {
        /// The file.
        path: PathBuf,
        /// When to start a new file.
        rotation: Rotation,
        /// How many rotated files to keep.
        keep: usize,
    },
    /// Any writer (a socket, a test buffer). Written from the logging thread.
    Writer(Box<dyn Write + Send>),
}

impl Output {
    /// A file that is never rotated.
    pub fn file(path: impl Into<PathBuf>) -> Output {
        Output::File { path: path.into(), rotation: Rotation::Never, keep: 0 }
    }

    /// A file rotated as asked, keeping `keep` rotated files.
    pub fn rotating_file(path: impl Into<PathBuf>, rotation: Rotation, keep: usize) -> Output {
        Output::File { path: path.into(), rotation, keep }
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Stdout => f.write_str("Stdout"),
            Output::Stderr => f.write_str("Stderr"),
            Output::File { path, rotation, keep } => {
                f.debug_struct("File").field("path", path).field("rotation", rotation).field("keep", keep).finish()
            }
            Output::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// When a log file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Never.
    Never,
    /// When it would grow past this many bytes (`app.log` -> `app.log.1` -> `app.log.2` ..).
    Size(u64),
    /// At each UTC hour (`app.log` -> `app.log.2026-11-29T13`).
    Hourly,
    /// At each UTC day (`app.log` -> `app.log.2026-11-29`).
    Daily,
}

/// How obs writes logs. Built with [`LoggingConfig::new`]; given to
/// [`ObsBuilder::logging`](crate::ObsBuilder::logging) or [`ObsGuard::logging_layer`](crate::ObsGuard::logging_layer).
#[derive(Debug)]
pub struct LoggingConfig {
    filter: Option<String>,
    output: Output,
    buffer_bytes: usize,
    max_line_bytes: usize,
    redact: Vec<String>,
    mask_values: bool,
    log_request_errors: bool,
    #[cfg(feature = "trace")]
    baggage_fields: Vec<String>,
    #[cfg(feature = "tracing-bridge")]
    tracing_spans: bool,
    #[cfg(feature = "tracing-bridge")]
    span_filter: Option<String>,
    /// Whether JSON lines are written: `None` as `OTEL_LOGS_EXPORTER` says (default yes).
    lines: Option<bool>,
    #[cfg(feature = "otlp")]
    otlp: Option<otlp::OtlpLogs>,
    /// Where events go, checked by the pillar before anything started.
    #[cfg(feature = "otlp")]
    resolved: Option<otlp::Destinations>,
}

/// Default size of the buffer between the application and the writer thread.
pub const DEFAULT_BUFFER_BYTES: usize = 1 << 20;
/// Default longest line.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024;

impl Default for LoggingConfig {
    fn default() -> LoggingConfig {
        LoggingConfig::new()
    }
}

impl LoggingConfig {
    /// Logs to stdout, at the level `RUST_LOG` sets (default `info`), with a 1 MiB buffer and
    /// lines of at most 16 KiB. Their `service` field is the service's name
    /// ([`ObsBuilder::service`](crate::ObsBuilder::service)).
    pub fn new() -> LoggingConfig {
        LoggingConfig {
            filter: None,
            output: Output::Stdout,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            redact: DEFAULT_REDACTED_FIELDS.iter().map(|name| (*name).to_owned()).collect(),
            mask_values: false,
            log_request_errors: false,
            #[cfg(feature = "tracing-bridge")]
            tracing_spans: true,
            #[cfg(feature = "tracing-bridge")]
            span_filter: None,
            #[cfg(feature = "trace")]
            baggage_fields: Vec::new(),
            lines: None,
            #[cfg(feature = "otlp")]
            otlp: None,
            #[cfg(feature = "otlp")]
            resolved: None,
        }
    }

    /// Also sends each event as an OTLP log record (see [`otlp`]); without this,
    /// `OTEL_LOGS_EXPORTER=otlp` does, with the environment's settings.
    #[cfg(feature = "otlp")]
    pub fn otlp(mut self, export: otlp::OtlpLogs) -> LoggingConfig {
        self.otlp = Some(export);
        self
    }

    /// Whether JSON lines are written to the [`output`](Self::output) (default yes, unless
    /// `OTEL_LOGS_EXPORTER` lists exporters without `console`): `json_lines(false)` with
    /// [`otlp`](Self::otlp) sends log records instead of lines.
    pub fn json_lines(mut self, write: bool) -> LoggingConfig {
        self.lines = Some(write);
        self
    }

    /// Every `#[track_request]` call that fails (status 500 or more) logs one ERROR line with
    /// the method, endpoint, status and the error's message, in the current trace (default off;
    /// one site at a time: `#[track_request(.., log_errors)]`).
    pub fn log_request_errors(mut self, log: bool) -> LoggingConfig {
        self.log_request_errors = log;
        self
    }

    /// Whether the subscriber obs installs makes `tracing` spans obs spans, in obs's traces
    /// (default on; see [`crate::trace::layer`], which it adds). The filter decides for spans as
    /// for events: `RUST_LOG=info,tower_http=debug` bridges tower-http's DEBUG spans.
    #[cfg(feature = "tracing-bridge")]
    pub fn tracing_spans(mut self, bridge: bool) -> LoggingConfig {
        self.tracing_spans = bridge;
        self
    }

    /// Which `tracing` spans become obs spans, as `RUST_LOG` directives, when that is not the
    /// log lines' filter: `span_filter("info,tower_http=debug")` bridges tower-http's DEBUG spans
    /// without writing its DEBUG lines. Wins over `OBS_SPAN_FILTER`; without either, the one
    /// filter decides for both. Each filter then applies to its own layer only. Only used by
    /// [`ObsBuilder::logging`](crate::ObsBuilder::logging), which installs the subscriber.
    #[cfg(feature = "tracing-bridge")]
    pub fn span_filter(mut self, directives: impl Into<String>) -> LoggingConfig {
        self.span_filter = Some(directives.into());
        self
    }

    /// Which events are written, as `RUST_LOG` directives (`info`, `warn,my_crate=debug`). Wins
    /// over `RUST_LOG`. Only used by [`ObsBuilder::logging`](crate::ObsBuilder::logging), which
    /// installs the subscriber.
    pub fn filter(mut self, directives: impl Into<String>) -> LoggingConfig {
        self.filter = Some(directives.into());
        self
    }

    /// Where lines go (default stdout).
    pub fn output(mut self, output: Output) -> LoggingConfig {
        self.output = output;
        self
    }

    /// The buffer between the application and the writer, in bytes (default 1 MiB; at least
    /// 1 KiB, and twice the longest line). Lines that do not fit are dropped and counted.
    pub fn buffer_bytes(mut self, bytes: usize) -> LoggingConfig {
        self.buffer_bytes = bytes;
        self
    }

    /// The longest line, in bytes (default 16 KiB; from 512 bytes to half the buffer's size).
    pub fn max_line_bytes(mut self, bytes: usize) -> LoggingConfig {
        self.max_line_bytes = bytes;
        self
    }

    /// Replaces the redacted field names: a field is redacted when one of them is a word of its
    /// name, by the rule of [`is_secret_name`](crate::is_secret_name) (case-insensitive, any
    /// separator, camelCase, `%XX` decoded). The defaults ([`DEFAULT_REDACTED_FIELDS`]) are
    /// dropped: list them too to keep them.
    pub fn redact_fields(mut self, names: &[&str]) -> LoggingConfig {
        self.redact = names.iter().map(|name| (*name).to_owned()).collect();
        self
    }

    /// Adds to the redacted field names.
    pub fn also_redact(mut self, names: &[&str]) -> LoggingConfig {
        self.redact.extend(names.iter().map(|name| (*name).to_owned()));
        self
    }

    /// Writes these entries of the current baggage into each log line's `metadata` (redacted like
    /// any field named so). No other baggage entry ever reaches a line. A key that is not an HTTP
    /// token is an `Err` naming this method at start.
    #[cfg(feature = "trace")]
    pub fn baggage_fields<K: Into<String>>(mut self, keys: impl IntoIterator<Item = K>) -> LoggingConfig {
        self.baggage_fields = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Also masks values that look like bearer tokens (`Bearer [REDACTED]`) or card numbers (all
    /// but the last four digits), whatever the field's name. Off by default: it costs a scan of
    /// every string value.
    pub fn mask_values(mut self, mask: bool) -> LoggingConfig {
        self.mask_values = mask;
        self
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
        if self.buffer_bytes < 1024 {
            return invalid("buffer_bytes", format!("{} is less than 1024", self.buffer_bytes));
        }
        // A whole line must always fit in an empty buffer, with room to spare.
        if self.max_line_bytes < 512 || self.max_line_bytes > self.buffer_bytes / 2 {
            return invalid(
                "max_line_bytes",
                format!("{} is not from 512 to half of buffer_bytes ({})", self.max_line_bytes, self.buffer_bytes),
            );
        }
        #[cfg(feature = "trace")]
        if let Some(position) = self.baggage_fields.iter().position(|key| !crate::baggage::is_key(key)) {
            return invalid("baggage_fields", format!("key {} is not an HTTP token", position + 1));
        }
        Ok(())
    }
}

/// What formats and where lines go: shared by the layer and [`StructuredLogger`].
pub(crate) struct Pipeline {
    pub(crate) service_json: Box<[u8]>,
    pub(crate) redactor: redact::Redactor,
    pub(crate) max_line_bytes: usize,
    pub(crate) sink: Arc<sink::Sink>,
    /// The baggage entries written into each line.
    #[cfg(feature = "trace")]
    pub(crate) baggage_fields: Box<[String]>,
    /// JSON lines are written.
    pub(crate) lines: bool,
    /// Where events go as OTLP log records, if they do.
    #[cfg(feature = "otlp")]
    pub(crate) otlp: Option<Arc<otlp::Queue>>,
}

/// Flushes buffered lines when dropped, within
/// [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT) (10 s, as every guard on its own;
/// the writer thread then ends); lines not written by then are counted as dropped. With
/// [`ObsGuard`](crate::ObsGuard), its shutdown deadline bounds it instead.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    sink: Arc<sink::Sink>,
    finished: std::sync::mpsc::Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
    #[cfg(feature = "otlp")]
    otlp: Option<otlp::Export>,
    /// The export's queue, whose counts outlive the export.
    #[cfg(feature = "otlp")]
    otlp_queue: Option<Arc<otlp::Queue>>,
}

impl fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGuard").field("written", &self.written()).field("dropped", &self.dropped()).finish()
    }
}

/// How long a flush waits for the writer, and for the OTLP export.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

impl LogGuard {
    /// Waits until every line logged before the call is written, and every OTLP log record
    /// sent (or its failure counted), at most 5 s each; `false` if that took longer.
    pub fn flush(&self) -> bool {
        let lines = self.sink.flush(FLUSH_TIMEOUT);
        #[cfg(feature = "otlp")]
        if let Some(export) = &self.otlp {
            return export.queue.flush(FLUSH_TIMEOUT) && lines;
        }
        lines
    }

    /// Log records sent over OTLP and accepted so far ([`LoggingConfig::otlp`]; 0 without).
    #[cfg(feature = "otlp")]
    pub fn records_exported(&self) -> u64 {
        self.otlp_queue.as_ref().map_or(0, |queue| queue.exported.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Log records not delivered over OTLP so far: the queue was full, the export failed or the
    /// receiver rejected them, or stopping could not send them in time.
    #[cfg(feature = "otlp")]
    pub fn records_dropped(&self) -> u64 {
        self.otlp_queue.as_ref().map_or(0, |queue| queue.dropped.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.sink.stats.written.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Lines dropped so far: the buffer was full, the output failed, or stopping could not
    /// write them in time.
    pub fn dropped(&self) -> u64 {
        let stats = &self.sink.stats;
        stats.dropped_full.load(std::sync::atomic::Ordering::Relaxed)
            + stats.dropped_write_error.load(std::sync::atomic::Ordering::Relaxed)
            + stats.dropped_shutdown.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops taking lines and writes what is buffered, by `deadline`; what is not written by then
    /// is counted as dropped (the writer, blocked in its output, is left to end on its own).
    /// `false` then.
    pub(crate) fn stop(&mut self, deadline: crate::Deadline) -> bool {
        // Both told at once, so that a slow collector does not take the lines' time: the lines
        // are written while the last records go out.
        #[cfg(feature = "otlp")]
        let export = self.otlp.take();
        #[cfg(feature = "otlp")]
        if let Some(export) = &export {
            export.signal_stop(deadline);
        }
        let lines_written = self.lines_stop(deadline);
        #[cfg(feature = "otlp")]
        let records_sent = export.is_none_or(|export| export.wait_stopped(deadline));
        #[cfg(not(feature = "otlp"))]
        let records_sent = true;
        lines_written && records_sent
    }

    fn lines_stop(&mut self, deadline: crate::Deadline) -> bool {
        self.sink.close();
        let Some(thread) = self.thread.take() else { return true };
        if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) = self.finished.recv_timeout(deadline.remaining()) {
            let _ = thread.join();
            return true;
        }
        let lost = self.sink.abandon();
        if lost > 0 {
            // Not a log line: the log is what is stuck (they are counted in
            // obs_log_lines_dropped_total{reason="shutdown"}).
            crate::diagnostics::last_resort(&format!(
                "{lost} log line(s) not written by the shutdown deadline were dropped"
            ));
        }
        false
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.stop(crate::Deadline::after(crate::DEFAULT_SHUTDOWN_TIMEOUT));
    }
}

/// Starts the writer of `config` and returns a layer whose lines carry `service`, and its guard
/// (see [`ObsGuard::logging_layer`](crate::ObsGuard::logging_layer)).
pub(crate) fn layer(
    config: LoggingConfig,
    service: &crate::service::Identity,
    environment: &crate::Environment,
) -> Result<(JsonLayer, LogGuard), ConfigError> {
    let (pipeline, guard) = start(config, service, environment)?;
    Ok((JsonLayer::new(pipeline), guard))
}

fn start(
    config: LoggingConfig,
    service: &crate::service::Identity,
    environment: &crate::Environment,
) -> Result<(Arc<Pipeline>, LogGuard), ConfigError> {
    config.check()?;
    #[cfg(feature = "otlp")]
    let destinations = match config.resolved {
        Some(destinations) => destinations,
        None => otlp::destinations(config.otlp, config.lines, environment)?,
    };
    #[cfg(not(feature = "otlp"))]
    let lines = match config.lines {
        Some(lines) => lines,
        None => {
            let _ = environment;
            true
        }
    };
    #[cfg(feature = "otlp")]
    let lines = destinations.lines;
    #[cfg(feature = "metrics")]
    if config.log_request_errors {
        crate::metrics::request::LOG_ALL_ERRORS.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let path = match &config.output {
        Output::File { path, .. } => Some(path.clone()),
        _ => None,
    };
    let writer = sink::Writer::open(config.output).map_err(|error| ConfigError::Invalid {
        field: "log output",
        reason: format!("{}: {error}", path.map(|path| path.display().to_string()).unwrap_or_default()),
    })?;
    // Before the writer thread, which an `Err` here would leave behind.
    #[cfg(feature = "otlp")]
    let export = match destinations.otlp {
        Some(prepared) => {
            Some(otlp::Export::start(prepared, crate::trace::resource_of(service), config.max_line_bytes)?)
        }
        None => None,
    };
    self_metrics::register();
    let sink = Arc::new(sink::Sink::new(config.buffer_bytes));
    let (finishing, finished) = std::sync::mpsc::channel::<()>();
    let thread = {
        let sink = sink.clone();
        std::thread::Builder::new()
            .name("obs-log".into())
            .spawn(move || {
                crate::threads::mark_own();
                let _finishing = finishing;
                sink.run(writer);
            })
            .map_err(|error| ConfigError::Invalid { field: "logging", reason: format!("no writer thread: {error}") })?
    };
    let mut service_json = Vec::new();
    crate::json::Json::new(&mut service_json, usize::MAX).string(service.name());
    let pipeline = Arc::new(Pipeline {
        service_json: service_json.into_boxed_slice(),
        redactor: redact::Redactor::new(&config.redact, config.mask_values),
        max_line_bytes: config.max_line_bytes,
        sink: sink.clone(),
        #[cfg(feature = "trace")]
        baggage_fields: config.baggage_fields.into(),
        lines,
        #[cfg(feature = "otlp")]
        otlp: export.as_ref().map(|export| export.queue.clone()),
    });
    let guard = LogGuard {
        sink,
        finished,
        thread: Some(thread),
        #[cfg(feature = "otlp")]
        otlp_queue: export.as_ref().map(|export| export.queue.clone()),
        #[cfg(feature = "otlp")]
        otlp: export,
    };
    Ok((pipeline, guard))
}

/// Installs obs's JSON layer, with the filter of `config` (else `RUST_LOG`, else `info`), as the
/// global `tracing` subscriber.
pub(crate) fn install(
    config: LoggingConfig,
    filter: tracing_subscriber::EnvFilter,
    #[cfg(feature = "tracing-bridge")] span_filter: Option<tracing_subscriber::EnvFilter>,
    service: &crate::service::Identity,
    environment: &crate::Environment,
) -> Result<LogGuard, ConfigError> {
    use tracing_subscriber::layer::SubscriberExt as _;
    #[cfg(feature = "tracing-bridge")]
    let bridge = config.tracing_spans.then(crate::trace::layer);
    #[cfg(not(feature = "tracing-bridge"))]
    let bridge: Option<tracing_subscriber::layer::Identity> = None;
    let (pipeline, guard) = start(config, service, environment)?;
    let layer = JsonLayer::new(pipeline);
    // The pillar checked that none is set; one set since (by another thread) is refused here.
    #[cfg(feature = "tracing-bridge")]
    let bridge = match (bridge, span_filter) {
        (Some(bridge), Some(span_filter)) => {
            // Two filters: each decides for its own layer only.
            use tracing_subscriber::Layer as _;
            let subscriber =
                tracing_subscriber::registry().with(bridge.with_filter(span_filter)).with(layer.with_filter(filter));
            tracing::subscriber::set_global_default(subscriber).map_err(|_| already_set())?;
            return Ok(guard);
        }
        (bridge, _) => bridge,
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(bridge).with(layer);
    tracing::subscriber::set_global_default(subscriber).map_err(|_| already_set())?;
    Ok(guard)
}

/// The `Err` when a global `tracing` subscriber is set already.
pub(crate) fn already_set() -> ConfigError {
    ConfigError::Invalid {
        field: "logging",
        reason: "a global tracing subscriber is set already; add the layer of ObsGuard::logging_layer to it instead"
            .to_owned(),
    }
}

/// A value of a [`StructuredLogger`] field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A string.
    Str(&'a str),
    /// An owned string.
    String(String),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
    /// A nested object (its keys are redacted like top-level ones).
    Object(Vec<(&'a str, FieldValue<'a>)>),
}

impl<'a> From<&'a str> for FieldValue<'a> {
    fn from(value: &'a str) -> Self {
        FieldValue::Str(value)
    }
}

impl From<String> for FieldValue<'_> {
    fn from(value: String) -> Self {
        FieldValue::String(value)
    }
}

macro_rules! field_value_from {
    ($($ty:ty => $variant:ident as $as:ty),*) => {$(
        impl From<$ty> for FieldValue<'_> {
            fn from(value: $ty) -> Self {
                FieldValue::$variant(<$as>::from(value))
            }
        }
    )*};
}

field_value_from!(i8 => I64 as i64, i16 => I64 as i64, i32 => I64 as i64, i64 => I64 as i64,
    u8 => U64 as u64, u16 => U64 as u64, u32 => U64 as u64, u64 => U64 as u64,
    f32 => F64 as f64, f64 => F64 as f64, bool => Bool as bool);

impl<'a, T: Into<FieldValue<'a>>> From<Option<T>> for FieldValue<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(FieldValue::Null, Into::into)
    }
}

/// A logger for code that prefers calls with a list of fields to `tracing`'s macros: the same
/// schema, redaction and writer, and the service's name like every line. Each call is a `tracing` event
/// (target `obs::structured`), so the subscriber's filter applies and other layers see its
/// message; obs's layer writes its fields with their types, nested objects included. Without a
/// subscriber, as with `tracing`'s macros, nothing is written.
///
/// ```
/// use obs_runtime::logging::StructuredLogger;
///
/// let logger = StructuredLogger::new();
/// logger.info("User login successful", &[
///     ("user_id", "12345".into()),
///     ("trace_id", "abc-123".into()),
///     ("ip_address", "192.168.1.1".into()),
///     ("duration_ms", 150.into()),
/// ]);
/// ```
#[derive(Debug, Clone)]
pub struct StructuredLogger {
    _private: (),
}

impl Default for StructuredLogger {
    fn default() -> StructuredLogger {
        StructuredLogger::new()
    }
}

impl StructuredLogger {
    /// A logger; its lines carry the service's name like every other line.
    pub fn new() -> StructuredLogger {
        StructuredLogger { _private: () }
    }

    /// A DEBUG line.
    pub fn debug(&self, message: &str, fields: &[(&str, FieldValue<'_>)]) {
        self.log(tracing::Level::DEBUG, message, fields);
    }

    /// An INFO line.
    pub fn info(&self, message: &str, fields: &[(&str, FieldValue<'_>)]) {
        self.log(tracing::Level::INFO, message, fields);
    }

    /// A WARN line.
    pub fn warn(&self, message: &str, fields: &[(&str, FieldValue<'_>)]) {
        self.log(tracing::Level::WARN, message, fields);
    }

    /// An ERROR line.
    pub fn error(&self, message: &str, fields: &[(&str, FieldValue<'_>)]) {
        self.log(tracing::Level::ERROR, message, fields);
    }

    /// A line at `level`.
    pub fn log(&self, level: tracing::Level, message: &str, fields: &[(&str, FieldValue<'_>)]) {
        let payload = layer::Structured { message, fields };
        layer::with_structured(&payload, || match level {
            tracing::Level::ERROR => tracing::error!(target: layer::STRUCTURED_TARGET, "{message}"),
            tracing::Level::WARN => tracing::warn!(target: layer::STRUCTURED_TARGET, "{message}"),
            tracing::Level::INFO => tracing::info!(target: layer::STRUCTURED_TARGET, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(target: layer::STRUCTURED_TARGET, "{message}"),
            tracing::Level::TRACE => tracing::trace!(target: layer::STRUCTURED_TARGET, "{message}"),
        });
    }
}

/// Registers the self-metrics of a pipeline of `config` (once each): the lines' drops, and the
/// OTLP export's counts when it exports.
#[cfg(feature = "metrics")]
pub(crate) fn register_self_metrics(config: &LoggingConfig) {
    self_metrics::register();
    #[cfg(feature = "otlp")]
    if config.resolved.as_ref().is_some_and(|destinations| destinations.otlp.is_some()) {
        otlp::register_self_metrics();
    }
    #[cfg(not(feature = "otlp"))]
    let _ = config;
}

/// `obs_log_lines_dropped_total{reason}`.
mod self_metrics {
    #[cfg(feature = "metrics")]
    static DROPPED: std::sync::OnceLock<Option<[crate::metrics::Counter; 3]>> = std::sync::OnceLock::new();

    pub(super) fn register() {
        #[cfg(feature = "metrics")]
        DROPPED.get_or_init(|| {
            let family = crate::metrics::CounterVec::register(
                "obs_log_lines_dropped_total",
                "Log lines obs dropped: buffer_full (the writer could not keep up), write_error, or \
                 shutdown (logged after it began, or not written by its deadline)",
                &["reason"],
            )
            .ok()?;
            // Resolved once (and so scraped at 0 before anything is dropped).
            Some([
                family.with_labels(&["buffer_full"]).ok()?,
                family.with_labels(&["write_error"]).ok()?,
                family.with_labels(&["shutdown"]).ok()?,
            ])
        });
    }

    pub(super) fn dropped(reason: &str, lines: u64) {
        #[cfg(feature = "metrics")]
        if let Some(Some([full, write_error, shutdown])) = DROPPED.get() {
            let counter = match reason {
                "buffer_full" => full,
                "write_error" => write_error,
                _ => shutdown,
            };
            counter.inc_by(lines as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (reason, lines);
    }
}
