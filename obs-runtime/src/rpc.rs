//! gRPC as the tower layers read it: a request is gRPC by its content type (`application/grpc`,
//! `application/grpc+proto`, ..); its outcome is the `grpc-status` of the response's trailers, or
//! of its headers for a trailers-only response (an error before any message), or the status
//! gRPC's HTTP mapping gives a response that is not 200; a response that ends without one is
//! `UNKNOWN`. The span gets the RPC semantic-convention attributes (`rpc.system`, `rpc.service`,
//! `rpc.method`, `rpc.grpc.status_code`) and its status by the gRPC conventions; the call is
//! recorded in an RPC family of its own, never in the HTTP ones:
//!
//! ```text
//! rpc_server_duration_seconds{rpc_system="grpc", rpc_service, rpc_method, rpc_grpc_status_code}
//! rpc_client_duration_seconds{rpc_system="grpc", rpc_service, rpc_method, rpc_grpc_status_code}
//! ```
//!
//! The service and method come from the request's path (`/{package.Service}/{Method}`); a call
//! answered `UNIMPLEMENTED` is labelled `rpc_service="_OTHER", rpc_method="_OTHER"` (its path is
//! whatever a client sent), so the series stay within the services' own methods (and the family's
//! series limit).

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use http::{HeaderMap, Uri};

use crate::clock::clock;
use crate::metrics::HistogramVec;
use crate::trace::Span;

/// `OK`.
pub(crate) const OK: u16 = 0;
/// `CANCELLED`: the call was dropped before its outcome was known.
pub(crate) const CANCELLED: u16 = 1;
/// `UNKNOWN`: no status, or one that is not a number.
pub(crate) const UNKNOWN: u16 = 2;
/// `DEADLINE_EXCEEDED`.
pub(crate) const DEADLINE_EXCEEDED: u16 = 4;
/// `UNIMPLEMENTED`.
pub(crate) const UNIMPLEMENTED: u16 = 12;
/// `UNAVAILABLE`.
pub(crate) const UNAVAILABLE: u16 = 14;

pub use crate::metrics::rpc_names::{CLIENT_FAMILY, SERVER_FAMILY, STATUS_LABEL, is_server_error};

const LABELS: [&str; 4] = ["rpc_system", "rpc_service", "rpc_method", STATUS_LABEL];

/// Whether a request (or response) with these headers is gRPC.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// The `grpc-status` of `headers`: `None` when there is none, `UNKNOWN` when it is not a code.
pub(crate) fn status_in(headers: &HeaderMap) -> Option<u16> {
    let value = headers.get("grpc-status")?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok())
            .filter(|code| *code <= 16)
            .unwrap_or(UNKNOWN),
    )
}

/// The code gRPC's HTTP mapping gives a response without `grpc-status` whose HTTP status is not
/// 200 (`doc/http-grpc-status-mapping.md` of the gRPC repository).
pub(crate) fn code_of_http_status(status: u16) -> u16 {
    match status {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => UNIMPLEMENTED,  // UNIMPLEMENTED
        429 | 502..=504 => 14, // UNAVAILABLE
        _ => UNKNOWN,
    }
}

/// The name of a status code (`NOT_FOUND`).
pub(crate) fn code_name(code: u16) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(usize::from(code)).copied().unwrap_or("UNKNOWN")
}

/// The service and method of a gRPC path (`/grpc.health.v1.Health/Check`); `_OTHER` for what is
/// not of that form.
pub(crate) fn service_and_method(path: &str) -> (&str, &str) {
    path.strip_prefix('/')
        .and_then(|path| path.split_once('/'))
        .filter(|(service, method)| !service.is_empty() && !method.is_empty() && !method.contains('/'))
        .unwrap_or(("_OTHER", "_OTHER"))
}

/// Whose side of the call obs is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// The family of `side`, registered on its first call; `None` when its name was taken (said
/// once).
fn family(side: Side) -> Option<&'static HistogramVec> {
    static FAMILIES: [OnceLock<Option<HistogramVec>>; 2] = [OnceLock::new(), OnceLock::new()];
    let (slot, name, help) = match side {
        Side::Server => (&FAMILIES[0], SERVER_FAMILY, "Duration of gRPC calls served."),
        Side::Client => (&FAMILIES[1], CLIENT_FAMILY, "Duration of gRPC calls made."),
    };
    slot.get_or_init(|| {
        let buckets = crate::metrics::registry::registry().default_buckets();
        HistogramVec::register(name, help, &LABELS, &buckets)
            .map_err(|error| {
                crate::diagnostics::warn(
                    "rpc",
                    "registration_failed",
                    &format!("gRPC metrics are not recorded: {error}"),
                );
            })
            .ok()
    })
    .as_ref()
}

/// Sets the RPC attributes of the span of a call to `uri`.
pub(crate) fn set_attributes(span: &Span, uri: &Uri) {
    let (service, method) = service_and_method(uri.path());
    span.set_attribute("rpc.system", "grpc");
    span.set_attribute("rpc.service", service.to_owned());
    span.set_attribute("rpc.method", method.to_owned());
}

/// The name of the span of a call to `uri`: `{service}/{method}`, as the conventions say.
pub(crate) fn span_name(uri: &Uri) -> String {
    let (service, method) = service_and_method(uri.path());
    format!("{service}/{method}")
}

/// One gRPC call, until its status is known: its span and what its metrics are labelled by.
/// Dropped unfinished, it is recorded as `CANCELLED`.
#[derive(Debug)]
pub(crate) struct RpcCall {
    span: Span,
    start: u64,
    side: Side,
    /// `/{service}/{method}`, for the labels.
    path: String,
    metrics: bool,
    finished: bool,
}

impl RpcCall {
    /// A call started now (or at `start`, a raw clock reading), in `span`.
    pub(crate) fn new(span: Span, side: Side, uri: &Uri, metrics: bool, start: Option<u64>) -> RpcCall {
        let path = uri.path().to_owned();
        RpcCall { span, start: start.unwrap_or_else(|| clock().raw()), side, path, metrics, finished: false }
    }

    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Records the call's outcome: `code`.
    pub(crate) fn finish(mut self, code: u16) {
        self.record(code);
    }

    /// Records a call that failed without a status (a transport error): `code` for the error
    /// `error`, of `error_type`.
    pub(crate) fn fail(mut self, code: u16, error_type: &'static str, error: &dyn std::fmt::Display) {
        self.span.record_error(error);
        self.span.set_attribute("error.type", error_type);
        self.record(code);
    }

    /// The outcome of a response whose headers are `headers`, if they hold it: a trailers-only
    /// response's `grpc-status`, or the HTTP mapping's code for a status that is not 200.
    pub(crate) fn outcome_in_head(status: http::StatusCode, headers: &HeaderMap) -> Option<u16> {
        status_in(headers).or_else(|| (status != http::StatusCode::OK).then(|| code_of_http_status(status.as_u16())))
    }

    fn record(&mut self, code: u16) {
        self.finished = true;
        let clock = clock();
        let seconds = clock.delta_as_nanos(self.start, clock.raw()) as f64 / 1e9;
        if self.span.is_recording() {
            self.span.set_attribute("rpc.grpc.status_code", i64::from(code));
            // A server's span is an error for the server-error codes, a client's for any but OK.
            let error = match self.side {
                Side::Server => is_server_error(code),
                Side::Client => code != OK,
            };
            if error {
                self.span.set_error_status(code_name(code));
            }
        }
        if !self.metrics {
            return;
        }
        let Some(family) = family(self.side) else { return };
        let (service, method) = match code {
            UNIMPLEMENTED => ("_OTHER", "_OTHER"),
            _ => service_and_method(&self.path),
        };
        let code_label = code.to_string();
        if let Ok(histogram) = family.with_labels(&["grpc", service, method, &code_label]) {
            histogram.observe(seconds);
        }
    }
}

impl Drop for RpcCall {
    fn drop(&mut self) {
        if !self.finished {
            self.record(CANCELLED);
        }
    }
}

pin_project_lite::pin_project! {
    /// The body of a response that passed through obs's server layer or client layer: the body
    /// as it was, frame by frame. For a gRPC call whose status comes in the trailers, it records
    /// the call when they pass (or, when the body ends without them, as `UNKNOWN`; dropped
    /// before its end, as `CANCELLED`).
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        call: Option<RpcCall>,
    }
}

impl<B> ResponseBody<B> {
    /// `inner`, passed on as it is.
    pub(crate) fn plain(inner: B) -> ResponseBody<B> {
        ResponseBody { inner, call: None }
    }

    /// `inner`, whose trailers finish `call`.
    pub(crate) fn finishing(inner: B, call: RpcCall) -> ResponseBody<B> {
        ResponseBody { inner, call: Some(call) }
    }
}

impl<B: http_body::Body> http_body::Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        if this.call.is_some() {
            let code = match &frame {
                Some(Ok(frame)) => match frame.trailers_ref() {
                    Some(trailers) => Some(status_in(trailers).unwrap_or(UNKNOWN)),
                    // A body that says it has ended may not be polled again: no trailers.
                    None if this.inner.is_end_stream() => Some(UNKNOWN),
                    None => None,
                },
                Some(Err(_)) | None => Some(UNKNOWN),
            };
            if let Some(code) = code
                && let Some(call) = this.call.take()
            {
                call.finish(code);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_paths_and_mappings() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, http::HeaderValue::from_static(value));
            }
            map
        };
        assert!(is_grpc(&headers(&[("content-type", "application/grpc")])));
        assert!(is_grpc(&headers(&[("content-type", "application/grpc+proto")])));
        assert!(!is_grpc(&headers(&[("content-type", "application/json")])));
        assert!(!is_grpc(&headers(&[])));
        assert_eq!(status_in(&headers(&[("grpc-status", "5")])), Some(5));
        assert_eq!(status_in(&headers(&[("grpc-status", "0")])), Some(0));
        assert_eq!(status_in(&headers(&[("grpc-status", "99")])), Some(UNKNOWN));
        assert_eq!(status_in(&headers(&[("grpc-status", "x")])), Some(UNKNOWN));
        assert_eq!(status_in(&headers(&[])), None);
        assert_eq!(service_and_method("/grpc.health.v1.Health/Check"), ("grpc.health.v1.Health", "Check"));
        let uri: Uri = "http://h:1/pkg.S/M".parse().expect("a URI");
        assert_eq!(span_name(&uri), "pkg.S/M");
        for bad in ["/", "/only", "/a/b/c", "//m", "/s/", ""] {
            assert_eq!(service_and_method(bad), ("_OTHER", "_OTHER"), "{bad}");
        }
        assert_eq!(code_of_http_status(404), UNIMPLEMENTED);
        assert_eq!(code_of_http_status(503), UNAVAILABLE);
        assert_eq!(code_of_http_status(500), UNKNOWN);
        assert_eq!((code_name(5), code_name(16), code_name(17)), ("NOT_FOUND", "UNAUTHENTICATED", "UNKNOWN"));
        let errors: Vec<u16> = (0..=16).filter(|code| is_server_error(*code)).collect();
        assert_eq!(errors, [2, 4, 12, 13, 14, 15]);
    }
}
