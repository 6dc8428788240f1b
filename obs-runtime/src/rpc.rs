//! gRPC read by its own status codes: [`GrpcLayer`] for servers (tonic's
//! `Server::builder().layer(..)`), and [`ClientLayer`](crate::client::ClientLayer) over a client
//! channel (tonic's `Channel`), which reads a request as gRPC by its content type
//! (`application/grpc`, `application/grpc+proto`, `application/grpc;..`). A call's outcome is
//! the `grpc-status` of the response's trailers, or
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
//! The service and method come from the request's path (`/{package.Service}/{Method}`). On the
//! server, a path is whatever a client sent: a call answered `UNIMPLEMENTED` is labelled
//! `rpc_service="_OTHER", rpc_method="_OTHER"`, and so is any call to a service not named to
//! [`GrpcLayer::services`] when it is given (name them when something in front of the services,
//! an authentication layer say, answers calls to any path); the family's series limit bounds the
//! rest.
//!
//! A server call dropped before its outcome is `CANCELLED`, or `DEADLINE_EXCEEDED` when the client
//! gave a deadline (`grpc-timeout`) and it has passed (within the timer's millisecond): tonic drops
//! a call at its deadline outside the layers, and answers the client `CANCELLED`.
//!
//! ```
//! use obs_runtime::rpc::GrpcLayer;
//!
//! // The services' full names: tonic's `NamedService::NAME` of each generated server.
//! let layer = GrpcLayer::new().services(["grpc.health.v1.Health", "shop.Cart"]);
//! // tonic::transport::Server::builder().layer(layer).add_service(..)
//! # drop(layer);
//! ```

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
    headers.get(http::header::CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        value
            .strip_prefix(b"application/grpc")
            .is_some_and(|rest| rest.is_empty() || rest[0] == b'+' || rest[0] == b';')
    })
}

/// The deadline a request's `grpc-timeout` gives (`{1 to 8 digits}{H, M, S, m, u or n}`).
pub(crate) fn timeout_in(headers: &HeaderMap) -> Option<std::time::Duration> {
    let text = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    let nanos_per_unit: u64 = match unit {
        "H" => 3_600_000_000_000,
        "M" => 60_000_000_000,
        "S" => 1_000_000_000,
        "m" => 1_000_000,
        "u" => 1_000,
        "n" => 1,
        _ => return None,
    };
    Some(std::time::Duration::from_nanos(value.saturating_mul(nanos_per_unit)))
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

/// The code a gRPC client reports for a call that failed without a status, `error` of
/// `error_type` (see [`crate::client`]): with feature `tonic`, a `tonic::Status` in its chain is
/// its own code, tonic's `TimeoutExpired` (its channel's deadline) `DEADLINE_EXCEEDED` and its
/// `ConnectError` `UNAVAILABLE`; otherwise a timeout is `DEADLINE_EXCEEDED`, a refused or reset
/// connection `UNAVAILABLE`, anything else `UNKNOWN`.
pub(crate) fn code_of_error(error: &(dyn std::error::Error + 'static), error_type: &str) -> u16 {
    #[cfg(feature = "tonic")]
    {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(status) = error.downcast_ref::<tonic::Status>() {
                return status.code() as u16;
            }
            if error.is::<tonic::TimeoutExpired>() {
                return DEADLINE_EXCEEDED;
            }
            if error.is::<tonic::ConnectError>() {
                return UNAVAILABLE;
            }
            next = error.source();
        }
    }
    #[cfg(not(feature = "tonic"))]
    let _ = error;
    match error_type {
        "timeout" => DEADLINE_EXCEEDED,
        "connection_refused" | "connection_reset" => UNAVAILABLE,
        _ => UNKNOWN,
    }
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
    /// Whether the path's service and method may be labels (else `_OTHER`).
    named: bool,
    /// The client's deadline, in nanoseconds after `start`.
    deadline: Option<u64>,
    metrics: bool,
    finished: bool,
}

impl RpcCall {
    /// A call to `uri` started now, in `span`.
    pub(crate) fn new(span: Span, side: Side, uri: &Uri, metrics: bool) -> RpcCall {
        let path = uri.path().to_owned();
        RpcCall { span, start: clock().raw(), side, path, named: true, deadline: None, metrics, finished: false }
    }

    /// The same call, its service and method labelled only if `named`, with the client's
    /// `deadline`.
    pub(crate) fn served(mut self, named: bool, deadline: Option<std::time::Duration>) -> RpcCall {
        self.named = named;
        // The timer that drops a call at its deadline ticks in milliseconds.
        let slack = std::time::Duration::from_millis(1);
        self.deadline =
            deadline.map(|deadline| u64::try_from(deadline.saturating_sub(slack).as_nanos()).unwrap_or(u64::MAX));
        self
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
            _ if !self.named => ("_OTHER", "_OTHER"),
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
            let clock = clock();
            let expired =
                self.deadline.is_some_and(|deadline| clock.delta_as_nanos(self.start, clock.raw()) >= deadline);
            self.record(if expired { DEADLINE_EXCEEDED } else { CANCELLED });
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
        // While the call waits for its status, the body is polled to its end (a server may not
        // poll a body that says it has ended, and the call would be taken for cancelled).
        self.call.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A `tower` layer for gRPC servers (tonic's `Server::builder().layer(GrpcLayer::new())`): each
/// call gets a server span in the caller's trace (the configured propagators, the baggage as the
/// HTTP layer does), named `{service}/{method}` with the RPC attributes, its status by the gRPC
/// server conventions, and is recorded in `rpc_server_duration_seconds` once its `grpc-status` is
/// known (see the [module](self)); never in the HTTP families.
///
/// A request that is not gRPC by its content type (an HTTP route served beside the services) is
/// passed through unrecorded. With tonic-web, put `GrpcLayer` inside `GrpcWebLayer`, where calls
/// are gRPC again (outside it, a grpc-web call's status is in its body, which is not read).
#[derive(Clone, Debug)]
pub struct GrpcLayer {
    services: Option<std::sync::Arc<[Box<str>]>>,
    timeout: Option<std::time::Duration>,
    metrics: bool,
}

impl Default for GrpcLayer {
    fn default() -> GrpcLayer {
        GrpcLayer::new()
    }
}

impl GrpcLayer {
    /// The layer: every service's methods labelled by their names (except `UNIMPLEMENTED` calls).
    pub fn new() -> GrpcLayer {
        GrpcLayer { services: None, timeout: None, metrics: true }
    }

    /// Labels the calls of these services only (their full names, `grpc.health.v1.Health`:
    /// tonic's `NamedService::NAME`); a call to any other service is `_OTHER`, whatever its
    /// answer (an authentication layer in front of the services answers calls to any path). The
    /// method of a named service is still the path's: calls to methods it does not have that are
    /// answered before tonic routes them (by that authentication layer, or an interceptor) make
    /// series of their own, within the family's series limit.
    pub fn services<N: Into<Box<str>>>(mut self, names: impl IntoIterator<Item = N>) -> GrpcLayer {
        self.services = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The server's own deadline, as given to tonic's `Server::builder().timeout(..)`: a call
    /// dropped once the shorter of it and the client's `grpc-timeout` has passed is
    /// `DEADLINE_EXCEEDED` rather than `CANCELLED` (tonic drops it outside the layers).
    pub fn timeout(mut self, timeout: std::time::Duration) -> GrpcLayer {
        self.timeout = Some(timeout);
        self
    }

    /// Opens the spans only (no `rpc_server_duration_seconds`).
    pub fn without_metrics(mut self) -> GrpcLayer {
        self.metrics = false;
        self
    }
}

impl<S> tower_layer::Layer<S> for GrpcLayer {
    type Service = GrpcService<S>;

    fn layer(&self, inner: S) -> GrpcService<S> {
        GrpcService { inner, services: self.services.clone(), timeout: self.timeout, metrics: self.metrics }
    }
}

/// The service [`GrpcLayer`] wraps around a gRPC server.
#[derive(Clone, Debug)]
pub struct GrpcService<S> {
    inner: S,
    services: Option<std::sync::Arc<[Box<str>]>>,
    timeout: Option<std::time::Duration>,
    metrics: bool,
}

impl<S, B, ResB> tower_service::Service<http::Request<B>> for GrpcService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<ResB>>,
    S::Error: std::fmt::Display,
{
    type Response = http::Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = GrpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> GrpcFuture<S::Future> {
        if !is_grpc(request.headers()) {
            // Not a gRPC call: passed through, unrecorded.
            return GrpcFuture { future: self.inner.call(request), call: None, baggage: None };
        }
        let uri = request.uri();
        let (span, baggage) = crate::trace::tower::server_span(Span::builder(span_name(uri)), request.headers());
        if span.is_recording() {
            set_attributes(&span, uri);
            span.set_attribute("network.protocol.version", crate::trace::tower::protocol_version(request.version()));
        }
        let named = self.services.as_ref().is_none_or(|services| {
            let (service, _) = service_and_method(uri.path());
            services.iter().any(|known| **known == *service)
        });
        let deadline = match (timeout_in(request.headers()), self.timeout) {
            (Some(client), Some(server)) => Some(client.min(server)),
            (client, server) => client.or(server),
        };
        let call = RpcCall::new(span, Side::Server, uri, self.metrics).served(named, deadline);
        let future = {
            let _baggage = baggage.clone().map(crate::baggage::Baggage::attach);
            call.span().in_scope(|| self.inner.call(request))
        };
        GrpcFuture { future, call: Some(call), baggage }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`GrpcService`]: in the call's span at each poll; records the call
    /// when its status is in the response's headers, else hands it to the [`ResponseBody`], which
    /// records it when the trailers pass (dropped first: `CANCELLED`, or `DEADLINE_EXCEEDED` past
    /// the client's deadline).
    #[derive(Debug)]
    pub struct GrpcFuture<F> {
        #[pin]
        future: F,
        call: Option<RpcCall>,
        baggage: Option<crate::baggage::Baggage>,
    }
}

impl<F, ResB, E> std::future::Future for GrpcFuture<F>
where
    F: std::future::Future<Output = Result<http::Response<ResB>, E>>,
    E: std::fmt::Display,
{
    type Output = Result<http::Response<ResponseBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = {
            let _baggage = this.baggage.clone().map(crate::baggage::Baggage::attach);
            let _in_span = this.call.as_ref().map(|call| call.span().enter());
            std::task::ready!(this.future.poll(cx))
        };
        let Some(call) = this.call.take() else {
            return Poll::Ready(output.map(|response| response.map(ResponseBody::plain)));
        };
        Poll::Ready(match output {
            Ok(response) => Ok(call.respond(response)),
            Err(error) => {
                call.fail(UNKNOWN, "_OTHER", &error);
                Err(error)
            }
        })
    }
}

impl RpcCall {
    /// The response, its body wrapped to record the call when its trailers pass, unless its
    /// headers already hold the outcome (then recorded now).
    pub(crate) fn respond<B>(mut self, response: http::Response<B>) -> http::Response<ResponseBody<B>> {
        // The deadline ends the wait for the response's headers (tonic's timeout does no more):
        // a body dropped later is the client's choice, `CANCELLED`.
        self.deadline = None;
        let (parts, body) = response.into_parts();
        // A trailers-only answer's `grpc-status`, or the HTTP mapping's code for a status that
        // is not 200; else the outcome comes in the trailers.
        let in_head = status_in(&parts.headers)
            .or_else(|| (parts.status != http::StatusCode::OK).then(|| code_of_http_status(parts.status.as_u16())));
        let body = match in_head {
            Some(code) => {
                self.finish(code);
                ResponseBody::plain(body)
            }
            None => ResponseBody::finishing(body, self),
        };
        http::Response::from_parts(parts, body)
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
        assert!(is_grpc(&headers(&[("content-type", "application/grpc;charset=utf-8")])));
        assert!(!is_grpc(&headers(&[("content-type", "application/grpc-web")])));
        assert!(!is_grpc(&headers(&[("content-type", "application/grpcx")])));
        let timeout = |value: &'static str| timeout_in(&headers(&[("grpc-timeout", value)]));
        assert_eq!(timeout("50m"), Some(std::time::Duration::from_millis(50)));
        assert_eq!(timeout("2S"), Some(std::time::Duration::from_secs(2)));
        assert_eq!(timeout("1H"), Some(std::time::Duration::from_secs(3600)));
        assert_eq!(timeout("7n"), Some(std::time::Duration::from_nanos(7)));
        for bad in ["", "m", "123456789m", "5x", "-1m", "1.5S"] {
            assert_eq!(timeout(bad), None, "{bad}");
        }
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

    /// A body of the frames given: data, then trailers or not; `ended` says whether it tells the
    /// server it has ended once its frames are out.
    struct Frames {
        frames: std::collections::VecDeque<http_body::Frame<bytes::Bytes>>,
    }

    impl http_body::Body for Frames {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>>> {
            Poll::Ready(self.frames.pop_front().map(Ok))
        }

        fn is_end_stream(&self) -> bool {
            self.frames.is_empty()
        }
    }

    /// The code recorded for a call of `path` whose response body is `frames`, read `polls` times
    /// (then dropped).
    fn recorded(path: &'static str, frames: Vec<http_body::Frame<bytes::Bytes>>, polls: usize) -> Vec<String> {
        let before = crate::metrics::Samples::take();
        let uri: Uri = path.parse().expect("a path");
        let call = RpcCall::new(Span::none(), Side::Server, &uri, true);
        let response = http::Response::new(Frames { frames: frames.into() });
        let mut body = Box::pin(call.respond(response).into_body());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for _ in 0..polls {
            assert!(!http_body::Body::is_end_stream(&*body) || body.call.is_none());
            let _ = http_body::Body::poll_frame(body.as_mut(), &mut cx);
        }
        drop(body);
        let made = crate::metrics::Samples::take().since(&before);
        let (_, method) = service_and_method(path);
        (0..=16)
            .map(|code| code.to_string())
            .filter(|code| {
                made.get("rpc_server_duration_seconds_count", &[("rpc_method", method), (STATUS_LABEL, code)]) == 1.0
            })
            .collect()
    }

    #[test]
    fn a_status_in_the_trailers_or_none_or_a_dropped_body() {
        let data = || http_body::Frame::data(bytes::Bytes::from_static(b"\0\0\0\0\0"));
        let trailers = |code: &'static str| {
            let mut map = HeaderMap::new();
            map.insert("grpc-status", http::HeaderValue::from_static(code));
            http_body::Frame::trailers(map)
        };
        // A stream that fails after its messages: the status in the trailers.
        assert_eq!(recorded("/unit.Body/Trailers", vec![data(), data(), trailers("13")], 3), ["13"]);
        // Ended without trailers: UNKNOWN, even when the body says it has ended (it is polled to
        // its end while the call waits).
        assert_eq!(recorded("/unit.Body/NoTrailers", vec![data()], 2), ["2"]);
        assert_eq!(recorded("/unit.Body/Empty", vec![], 1), ["2"]);
        // Dropped before its end: CANCELLED.
        assert_eq!(recorded("/unit.Body/Dropped", vec![data(), data(), trailers("0")], 1), ["1"]);
    }

    /// What the server layer records for a call of `path` that an inner service (standing for an
    /// authentication layer in front of the services) answers `code` in its headers.
    fn served(layer: &GrpcLayer, path: &'static str, code: &'static str) -> crate::metrics::Samples {
        use tower_layer::Layer as _;
        use tower_service::Service as _;
        let before = crate::metrics::Samples::take();
        let inner = tower::service_fn(move |_: http::Request<()>| async move {
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", code)
                .body(())
                .expect("a response");
            Ok::<_, std::convert::Infallible>(response)
        });
        let mut service = layer.layer(inner);
        let request = http::Request::post(path).header("content-type", "application/grpc").body(()).expect("a request");
        let mut future = Box::pin(service.call(request));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(std::future::Future::poll(future.as_mut(), &mut cx).is_ready());
        crate::metrics::Samples::take().since(&before)
    }

    #[test]
    fn only_named_services_are_labelled_by_name() {
        let layer = GrpcLayer::new().services(["unit.Named"]);
        let count = |made: &crate::metrics::Samples, service: &str, method: &str, code: &str| {
            made.get(
                "rpc_server_duration_seconds_count",
                &[("rpc_service", service), ("rpc_method", method), (STATUS_LABEL, code)],
            )
        };
        let made = served(&layer, "/unit.Named/Get", "16");
        assert_eq!(count(&made, "unit.Named", "Get", "16"), 1.0);
        let made = served(&layer, "/unit.Random1234/Get", "16");
        assert_eq!(count(&made, "_OTHER", "_OTHER", "16"), 1.0);
        assert_eq!(made.get("rpc_server_duration_seconds_count", &[("rpc_service", "unit.Random1234")]), 0.0);
        // Without the list, every service is labelled by name.
        let made = served(&GrpcLayer::new(), "/unit.Unlisted/Get", "7");
        assert_eq!(count(&made, "unit.Unlisted", "Get", "7"), 1.0);
    }
}
