//! A `tower` layer for HTTP servers (the chapter's instrumentors, server side): for each request,
//! the parent from its `traceparent`, a server span with the HTTP semantic-convention attributes,
//! and the RED metrics of `#[track_request]` labelled with the matched route template, never the
//! raw path (which would make one series per user id).
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
use crate::metrics::request::{RequestGuard, RequestSite};

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
    /// labelled `endpoint="unmatched"`.
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

/// The most distinct (method, route) pairs given series of their own; past it, `endpoint="other"`
/// (a router's templates are few: more means something feeds raw paths).
const MAX_ROUTES: usize = 1024;

/// What a (method, route) pair needs per request, made once and kept for the process (like the
/// `static` of a `#[track_request]` site), so that a request allocates nothing for it.
#[derive(Clone, Copy)]
struct Route {
    /// The span name: `{method} {route}`, or the method alone when no route matched.
    span_name: &'static str,
    /// The route template; `None` when no route matched (or past [`MAX_ROUTES`]).
    template: Option<&'static str>,
    site: &'static RequestSite,
}

fn route(method: &'static str, template: Option<&str>) -> Route {
    static ROUTES: OnceLock<Mutex<HashMap<&'static str, HashMap<String, Route>>>> = OnceLock::new();
    let mut routes = ROUTES.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // No template (no route matched): the key "", which no template is.
    let key = template.unwrap_or("");
    if let Some(route) = routes.get(method).and_then(|of_method| of_method.get(key)) {
        return *route;
    }
    let total: usize = routes.values().map(HashMap::len).sum();
    let of_method = routes.entry(method).or_default();
    let (key, template) = if total >= MAX_ROUTES { ("other", None) } else { (key, template) };
    if let Some(route) = of_method.get(key) {
        return *route;
    }
    let leak = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
    let template = template.map(|template| leak(template.to_owned()));
    let (span_name, endpoint) = match template {
        Some(template) => (leak(format!("{method} {template}")), template),
        None => (method, if key == "other" { "other" } else { "unmatched" }),
    };
    let site = Box::leak(Box::new(RequestSite::new(method, endpoint, None, true, false)));
    let route = Route { span_name, template, site };
    of_method.insert(key.to_owned(), route);
    route
}

/// The method as the semantic conventions want it: a known one, else `_OTHER` (a label must not
/// take arbitrary client input).
fn method_of(method: &http::Method) -> &'static str {
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
        let method = method_of(request.method());
        let route = route(method, (self.route)(request.extensions()));
        let mut builder = Span::builder(route.span_name).kind(SpanKind::Server);
        if let Some(parent) = super::extract(request.headers()) {
            builder = builder.parent(parent);
        }
        let span = builder.start();
        if span.is_recording() {
            span.set_attribute("http.request.method", method);
            span.set_attribute("url.path", request.uri().path().to_owned());
            if let Some(query) = request.uri().query() {
                span.set_attribute("url.query", super::propagation::redacted_query(query));
            }
            span.set_attribute("url.scheme", request.uri().scheme_str().unwrap_or("http").to_owned());
            if let Some(template) = route.template {
                span.set_attribute("http.route", template);
            }
            if let Some(agent) = request.headers().get(http::header::USER_AGENT).and_then(|agent| agent.to_str().ok()) {
                span.set_attribute("user_agent.original", agent.to_owned());
            }
            let version = match request.version() {
                http::Version::HTTP_10 => "1.0",
                http::Version::HTTP_2 => "2",
                http::Version::HTTP_3 => "3",
                _ => "1.1",
            };
            span.set_attribute("network.protocol.version", version);
        }
        let guard = self.metrics.then(|| RequestGuard::start(route.site));
        let future = span.in_scope(|| self.inner.call(request));
        HttpFuture { future, span, guard }
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
        let output = {
            let _in_span = this.span.enter();
            std::task::ready!(this.future.poll(cx))
        };
        let status = match &output {
            Ok(response) => {
                let status = response.status().as_u16();
                this.span.record_response(status);
                status
            }
            Err(error) => {
                this.span.record_error(error);
                500
            }
        };
        if let Some(guard) = this.guard.take() {
            guard.finish(status);
        }
        Poll::Ready(output)
    }
}
