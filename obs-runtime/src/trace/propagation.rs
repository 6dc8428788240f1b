//! W3C Trace Context over HTTP headers: `traceparent` and `tracestate` in and out, and the span
//! of an outgoing request (a client span whose context the request carries).

use http::{HeaderMap, HeaderValue};

use super::data::SpanKind;
use super::span::{RemoteParent, Span};
use crate::context::SpanContext;

/// The parent an incoming request names in its `traceparent` (and `tracestate`) headers; `None`
/// when there is none or it is malformed (the request then starts a new trace).
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// let parent = obs_runtime::trace::extract(&headers).expect("a parent");
/// assert_eq!(parent.context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
pub fn extract(headers: &HeaderMap) -> Option<RemoteParent> {
    let mut values = headers.get_all("traceparent").iter();
    let traceparent = values.next()?;
    if values.next().is_some() {
        // Two traceparent headers: ambiguous, so ignored, as the recommendation says.
        return None;
    }
    let context = SpanContext::from_traceparent(traceparent.to_str().ok()?)?;
    // Several tracestate headers are one list (RFC 9110 field combination).
    let mut tracestate = String::new();
    for value in headers.get_all("tracestate") {
        if let Ok(value) = value.to_str() {
            if !tracestate.is_empty() {
                tracestate.push(',');
            }
            tracestate.push_str(value.trim());
        }
    }
    // At most 32 list members (W3C); a longer one is dropped whole rather than cut.
    let members = tracestate.split(',').filter(|member| !member.trim().is_empty()).count();
    let tracestate = (members <= 32 && tracestate.len() <= 512).then_some(tracestate);
    Some(RemoteParent::new(context, tracestate.as_deref()))
}

/// Writes the current span's `traceparent` (and `tracestate`) into `headers`, so that the
/// service called joins the trace. Nothing when there is no current span.
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

fn inject_span(span: &Span, headers: &mut HeaderMap) {
    // A span that records nothing under an unsampled parent has no context of its own: the
    // parent's carries the decision on.
    let Some(context) = span.context().or_else(SpanContext::current) else { return };
    if let Ok(value) = HeaderValue::from_str(&context.to_traceparent()) {
        headers.insert("traceparent", value);
    }
    match span.tracestate().and_then(|state| HeaderValue::from_str(&state).ok()) {
        Some(state) => {
            headers.insert("tracestate", state);
        }
        None => {
            headers.remove("tracestate");
        }
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
    let method = request.method().as_str();
    let span = Span::builder(method.to_owned()).kind(SpanKind::Client).start();
    if span.is_recording() {
        span.set_attribute("http.request.method", method.to_owned());
        span.set_attribute("url.full", redacted_url(request.uri()));
        if let Some(host) = request.uri().host() {
            span.set_attribute("server.address", host.to_owned());
        }
        if let Some(port) = request.uri().port_u16().or(match request.uri().scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        }) {
            span.set_attribute("server.port", i64::from(port));
        }
    }
    inject_span(&span, request.headers_mut());
    span
}

/// The URL without credentials (semantic conventions: never record them) and with the values of
/// secret-named query parameters (`?access_token=..`) redacted.
fn redacted_url(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().map(|scheme| format!("{scheme}://")).unwrap_or_default();
    let authority = match uri.authority() {
        Some(authority) if authority.as_str().contains('@') => {
            format!("REDACTED:REDACTED@{}", authority.as_str().rsplit('@').next().unwrap_or_default())
        }
        Some(authority) => authority.as_str().to_owned(),
        None => String::new(),
    };
    let query = uri.query().map(|query| format!("?{}", redacted_query(query))).unwrap_or_default();
    format!("{scheme}{authority}{}{query}", uri.path())
}

/// A query string with the values of secret-named parameters replaced by `REDACTED`, the
/// semantic conventions' word (the names, as [`is_secret_name`](crate::is_secret_name) reads them:
/// `access_token`, `user[password]`, `pass%77ord`, `X-Amz-Signature`, `sig`).
pub(crate) fn redacted_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if crate::is_secret_name(key) => format!("{key}=REDACTED"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
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
        assert_eq!(redacted_url(&uri), "http://REDACTED:REDACTED@example.com:8080/a?b=1");
        let uri: http::Uri = "http://example.com/a?user=1&access_token=xyz&Signature=abc".parse().expect("valid");
        assert_eq!(redacted_url(&uri), "http://example.com/a?user=1&access_token=REDACTED&Signature=REDACTED");
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
            assert!(!redacted_url(&uri).contains("S3CRET"), "{key}: {}", redacted_url(&uri));
        }
        let kept = "author=ada&passenger=2&authority=x&tokens=5&sessions_total=3";
        assert_eq!(redacted_query(kept), kept);
    }
}
