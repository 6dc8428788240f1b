//! Trace context over HTTP headers, in the formats other services speak: W3C Trace Context
//! (`traceparent`, `tracestate`), B3 single (`b3`) and B3 multi (`X-B3-*`), as
//! `OTEL_PROPAGATORS` or [`TraceConfig::propagators`](super::TraceConfig::propagators) choose;
//! and the span of an outgoing request (a client span whose context the request carries).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::data::SpanKind;
use super::span::{RemoteParent, Span};
use crate::context::{SpanContext, SpanId, TraceId};

/// A format of trace context in headers (`OTEL_PROPAGATORS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Propagator {
    /// W3C Trace Context: `traceparent` and `tracestate` (`tracecontext`, the default).
    TraceContext,
    /// Zipkin's B3, one header: `b3: {trace id}-{span id}-{sampled}` (`b3`).
    B3,
    /// Zipkin's B3, several headers: `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled` (`b3multi`).
    B3Multi,
    /// W3C Baggage: the `baggage` header, read into and written from
    /// [`Baggage::current`](crate::baggage::Baggage::current) (`baggage`).
    Baggage,
}

impl Propagator {
    /// Its name in `OTEL_PROPAGATORS` (`tracecontext`, `baggage`, `b3`, `b3multi`).
    pub fn as_str(self) -> &'static str {
        match self {
            Propagator::TraceContext => "tracecontext",
            Propagator::B3 => "b3",
            Propagator::B3Multi => "b3multi",
            Propagator::Baggage => "baggage",
        }
    }

    fn code(self) -> u32 {
        match self {
            Propagator::TraceContext => 1,
            Propagator::B3 => 2,
            Propagator::B3Multi => 3,
            Propagator::Baggage => 4,
        }
    }

    fn of_code(code: u32) -> Option<Propagator> {
        match code {
            1 => Some(Propagator::TraceContext),
            2 => Some(Propagator::B3),
            3 => Some(Propagator::B3Multi),
            4 => Some(Propagator::Baggage),
            _ => None,
        }
    }
}

/// The propagators in use, in order, four bits each (the first in the lowest); W3C Trace Context
/// until the tracing configuration says otherwise.
static PROPAGATORS: AtomicU32 = AtomicU32::new(1);

/// Sets the propagators [`extract`], [`inject`] and [`client_request`] use (none: no context
/// crosses a process), each once, in order.
pub(crate) fn set_propagators(propagators: &[Propagator]) {
    PROPAGATORS.store(encode(propagators), Ordering::Relaxed);
}

/// `propagators` in order, each once, four bits each.
fn encode(propagators: &[Propagator]) -> u32 {
    let mut codes = 0u32;
    let mut shift = 0;
    for propagator in propagators {
        if !configured(codes).any(|known| known == *propagator) {
            codes |= propagator.code() << shift;
            shift += 4;
        }
    }
    codes
}

fn configured(codes: u32) -> impl Iterator<Item = Propagator> {
    (0..8).map_while(move |slot| Propagator::of_code(codes >> (4 * slot) & 0xf))
}

/// The propagators in use, in order.
pub(crate) fn propagators() -> impl Iterator<Item = Propagator> {
    configured(PROPAGATORS.load(Ordering::Relaxed))
}

/// A propagator of your own (or another library's: `obs-opentelemetry` adapts any OpenTelemetry
/// `TextMapPropagator`), given to [`TraceConfig::propagator`](super::TraceConfig::propagator).
/// It alone then reads and writes the context of every request: [`extract`], [`inject`],
/// [`client_request`], the tower layers and the client middlewares.
///
/// ```
/// use http::HeaderMap;
/// use obs_runtime::baggage::Baggage;
/// use obs_runtime::context::SpanContext;
/// use obs_runtime::trace::{HeaderPropagator, RemoteParent};
///
/// /// W3C `traceparent` under another header name.
/// struct Renamed;
///
/// impl HeaderPropagator for Renamed {
///     fn extract(&self, headers: &HeaderMap) -> Option<RemoteParent> {
///         let value = headers.get("x-trace")?.to_str().ok()?;
///         Some(RemoteParent::new(SpanContext::from_traceparent(value)?, None))
///     }
///
///     fn inject(&self, context: Option<(&SpanContext, Option<&str>)>, _: &Baggage, headers: &mut HeaderMap) {
///         match context.and_then(|(context, _)| context.to_traceparent().parse().ok()) {
///             Some(value) => { headers.insert("x-trace", value); }
///             None => { headers.remove("x-trace"); }
///         }
///     }
/// }
/// ```
pub trait HeaderPropagator: Send + Sync + 'static {
    /// The parent `headers` name, if they name one that is valid.
    fn extract(&self, headers: &HeaderMap) -> Option<RemoteParent>;

    /// The baggage `headers` carry, if any (none by default).
    fn extract_baggage(&self, headers: &HeaderMap) -> Option<crate::baggage::Baggage> {
        let _ = headers;
        None
    }

    /// Writes `context` (with the `tracestate` it carries) and `baggage` into `headers`,
    /// replacing what they held of this propagator's fields; with no context, removes them.
    fn inject(
        &self,
        context: Option<(&SpanContext, Option<&str>)>,
        baggage: &crate::baggage::Baggage,
        headers: &mut HeaderMap,
    );
}

/// Whether a propagator of the user's is set: read first, so that without one (the usual case)
/// extraction and injection take no lock.
static HAS_CUSTOM: AtomicBool = AtomicBool::new(false);
static CUSTOM: RwLock<Option<Arc<dyn HeaderPropagator>>> = RwLock::new(None);

/// Sets (or, with `None`, removes) the user's propagator.
pub(crate) fn set_custom(propagator: Option<Arc<dyn HeaderPropagator>>) {
    let set = propagator.is_some();
    *crate::sync::write(&CUSTOM) = propagator;
    HAS_CUSTOM.store(set, Ordering::Release);
}

/// The user's propagator, if one is set.
#[inline]
fn custom() -> Option<Arc<dyn HeaderPropagator>> {
    if !HAS_CUSTOM.load(Ordering::Acquire) {
        return None;
    }
    crate::sync::read(&CUSTOM).clone()
}

/// The parent an incoming request names in its headers, by the first of the configured formats
/// that finds one (W3C `traceparent` and `tracestate` by default); `None` when there is none or
/// it is malformed (the request then starts a new trace).
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// let parent = obs_runtime::trace::extract(&headers).expect("a parent");
/// assert_eq!(parent.context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
pub fn extract(headers: &HeaderMap) -> Option<RemoteParent> {
    if let Some(custom) = custom() {
        return custom.extract(headers);
    }
    extract_by(propagators(), headers)
}

/// What the first of `propagators` to find a context in `headers` finds.
fn extract_by(mut propagators: impl Iterator<Item = Propagator>, headers: &HeaderMap) -> Option<RemoteParent> {
    propagators.find_map(|propagator| extract_with(propagator, headers))
}

/// What `propagator` finds in `headers`.
pub(crate) fn extract_with(propagator: Propagator, headers: &HeaderMap) -> Option<RemoteParent> {
    match propagator {
        Propagator::TraceContext => extract_trace_context(headers),
        Propagator::B3 | Propagator::B3Multi => extract_b3_any(headers),
        // Baggage is not a trace context: see `extract_baggage`.
        Propagator::Baggage => None,
    }
}

/// The `baggage` of `headers` when the `baggage` propagator is configured, and not empty.
pub(crate) fn extract_baggage(headers: &HeaderMap) -> Option<crate::baggage::Baggage> {
    if let Some(custom) = custom() {
        return custom.extract_baggage(headers).filter(|baggage| !baggage.is_empty());
    }
    if !propagators().any(|propagator| propagator == Propagator::Baggage) {
        return None;
    }
    let values: Vec<&str> = headers.get_all("baggage").iter().filter_map(|value| value.to_str().ok()).collect();
    let baggage = crate::baggage::Baggage::from_header(values);
    (!baggage.is_empty()).then_some(baggage)
}

fn extract_trace_context(headers: &HeaderMap) -> Option<RemoteParent> {
    let mut values = headers.get_all("traceparent").iter();
    let traceparent = values.next()?;
    if values.next().is_some() {
        // Two traceparent headers: ambiguous, so ignored, as the recommendation says.
        return None;
    }
    let context = SpanContext::from_traceparent(traceparent.to_str().ok()?)?;
    // Several tracestate headers are one list (RFC 9110 field combination); a list that is not
    // valid is dropped whole (the traceparent still counts).
    let values: Option<Vec<&str>> = headers.get_all("tracestate").iter().map(|value| value.to_str().ok()).collect();
    let tracestate = values.and_then(super::tracestate::parse);
    Some(RemoteParent::new(context, tracestate.as_deref()))
}

/// B3, as the OpenTelemetry specification has it read whichever B3 format is configured: the
/// single header when it holds a context, else the multi headers.
fn extract_b3_any(headers: &HeaderMap) -> Option<RemoteParent> {
    extract_b3(headers).or_else(|| extract_b3_multi(headers))
}

/// `{trace id}-{span id}[-{sampling}[-{parent span id}]]`; a header of a sampling decision alone
/// (`0`, `1`, `d`) carries no context.
fn extract_b3(headers: &HeaderMap) -> Option<RemoteParent> {
    let value = headers.get("b3")?.to_str().ok()?.trim();
    let mut parts = value.split('-');
    let (trace, span) = (parts.next()?, parts.next()?);
    let (sampled, debug) = match parts.next() {
        None => (false, false),
        Some(sampling) => b3_sampling(sampling)?,
    };
    if let Some(parent) = parts.next() {
        b3_span_id(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    let context = SpanContext::new(b3_trace_id(trace)?, b3_span_id(span)?, sampled).with_b3_debug(debug);
    Some(RemoteParent::new(context, None))
}

/// `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled` (`1`, `0`, or the old `true`, `false`),
/// `X-B3-Flags: 1` (debug: sampled).
fn extract_b3_multi(headers: &HeaderMap) -> Option<RemoteParent> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    let trace_id = b3_trace_id(header("x-b3-traceid")?)?;
    let span_id = b3_span_id(header("x-b3-spanid")?)?;
    let debug = header("x-b3-flags") == Some("1");
    let sampled = match header("x-b3-sampled") {
        Some("1") => true,
        Some(value) if value.eq_ignore_ascii_case("true") => true,
        Some("0") => false,
        Some(value) if value.eq_ignore_ascii_case("false") => false,
        Some(_) => return None,
        None => false,
    };
    Some(RemoteParent::new(SpanContext::new(trace_id, span_id, sampled).with_b3_debug(debug), None))
}

/// `1` is sampled, `d` is debug (and sampled), `0` is not sampled; anything else is malformed.
fn b3_sampling(value: &str) -> Option<(bool, bool)> {
    match value {
        "1" => Some((true, false)),
        "d" => Some((true, true)),
        "0" => Some((false, false)),
        _ => None,
    }
}

/// 32 or 16 lowercase hex digits (a 64-bit id, padded on the left with zeros).
fn b3_trace_id(hex: &str) -> Option<TraceId> {
    let mut bytes = [0u8; 16];
    match hex.len() {
        32 => crate::context::decode_lower_hex(hex, &mut bytes)?,
        16 => crate::context::decode_lower_hex(hex, &mut bytes[8..])?,
        _ => return None,
    }
    TraceId::from_bytes(bytes)
}

fn b3_span_id(hex: &str) -> Option<SpanId> {
    let mut bytes = [0u8; 8];
    (hex.len() == 16).then_some(())?;
    crate::context::decode_lower_hex(hex, &mut bytes)?;
    SpanId::from_bytes(bytes)
}

/// Writes the current span's context into `headers` in every configured format (W3C
/// `traceparent` and `tracestate` by default), so that the service called joins the trace.
/// Nothing when there is no current span.
///
/// ```
/// use obs_runtime::trace::{inject, Span};
///
/// let mut headers = http::HeaderMap::new();
/// inject(&mut headers); // no span here: nothing written
/// assert!(headers.get("traceparent").is_none());
/// ```
pub fn inject(headers: &mut HeaderMap) {
    inject_span(&Span::current(), headers);
}

pub(crate) fn inject_span(span: &Span, headers: &mut HeaderMap) {
    // A span that records nothing under an unsampled parent has no context of its own: the
    // parent's carries the decision on.
    let context = span.context().or_else(SpanContext::current);
    if let Some(custom) = custom() {
        let state =
            context.and_then(|context| span.tracestate().or_else(|| Span::unsampled_tracestate(context.trace_id())));
        let baggage = crate::baggage::Baggage::current();
        custom.inject(context.as_ref().map(|context| (context, state.as_deref())), &baggage, headers);
        return;
    }
    for propagator in propagators() {
        match (propagator, &context) {
            (Propagator::Baggage, _) => inject_baggage(&crate::baggage::Baggage::current(), headers),
            (_, Some(context)) => {
                let state = span.tracestate().or_else(|| Span::unsampled_tracestate(context.trace_id()));
                inject_with(propagator, context, state.as_deref(), headers);
            }
            // No context to carry: none of what the headers held before either.
            (_, None) => remove_fields(propagator, headers),
        }
    }
}

/// Writes `baggage` as the `baggage` header (none when it is empty).
pub(crate) fn inject_baggage(baggage: &crate::baggage::Baggage, headers: &mut HeaderMap) {
    match baggage.to_header().and_then(|header| HeaderValue::try_from(header).ok()) {
        Some(value) => {
            headers.insert(HeaderName::from_static("baggage"), value);
        }
        None => {
            headers.remove("baggage");
        }
    }
}

/// The headers `propagator` writes, removed.
fn remove_fields(propagator: Propagator, headers: &mut HeaderMap) {
    let names: &[&str] = match propagator {
        Propagator::TraceContext => &["traceparent", "tracestate"],
        Propagator::B3 => &["b3"],
        Propagator::B3Multi => &["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-parentspanid", "x-b3-flags"],
        Propagator::Baggage => &["baggage"],
    };
    for name in names {
        headers.remove(*name);
    }
}

/// Writes `context` (and `tracestate`, for W3C) into `headers` as `propagator` says (what the
/// headers held of that format before is replaced whole).
pub(crate) fn inject_with(
    propagator: Propagator,
    context: &SpanContext,
    tracestate: Option<&str>,
    headers: &mut HeaderMap,
) {
    // Debug says sampled too (B3 sends one or the other).
    let sampled = match (context.is_b3_debug(), context.is_sampled()) {
        (true, _) => "d",
        (false, true) => "1",
        (false, false) => "0",
    };
    if propagator == Propagator::B3Multi {
        // A parent id, a debug flag or a sampling decision of another context must not survive.
        headers.remove("x-b3-parentspanid");
        headers.remove("x-b3-flags");
        headers.remove("x-b3-sampled");
    }
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    match propagator {
        Propagator::TraceContext => {
            set("traceparent", context.to_traceparent());
            match tracestate {
                Some(state) => set("tracestate", state.to_owned()),
                None => {
                    headers.remove("tracestate");
                }
            }
        }
        Propagator::B3 => set("b3", format!("{}-{}-{sampled}", context.trace_id(), context.span_id())),
        Propagator::B3Multi => {
            set("x-b3-traceid", context.trace_id().to_string());
            set("x-b3-spanid", context.span_id().to_string());
            match sampled {
                "d" => set("x-b3-flags", "1".to_owned()),
                _ => set("x-b3-sampled", sampled.to_owned()),
            }
        }
        Propagator::Baggage => {}
    }
}

/// Starts the client span of an outgoing request and writes its `traceparent` into the request:
/// call it just before sending, keep the span while the request runs, then record the response
/// with [`Span::record_response`] (or drop it on a transport error after [`Span::record_error`]).
/// Works with any `http::Request` (hyper, axum's client side, `reqwest::Request` converted).
///
/// ```
/// let mut request = http::Request::get("http://127.0.0.1:9/users/1").body(()).unwrap();
/// let span = obs_runtime::trace::client_request(&mut request);
/// // ... send it; then:
/// span.record_response(200);
/// ```
pub fn client_request<B>(request: &mut http::Request<B>) -> Span {
    let (method, uri) = (request.method().clone(), request.uri().clone());
    client_span(&method, &Target::of_uri(&uri), request.headers_mut())
}

/// Where an outgoing request goes, as its client span and metrics record it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) scheme: Option<&'a str>,
    /// `host[:port]`, without user information.
    pub(crate) authority: Option<&'a str>,
    /// Whether the URL carries user information (never recorded).
    pub(crate) credentials: bool,
    pub(crate) host: Option<&'a str>,
    /// The port, the scheme's when the URL names none.
    pub(crate) port: Option<u16>,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
}

impl<'a> Target<'a> {
    pub(crate) fn of_uri(uri: &'a http::Uri) -> Target<'a> {
        let authority = uri.authority().map(http::uri::Authority::as_str);
        Target {
            scheme: uri.scheme_str(),
            authority: authority.map(|authority| authority.rsplit('@').next().unwrap_or_default()),
            credentials: authority.is_some_and(|authority| authority.contains('@')),
            host: uri.host(),
            port: uri.port_u16().or_else(|| default_port(uri.scheme_str())),
            path: uri.path(),
            query: uri.query(),
        }
    }

    /// Sets `server.address` and `server.port` on the span of a call to this target.
    pub(crate) fn set_server_attributes(&self, span: &Span) {
        if let Some(host) = self.host {
            span.set_attribute("server.address", host.to_owned());
        }
        if let Some(port) = self.port {
            span.set_attribute("server.port", i64::from(port));
        }
    }

    /// The URL without credentials (semantic conventions: never record them) and with the
    /// values of secret-named query parameters (`?access_token=..`) redacted.
    pub(crate) fn url_full(&self) -> String {
        let mut url = String::with_capacity(
            self.scheme.map_or(0, |scheme| scheme.len() + 3)
                + self.authority.map_or(0, str::len)
                + self.path.len()
                + self.query.map_or(0, |query| query.len() + 1)
                + if self.credentials { 18 } else { 0 },
        );
        if let Some(scheme) = self.scheme {
            url.push_str(scheme);
            url.push_str("://");
        }
        if self.credentials {
            url.push_str("REDACTED:REDACTED@");
        }
        url.push_str(self.authority.unwrap_or_default());
        url.push_str(self.path);
        if let Some(query) = self.query {
            url.push('?');
            push_redacted_query(&mut url, query);
        }
        url
    }
}

/// The port of `scheme` when a URL names none.
pub(crate) fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    }
}

/// The client span of a call of `method` to `target`, its context written into `headers`.
pub(crate) fn client_span(method: &http::Method, target: &Target<'_>, headers: &mut HeaderMap) -> Span {
    let known = method_label(method);
    // The conventions' name: the method, or `HTTP` for one they do not know.
    let name = if known == "_OTHER" { "HTTP" } else { known };
    let span = Span::builder(name).kind(SpanKind::Client).start();
    if span.is_recording() {
        span.set_attribute("http.request.method", known);
        if known == "_OTHER" {
            span.set_attribute("http.request.method_original", method.as_str().to_owned());
        }
        span.set_attribute("url.full", target.url_full());
        target.set_server_attributes(&span);
    }
    inject_span(&span, headers);
    span
}

/// The method as the semantic conventions want it in a label: a known one, else `_OTHER` (a
/// label must not take arbitrary input).
pub(crate) fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// A query string with the values of secret-named parameters replaced by `REDACTED`, the
/// semantic conventions' word (the names, as [`is_secret_name`](crate::is_secret_name) reads them:
/// `access_token`, `user[password]`, `pass%77ord`, `X-Amz-Signature`, `sig`).
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) fn redacted_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    push_redacted_query(&mut out, query);
    out
}

/// [`redacted_query`], written at the end of `out`.
fn push_redacted_query(out: &mut String, query: &str) {
    for (index, pair) in query.split('&').enumerate() {
        if index > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if crate::is_secret_name(key) => {
                out.push_str(key);
                out.push_str("=REDACTED");
            }
            _ => out.push_str(pair),
        }
    }
}

impl Span {
    /// Records an HTTP response status (`http.response.status_code`); for a client span, a
    /// status of 400 or more is an error, for a server span 500 or more (semantic conventions).
    pub fn record_response(&self, status: u16) {
        if !self.is_recording() {
            return;
        }
        self.set_attribute("http.response.status_code", i64::from(status));
        let threshold = if self.kind() == Some(SpanKind::Server) { 500 } else { 400 };
        if status >= threshold {
            self.set_error_status(status.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        headers
    }

    fn w3c(pairs: &[(&'static str, &str)]) -> Option<RemoteParent> {
        extract_with(Propagator::TraceContext, &headers(pairs))
    }

    #[test]
    fn traceparent_by_the_recommendations_rules() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        for (value, why) in [
            ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "uppercase hex"),
            ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", "a short trace id"),
            ("00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01", "a long trace id"),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01", "a short parent id"),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", "a short flags field"),
            ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "an all-zero trace id"),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "an all-zero parent id"),
            ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version ff"),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "version 00 with more fields"),
            ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra", "more without a dash"),
            ("0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a short version"),
            ("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", "another separator"),
        ] {
            assert!(w3c(&[("traceparent", value)]).is_none(), "{why}: {value}");
        }
        // A later version: its first four fields are read, what follows a dash is ignored.
        let later = w3c(&[("traceparent", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-ever")]);
        let later = later.expect("forward compatible").context();
        assert_eq!((later.trace_id().to_string().as_str(), later.is_sampled()), (id, true));
        assert_eq!(later.trace_flags(), 0x01, "unknown flags are not passed on");
        // Spaces and tabs around the value.
        assert!(w3c(&[("traceparent", &format!(" \t{TRACEPARENT}\t "))]).is_some());
        // Two traceparent headers: ignored.
        assert!(w3c(&[("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)]).is_none());
        // The Level 2 random flag is kept from the parent, and written out.
        let random = w3c(&[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03")]);
        let random = random.expect("valid").context();
        assert!(random.is_random() && random.is_sampled());
        assert!(random.to_traceparent().ends_with("-03"));
        let not_random = w3c(&[("traceparent", TRACEPARENT)]).expect("valid").context();
        assert!(!not_random.is_random());
    }

    #[test]
    fn tracestate_is_checked_joined_and_dropped_whole_when_invalid() {
        let state = |values: &[&str]| {
            let mut pairs = vec![("traceparent", TRACEPARENT)];
            pairs.extend(values.iter().map(|value| ("tracestate", *value)));
            w3c(&pairs).expect("the traceparent counts").tracestate().map(str::to_owned)
        };
        assert_eq!(
            state(&["congo=t61rcWkgMzE", "", "rojo=00f067aa0ba902b7"]).as_deref(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        );
        assert_eq!(state(&["congo=t61rcWkgMzE", "Bad=1"]), None);
        assert_eq!(state(&["tenant@vendor=1,fw529a3039@dt=x"]).as_deref(), Some("tenant@vendor=1,fw529a3039@dt=x"));
        // Unsampled traces keep it too.
        let unsampled =
            w3c(&[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), ("tracestate", "a=1")]);
        assert_eq!(unsampled.expect("valid").tracestate(), Some("a=1"));
    }

    #[test]
    fn b3_single_and_multi_by_the_zipkin_rules() {
        let b3 = |value: &str| extract_with(Propagator::B3, &headers(&[("b3", value)])).map(|parent| parent.context());
        let context = b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90").expect("valid");
        assert_eq!(context.trace_id().to_string(), "80f198ee56343ba864fe8b2a57d3eff7");
        assert_eq!(context.span_id().to_string(), "e457b5a2e4d86bd1");
        assert!(context.is_sampled() && !context.is_random());
        let debug = b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d").expect("debug");
        assert!(debug.is_sampled() && debug.is_b3_debug());
        assert!(!context.is_b3_debug());
        assert!(!b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0").expect("not sampled").is_sampled());
        assert!(!b3("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1").expect("deferred").is_sampled());
        // A 64-bit trace id is padded on the left.
        let short = b3("64fe8b2a57d3eff7-e457b5a2e4d86bd1-1").expect("64-bit");
        assert_eq!(short.trace_id().to_string(), "000000000000000064fe8b2a57d3eff7");
        for bad in [
            "0",
            "1",
            "d",
            "",
            "80f198ee56343ba864fe8b2a57d3eff7",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-x",
            "80F198EE56343BA864FE8B2A57D3EFF7-e457b5a2e4d86bd1-1",
            "80f198ee56343ba864fe8b2a57d3eff-e457b5a2e4d86bd1-1",
            "00000000000000000000000000000000-e457b5a2e4d86bd1-1",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90-x",
        ] {
            assert_eq!(b3(bad), None, "{bad}");
        }
        let multi = |pairs: &[(&'static str, &str)]| {
            extract_with(Propagator::B3Multi, &headers(pairs)).map(|parent| parent.context())
        };
        let ids = [("X-B3-TraceId", "463ac35c9f6413ad48485a3953bb6124"), ("X-B3-SpanId", "a2fb4a1d1a96d312")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = ids.to_vec();
            pairs.extend_from_slice(extra);
            multi(&pairs)
        };
        assert!(with(&[("X-B3-Sampled", "1")]).expect("valid").is_sampled());
        assert!(with(&[("X-B3-Sampled", "true")]).expect("the old spelling").is_sampled());
        assert!(!with(&[("X-B3-Sampled", "0")]).expect("valid").is_sampled());
        let debug = with(&[("X-B3-Flags", "1")]).expect("debug");
        assert!(debug.is_sampled() && debug.is_b3_debug());
        assert!(!with(&[("X-B3-Sampled", "1")]).expect("valid").is_b3_debug());
        assert!(!with(&[]).expect("deferred").is_sampled());
        assert_eq!(with(&[("X-B3-Sampled", "maybe")]), None);
        assert_eq!(multi(&ids[..1]), None, "no span id");
        // Either B3 propagator reads either format, the single header first (as OpenTelemetry's
        // specification says).
        let single = ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1");
        for propagator in [Propagator::B3, Propagator::B3Multi] {
            let found = |pairs: &[(&'static str, &str)]| {
                extract_with(propagator, &headers(pairs)).map(|parent| parent.context().trace_id().to_string())
            };
            assert_eq!(found(&ids).as_deref(), Some("463ac35c9f6413ad48485a3953bb6124"), "{propagator:?}");
            assert_eq!(found(&[single]).as_deref(), Some("80f198ee56343ba864fe8b2a57d3eff7"), "{propagator:?}");
            let both = [single, ids[0], ids[1]];
            assert_eq!(found(&both).as_deref(), Some("80f198ee56343ba864fe8b2a57d3eff7"), "{propagator:?}");
            // A single header without a context leaves the multi headers to be read.
            let decision = [("b3", "1"), ids[0], ids[1]];
            assert_eq!(found(&decision).as_deref(), Some("463ac35c9f6413ad48485a3953bb6124"), "{propagator:?}");
        }
    }

    #[test]
    fn b3_debug_goes_out_in_b3_and_never_into_traceparent() {
        let incoming = headers(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d")]);
        let context = extract_with(Propagator::B3, &incoming).expect("valid").context();
        assert_eq!(context.trace_flags(), 0x01, "debug is not a W3C flag");
        let mut out = HeaderMap::new();
        for propagator in [Propagator::TraceContext, Propagator::B3, Propagator::B3Multi] {
            inject_with(propagator, &context, None, &mut out);
        }
        assert_eq!(out["traceparent"], "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01");
        assert_eq!(out["b3"], "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d");
        assert_eq!(out["x-b3-flags"], "1");
        assert!(out.get("x-b3-sampled").is_none(), "debug says sampled: B3 sends one or the other");
        // Not debug again: the flag goes, the sampling decision comes back.
        inject_with(Propagator::B3Multi, &context.with_b3_debug(false), None, &mut out);
        assert!(out.get("x-b3-flags").is_none());
        assert_eq!(out["x-b3-sampled"], "1");
    }

    #[test]
    fn injection_writes_each_format_and_extraction_reads_it_back() {
        let context =
            SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").expect("valid");
        let mut out = HeaderMap::new();
        for propagator in [Propagator::TraceContext, Propagator::B3, Propagator::B3Multi] {
            inject_with(propagator, &context, Some("a=1"), &mut out);
        }
        assert_eq!(out["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
        assert_eq!(out["tracestate"], "a=1");
        assert_eq!(out["b3"], "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1");
        assert_eq!(out["x-b3-traceid"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(out["x-b3-spanid"], "00f067aa0ba902b7");
        assert_eq!(out["x-b3-sampled"], "1");
        for propagator in [Propagator::TraceContext, Propagator::B3, Propagator::B3Multi] {
            let back = extract_with(propagator, &out).expect("read back").context();
            assert_eq!(
                (back.trace_id(), back.span_id(), back.is_sampled()),
                (context.trace_id(), context.span_id(), true)
            );
        }
    }

    #[test]
    fn the_first_propagator_to_find_a_context_wins_and_each_is_used_once() {
        let both =
            headers(&[("traceparent", TRACEPARENT), ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")]);
        let order = |list: &[Propagator]| configured(encode(list)).collect::<Vec<_>>();
        let first = |list: &[Propagator]| {
            extract_by(configured(encode(list)), &both).map(|parent| parent.context().trace_id().to_string())
        };
        assert_eq!(
            first(&[Propagator::B3, Propagator::TraceContext]).as_deref(),
            Some("80f198ee56343ba864fe8b2a57d3eff7")
        );
        assert_eq!(
            first(&[Propagator::TraceContext, Propagator::B3]).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(first(&[Propagator::B3Multi]).as_deref(), Some("80f198ee56343ba864fe8b2a57d3eff7"));
        assert_eq!(first(&[]), None, "none: no context crosses");
        let b3_only = headers(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")]);
        assert!(extract_by(configured(encode(&[Propagator::TraceContext, Propagator::B3])), &b3_only).is_some());
        assert_eq!(
            order(&[Propagator::B3Multi, Propagator::TraceContext, Propagator::B3Multi, Propagator::B3]),
            [Propagator::B3Multi, Propagator::TraceContext, Propagator::B3]
        );
    }

    #[test]
    fn tracestate_follows_unsampled_traces_to_the_next_service() {
        // A pipeline that samples nothing: every span here is unsampled.
        crate::trace::pipeline::tests::installed();
        let incoming = headers(&[
            ("traceparent", "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            ("tracestate", "congo=t61rcWkgMzE"),
        ]);
        let parent = extract_with(Propagator::TraceContext, &incoming).expect("valid");
        let server = Span::builder("server").kind(SpanKind::Server).parent(parent).start();
        assert!(!server.is_recording());
        let mut outgoing = http::Request::get("http://profiles.internal/").body(()).expect("a request");
        let client = server.in_scope(|| client_request(&mut outgoing));
        assert_eq!(outgoing.headers()["tracestate"], "congo=t61rcWkgMzE");
        let traceparent = outgoing.headers()["traceparent"].to_str().expect("ascii");
        assert!(traceparent.starts_with("00-5bf92f3577b34da6a3ce929d0e0e4736-") && traceparent.ends_with("-00"));
        // A child of the client span, and `inject` from inside it, carry it on too.
        let mut headers = HeaderMap::new();
        server.in_scope(|| client.in_scope(|| inject(&mut headers)));
        assert_eq!(headers["tracestate"], "congo=t61rcWkgMzE");
        // Into another thread, with the span.
        let bound = server.in_scope(|| {
            Span::current().bind(|| {
                let mut headers = HeaderMap::new();
                inject(&mut headers);
                headers
            })
        });
        let from_thread = std::thread::spawn(bound).join().expect("the thread joins");
        assert_eq!(from_thread["tracestate"], "congo=t61rcWkgMzE");
        // Outside the server span, another trace's request gets none of it.
        let other = Span::builder("other")
            .parent(RemoteParent::new(
                SpanContext::from_traceparent("00-6bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                    .expect("valid"),
                None,
            ))
            .start();
        let mut headers = HeaderMap::new();
        other.in_scope(|| inject(&mut headers));
        assert!(headers.get("tracestate").is_none());
    }

    #[test]
    fn injection_replaces_what_the_headers_held_of_each_format() {
        let stale = headers(&[
            ("x-b3-parentspanid", "1111111111111111"),
            ("x-b3-flags", "1"),
            ("traceparent", "00-11111111111111111111111111111111-1111111111111111-01"),
        ]);
        let context = SpanContext::from_traceparent(TRACEPARENT).expect("valid");
        let mut out = stale.clone();
        inject_with(Propagator::B3Multi, &context, None, &mut out);
        assert!(out.get("x-b3-parentspanid").is_none() && out.get("x-b3-flags").is_none());
        let mut out = stale;
        remove_fields(Propagator::TraceContext, &mut out);
        assert!(out.get("traceparent").is_none(), "no context: no stale traceparent either");
    }

    #[test]
    fn extract_rules() {
        let mut headers = HeaderMap::new();
        assert!(extract(&headers).is_none());
        headers
            .insert("traceparent", HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        headers.append("tracestate", HeaderValue::from_static("congo=t61rcWkgMzE"));
        headers.append("tracestate", HeaderValue::from_static("rojo=00f067aa0ba902b7"));
        let parent = extract(&headers).expect("valid");
        assert_eq!(parent.tracestate(), Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
        headers
            .append("traceparent", HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert!(extract(&headers).is_none(), "two traceparents are ignored");
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static("garbage"));
        assert!(extract(&headers).is_none());
    }

    #[test]
    fn urls_lose_credentials() {
        let uri: http::Uri = "http://user:pw@example.com:8080/a?b=1".parse().expect("valid");
        assert_eq!(Target::of_uri(&uri).url_full(), "http://REDACTED:REDACTED@example.com:8080/a?b=1");
        let uri: http::Uri = "http://example.com/a?user=1&access_token=xyz&Signature=abc".parse().expect("valid");
        assert_eq!(
            Target::of_uri(&uri).url_full(),
            "http://example.com/a?user=1&access_token=REDACTED&Signature=REDACTED"
        );
    }

    #[test]
    fn secret_query_values_are_redacted_whatever_their_spelling() {
        for key in [
            "user[password]",
            "user%5Bpassword%5D",
            "pass%77ord",
            "pwd",
            "pass",
            "session",
            "sessionid",
            "JSESSIONID",
            "auth",
            "api_key",
            "apiKey",
            "X-Amz-Signature",
            "X-Amz-Security-Token",
            "sig",
        ] {
            let query = format!("page=2&{key}=S3CRET&q=x");
            let redacted = redacted_query(&query);
            assert_eq!(redacted, format!("page=2&{key}=REDACTED&q=x"), "{key}");
            let uri: http::Uri = format!("http://example.com/a?{query}").parse().expect("valid");
            assert!(!Target::of_uri(&uri).url_full().contains("S3CRET"), "{key}: {}", Target::of_uri(&uri).url_full());
        }
        let kept = "author=ada&passenger=2&authority=x&tokens=5&sessions_total=3";
        assert_eq!(redacted_query(kept), kept);
    }
}
