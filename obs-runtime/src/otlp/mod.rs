//! OTLP's transport, shared by the three signals (spans, metrics, log records): each request an
//! `Export*ServiceRequest` encoded by hand (protobuf wire format, [`wire`]; the messages are small
//! and stable, so no code generator and no `protoc`), sent with obs's one outbound client
//! ([`crate::egress`]) over HTTP/1.1 (`http/protobuf`, the default) or gRPC (feature
//! `otlp-grpc`), over TLS for `https://` (feature `tls`), gzip-compressed when asked, on obs's
//! background runtime. The answer is read as the specification says: a partial success, or a
//! failure worth a retry (after the receiver's `Retry-After` or `RetryInfo`) or not.

// Spans alone use part of it: the rest serves the metrics and logs exports.
#![cfg_attr(not(any(feature = "metrics", feature = "logging")), allow(dead_code))]

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, header};

use crate::egress::{Client, EgressError, Outgoing, Reply, Target};
use crate::trace::ExportError;

pub(crate) mod config;
pub(crate) mod wire;

use wire::{Field, fields};

/// The transport of an OTLP endpoint (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Protobuf over HTTP/1.1 `POST /v1/traces` (`/v1/metrics`, `/v1/logs`; the default).
    #[default]
    HttpProtobuf,
    /// gRPC over HTTP/2 (TLS for `https://`); needs the `otlp-grpc` feature.
    Grpc,
}

/// Whether request bodies are compressed (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Sent as they are (the default).
    #[default]
    None,
    /// gzip: `Content-Encoding: gzip` over HTTP, `grpc-encoding: gzip` over gRPC.
    Gzip,
}

/// One of OTLP's signals: its paths, its variables and the name of what it carries.
#[derive(Debug)]
pub(crate) struct Signal {
    /// `traces`, `metrics`, `logs`.
    pub(crate) name: &'static str,
    /// What one item is called in messages: `span`, `data point`, `log record`.
    pub(crate) item: &'static str,
    /// The `component` and `reason` of `obs_internal_errors_total` for items the receiver
    /// rejected (a partial success).
    pub(crate) component: &'static str,
    pub(crate) rejected: &'static str,
    /// The HTTP path appended to `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub(crate) path: &'static str,
    pub(crate) grpc_path: &'static str,
    /// `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`, `_PROTOCOL`, `_HEADERS`, `_TIMEOUT`,
    /// `_COMPRESSION`, `_CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY`.
    pub(crate) endpoint: &'static str,
    pub(crate) protocol: &'static str,
    pub(crate) headers: &'static str,
    pub(crate) timeout: &'static str,
    pub(crate) compression: &'static str,
    pub(crate) certificate: &'static str,
    pub(crate) client_certificate: &'static str,
    pub(crate) client_key: &'static str,
    /// `OTEL_<SIGNAL>_EXPORTER`.
    pub(crate) exporter: &'static str,
}

macro_rules! signal {
    ($name:literal, $upper:literal, $item:literal, $package:literal, $service:literal, $component:literal, $rejected:literal) => {
        Signal {
            name: $name,
            item: $item,
            component: $component,
            rejected: $rejected,
            path: concat!("/v1/", $name),
            grpc_path: concat!("/opentelemetry.proto.collector.", $package, ".v1.", $service, "/Export"),
            endpoint: concat!("OTEL_EXPORTER_OTLP_", $upper, "_ENDPOINT"),
            protocol: concat!("OTEL_EXPORTER_OTLP_", $upper, "_PROTOCOL"),
            headers: concat!("OTEL_EXPORTER_OTLP_", $upper, "_HEADERS"),
            timeout: concat!("OTEL_EXPORTER_OTLP_", $upper, "_TIMEOUT"),
            compression: concat!("OTEL_EXPORTER_OTLP_", $upper, "_COMPRESSION"),
            certificate: concat!("OTEL_EXPORTER_OTLP_", $upper, "_CERTIFICATE"),
            client_certificate: concat!("OTEL_EXPORTER_OTLP_", $upper, "_CLIENT_CERTIFICATE"),
            client_key: concat!("OTEL_EXPORTER_OTLP_", $upper, "_CLIENT_KEY"),
            exporter: concat!("OTEL_", $upper, "_EXPORTER"),
        }
    };
}

pub(crate) static TRACES: Signal =
    signal!("traces", "TRACES", "span", "trace", "TraceService", "trace", "spans_rejected");
#[cfg(feature = "metrics")]
pub(crate) static METRICS: Signal =
    signal!("metrics", "METRICS", "data point", "metrics", "MetricsService", "metrics", "points_rejected");
#[cfg(feature = "logging")]
pub(crate) static LOGS: Signal =
    signal!("logs", "LOGS", "log record", "logs", "LogsService", "logging", "records_rejected");

/// Sends one signal's export requests to one receiver.
pub(crate) struct Sender {
    signal: &'static Signal,
    client: Client,
    target: Target,
    protocol: Protocol,
    compression: Compression,
    /// The configured headers, then the protocol's.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// How many configured headers `headers` starts with (their values are scrubbed from messages).
    configured: usize,
}

/// A partial success: items rejected, and the receiver's message.
pub(crate) type Partial = Option<(i64, String)>;

impl Sender {
    pub(crate) fn new(
        signal: &'static Signal,
        client: Client,
        target: Target,
        protocol: Protocol,
        compression: Compression,
        mut headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Sender {
        let configured = headers.len();
        let gzip = compression == Compression::Gzip;
        let target = match protocol {
            Protocol::HttpProtobuf => {
                headers.push((header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf")));
                if gzip {
                    headers.push((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")));
                }
                target
            }
            Protocol::Grpc => {
                headers.push((header::CONTENT_TYPE, HeaderValue::from_static("application/grpc")));
                headers.push((header::TE, HeaderValue::from_static("trailers")));
                if gzip {
                    headers.push((HeaderName::from_static("grpc-encoding"), HeaderValue::from_static("gzip")));
                }
                target.with_path(signal.grpc_path)
            }
        };
        Sender { signal, client: client.keep_alive(), target, protocol, compression, headers, configured }
    }

    /// The receiver, by scheme, host and port (never its path, user or password).
    pub(crate) fn shown(&self) -> &str {
        self.target.shown()
    }

    /// The request body of an encoded message: gzip-compressed if asked, after gRPC's 5-byte
    /// prefix.
    pub(crate) fn body(&self, message: &[u8]) -> Result<Bytes, ExportError> {
        let compressed;
        let message = match self.compression {
            Compression::None => message,
            Compression::Gzip => {
                use std::io::Write as _;
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                let gzip = |error: std::io::Error| ExportError::permanent(format!("cannot gzip the request: {error}"));
                encoder.write_all(message).map_err(gzip)?;
                compressed = encoder.finish().map_err(gzip)?;
                &compressed
            }
        };
        let body = match self.protocol {
            Protocol::HttpProtobuf => Bytes::copy_from_slice(message),
            Protocol::Grpc => {
                let length = u32::try_from(message.len())
                    .map_err(|_| ExportError::permanent("request too large for one gRPC message"))?;
                let mut framed = Vec::with_capacity(message.len() + 5);
                framed.push(u8::from(self.compression == Compression::Gzip));
                framed.extend_from_slice(&length.to_be_bytes());
                framed.extend_from_slice(message);
                Bytes::from(framed)
            }
        };
        Ok(body)
    }

    /// Sends `body` (from [`Sender::body`]) and reads the answer within `timeout`; a partial
    /// success is said (counted under `reason`) and returned as the number of items rejected.
    /// Errors name the receiver by scheme, host and port only, scrubbed of the headers' values.
    pub(crate) async fn send(&self, body: Bytes, timeout: Duration, items: usize) -> Result<u64, ExportError> {
        let request = Outgoing { method: Method::POST, target: &self.target, headers: &self.headers, body };
        let reply = match tokio::time::timeout(timeout, self.client.send(request)).await {
            Ok(reply) => reply.map_err(export_error),
            Err(_) => Err(ExportError::retryable(format!("{}: no answer within {timeout:?}", self.target.shown()))),
        };
        let outcome = reply.and_then(|reply| match self.protocol {
            Protocol::HttpProtobuf => http_outcome(&reply, &self.target),
            Protocol::Grpc => grpc_outcome(&reply, &self.target),
        });
        let scrub = |message: &str| crate::egress::scrub(message, &self.target, &self.headers[..self.configured]);
        let partial = outcome.map_err(|error| error.map_message(scrub))?;
        let Some((rejected, message)) = partial else { return Ok(0) };
        if rejected > 0 || !message.is_empty() {
            let message = format!(
                "the collector {} rejected {rejected} {}(s) of a batch of {items}: {}",
                self.target.shown(),
                self.signal.item,
                scrub(&message.chars().take(200).collect::<String>())
            );
            let say = || crate::diagnostics::warn(self.signal.component, self.signal.rejected, &message);
            // What the log export says of itself is not sent by it.
            #[cfg(feature = "logging")]
            if std::ptr::eq(self.signal, &LOGS) {
                crate::logging::otlp::quietly(say);
                return Ok(u64::try_from(rejected).unwrap_or(0));
            }
            say();
        }
        Ok(u64::try_from(rejected).unwrap_or(0))
    }

    /// [`Sender::send`] from a thread that is not the background runtime's: waits for it there.
    pub(crate) fn send_blocking(&self, body: Bytes, timeout: Duration, items: usize) -> Result<u64, ExportError> {
        let Some(runtime) = crate::background::handle() else {
            return Err(ExportError::retryable("obs's background runtime could not start"));
        };
        runtime.block_on(self.send(body, timeout, items))
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("signal", &self.signal.name)
            .field("receiver", &self.shown())
            .finish_non_exhaustive()
    }
}

/// The retries of metrics and log exports: a few, quick, all within the export's deadline.
const RETRY: crate::retry::Policy = crate::retry::Policy { attempts: 5, first_pause: Duration::from_millis(100) };

/// Sends `body` (of `items` items), each attempt within `request_timeout` and all by `deadline`,
/// retrying what is worth a retry; the items the receiver rejected, or the last error.
pub(crate) async fn send_with_retries(
    sender: &Sender,
    body: Bytes,
    items: usize,
    request_timeout: Duration,
    deadline: crate::Deadline,
) -> Result<u64, ExportError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let timeout = deadline.remaining().min(request_timeout);
        if timeout.is_zero() {
            return Err(ExportError::retryable(format!("{}: no time left for the export", sender.shown())));
        }
        let error = match sender.send(body.clone(), timeout, items).await {
            Ok(rejected) => return Ok(rejected),
            Err(error) => error,
        };
        let pause = RETRY.pause(attempt, error.retry_after());
        if !error.is_retryable() || attempt >= RETRY.attempts || pause >= deadline.remaining() {
            return Err(error);
        }
        tokio::time::sleep(pause).await;
    }
}

/// What tells an export loop to stop: the deadline of its last export, once set.
pub(crate) type StopSignal = tokio::sync::watch::Receiver<Option<crate::Deadline>>;

/// An export loop on obs's background runtime (metrics on an interval, log records in batches),
/// told to stop by a deadline, by which it makes its last export.
#[derive(Debug)]
pub(crate) struct Worker {
    stop: tokio::sync::watch::Sender<Option<crate::Deadline>>,
    finished: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Worker {
    /// Spawns `run`; `None` if the background runtime could not start.
    pub(crate) fn spawn<F, R>(run: F) -> Option<Worker>
    where
        F: FnOnce(StopSignal) -> R,
        R: std::future::Future<Output = ()> + Send + 'static,
    {
        let runtime = crate::background::handle()?;
        let (stop, stopped) = tokio::sync::watch::channel(None);
        let (done, finished) = std::sync::mpsc::sync_channel(1);
        let future = run(stopped);
        runtime.spawn(async move {
            future.await;
            let _ = done.send(());
        });
        Some(Worker { stop, finished: std::sync::Mutex::new(finished) })
    }

    pub(crate) fn signal_stop(&self, deadline: crate::Deadline) {
        // The first deadline stands.
        self.stop.send_if_modified(|stop| {
            let first = stop.is_none();
            if first {
                *stop = Some(deadline);
            }
            first
        });
    }

    /// Waits until the loop ended (its last export done or given up), at most until `deadline`.
    pub(crate) fn wait_stopped(&self, deadline: crate::Deadline) -> bool {
        crate::sync::lock(&self.finished).recv_timeout(deadline.remaining()).is_ok()
    }
}

fn export_error(error: EgressError) -> ExportError {
    if error.is_retryable() { ExportError::retryable(error.message()) } else { ExportError::permanent(error.message()) }
}

/// 2xx is done (a partial success read from the body); 429, 502, 503 and 504 are worth a retry,
/// after the answer's `Retry-After` if it has one (the OTLP specification's list); the rest is
/// refused.
fn http_outcome(reply: &Reply, target: &Target) -> Result<Partial, ExportError> {
    let status = reply.status;
    if status.is_success() {
        return Ok(partial_success(&reply.body));
    }
    Err(http_refusal(reply, format!("the collector {} answered HTTP {status}: {}", target.shown(), reply.detail())))
}

/// An HTTP answer that is not a success: 429, 502, 503 and 504 are worth a retry, after the
/// answer's `Retry-After` if it has one; the rest is refused.
fn http_refusal(reply: &Reply, message: String) -> ExportError {
    match reply.status.as_u16() {
        429 | 502 | 503 | 504 => ExportError::retryable(message).after(reply.retry_after()),
        _ => ExportError::permanent(message),
    }
}

/// `grpc-status` 0 is done (a partial success read from the message); CANCELLED,
/// DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are worth a retry, and
/// RESOURCE_EXHAUSTED when the answer carries a `RetryInfo` (the OTLP specification's rules),
/// after the delay it gives; the rest is refused.
#[cfg_attr(not(feature = "otlp-grpc"), allow(dead_code))]
fn grpc_outcome(reply: &Reply, target: &Target) -> Result<Partial, ExportError> {
    if !reply.status.is_success() {
        // Not a gRPC answer (a gateway's): HTTP's meaning, as gRPC maps it (429, 502, 503 and
        // 504 are UNAVAILABLE; 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, ... are for good).
        return Err(http_refusal(reply, format!("the collector {} answered HTTP {}", target.shown(), reply.status)));
    }
    let field = |name: &str| {
        reply
            .trailers
            .as_ref()
            .and_then(|trailers| trailers.get(name))
            .or_else(|| reply.headers.get(name))
            .and_then(|value| value.to_str().ok())
    };
    let code: u32 = field("grpc-status").and_then(|status| status.parse().ok()).unwrap_or(2);
    if code == 0 {
        // One length-prefixed message; obs offers no `grpc-accept-encoding`, so a compressed one
        // (flag 1) is not expected and not read.
        let message = if reply.body.first() == Some(&0) { reply.body.get(5..).unwrap_or_default() } else { &[] };
        return Ok(partial_success(message));
    }
    let retry_delay = field("grpc-status-details-bin").and_then(base64_decode).and_then(|status| retry_info(&status));
    let message = format!(
        "the collector {} answered gRPC status {code}: {}",
        target.shown(),
        crate::percent::decode(field("grpc-message").unwrap_or("")).unwrap_or_default()
    );
    let retryable = matches!(code, 1 | 4 | 10 | 11 | 14 | 15) || (code == 8 && retry_delay.is_some());
    if !retryable {
        return Err(ExportError::permanent(message));
    }
    Err(ExportError::retryable(message).after(retry_delay))
}

/// `Export*ServiceResponse { partial_success = 1: { rejected_<items> = 1, error_message = 2 } }`
/// (the same numbers for the three signals).
fn partial_success(response: &[u8]) -> Partial {
    let partial = fields(response).find_map(|(field, value)| match (field, value) {
        (1, Field::Bytes(partial)) => Some(partial),
        _ => None,
    })?;
    let mut rejected = 0;
    let mut message = String::new();
    for (field, value) in fields(partial) {
        match (field, value) {
            (1, Field::Varint(count)) => rejected = count as i64,
            (2, Field::Bytes(text)) => message = String::from_utf8_lossy(text).into_owned(),
            _ => {}
        }
    }
    Some((rejected, message))
}

/// The delay of a `google.rpc.RetryInfo` in a `google.rpc.Status` (`details = 3`, each an `Any`
/// with `type_url = 1`, `value = 2`; `RetryInfo { retry_delay = 1: Duration { seconds = 1, nanos = 2 } }`).
fn retry_info(status: &[u8]) -> Option<Duration> {
    fields(status).find_map(|(field, value)| {
        let (3, Field::Bytes(any)) = (field, value) else { return None };
        let type_url = fields(any).find_map(|(field, value)| match (field, value) {
            (1, Field::Bytes(url)) => Some(url),
            _ => None,
        })?;
        if !type_url.ends_with(b"google.rpc.RetryInfo") {
            return None;
        }
        let info = fields(any).find_map(|(field, value)| match (field, value) {
            (2, Field::Bytes(info)) => Some(info),
            _ => None,
        })?;
        let delay = fields(info).find_map(|(field, value)| match (field, value) {
            (1, Field::Bytes(delay)) => Some(delay),
            _ => None,
        })?;
        // int64 and int32: a negative delay (two's complement in a varint) is no delay.
        let (mut seconds, mut nanos) = (0i64, 0i64);
        for (field, value) in fields(delay) {
            match (field, value) {
                (1, Field::Varint(value)) => seconds = value as i64,
                (2, Field::Varint(value)) => nanos = i64::from(value as i32),
                _ => {}
            }
        }
        let seconds = u64::try_from(seconds).unwrap_or(0).min(86_400);
        let nanos = u64::try_from(nanos).unwrap_or(0).min(999_999_999);
        Some(Duration::from_secs(seconds) + Duration::from_nanos(nanos))
    })
}

/// Base64 as gRPC's binary metadata carries it (standard alphabet, padding optional).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.trim_end_matches('=').bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = buffer << 6 | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_errors_show_neither_the_path_nor_the_headers() {
        let headers = vec![(header::AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpTM0NSRVQ="))];
        // Nothing listens: the message names the endpoint by scheme, host and port.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let make = |url: &str, headers| {
            let target = Target::parse(url).expect("a URL");
            let client = Client::new(crate::egress::Version::Http1, "obs-test", &target, |_| None).expect("no proxy");
            Sender::new(&TRACES, client, target, Protocol::HttpProtobuf, Compression::None, headers)
        };
        let timeout = Duration::from_secs(5);
        let sender = make(&format!("http://127.0.0.1:{closed}/S3CRET/v1/traces"), headers.clone());
        let body = sender.body(&[]).expect("a body");
        let error = sender.send_blocking(body, timeout, 0).expect_err("nothing listens").to_string();
        assert!(error.starts_with(&format!("cannot connect to http://127.0.0.1:{closed}: ")), "{error}");
        // A collector that quotes the key it refuses.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let collector = std::thread::spawn(move || {
            use std::io::{Read as _, Write as _};
            let (mut stream, _) = listener.accept().expect("the exporter connects");
            let _ = stream.read(&mut [0; 4096]);
            let body = "unknown key: Basic dXNlcjpTM0NSRVQ= (dXNlcjpTM0NSRVQ=, dXNlcjpTM0NSRVQ)";
            let answer = format!("HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            stream.write_all(answer.as_bytes()).expect("answered");
        });
        let sender = make(&format!("http://127.0.0.1:{port}/v1/traces"), headers);
        let body = sender.body(&[]).expect("a body");
        let error = sender.send_blocking(body, timeout, 0).expect_err("refused");
        collector.join().expect("the collector ran");
        assert!(!error.is_retryable());
        let error = error.to_string();
        assert!(error.contains("HTTP 401") && !error.contains("dXNlcjpTM0NSRVQ"), "{error}");
    }

    #[test]
    fn answers_are_read_as_the_official_types_write_them() {
        // ExportTraceServiceResponse { partial_success { rejected_spans: 300, error_message: "too old" } },
        // as Python's opentelemetry-proto serializes it.
        let response = [10, 12, 8, 172, 2, 18, 7, 116, 111, 111, 32, 111, 108, 100];
        assert_eq!(partial_success(&response), Some((300, "too old".to_owned())));
        assert_eq!(partial_success(&[]), None, "an empty answer is a full success");
        // A google.rpc.Status { code: 14, details: [Any(RetryInfo { retry_delay: 7.5 s })] } in
        // grpc-status-details-bin (the Any and Duration as Python's protobuf serializes them).
        let details = "CA4aNgoodHlwZS5nb29nbGVhcGlzLmNvbS9nb29nbGUucnBjLlJldHJ5SW5mbxIKCggIBxCAyrXuAQ==";
        let status = base64_decode(details).expect("base64");
        assert_eq!(retry_info(&status), Some(Duration::from_millis(7500)));
        assert_eq!(base64_decode(details.trim_end_matches('=')), Some(status), "unpadded, as gRPC may send it");
        assert_eq!(retry_info(&[8, 14]), None, "a status without details");
        // RFC 4648's vectors.
        assert_eq!(base64_decode("Zm9vYmE=").as_deref(), Some(&b"fooba"[..]));
        assert_eq!(base64_decode("Zm9vYmFy").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base64_decode("Zm9v!"), None);
    }

    #[test]
    fn signals_name_their_paths_and_variables() {
        // The services' full names, as opentelemetry-proto's .proto files declare them.
        assert_eq!(TRACES.grpc_path, "/opentelemetry.proto.collector.trace.v1.TraceService/Export");
        assert_eq!((TRACES.path, TRACES.endpoint), ("/v1/traces", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
        #[cfg(feature = "metrics")]
        assert_eq!(METRICS.grpc_path, "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export");
        #[cfg(feature = "metrics")]
        assert_eq!((METRICS.path, METRICS.exporter), ("/v1/metrics", "OTEL_METRICS_EXPORTER"));
        #[cfg(feature = "logging")]
        assert_eq!(LOGS.grpc_path, "/opentelemetry.proto.collector.logs.v1.LogsService/Export");
        #[cfg(feature = "logging")]
        assert_eq!((LOGS.path, LOGS.client_key), ("/v1/logs", "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY"));
    }
}
