//! The client side of HTTP calls: middleware that does, for every request a client sends, what
//! [`trace::client_request`](crate::trace::client_request) does by hand (a client span, the
//! context written into the request by the configured propagators), records the response status
//! or the transport error on the span, and records the call in the histogram the OpenTelemetry HTTP
//! client conventions name, in its Prometheus form:
//!
//! ```text
//! http_client_request_duration_seconds{http_request_method, server_address, server_port,
//!                                      http_response_status_code, error_type}
//! ```
//!
//! - `http_request_method`: `GET`, `POST`, .. (a method outside the standard ones is `_OTHER`);
//! - `server_address`, `server_port`: the URL's host and port (80 or 443 by its scheme when it
//!   has none; empty for a URL of a path alone, unless [`ClientLayer::origin`] names the server). The
//!   address is bounded by the family's series limit (2,000 unless
//!   [`set_series_limit`](crate::metrics::set_series_limit) says otherwise; past it, calls are
//!   counted in the overflow series `{otel_metric_overflow="true"}`); the path is never a label;
//! - `http_response_status_code`: the status received; empty when no response came;
//! - `error_type`: empty for a response under 400; the status code (`404`, `503`) for one of 400
//!   or more; for a call that got no response, one of `timeout` (an I/O timeout in the error's
//!   chain, or a `tower::timeout` / `tokio::time::timeout` deadline, or reqwest's timeout),
//!   `connection_refused`, `connection_reset` (reset, aborted, broken pipe or closed before the
//!   response), `cancelled` (the call's future was dropped before it finished) or `_OTHER`.
//!
//! Two middlewares record them: [`ClientLayer`], a `tower` layer for clients that are `tower`
//! services of `http::Request` (hyper-util's client, tower stacks; feature `tower`), and
//! [`ObsMiddleware`](reqwest::ObsMiddleware), for `reqwest-middleware` (feature `reqwest`).

#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tower")]
mod tower;

#[cfg(feature = "tower")]
pub use tower::{BoxError, ClientFuture, ClientLayer, ClientService, ResponseBody};

use std::error::Error;
use std::fmt;
use std::sync::OnceLock;

use http::{HeaderMap, Method};

use crate::clock::clock;
use crate::metrics::{Histogram, HistogramVec};
use crate::trace::Span;
pub(crate) use crate::trace::propagation::Target;

/// The family's name: `http.client.request.duration` in Prometheus's form.
pub const DURATION_FAMILY: &str = "http_client_request_duration_seconds";

/// The labels, in order.
const LABELS: [&str; 5] =
    ["http_request_method", "server_address", "server_port", "http_response_status_code", "error_type"];

/// The conventions' advice for `http.client.request.duration`, in seconds.
const BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

/// The family, registered on the first call; `None` when its name was taken (said once).
fn family() -> Option<&'static HistogramVec> {
    static FAMILY: OnceLock<Option<HistogramVec>> = OnceLock::new();
    FAMILY
        .get_or_init(|| {
            HistogramVec::register(DURATION_FAMILY, "Duration of HTTP client requests.", &LABELS, &BUCKETS)
                .map_err(|error| {
                    crate::diagnostics::warn(
                        "client",
                        "registration_failed",
                        &format!("client request metrics are not recorded: {error}"),
                    );
                })
                .ok()
        })
        .as_ref()
}

/// One outgoing call, from its start to its response or error: its span and what its metrics
/// are labelled by. Dropped unfinished, it is recorded as `cancelled`.
#[derive(Debug)]
pub(crate) struct ClientCall {
    span: Span,
    start: u64,
    method: &'static str,
    address: Box<str>,
    port: u16,
    finished: bool,
}

impl ClientCall {
    /// Starts the call of `method` to `target` whose headers are `headers`: its client span,
    /// the context written into `headers`, the clock.
    pub(crate) fn start(method: &Method, target: &Target<'_>, headers: &mut HeaderMap) -> ClientCall {
        let span = crate::trace::propagation::client_span(method, target, headers);
        ClientCall {
            span,
            start: clock().raw(),
            method: crate::trace::propagation::method_label(method),
            address: target.host.unwrap_or_default().into(),
            port: target.port.unwrap_or(0),
            finished: false,
        }
    }

    /// The call's span.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Records the response's `status`.
    pub(crate) fn response(mut self, status: u16) {
        self.span.record_response(status);
        if status >= 400 && self.span.is_recording() {
            self.span.set_attribute("error.type", status.to_string());
        }
        self.record(status, "");
    }

    /// Records a call that got no response: `error` on the span, `error_type` as its
    /// `error.type` attribute and label.
    pub(crate) fn error(mut self, error_type: &'static str, error: &dyn fmt::Display) {
        self.span.record_error(error);
        self.span.set_attribute("error.type", error_type);
        self.record(0, error_type);
    }

    /// Observes the call's duration in its series: `status` 0 for none, `error_type` for a call
    /// without a response (a status of 400 or more is its own error type).
    fn record(&mut self, status: u16, error_type: &'static str) {
        self.finished = true;
        let clock = clock();
        let seconds = clock.delta_as_nanos(self.start, clock.raw()) as f64 / 1e9;
        let key = SeriesKey { method: self.method, port: self.port, status, error_type };
        // The series of this thread's recent label sets, looked up without allocating.
        // (`try_with`: a call dropped while the thread's locals are torn down goes uncached.)
        let cached = RECENT
            .try_with(|recent| {
                recent
                    .borrow()
                    .iter()
                    .find(|(known, address, _)| *known == key && **address == *self.address)
                    .map(|(_, _, series)| series.clone())
            })
            .ok()
            .flatten();
        let series = match cached {
            Some(series) => series,
            None => {
                let Some(family) = family() else { return };
                let port = if self.port == 0 { String::new() } else { self.port.to_string() };
                let status_label = if status == 0 { String::new() } else { status.to_string() };
                let error_label = if status >= 400 { status_label.as_str() } else { error_type };
                let labels = [self.method, &*self.address, &port, &status_label, error_label];
                let Ok(series) = family.with_labels(&labels) else { return };
                let _ = RECENT.try_with(|recent| {
                    let mut recent = recent.borrow_mut();
                    if recent.len() == RECENT_SERIES {
                        recent.remove(0);
                    }
                    recent.push((key, self.address.clone(), series.clone()));
                });
                series
            }
        };
        series.observe(seconds);
    }
}

/// What, besides the server address, names a call's series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SeriesKey {
    method: &'static str,
    port: u16,
    status: u16,
    error_type: &'static str,
}

/// How many label sets a thread remembers the series of. A label set past the family's series
/// limit is remembered with the overflow series, so its later calls on this thread are not counted
/// again in `obs_metric_series_overflow_total`.
const RECENT_SERIES: usize = 32;

thread_local! {
    static RECENT: std::cell::RefCell<Vec<(SeriesKey, Box<str>, Histogram)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for ClientCall {
    fn drop(&mut self) {
        if !self.finished {
            self.span.set_attribute("error.type", "cancelled");
            self.span.set_error_status("cancelled");
            self.record(0, "cancelled");
        }
    }
}

/// What kind of failure `error` is, as the `error_type` label says it: by the I/O errors and the
/// timeouts of its chain of sources.
pub(crate) fn error_type_of(error: &(dyn Error + 'static)) -> &'static str {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::TimedOut => return "timeout",
                std::io::ErrorKind::ConnectionRefused => return "connection_refused",
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => return "connection_reset",
                _ => {}
            }
        }
        // `tower::timeout::error::Elapsed`, `tokio::time::error::Elapsed` and tonic's
        // `TimeoutExpired` (its channel's deadline), by what they say (obs depends on none of
        // these crates for this).
        let text = error.to_string();
        if text == "request timed out" || text == "deadline has elapsed" || text == "Timeout expired" {
            return "timeout";
        }
        next = error.source();
    }
    "_OTHER"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client error")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct Says(&'static str);
    impl fmt::Display for Says {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Says {}

    #[test]
    fn error_types_by_the_chain() {
        let io = |kind| Wrapper(std::io::Error::from(kind));
        assert_eq!(error_type_of(&io(std::io::ErrorKind::ConnectionRefused)), "connection_refused");
        assert_eq!(error_type_of(&io(std::io::ErrorKind::TimedOut)), "timeout");
        assert_eq!(error_type_of(&io(std::io::ErrorKind::ConnectionReset)), "connection_reset");
        assert_eq!(error_type_of(&io(std::io::ErrorKind::BrokenPipe)), "connection_reset");
        assert_eq!(error_type_of(&io(std::io::ErrorKind::PermissionDenied)), "_OTHER");
        assert_eq!(error_type_of(&Says("request timed out")), "timeout");
        assert_eq!(error_type_of(&Says("deadline has elapsed")), "timeout");
        assert_eq!(error_type_of(&Says("dns error")), "_OTHER");
    }
}
