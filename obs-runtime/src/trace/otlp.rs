//! OTLP export: `ExportTraceServiceRequest` encoded by hand (protobuf wire format; the messages
//! are small and stable, so no code generator and no `protoc`), sent over HTTP/1.1
//! (`http/protobuf`, the default) or gRPC (feature `otlp-grpc`): each export is waited for by the
//! span export thread and runs on obs's background runtime.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use super::data::{SpanData, Status, ValueRef};
use super::export::{ExportError, Resource, SpanExporter};

/// The transport of an OTLP endpoint (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Protobuf over HTTP/1.1 `POST /v1/traces` (the default).
    #[default]
    HttpProtobuf,
    /// gRPC (HTTP/2 without TLS); needs the `otlp-grpc` feature.
    Grpc,
}

pub(crate) struct OtlpExporter {
    uri: Uri,
    /// The endpoint as messages show it (scheme, host and port).
    shown: String,
    protocol: Protocol,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

impl OtlpExporter {
    pub(crate) fn new(uri: Uri, protocol: Protocol, headers: Vec<(HeaderName, HeaderValue)>) -> OtlpExporter {
        let shown = crate::secret::url::for_humans(&uri.to_string());
        OtlpExporter { uri, shown, protocol, headers, body: Vec::new() }
    }
}

impl SpanExporter for OtlpExporter {
    fn export(&mut self, batch: &[SpanData], resource: &Resource, timeout: Duration) -> Result<(), ExportError> {
        self.body.clear();
        if self.protocol == Protocol::Grpc {
            // The gRPC message prefix: not compressed, then the length, filled in below.
            self.body.extend_from_slice(&[0; 5]);
        }
        encode_request(&mut self.body, batch, resource);
        if self.protocol == Protocol::Grpc {
            let length = u32::try_from(self.body.len() - 5)
                .map_err(|_| ExportError::permanent("batch too large for one gRPC message"))?;
            self.body[1..5].copy_from_slice(&length.to_be_bytes());
        }
        let body = Bytes::copy_from_slice(&self.body);
        // The request runs on obs's background runtime, driven by its thread; this (the span
        // export thread) only waits for it.
        let Some(runtime) = crate::background::handle() else {
            return Err(ExportError::retryable("obs's background runtime could not start"));
        };
        let send = send(&self.uri, &self.shown, self.protocol, &self.headers, body);
        let result = runtime.block_on(async {
            match tokio::time::timeout(timeout, send).await {
                Ok(result) => result,
                Err(_) => Err(ExportError::retryable(format!("no answer within {timeout:?}"))),
            }
        });
        result.map_err(|error| without_header_values(error, &self.headers))
    }
}

/// `error` without the values of the headers sent (a collector's answer may quote the API key
/// it refuses), nor their last word (the token of `Basic ..` or `Bearer ..`, padded or not).
fn without_header_values(error: ExportError, headers: &[(HeaderName, HeaderValue)]) -> ExportError {
    let mut message = error.to_string();
    for (_, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        let token = value.rsplit(' ').next().unwrap_or_default();
        for secret in [value, token, token.trim_end_matches('=')] {
            if secret.len() >= 6 {
                message = message.replace(secret, crate::secret::REDACTED);
            }
        }
    }
    if error.is_retryable() { ExportError::retryable(message) } else { ExportError::permanent(message) }
}

async fn send(
    uri: &Uri,
    shown: &str,
    protocol: Protocol,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
) -> Result<(), ExportError> {
    let authority = uri.authority().ok_or_else(|| ExportError::permanent("endpoint without a host"))?;
    let address = format!("{}:{}", authority.host().trim_matches(['[', ']']), authority.port_u16().unwrap_or(80));
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|error| ExportError::retryable(format!("cannot connect to {shown}: {error}")))?;
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(stream);
    let mut request = Request::post(uri.clone())
        .header(header::USER_AGENT, concat!("obs/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(body))
        .map_err(|error| ExportError::permanent(error.to_string()))?;
    for (name, value) in headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    match protocol {
        Protocol::HttpProtobuf => {
            request.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-protobuf"));
            request.headers_mut().insert(
                header::HOST,
                HeaderValue::from_str(authority.as_str()).map_err(|_| ExportError::permanent("bad host"))?,
            );
            // HTTP/1.1 wants the path only.
            *request.uri_mut() = uri
                .path_and_query()
                .map_or("/", |path| path.as_str())
                .parse()
                .map_err(|_| ExportError::permanent("bad path"))?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|error| ExportError::retryable(format!("HTTP handshake: {error}")))?;
            let driver = tokio::spawn(connection);
            let response = sender.send_request(request).await;
            let result = match response {
                Ok(response) => http_outcome(response).await,
                Err(error) => Err(ExportError::retryable(format!("HTTP request: {error}"))),
            };
            driver.abort();
            result
        }
        Protocol::Grpc => grpc(io, request).await,
    }
}

/// 2xx is done; 429, 502, 503 and 504 are worth a retry (the OTLP specification's list); the rest
/// is refused.
async fn http_outcome(response: http::Response<hyper::body::Incoming>) -> Result<(), ExportError> {
    let status = response.status();
    // Read (a bounded part of) the body so that the connection ends cleanly.
    let body = http_body_util::Limited::new(response.into_body(), 64 * 1024).collect().await;
    if status.is_success() {
        return Ok(());
    }
    let detail = body.map(|body| String::from_utf8_lossy(&body.to_bytes()).chars().take(200).collect::<String>());
    let message = format!("the collector answered HTTP {status}: {}", detail.unwrap_or_default());
    match status.as_u16() {
        429 | 502 | 503 | 504 => Err(ExportError::retryable(message)),
        _ => Err(ExportError::permanent(message)),
    }
}

#[cfg(feature = "otlp-grpc")]
async fn grpc(io: TokioIo<tokio::net::TcpStream>, mut request: Request<Full<Bytes>>) -> Result<(), ExportError> {
    let path = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = Some(http::uri::PathAndQuery::from_static(path));
    *request.uri_mut() = Uri::from_parts(parts).map_err(|error| ExportError::permanent(error.to_string()))?;
    request.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    request.headers_mut().insert(header::TE, HeaderValue::from_static("trailers"));
    let (mut sender, connection) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
        .await
        .map_err(|error| ExportError::retryable(format!("HTTP/2 handshake: {error}")))?;
    let driver = tokio::spawn(connection);
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| ExportError::retryable(format!("gRPC request: {error}")))?;
        if !response.status().is_success() {
            return Err(ExportError::retryable(format!("the collector answered HTTP {}", response.status())));
        }
        let head_status = response.headers().get("grpc-status").cloned();
        let head_message = response.headers().get("grpc-message").cloned();
        let body = http_body_util::Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|error| ExportError::retryable(format!("gRPC response: {error}")))?;
        let trailers = body.trailers();
        let status = trailers.and_then(|trailers| trailers.get("grpc-status").cloned()).or(head_status);
        let message = trailers.and_then(|trailers| trailers.get("grpc-message").cloned()).or(head_message);
        let code: u32 = status.and_then(|status| status.to_str().ok()?.parse().ok()).unwrap_or(2);
        if code == 0 {
            return Ok(());
        }
        let message = format!(
            "the collector answered gRPC status {code}: {}",
            message.as_ref().and_then(|message| message.to_str().ok()).unwrap_or("")
        );
        // CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE, UNAVAILABLE,
        // DATA_LOSS: retryable, as the OTLP specification lists them.
        if matches!(code, 1 | 4 | 8 | 10 | 11 | 14 | 15) {
            Err(ExportError::retryable(message))
        } else {
            Err(ExportError::permanent(message))
        }
    }
    .await;
    driver.abort();
    result
}

#[cfg(not(feature = "otlp-grpc"))]
async fn grpc(_: TokioIo<tokio::net::TcpStream>, _: Request<Full<Bytes>>) -> Result<(), ExportError> {
    // Refused when the configuration is checked; never reached.
    Err(ExportError::permanent("gRPC export needs the `otlp-grpc` feature"))
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
                bytes_field(out, 1, b"obs");
                bytes_field(out, 2, env!("CARGO_PKG_VERSION").as_bytes());
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
    // Link { trace_id = 1, span_id = 2, flags = 6 (fixed32: the sampled bit) }.
    for link in &span.links {
        message(out, 13, |out| {
            bytes_field(out, 1, &link.trace_id().to_bytes());
            bytes_field(out, 2, &link.span_id().to_bytes());
            key(out, 6, 5);
            out.extend_from_slice(&u32::from(link.is_sampled()).to_le_bytes());
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
    // Flags: the sampled trace flag, and "the parent is known to be remote or not" left unset.
    key(out, 16, 5);
    out.extend_from_slice(&u32::from(span.context.is_sampled()).to_le_bytes());
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
        let uri: Uri = format!("http://127.0.0.1:{closed}/S3CRET/v1/traces").parse().expect("a URI");
        let mut exporter = OtlpExporter::new(uri, Protocol::HttpProtobuf, headers.clone());
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
        let uri: Uri = format!("http://127.0.0.1:{port}/v1/traces").parse().expect("a URI");
        let mut exporter = OtlpExporter::new(uri, Protocol::HttpProtobuf, headers);
        let error = exporter.export(&[], &resource, Duration::from_secs(5)).expect_err("refused");
        collector.join().expect("the collector ran");
        assert!(!error.is_retryable());
        let error = error.to_string();
        assert!(error.contains("HTTP 401") && !error.contains("dXNlcjpTM0NSRVQ"), "{error}");
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
