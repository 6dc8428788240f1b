//! A `tower` layer that instruments an HTTP server (axum, hyper, tonic): for each request,
//! the parent from its `traceparent`, a server span with the HTTP semantic-convention attributes,
//! and the RED metrics of `#[track_request]` labelled with the matched route template, never the
//! raw path (which would make one series per user id). For a gRPC server (tonic), use
//! [`GrpcLayer`](crate::rpc::GrpcLayer) instead: a gRPC call's outcome is its `grpc-status`, which
//! this layer does not read.
//!
//! ```
//! use axum::{Router, extract::MatchedPath, routing::get};
//! use obs_runtime::trace::tower::HttpLayer;
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "ok" }))
//!     .layer(HttpLayer::new(|extensions| extensions.get::<MatchedPath>().map(MatchedPath::as_str)));
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use http::{Extensions, Request, Response};

use super::data::SpanKind;
use super::span::Span;
use crate::metrics::limit::{self, REQUEST_FAMILY};
use crate::metrics::registry::registry;
use crate::metrics::request::{RequestGuard, RequestSite};
use crate::sync;

/// Finds the route template a request matched (`/users/{id}`), from the router's extensions:
/// with axum, `|extensions| extensions.get::<MatchedPath>().map(MatchedPath::as_str)`.
pub type RouteOf = fn(&Extensions) -> Option<&str>;

/// The layer; see the [module](self).
#[derive(Clone, Copy, Debug)]
pub struct HttpLayer {
    route: RouteOf,
    metrics: bool,
}

impl HttpLayer {
    /// A layer that finds route templates with `route`. Requests that matched no route are
    /// labelled `endpoint="unmatched"`. The (method, route) pairs share the request families'
    /// series limit with `#[track_request]` sites (2,000 unless
    /// [`set_series_limit`](crate::metrics::set_series_limit) says otherwise): past it, a new
    /// pair's requests are counted in the overflow series `{otel_metric_overflow="true"}`, and
    /// their spans keep the route.
    pub fn new(route: RouteOf) -> HttpLayer {
        HttpLayer { route, metrics: true }
    }

    /// Opens the spans only: for handlers that record their metrics with `#[track_request]`
    /// (both would count each request in the same series).
    pub fn without_metrics(mut self) -> HttpLayer {
        self.metrics = false;
        self
    }
}

impl<S> tower_layer::Layer<S> for HttpLayer {
    type Service = HttpService<S>;

    fn layer(&self, inner: S) -> HttpService<S> {
        HttpService { inner, route: self.route, metrics: self.metrics }
    }
}

/// The service the layer wraps around yours.
#[derive(Clone, Debug)]
pub struct HttpService<S> {
    inner: S,
    route: RouteOf,
    metrics: bool,
}

/// What a (method, route) pair needs per request, made once and kept for the process (like the
/// `static` of a `#[track_request]` site), so that a request allocates nothing for it.
///
/// Only so many pairs are kept: with metrics, those that have a request series of their own (past
/// the request families' series limit, [`crate::metrics::set_series_limit`], a new pair is
/// recorded in the overflow series `{otel_metric_overflow="true"}`); spans only, as many pairs as
/// that limit. A pair past it is named per request and kept nowhere, so a router fed raw paths
/// cannot grow this table (nor the registry) without bound.
#[derive(Clone, Copy)]
struct Route {
    /// The span name: `{method} {route}`, or the method alone when no route matched (or the pair
    /// is not kept).
    span_name: &'static str,
    /// The route template; `None` when no route matched (or the pair is not kept).
    template: Option<&'static str>,
    /// Where the metrics go; `None` for a layer without metrics.
    site: Option<&'static RequestSite>,
    /// Whether the pair is past the limit: its span's name and route are made per request.
    unkept: bool,
}

/// The route of `(method, template)` for a layer with or without `metrics`.
fn route(method: &'static str, template: Option<&str>, metrics: bool) -> Route {
    type Routes = HashMap<&'static str, HashMap<String, Route>>;
    static ROUTES: OnceLock<[Mutex<Routes>; 2]> = OnceLock::new();
    let tables = ROUTES.get_or_init(Default::default);
    let mut routes = sync::lock(&tables[usize::from(metrics)]);
    // No template (no route matched): the key "", which no template is.
    let key = template.unwrap_or("");
    if let Some(route) = routes.get(method).and_then(|of_method| of_method.get(key)) {
        return *route;
    }
    let leak = |text: &str| -> &'static str { Box::leak(text.to_owned().into_boxed_str()) };
    let unkept = |site| Route { span_name: method, template: None, site, unkept: true };
    let (template, site) = if metrics {
        match registry().request_series_of(method, template.unwrap_or("unmatched"), None, leak) {
            Ok(series) => {
                let site = RequestSite::for_series(method, series.endpoint, series, true);
                (template.map(|_| series.endpoint), Some(&*Box::leak(Box::new(site))))
            }
            // One site per method, shared by every pair past the limit.
            Err(overflow) => {
                static OVERFLOW: OnceLock<Mutex<HashMap<&'static str, &'static RequestSite>>> = OnceLock::new();
                let mut sites = sync::lock(OVERFLOW.get_or_init(Default::default));
                let site = *sites
                    .entry(method)
                    .or_insert_with(|| Box::leak(Box::new(RequestSite::for_series(method, "", overflow, true))));
                return unkept(Some(site));
            }
        }
    } else {
        let kept: usize = routes.values().map(HashMap::len).sum();
        if kept >= limit::series_limit(REQUEST_FAMILY) {
            return unkept(None);
        }
        (template.map(leak), None)
    };
    let span_name = match template {
        Some(template) => leak(&format!("{method} {template}")),
        None => method,
    };
    let route = Route { span_name, template, site, unkept: false };
    routes.entry(method).or_default().insert(key.to_owned(), route);
    route
}

impl<S, B, ResB> tower_service::Service<Request<B>> for HttpService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResB>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = HttpFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> HttpFuture<S::Future> {
        let method = super::propagation::method_label(request.method());
        let matched = (self.route)(request.extensions());
        let route = route(method, matched, self.metrics);
        // Past the series limit only the metrics are bounded: the span keeps the template, in a
        // name and an attribute of its own (allocated per request: this is the unusual path).
        let (span_name, template): (std::borrow::Cow<'static, str>, Option<std::borrow::Cow<'static, str>>) =
            match (route.unkept, matched) {
                (true, Some(matched)) => (format!("{method} {matched}").into(), Some(matched.to_owned().into())),
                _ => (route.span_name.into(), route.template.map(Into::into)),
            };
        let (span, baggage) = server_span(Span::builder(span_name), request.headers());
        if span.is_recording() {
            span.set_attribute("http.request.method", method);
            span.set_attribute("url.path", request.uri().path().to_owned());
            if let Some(query) = request.uri().query() {
                span.set_attribute("url.query", super::propagation::redacted_query(query));
            }
            span.set_attribute("url.scheme", request.uri().scheme_str().unwrap_or("http").to_owned());
            if let Some(template) = template {
                span.set_attribute("http.route", template);
            }
            if let Some(agent) = request.headers().get(http::header::USER_AGENT).and_then(|agent| agent.to_str().ok()) {
                span.set_attribute("user_agent.original", agent.to_owned());
            }
            span.set_attribute("network.protocol.version", protocol_version(request.version()));
        }
        let guard = route.site.map(RequestGuard::start);
        let future = {
            let _baggage = baggage.clone().map(crate::baggage::Baggage::attach);
            span.in_scope(|| self.inner.call(request))
        };
        HttpFuture { future, span, guard, baggage }
    }
}

/// The server span `builder` makes for a request with `headers`: in the caller's trace, with the
/// request's baggage (with the `baggage` propagator) current while it starts (its named entries
/// become attributes); the baggage is returned, to be current while the handler runs.
pub(crate) fn server_span(
    builder: super::span::SpanBuilder,
    headers: &http::HeaderMap,
) -> (Span, Option<crate::baggage::Baggage>) {
    let mut builder = builder.kind(SpanKind::Server);
    if let Some(parent) = super::extract(headers) {
        builder = builder.parent(parent);
    }
    let baggage = super::propagation::extract_baggage(headers);
    let span = {
        let _baggage = baggage.clone().map(crate::baggage::Baggage::attach);
        builder.start()
    };
    (span, baggage)
}

/// `network.protocol.version` of `version`.
pub(crate) fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`HttpService`]: in the request's span at each poll; records the
    /// span and the metrics when it completes (or, if dropped first, as cancelled).
    #[derive(Debug)]
    pub struct HttpFuture<F> {
        #[pin]
        future: F,
        span: Span,
        guard: Option<RequestGuard>,
        baggage: Option<crate::baggage::Baggage>,
    }
}

impl<F, ResB, E> Future for HttpFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: std::fmt::Display,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _baggage = this.baggage.clone().map(crate::baggage::Baggage::attach);
        let in_span = this.span.enter();
        let output = std::task::ready!(this.future.poll(cx));
        let status = match &output {
            Ok(response) => response.status().as_u16(),
            Err(_) => 500,
        };
        // In the span: the metrics take it as their exemplar.
        if let Some(guard) = this.guard.take() {
            guard.finish(status);
        }
        drop(in_span);
        match &output {
            Ok(_) => this.span.record_response(status),
            Err(error) => this.span.record_error(error),
        }
        Poll::Ready(output)
    }
}
