//! obs's registry over OTLP: every family (request metrics, hand-written families, registered
//! and bridged collectors) exported on an interval to an OpenTelemetry Collector or a vendor's
//! OTLP intake, as an `ExportMetricsServiceRequest`, over HTTP/protobuf or gRPC, with the same
//! resource as the spans. `/metrics` is still served: pull and push run together.
//!
//! ```no_run
//! use std::time::Duration;
//! use obs_runtime::metrics::otlp::{OtlpMetrics, Temporality};
//!
//! let _obs = obs_runtime::Obs::builder()
//!     .service("checkout")
//!     .otlp_metrics(
//!         OtlpMetrics::new()
//!             .endpoint("http://collector:4318")
//!             .interval(Duration::from_secs(15))
//!             .temporality(Temporality::Delta),
//!     )
//!     .init()?;
//! # Ok::<(), obs_runtime::ConfigError>(())
//! ```
//!
//! Without code, `OTEL_METRICS_EXPORTER=otlp` turns it on (`none`, `prometheus` or unset: off,
//! with a warning when `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set; `/metrics` is served whatever
//! it says; the specification's default is `otlp`, obs's is the pull it always served).
//! `OTEL_SDK_DISABLED=true` turns it off, once the values given in code are checked. Values set
//! here win over the environment:
//!
//! | setting | builder | environment | default |
//! |---|---|---|---|
//! | endpoint | [`endpoint`](OtlpMetrics::endpoint) | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (as is), `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/metrics`) | `http://localhost:4318` (`4317` for gRPC) |
//! | transport | [`protocol`](OtlpMetrics::protocol) | `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL` | `http/protobuf` |
//! | headers | [`header`](OtlpMetrics::header) | `OTEL_EXPORTER_OTLP_METRICS_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS` | none |
//! | compression | [`compression`](OtlpMetrics::compression) | `OTEL_EXPORTER_OTLP_METRICS_COMPRESSION`, `OTEL_EXPORTER_OTLP_COMPRESSION` | none |
//! | TLS (feature `tls`) | `tls` | `OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY` | the Mozilla roots |
//! | interval | [`interval`](OtlpMetrics::interval) | `OTEL_METRIC_EXPORT_INTERVAL` (ms) | 60 s |
//! | one export, retries included | [`timeout`](OtlpMetrics::timeout) | `OTEL_METRIC_EXPORT_TIMEOUT` (ms) | 30 s |
//! | one request | | `OTEL_EXPORTER_OTLP_METRICS_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms) | 10 s |
//! | temporality | [`temporality`](OtlpMetrics::temporality) | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (`cumulative`, `delta`, `lowmemory`) | cumulative |
//!
//! How families map (as the OpenTelemetry specification maps Prometheus metrics):
//! - a counter is a monotonic `Sum`, named without `_total` (`http_requests_total` is sent as
//!   `http_requests`; a Prometheus-compatible receiver adds the suffix back);
//! - a gauge is a `Gauge`; a histogram is an explicit-bucket `Histogram`, with its bounds, its
//!   per-bucket counts, count and sum;
//! - values are doubles; labels are string attributes (the overflow series' label is the
//!   specification's boolean `otel.metric.overflow`); a name ending in `_seconds` has unit `s`,
//!   one in `_bytes` unit `By`;
//! - `target_info` is not sent: the resource says it;
//! - cumulative points start when obs's registry began counting;
//! - the exemplars the exposition has (the trace and span of a sampled call) go with their
//!   series' data point.
//!
//! With delta temporality each export carries what changed since the last one that succeeded:
//! a failed export loses nothing (the next carries it), and a series that did not change is not
//! sent; gauges are sent at every export. `lowmemory` is taken as delta, for the families of
//! collectors and bridges too (the specification keeps asynchronous instruments cumulative
//! there; obs does not tell them apart).
//!
//! Each export runs on obs's background runtime (the registry is read on its blocking pool, so
//! a slow collector never stalls `/metrics`); a retryable failure is retried with backoff within
//! the export's timeout. A failed export is said and counted
//! (`obs_internal_errors_total{component="metrics",reason="otlp_export_failed"}`), with its data
//! points in `obs_otlp_metric_points_dropped_total` (cumulative points are sent again by the next
//! export). When obs stops, a last export runs within the shutdown deadline; an export running
//! then keeps its own timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::encode::{EncodedFamily, EncodedValue, ExemplarText, Kind};
use crate::ConfigError;
use crate::otlp::wire::{bytes_field, double_field, fixed64_field, key_value, message, packed_fixed64, varint_field};
use crate::otlp::{Compression, Protocol, Sender};
use crate::trace::{ExportError, Resource, ValueRef};

/// Which values an export carries: totals since the start, or what changed since the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Temporality {
    /// Totals since obs started (each data point's start time); the default.
    #[default]
    Cumulative,
    /// What changed since the previous export that succeeded.
    Delta,
}

/// The export of obs's registry over OTLP: give it to
/// [`ObsBuilder::otlp_metrics`](crate::ObsBuilder::otlp_metrics). See the [module](self) for the
/// settings and their variables.
#[derive(Default, Clone)]
pub struct OtlpMetrics {
    endpoint: Option<String>,
    protocol: Option<Protocol>,
    transport: crate::otlp::config::Transport,
    interval: Option<Duration>,
    timeout: Option<Duration>,
    temporality: Option<Temporality>,
}

impl std::fmt::Debug for OtlpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpMetrics")
            .field("endpoint", &crate::otlp::config::shown_endpoint(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("transport", &self.transport)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("temporality", &self.temporality)
            .finish()
    }
}

impl OtlpMetrics {
    /// Every setting from the environment or its default.
    pub fn new() -> OtlpMetrics {
        OtlpMetrics::default()
    }

    /// The receiver (`http://host:4318`; `/v1/metrics` is appended for `http/protobuf` unless the
    /// URL ends with it already). `https://` needs the `tls` feature.
    pub fn endpoint(mut self, url: impl Into<String>) -> OtlpMetrics {
        self.endpoint = Some(url.into());
        self
    }

    /// HTTP/protobuf or gRPC (feature `otlp-grpc`).
    pub fn protocol(mut self, protocol: Protocol) -> OtlpMetrics {
        self.protocol = Some(protocol);
        self
    }

    /// A header sent with every request (after those of the environment).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> OtlpMetrics {
        self.transport.headers.push((name.into(), value.into()));
        self
    }

    /// Whether requests are gzip-compressed.
    pub fn compression(mut self, compression: Compression) -> OtlpMetrics {
        self.transport.compression = Some(compression);
        self
    }

    /// The TLS settings of an `https://` endpoint (they replace those of the environment).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::Tls) -> OtlpMetrics {
        self.transport.tls = Some(tls);
        self
    }

    /// How often the registry is exported (1 ms to 1 day).
    pub fn interval(mut self, interval: Duration) -> OtlpMetrics {
        self.interval = Some(interval);
        self
    }

    /// How long one export may take, its retries included (1 ms to 10 min).
    pub fn timeout(mut self, timeout: Duration) -> OtlpMetrics {
        self.timeout = Some(timeout);
        self
    }

    /// Cumulative (the default) or delta.
    pub fn temporality(mut self, temporality: Temporality) -> OtlpMetrics {
        self.temporality = Some(temporality);
        self
    }
}

/// The longest interval, and the longest export.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The default interval between two exports (the specification's).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The default time one export may take (the specification's).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default time one request may take (the specification's).
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What an export needs, checked.
#[derive(Debug)]
struct Settings {
    interval: Duration,
    timeout: Duration,
    request_timeout: Duration,
    temporality: Temporality,
}

/// The exporter as the builder holds it; off unless configured in code or by
/// `OTEL_METRICS_EXPORTER`.
#[derive(Debug, Default)]
pub(crate) struct Pillar {
    pub(crate) config: Option<OtlpMetrics>,
    prepared: Option<(Sender, Settings)>,
}

impl crate::core::Pillar for Pillar {
    fn prepare(&mut self, cx: &crate::core::Context<'_>) -> Result<(), ConfigError> {
        use crate::otlp::{METRICS, config};
        let env = |name: &str| cx.env.trimmed(name);
        let warnings = std::cell::RefCell::new(Vec::<String>::new());
        let tolerate =
            |variable: &'static str, instead: &str| warnings.borrow_mut().push(format!("{variable} {instead}"));
        let invalid = |field: &'static str, reason: String| ConfigError::Invalid { field, reason };
        // Off by OTEL_SDK_DISABLED=true whatever else says; the values given in code are still
        // checked below.
        let disabled = env(crate::env::OTEL_SDK_DISABLED).is_some_and(|value| value.eq_ignore_ascii_case("true"));
        let config = match self.config.take() {
            Some(config) => config,
            None => {
                let listed = config::exporters_of(&METRICS, &["otlp", "prometheus", "none"], &env, &tolerate);
                if disabled || !listed.is_some_and(|listed| listed.contains(&"otlp")) {
                    if env(METRICS.endpoint).is_some() && !disabled {
                        tolerate(
                            METRICS.endpoint,
                            "is set, but OTEL_METRICS_EXPORTER does not list otlp: metrics are not exported over OTLP",
                        );
                    }
                    say(warnings.into_inner());
                    return Ok(());
                }
                OtlpMetrics::new()
            }
        };
        let within = |value: Duration, most: Duration| (Duration::from_millis(1)..=most).contains(&value);
        let interval = match config.interval {
            Some(interval) if !within(interval, MAX_INTERVAL) => {
                return Err(invalid("OtlpMetrics::interval", format!("{interval:?} is not between 1 ms and 1 day")));
            }
            Some(interval) => interval,
            None => config::millis_of(&[crate::env::OTEL_METRIC_EXPORT_INTERVAL], MAX_INTERVAL, &env, &tolerate)
                .unwrap_or(DEFAULT_INTERVAL),
        };
        let timeout = match config.timeout {
            Some(timeout) if !within(timeout, MAX_TIMEOUT) => {
                return Err(invalid("OtlpMetrics::timeout", format!("{timeout:?} is not between 1 ms and 10 min")));
            }
            Some(timeout) => timeout,
            None => config::millis_of(&[crate::env::OTEL_METRIC_EXPORT_TIMEOUT], MAX_TIMEOUT, &env, &tolerate)
                .unwrap_or(DEFAULT_TIMEOUT),
        };
        let request_timeout = config::timeout_of(&METRICS, &env, &tolerate).unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let temporality = match config.temporality {
            Some(temporality) => temporality,
            None => {
                match env(crate::env::OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE)
                    .map(|value| value.to_ascii_lowercase())
                {
                    None => Temporality::Cumulative,
                    Some(value) if value == "cumulative" => Temporality::Cumulative,
                    Some(value) if value == "delta" || value == "lowmemory" => Temporality::Delta,
                    Some(_) => {
                        tolerate(
                            crate::env::OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
                            "is not cumulative, delta or lowmemory: cumulative is used",
                        );
                        Temporality::Cumulative
                    }
                }
            }
        };
        let protocol = config::protocol_of(&METRICS, config.protocol, &env, &tolerate)?;
        let endpoint = config::endpoint_of(&METRICS, config.endpoint, "OtlpMetrics::endpoint", &env)
            .unwrap_or_else(|| (config::default_endpoint(protocol).to_owned(), METRICS.exporter, true));
        let sender = config::sender(
            &METRICS,
            config.transport,
            protocol,
            (&endpoint.0, endpoint.1, endpoint.2),
            &env,
            &tolerate,
        )?;
        say(warnings.into_inner());
        if !disabled {
            self.prepared = Some((sender, Settings { interval, timeout, request_timeout, temporality }));
        }
        Ok(())
    }

    fn self_metrics(&self, _: &crate::core::Context<'_>) {
        if self.prepared.is_some() {
            register_self_metrics();
        }
    }

    fn start(
        self: Box<Self>,
        cx: &crate::core::Context<'_>,
    ) -> Result<Option<Box<dyn crate::core::Part>>, ConfigError> {
        let Some((sender, settings)) = self.prepared else { return Ok(None) };
        let timeout = settings.timeout;
        let (requests, asked) = tokio::sync::mpsc::unbounded_channel();
        let exporter = Exporter::new(sender, settings, crate::trace::resource_of(cx.service));
        let Some(worker) = crate::otlp::Worker::spawn(|stop| exporter.run(stop, asked)) else {
            let reason = "obs's background runtime could not start".to_owned();
            return Err(ConfigError::Invalid { field: "otlp_metrics", reason });
        };
        Ok(Some(Box::new(MetricsExporter { worker, requests, timeout })))
    }
}

/// The environment's values not taken, said once obs starts.
fn say(warnings: Vec<String>) {
    for warning in warnings {
        crate::diagnostics::warn("config", "invalid_env", &warning);
    }
}

/// The running export, as the guard holds it ([`ObsGuard::metrics_export`]): told to stop, it
/// makes a last export by the deadline.
///
/// [`ObsGuard::metrics_export`]: crate::ObsGuard::metrics_export
#[derive(Debug)]
pub struct MetricsExporter {
    worker: crate::otlp::Worker,
    requests: tokio::sync::mpsc::UnboundedSender<Reply>,
    timeout: Duration,
}

/// Where an export asked for by [`MetricsExporter::export_now`] says how it went.
type Reply = std::sync::mpsc::SyncSender<Result<usize, ExportError>>;

impl MetricsExporter {
    /// Exports the registry now (besides the interval's exports), and waits for the outcome: the
    /// number of data points sent, or why they were not (counted as an interval's failure is).
    /// Blocks the calling thread, at most twice the export's timeout (an interval's export may be
    /// running first): from async code, call it on a
    /// blocking thread (`tokio::task::spawn_blocking`). For a job that wants its numbers out
    /// before it goes on.
    pub fn export_now(&self) -> Result<usize, ExportError> {
        let (reply, outcome) = std::sync::mpsc::sync_channel(1);
        let stopped = || ExportError::permanent("the metrics export has stopped");
        self.requests.send(reply).map_err(|_| stopped())?;
        // An interval's export may be running (bounded by the timeout), then this one (too); a
        // moment more for the answer.
        match outcome.recv_timeout(self.timeout * 2 + Duration::from_secs(1)) {
            Ok(outcome) => outcome,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(ExportError::retryable(format!(
                "no outcome within {:?}",
                self.timeout * 2 + Duration::from_secs(1)
            ))),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(stopped()),
        }
    }
}

impl crate::core::Part for MetricsExporter {
    fn stage(&self) -> crate::core::Stage {
        // After the other parts stopped, so that the last export has what they counted.
        crate::core::Stage::Last
    }

    fn signal_stop(&mut self, deadline: crate::Deadline) {
        self.worker.signal_stop(deadline);
    }

    fn wait_stopped(&mut self, deadline: crate::Deadline) -> bool {
        self.worker.wait_stopped(deadline)
    }
}

/// `obs_otlp_metric_points_exported_total` and `obs_otlp_metric_points_dropped_total`.
static COUNTERS: std::sync::OnceLock<Option<[super::Counter; 2]>> = std::sync::OnceLock::new();

fn register_self_metrics() {
    COUNTERS.get_or_init(|| {
        let exported = super::Counter::register(
            "obs_otlp_metric_points_exported_total",
            "Data points of obs's registry sent over OTLP and accepted",
        );
        let dropped = super::Counter::register(
            "obs_otlp_metric_points_dropped_total",
            "Data points of obs's registry an OTLP export failed to deliver, or the receiver rejected",
        );
        Some([exported.ok()?, dropped.ok()?])
    });
}

/// Counts `points` exported (`true`) or dropped.
fn count(exported: bool, points: u64) {
    if let Some(Some(counters)) = COUNTERS.get() {
        counters[usize::from(!exported)].inc_by(points as f64);
    }
}

/// The export loop.
struct Exporter {
    sender: Arc<Sender>,
    settings: Settings,
    /// What encoding needs, moved to the blocking pool for each export and back.
    encoding: Option<Box<Encoding>>,
    resource: Resource,
}

/// What encoding an export needs and keeps: the resource, the start of the cumulative points,
/// the delta state, the buffer.
struct Encoding {
    resource: Resource,
    /// When the registry began counting: the start of every cumulative data point.
    start_nanos: u64,
    /// With delta temporality, each series' values at the last export that succeeded, and when.
    delta: DeltaState,
    body: Vec<u8>,
}

#[derive(Default)]
struct DeltaState {
    at_nanos: u64,
    values: HashMap<String, Previous>,
}

#[derive(Debug, Clone, PartialEq)]
enum Previous {
    Scalar(f64),
    Histogram { cumulative: Vec<u64>, sum: f64 },
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

impl Encoding {
    fn new(resource: Resource) -> Box<Encoding> {
        // Cumulative points count from when the registry began counting.
        let start_nanos = super::registry::started_unix_nanos();
        let delta = DeltaState { at_nanos: unix_nanos(SystemTime::now()), values: HashMap::new() };
        Box::new(Encoding { resource, start_nanos, delta, body: Vec::new() })
    }

    /// Reads the registry and encodes it: the request body, its points, when it was read, and
    /// (delta) the values it carries.
    fn encode(
        &mut self,
        sender: &Sender,
        temporality: Temporality,
    ) -> Result<(bytes::Bytes, usize, u64, HashMap<String, Previous>), ExportError> {
        let families = super::registry::registry().families(true, true);
        let now = unix_nanos(SystemTime::now());
        let mut next_delta = HashMap::new();
        self.body.clear();
        let points = encode_request(
            &mut self.body,
            &families,
            &self.resource,
            Times { start: self.start_nanos, now },
            match temporality {
                Temporality::Cumulative => None,
                Temporality::Delta => Some((&self.delta, &mut next_delta)),
            },
        );
        if temporality == Temporality::Delta {
            carry_over(&self.delta.values, &families, &mut next_delta);
        }
        Ok((sender.body(&self.body)?, points, now, next_delta))
    }
}

impl Exporter {
    fn new(sender: Sender, settings: Settings, resource: Resource) -> Exporter {
        let encoding = Some(Encoding::new(resource.clone()));
        Exporter { sender: Arc::new(sender), settings, encoding, resource }
    }

    async fn run(mut self, mut stop: crate::otlp::StopSignal, mut asked: tokio::sync::mpsc::UnboundedReceiver<Reply>) {
        let mut next = tokio::time::Instant::now() + self.settings.interval;
        loop {
            let reply = tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(reply) = asked.recv() => Some(reply),
                _ = tokio::time::sleep_until(next) => None,
            };
            let deadline = crate::Deadline::after(self.settings.timeout);
            let outcome = self.export(deadline).await;
            match reply {
                Some(reply) => {
                    let _ = reply.send(outcome);
                }
                // The next export an interval after this one began; one that took longer than
                // the interval is followed at once by the next.
                None => next = (next + self.settings.interval).max(tokio::time::Instant::now()),
            }
        }
        let deadline = (*stop.borrow()).unwrap_or_else(|| crate::Deadline::after(self.settings.timeout));
        let _ = self.export(deadline).await;
    }

    /// One export: the registry read and encoded on the blocking pool (a slow collector or a
    /// big registry never stalls the runtime's other work), sent (retried within `deadline`); a
    /// failure said and counted.
    async fn export(&mut self, deadline: crate::Deadline) -> Result<usize, ExportError> {
        let mut encoding = self.encoding.take().unwrap_or_else(|| Encoding::new(self.resource.clone()));
        let (sender, temporality) = (self.sender.clone(), self.settings.temporality);
        let encoded = tokio::task::spawn_blocking(move || {
            // A panic (in anyone's collector) must not take the delta state with it: the next
            // delta export would send totals as changes.
            let encoded =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encoding.encode(&sender, temporality)))
                    .unwrap_or_else(|_| Err(ExportError::permanent("reading the registry panicked")));
            (encoding, encoded)
        })
        .await;
        let (encoding, encoded) = match encoded {
            Ok(done) => done,
            Err(_) => {
                // The task was cancelled (the runtime ending): the delta state went with it, and
                // the next export starts anew.
                let error = ExportError::permanent("the export was cancelled");
                failed(&error.to_string(), 0);
                return Err(error);
            }
        };
        let encoding = self.encoding.insert(encoding);
        let (body, points, now, next_delta) = match encoded {
            Ok(encoded) => encoded,
            Err(error) => {
                failed(&format!("metrics export to {} failed: {error}", self.sender.shown()), 0);
                return Err(error);
            }
        };
        let timeout = self.settings.request_timeout;
        match crate::otlp::send_with_retries(&self.sender, body, points, timeout, deadline).await {
            Ok(rejected) => {
                count(true, (points as u64).saturating_sub(rejected));
                count(false, rejected);
                if temporality == Temporality::Delta {
                    // A series gone from a family that was read is forgotten; a family with no
                    // series this time kept its baselines (`carry_over`).
                    encoding.delta.values = next_delta;
                    encoding.delta.at_nanos = now;
                }
                Ok(points)
            }
            Err(error) => {
                failed(&format!("metrics export to {} failed: {error}", self.sender.shown()), points);
                Err(error)
            }
        }
    }
}

/// A failed export: said, counted, its points counted as dropped.
fn failed(message: &str, points: usize) {
    crate::diagnostics::warn("metrics", "otlp_export_failed", message);
    count(false, points as u64);
}

#[derive(Clone, Copy)]
struct Times {
    start: u64,
    now: u64,
}

/// The key of a series in the delta state: its family's name and its labels.
fn series_key(family: &str, labels: &[(String, String)]) -> String {
    let mut key = String::with_capacity(family.len() + labels.len() * 16);
    key.push_str(family);
    for (name, value) in labels {
        key.push('\u{0}');
        key.push_str(name);
        key.push('\u{1}');
        key.push_str(value);
    }
    key
}

/// `ExportMetricsServiceRequest { resource_metrics = 1: ResourceMetrics { resource = 1,
/// scope_metrics = 2: ScopeMetrics { scope = 1, metrics = 2 } } }`; returns how many data points
/// it holds. `delta`: the values of the last export (read) and this one's (written), for delta
/// temporality.
fn encode_request(
    out: &mut Vec<u8>,
    families: &[EncodedFamily],
    resource: &Resource,
    times: Times,
    mut delta: Option<(&DeltaState, &mut HashMap<String, Previous>)>,
) -> usize {
    let mut points = 0;
    message(out, 1, |out| {
        crate::otlp::wire::resource(out, 1, resource);
        message(out, 2, |out| {
            crate::otlp::wire::scope(out, 1);
            for family in families {
                // The resource says it already (and a collector's Prometheus exporter makes its
                // own from it).
                if family.name == "target_info" {
                    continue;
                }
                let mut series: Vec<(&super::encode::EncodedSeries, EncodedValue)> =
                    Vec::with_capacity(family.series.len());
                series.extend(family.series.iter().filter_map(|series| match &mut delta {
                    // A gauge is a value, not a change: sent at every export.
                    Some(_) if family.kind == Kind::Gauge => Some((series, series.value.clone())),
                    None => Some((series, series.value.clone())),
                    Some((last, next)) => {
                        let key = series_key(&family.name, &series.labels);
                        let change = change_since(last.values.get(&key), &series.value);
                        next.insert(key, previous_of(&series.value));
                        change.map(|value| (series, value))
                    }
                }));
                if series.is_empty() {
                    continue;
                }
                points += series.len();
                // A delta counts from the last export that succeeded.
                let (start, temporality) = match &delta {
                    Some((last, _)) => (last.at_nanos, 1),
                    None => (times.start, 2),
                };
                let times = Times { start, now: times.now };
                message(out, 2, |out| encode_metric(out, family, &series, times, temporality));
            }
        });
    });
    points
}

/// Keeps the baselines of families this read had no series of (a collector that panicked or
/// missed a read yields none): their next values are changes from those, not totals.
fn carry_over(last: &HashMap<String, Previous>, families: &[EncodedFamily], next: &mut HashMap<String, Previous>) {
    let read: std::collections::HashSet<&str> =
        families.iter().filter(|family| !family.series.is_empty()).map(|family| family.name.as_str()).collect();
    for (key, previous) in last {
        let family = key.split('\u{0}').next().unwrap_or(key);
        if !read.contains(family) {
            next.entry(key.clone()).or_insert_with(|| previous.clone());
        }
    }
}

/// What changed since `previous` (`None`: nothing); a value below the previous one is a reset,
/// and counts from zero.
fn change_since(previous: Option<&Previous>, value: &EncodedValue) -> Option<EncodedValue> {
    match (previous, value) {
        (None, value) => Some(value.clone()),
        (Some(Previous::Scalar(before)), EncodedValue::Scalar(now)) => {
            if now == before {
                None
            } else if now < before {
                Some(EncodedValue::Scalar(*now))
            } else {
                Some(EncodedValue::Scalar(now - before))
            }
        }
        (
            Some(Previous::Histogram { cumulative: before, sum }),
            EncodedValue::Histogram { bounds, cumulative, sum: now_sum },
        ) => {
            let reset =
                before.len() != cumulative.len() || before.iter().zip(cumulative).any(|(before, now)| now < before);
            if reset {
                return Some(value.clone());
            }
            if before == cumulative {
                return None;
            }
            let cumulative = cumulative.iter().zip(before).map(|(now, before)| now - before).collect();
            Some(EncodedValue::Histogram { bounds: bounds.clone(), cumulative, sum: now_sum - sum })
        }
        (Some(_), value) => Some(value.clone()),
    }
}

fn previous_of(value: &EncodedValue) -> Previous {
    match value {
        EncodedValue::Scalar(value) => Previous::Scalar(*value),
        EncodedValue::Histogram { cumulative, sum, .. } => {
            Previous::Histogram { cumulative: cumulative.clone(), sum: *sum }
        }
    }
}

/// `Metric { name = 1, description = 2, unit = 3, gauge = 5 | sum = 7 | histogram = 9 }`.
/// `temporality`: 1 delta, 2 cumulative (gauges have none).
fn encode_metric(
    out: &mut Vec<u8>,
    family: &EncodedFamily,
    series: &[(&super::encode::EncodedSeries, EncodedValue)],
    times: Times,
    temporality: u64,
) {
    let name = match family.kind {
        Kind::Counter => family.name.strip_suffix("_total").unwrap_or(&family.name),
        _ => &family.name,
    };
    bytes_field(out, 1, name.as_bytes());
    if !family.help.is_empty() {
        bytes_field(out, 2, family.help.as_bytes());
    }
    let unit = if name.ends_with("_seconds") {
        "s"
    } else if name.ends_with("_bytes") {
        "By"
    } else {
        ""
    };
    if !unit.is_empty() {
        bytes_field(out, 3, unit.as_bytes());
    }
    match family.kind {
        // Gauge { data_points = 1 }.
        Kind::Gauge => message(out, 5, |out| {
            for (series, value) in series {
                message(out, 1, |out| number_point(out, series, value, Times { start: 0, now: times.now }));
            }
        }),
        // Sum { data_points = 1, aggregation_temporality = 2, is_monotonic = 3 }.
        Kind::Counter => message(out, 7, |out| {
            for (series, value) in series {
                message(out, 1, |out| number_point(out, series, value, times));
            }
            varint_field(out, 2, temporality);
            varint_field(out, 3, 1);
        }),
        // Histogram { data_points = 1, aggregation_temporality = 2 }.
        Kind::Histogram => message(out, 9, |out| {
            for (series, value) in series {
                message(out, 1, |out| histogram_point(out, series, value, times));
            }
            varint_field(out, 2, temporality);
        }),
    }
}

/// The labels as string attributes; the overflow series' label as the specification's boolean
/// `otel.metric.overflow` (Prometheus' name for it is `otel_metric_overflow="true"`).
fn attributes(out: &mut Vec<u8>, field: u32, labels: &[(String, String)]) {
    for (name, value) in labels {
        if name == super::OVERFLOW_LABEL {
            key_value(out, field, "otel.metric.overflow", ValueRef::Bool(true));
        } else {
            key_value(out, field, name, ValueRef::Str(value));
        }
    }
}

/// `NumberDataPoint { start_time_unix_nano = 2, time_unix_nano = 3, as_double = 4,
/// exemplars = 5, attributes = 7 }` (a gauge's start time left out).
fn number_point(out: &mut Vec<u8>, series: &super::encode::EncodedSeries, value: &EncodedValue, times: Times) {
    let EncodedValue::Scalar(value) = value else { return };
    if times.start > 0 {
        fixed64_field(out, 2, times.start);
    }
    fixed64_field(out, 3, times.now);
    double_field(out, 4, *value);
    for exemplar in &series.exemplars {
        message(out, 5, |out| encode_exemplar(out, exemplar));
    }
    attributes(out, 7, &series.labels);
}

/// `HistogramDataPoint { start_time_unix_nano = 2, time_unix_nano = 3, count = 4, sum = 5,
/// bucket_counts = 6, explicit_bounds = 7, exemplars = 8, attributes = 9 }`.
fn histogram_point(out: &mut Vec<u8>, series: &super::encode::EncodedSeries, value: &EncodedValue, times: Times) {
    let EncodedValue::Histogram { bounds, cumulative, sum } = value else { return };
    fixed64_field(out, 2, times.start);
    fixed64_field(out, 3, times.now);
    fixed64_field(out, 4, cumulative.last().copied().unwrap_or(0));
    double_field(out, 5, *sum);
    let mut before = 0;
    let counts = cumulative.iter().map(|total| {
        let count = total.saturating_sub(before);
        before = *total;
        count
    });
    packed_fixed64(out, 6, counts.collect::<Vec<_>>().into_iter());
    packed_fixed64(out, 7, bounds.iter().map(|bound| bound.to_bits()));
    for exemplar in &series.exemplars {
        message(out, 8, |out| encode_exemplar(out, exemplar));
    }
    attributes(out, 9, &series.labels);
}

/// `Exemplar { time_unix_nano = 2, as_double = 3, span_id = 4, trace_id = 5 }`.
fn encode_exemplar(out: &mut Vec<u8>, exemplar: &ExemplarText) {
    fixed64_field(out, 2, exemplar.unix_millis.saturating_mul(1_000_000));
    double_field(out, 3, exemplar.value);
    if let (Some(span_id), Some(trace_id)) =
        (crate::otlp::wire::hex::<8>(&exemplar.span_id), crate::otlp::wire::hex::<16>(&exemplar.trace_id))
    {
        bytes_field(out, 4, &span_id);
        bytes_field(out, 5, &trace_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::encode::EncodedSeries;

    fn family(name: &str, kind: Kind, value: EncodedValue) -> EncodedFamily {
        let series =
            vec![EncodedSeries { labels: vec![("queue".into(), "mail".into())], value, exemplars: Vec::new() }];
        EncodedFamily { name: name.to_owned(), kind, help: String::new(), series }
    }

    #[test]
    fn a_change_is_the_difference_a_reset_counts_from_zero_and_no_change_is_nothing() {
        let scalar = EncodedValue::Scalar;
        assert_eq!(change_since(None, &scalar(5.0)), Some(scalar(5.0)));
        assert_eq!(change_since(Some(&Previous::Scalar(5.0)), &scalar(7.0)), Some(scalar(2.0)));
        assert_eq!(change_since(Some(&Previous::Scalar(7.0)), &scalar(7.0)), None);
        assert_eq!(change_since(Some(&Previous::Scalar(7.0)), &scalar(3.0)), Some(scalar(3.0)), "a reset");
        let histogram = |cumulative: Vec<u64>, sum| EncodedValue::Histogram { bounds: vec![1.0], cumulative, sum };
        let before = Previous::Histogram { cumulative: vec![1, 3], sum: 4.0 };
        assert_eq!(change_since(Some(&before), &histogram(vec![2, 5], 6.5)), Some(histogram(vec![1, 2], 2.5)));
        assert_eq!(change_since(Some(&before), &histogram(vec![1, 3], 4.0)), None);
        assert_eq!(change_since(Some(&before), &histogram(vec![0, 1], 0.5)), Some(histogram(vec![0, 1], 0.5)));
    }

    #[test]
    fn a_family_missing_from_a_read_keeps_its_baseline() {
        let last = HashMap::from([
            ("jobs_total\u{0}queue\u{1}mail".to_owned(), Previous::Scalar(5.0)),
            ("gone_total".to_owned(), Previous::Scalar(2.0)),
        ]);
        // This read: jobs_total has a series, gone_total none (its collector panicked).
        let families = [
            family("jobs_total", Kind::Counter, EncodedValue::Scalar(7.0)),
            EncodedFamily { name: "gone_total".into(), kind: Kind::Counter, help: String::new(), series: Vec::new() },
        ];
        let mut next = HashMap::from([("jobs_total\u{0}queue\u{1}mail".to_owned(), Previous::Scalar(7.0))]);
        carry_over(&last, &families, &mut next);
        assert_eq!(next.get("gone_total"), Some(&Previous::Scalar(2.0)), "kept");
        assert_eq!(next.get("jobs_total\u{0}queue\u{1}mail"), Some(&Previous::Scalar(7.0)), "this read's");
        assert_eq!(change_since(next.get("gone_total"), &EncodedValue::Scalar(3.0)), Some(EncodedValue::Scalar(1.0)));
    }

    #[test]
    fn with_delta_an_unchanged_counter_is_left_out_and_a_gauge_is_always_sent() {
        let resource = Resource { attributes: Vec::new() };
        let families = [
            family("jobs_total", Kind::Counter, EncodedValue::Scalar(3.0)),
            family("depth", Kind::Gauge, EncodedValue::Scalar(9.0)),
        ];
        let mut last = DeltaState::default();
        let times = Times { start: 1, now: 2 };
        let mut next = HashMap::new();
        assert_eq!(encode_request(&mut Vec::new(), &families, &resource, times, Some((&last, &mut next))), 2);
        last.values.extend(next);
        let mut next = HashMap::new();
        assert_eq!(encode_request(&mut Vec::new(), &families, &resource, times, Some((&last, &mut next))), 1);
        assert_eq!(encode_request(&mut Vec::new(), &families, &resource, times, None), 2, "cumulative: both");
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;
    use crate::core::Pillar as _;

    /// What `config` and `vars` resolve to: the settings, or the field an `Err` names.
    fn prepared(config: Option<OtlpMetrics>, vars: &[(&str, &str)]) -> Result<Option<String>, &'static str> {
        let env = crate::Environment::from_pairs(vars.iter().copied());
        let service = std::sync::Arc::new(crate::service::Identity::named("test"));
        let mut pillar = Pillar { config, prepared: None };
        match pillar.prepare(&crate::core::Context { env: &env, service: &service, serving: false }) {
            Ok(()) => Ok(pillar.prepared.map(|(_, settings)| {
                format!("{:?} {:?} {:?}", settings.interval, settings.timeout, settings.temporality)
            })),
            Err(ConfigError::Invalid { field, .. }) => Err(field),
            Err(_) => Err("another error"),
        }
    }

    #[test]
    fn off_unless_configured_or_listed_and_the_specification_defaults() {
        assert_eq!(prepared(None, &[]), Ok(None));
        assert_eq!(prepared(None, &[("OTEL_METRICS_EXPORTER", "prometheus")]), Ok(None));
        assert_eq!(prepared(None, &[("OTEL_METRICS_EXPORTER", "console")]), Ok(None), "not an exporter obs has");
        let defaults = Some("60s 30s Cumulative".to_owned());
        assert_eq!(prepared(None, &[("OTEL_METRICS_EXPORTER", "prometheus,OTLP")]), Ok(defaults.clone()));
        assert_eq!(prepared(Some(OtlpMetrics::new()), &[]), Ok(defaults));
        let vars = [
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "900000"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "5000"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "LowMemory"),
        ];
        assert_eq!(prepared(None, &vars), Ok(Some("900s 5s Delta".to_owned())), "15 min from the environment");
        let bad = [("OTEL_METRICS_EXPORTER", "otlp"), ("OTEL_METRIC_EXPORT_INTERVAL", "soon")];
        assert_eq!(prepared(None, &bad), Ok(Some("60s 30s Cumulative".to_owned())), "tolerated: the default");
        let code = OtlpMetrics::new().interval(Duration::from_secs(5)).temporality(Temporality::Delta);
        assert_eq!(prepared(Some(code), &vars), Ok(Some("5s 5s Delta".to_owned())), "the code wins");
    }

    #[test]
    fn wrong_values_in_code_are_errs_naming_them_even_when_off() {
        let disabled = [("OTEL_SDK_DISABLED", "true")];
        assert_eq!(prepared(Some(OtlpMetrics::new()), &disabled), Ok(None));
        assert_eq!(
            prepared(Some(OtlpMetrics::new().interval(Duration::ZERO)), &disabled),
            Err("OtlpMetrics::interval")
        );
        assert_eq!(prepared(Some(OtlpMetrics::new().endpoint("ftp://c")), &[]), Err("OtlpMetrics::endpoint"));
        let url = [("OTEL_METRICS_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://u:p@c:4318")];
        assert_eq!(prepared(None, &url), Err("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), "credentials in the URL");
    }

    #[test]
    fn debug_shows_neither_credentials_nor_header_values() {
        let config =
            OtlpMetrics::new().endpoint("https://user:S3CRET@collector:4318/T0KEN").header("x-api-key", "S3CRET");
        let shown = format!("{config:?}");
        assert!(!shown.contains("S3CRET") && !shown.contains("T0KEN"), "{shown}");
        assert!(shown.contains("collector:4318") && shown.contains("x-api-key"), "{shown}");
    }
}
