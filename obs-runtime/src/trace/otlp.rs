//! OTLP export: `ExportTraceServiceRequest` encoded by hand (protobuf wire format; the messages
//! are small and stable, so no code generator and no `protoc`), sent with obs's one outbound
//! client ([`crate::egress`]) over HTTP/1.1 (`http/protobuf`, the default) or gRPC (feature
//! `otlp-grpc`), over TLS for `https://` (feature `tls`), gzip-compressed when asked: each export is
//! waited for by the span export thread and runs on obs's background runtime.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, header};

use super::data::{SpanData, Status, ValueRef};
use super::export::{ExportError, Resource, SpanExporter};
use crate::egress::{Client, EgressError, Outgoing, Reply, Target};

/// The transport of an OTLP endpoint (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Protobuf over HTTP/1.1 `POST /v1/traces` (the default).
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

/// The gRPC method of the trace service.
const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

pub(crate) struct OtlpExporter {
    client: Client,
    target: Target,
    protocol: Protocol,
    compression: Compression,
    /// The configured headers, then the protocol's.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// How many configured headers `headers` starts with (their values are scrubbed from messages).
    configured: usize,
    body: Vec<u8>,
    compressed: Vec<u8>,
    /// The last export's partial success: spans rejected.
    rejected: u64,
}

impl OtlpExporter {
    pub(crate) fn new(
        client: Client,
        target: Target,
        protocol: Protocol,
        compression: Compression,
        mut headers: Vec<(HeaderName, HeaderValue)>,
    ) -> OtlpExporter {
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
                target.with_path(GRPC_PATH)
            }
        };
        OtlpExporter {
            client: client.keep_alive(),
            target,
            protocol,
            compression,
            headers,
            configured,
            body: Vec::new(),
            compressed: Vec::new(),
            rejected: 0,
        }
    }

    /// The request body: the message, gzip-compressed if asked, after gRPC's 5-byte prefix.
    fn body(&mut self, batch: &[SpanData], resource: &Resource) -> Result<Bytes, ExportError> {
        self.body.clear();
        encode_request(&mut self.body, batch, resource);
        let message = match self.compression {
            Compression::None => &self.body,
            Compression::Gzip => {
                use std::io::Write as _;
                self.compressed.clear();
                let mut encoder =
                    flate2::write::GzEncoder::new(std::mem::take(&mut self.compressed), flate2::Compression::fast());
                let gzip = |error: std::io::Error| ExportError::permanent(format!("cannot gzip the batch: {error}"));
                encoder.write_all(&self.body).map_err(gzip)?;
                self.compressed = encoder.finish().map_err(gzip)?;
                &self.compressed
            }
        };
        Ok(match self.protocol {
            Protocol::HttpProtobuf => Bytes::copy_from_slice(message),
            Protocol::Grpc => {
                let length = u32::try_from(message.len())
                    .map_err(|_| ExportError::permanent("batch too large for one gRPC message"))?;
                let mut framed = Vec::with_capacity(message.len() + 5);
                framed.push(u8::from(self.compression == Compression::Gzip));
                framed.extend_from_slice(&length.to_be_bytes());
                framed.extend_from_slice(message);
                Bytes::from(framed)
            }
        })
    }
}

impl SpanExporter for OtlpExporter {
    fn export(&mut self, batch: &[SpanData], resource: &Resource, timeout: Duration) -> Result<(), ExportError> {
        self.rejected = 0;
        let body = self.body(batch, resource)?;
        // The request runs on obs's background runtime, driven by its thread; this (the span
        // export thread) only waits for it.
        let Some(runtime) = crate::background::handle() else {
            return Err(ExportError::retryable("obs's background runtime could not start"));
        };
        let request = Outgoing { method: Method::POST, target: &self.target, headers: &self.headers, body };
        let reply = runtime.block_on(async {
            match tokio::time::timeout(timeout, self.client.send(request)).await {
                Ok(reply) => reply.map_err(export_error),
                Err(_) => Err(ExportError::retryable(format!("{}: no answer within {timeout:?}", self.target.shown()))),
            }
        })?;
        let outcome = match self.protocol {
            Protocol::HttpProtobuf => http_outcome(&reply, &self.target),
            Protocol::Grpc => grpc_outcome(&reply, &self.target),
        };
        let scrub = |message: &str| crate::egress::scrub(message, &self.target, &self.headers[..self.configured]);
        let partial = outcome.map_err(|error| error.map_message(scrub))?;
        if let Some((rejected, message)) = partial
            && (rejected > 0 || !message.is_empty())
        {
            self.rejected = u64::try_from(rejected).unwrap_or(0);
            crate::diagnostics::warn(
                "trace",
                "spans_rejected",
                &format!(
                    "the collector {} rejected {rejected} span(s) of a batch of {}: {}",
                    self.target.shown(),
                    batch.len(),
                    scrub(&message.chars().take(200).collect::<String>())
                ),
            );
        }
        Ok(())
    }

    fn take_rejected(&mut self) -> u64 {
        std::mem::take(&mut self.rejected)
    }
}

fn export_error(error: EgressError) -> ExportError {
    if error.is_retryable() { ExportError::retryable(error.message()) } else { ExportError::permanent(error.message()) }
}

/// A partial success: spans rejected, and the receiver's message.
type Partial = Option<(i64, String)>;

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

/// `ExportTraceServiceResponse { partial_success = 1: { rejected_spans = 1, error_message = 2 } }`.
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

/// A protobuf field's value, as far as obs reads answers.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a protobuf message, in order; stops at the first malformed one.
fn fields(mut bytes: &[u8]) -> impl Iterator<Item = (u32, Field<'_>)> {
    fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    std::iter::from_fn(move || {
        let key = read_varint(&mut bytes)?;
        let field = u32::try_from(key >> 3).ok()?;
        let value = match key & 7 {
            0 => Field::Varint(read_varint(&mut bytes)?),
            1 | 5 => {
                let width = if key & 7 == 1 { 8 } else { 4 };
                bytes = bytes.get(width..)?;
                Field::Fixed
            }
            2 => {
                let length = usize::try_from(read_varint(&mut bytes)?).ok()?;
                let (value, rest) = (bytes.get(..length)?, bytes.get(length..)?);
                bytes = rest;
                Field::Bytes(value)
            }
            _ => return None,
        };
        Some((field, value))
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

// Protobuf wire format: a key is (field << 3) | wire type; 0 = varint, 1 = fixed64, 2 = length
// delimited, 5 = fixed32.

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire)));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn fixed64_field(out: &mut Vec<u8>, field: u32, value: u64) {
    key(out, field, 1);
    out.extend_from_slice(&value.to_le_bytes());
}

/// A nested message: written in place, then its length is put in front of it.
fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, 2);
    let start = out.len();
    body(out);
    let length = out.len() - start;
    let mut prefix = Vec::with_capacity(10);
    varint(&mut prefix, length as u64);
    out.splice(start..start, prefix);
}

fn key_value(out: &mut Vec<u8>, field: u32, name: &str, value: ValueRef<'_>) {
    message(out, field, |out| {
        bytes_field(out, 1, name.as_bytes());
        // AnyValue: string 1, bool 2, int 3, double 4.
        message(out, 2, |out| match value {
            ValueRef::Str(text) => bytes_field(out, 1, text.as_bytes()),
            ValueRef::Bool(value) => {
                key(out, 2, 0);
                varint(out, u64::from(value));
            }
            ValueRef::I64(value) => {
                key(out, 3, 0);
                varint(out, value as u64);
            }
            ValueRef::F64(value) => fixed64_field(out, 4, value.to_bits()),
        });
    });
}

/// `ExportTraceServiceRequest { resource_spans: [ResourceSpans { resource, scope_spans:
/// [ScopeSpans { scope: obs, spans }] }] }`.
pub(crate) fn encode_request(out: &mut Vec<u8>, batch: &[SpanData], resource: &Resource) {
    message(out, 1, |out| {
        message(out, 1, |out| {
            for (name, value) in &resource.attributes {
                key_value(out, 1, name, value.as_ref());
            }
        });
        message(out, 2, |out| {
            message(out, 1, |out| {
                bytes_field(out, 1, super::export::SCOPE_NAME.as_bytes());
                bytes_field(out, 2, super::export::SCOPE_VERSION.as_bytes());
            });
            for span in batch {
                message(out, 2, |out| encode_span(out, span));
            }
        });
    });
}

fn encode_span(out: &mut Vec<u8>, span: &SpanData) {
    bytes_field(out, 1, &span.context.trace_id().to_bytes());
    bytes_field(out, 2, &span.context.span_id().to_bytes());
    if let Some(state) = span.tracestate() {
        bytes_field(out, 3, state.as_bytes());
    }
    if let Some(parent) = span.parent {
        bytes_field(out, 4, &parent.to_bytes());
    }
    bytes_field(out, 5, span.name().as_bytes());
    key(out, 6, 0);
    varint(out, span.kind.otlp());
    fixed64_field(out, 7, span.start_unix_nanos);
    fixed64_field(out, 8, span.end_unix_nanos);
    for (name, value) in span.attributes() {
        key_value(out, 9, name, value);
    }
    if span.dropped_attributes > 0 {
        key(out, 10, 0);
        varint(out, u64::from(span.dropped_attributes));
    }
    for event in &span.events {
        message(out, 11, |out| {
            fixed64_field(out, 1, event.time_unix_nanos);
            bytes_field(out, 2, event.name.as_bytes());
            for (name, value) in &event.attributes {
                key_value(out, 3, name, value.as_ref());
            }
        });
    }
    if span.dropped_events > 0 {
        key(out, 12, 0);
        varint(out, u64::from(span.dropped_events));
    }
    // Link { trace_id = 1, span_id = 2, flags = 6 (fixed32: the W3C trace flags) }.
    for link in &span.links {
        message(out, 13, |out| {
            bytes_field(out, 1, &link.trace_id().to_bytes());
            bytes_field(out, 2, &link.span_id().to_bytes());
            key(out, 6, 5);
            out.extend_from_slice(&u32::from(link.trace_flags()).to_le_bytes());
        });
    }
    if span.dropped_links > 0 {
        key(out, 14, 0);
        varint(out, u64::from(span.dropped_links));
    }
    // Status { message = 2, code = 3 }: unset 0, ok 1, error 2.
    message(out, 15, |out| match &span.status {
        Status::Unset => {}
        Status::Ok => {
            key(out, 3, 0);
            varint(out, 1);
        }
        Status::Error(description) => {
            bytes_field(out, 2, description.as_bytes());
            key(out, 3, 0);
            varint(out, 2);
        }
    });
    // Flags: the W3C trace flags (sampled, random) in the low byte, and "the parent is known to
    // be remote or not" left unset.
    key(out, 16, 5);
    out.extend_from_slice(&u32::from(span.context.trace_flags()).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_errors_show_neither_the_path_nor_the_headers() {
        let headers = vec![(header::AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpTM0NSRVQ="))];
        let resource = Resource { attributes: Vec::new() };
        // Nothing listens: the message names the endpoint by scheme, host and port.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let make = |url: &str, headers| {
            let target = Target::parse(url).expect("a URL");
            let client = Client::new(crate::egress::Version::Http1, "obs-test", &target, |_| None).expect("no proxy");
            OtlpExporter::new(client, target, Protocol::HttpProtobuf, Compression::None, headers)
        };
        let mut exporter = make(&format!("http://127.0.0.1:{closed}/S3CRET/v1/traces"), headers.clone());
        let error = exporter.export(&[], &resource, Duration::from_secs(5)).expect_err("nothing listens").to_string();
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
        let mut exporter = make(&format!("http://127.0.0.1:{port}/v1/traces"), headers);
        let error = exporter.export(&[], &resource, Duration::from_secs(5)).expect_err("refused");
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
    fn varints_and_nesting() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut out = Vec::new();
        message(&mut out, 1, |out| out.extend_from_slice(&[7; 200]));
        assert_eq!(&out[..3], &[0x0a, 0xc8, 0x01]);
        assert_eq!(out.len(), 203);
        let mut out = Vec::new();
        varint(&mut out, -1i64 as u64);
        assert_eq!(out.len(), 10);
    }
}
