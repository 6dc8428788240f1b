//! The tower layer's RED metrics: by route template, `unmatched`, `_OTHER` methods, an inner
//! error as 500 and a dropped request as 499. Each test uses series of its own (method and
//! template), since the registry is the process's.

mod common;

use std::convert::Infallible;

use axum::Router;
use axum::extract::MatchedPath;
use axum::routing::{any, get};
use common::{duration_count, requests};
use http::{Request, Response, StatusCode};
use obs_runtime::metrics::Samples;
use obs_runtime::trace::tower::HttpLayer;
use tower::{Layer, ServiceExt};

fn axum_routes(extensions: &http::Extensions) -> Option<&str> {
    extensions.get::<MatchedPath>().map(MatchedPath::as_str)
}

/// The template a test puts in the request's extensions (for services that are not routers).
#[derive(Clone)]
struct Template(&'static str);

fn template_of(extensions: &http::Extensions) -> Option<&str> {
    extensions.get::<Template>().map(|template| template.0)
}

fn request(method: &str, path: &str) -> Request<axum::body::Body> {
    Request::builder().method(method).uri(path).body(axum::body::Body::empty()).expect("a request")
}

async fn call(app: &Router, method: &str, path: &str) -> StatusCode {
    app.clone().oneshot(request(method, path)).await.expect("infallible").status()
}

#[tokio::test]
async fn matched_routes_are_counted_by_template_with_their_status() {
    let app = Router::new()
        .route(
            "/tower/users/{id}",
            get(|axum::extract::Path(id): axum::extract::Path<u32>| async move {
                if id == 0 { StatusCode::NOT_FOUND } else { StatusCode::OK }
            }),
        )
        .layer(HttpLayer::new(axum_routes));
    // The public snapshot-and-diff: what these three requests made, and nothing else.
    let before = Samples::take();
    for path in ["/tower/users/1", "/tower/users/2", "/tower/users/0"] {
        call(&app, "GET", path).await;
    }
    let made = Samples::take().since(&before);
    let route = ("endpoint", "/tower/users/{id}");
    assert_eq!(made.get("http_requests_total", &[route, ("status", "200")]), 2.0);
    assert_eq!(made.get("http_requests_total", &[route, ("status", "404")]), 1.0);
    assert_eq!(made.get("http_request_duration_seconds_count", &[route]), 3.0);
    // Never the raw path: one series per template, whatever the ids.
    assert_eq!(made.get("http_requests_total", &[("endpoint", "/tower/users/1")]), 0.0);
    assert_eq!(requests("GET", "/tower/users/{id}", "200"), 2.0, "the same, read from a scrape");
    assert_eq!(duration_count("GET", "/tower/users/{id}"), 3.0);
}

#[tokio::test]
async fn a_path_no_route_matches_is_labelled_unmatched() {
    let app = Router::new().route("/tower/known", get(|| async { "ok" })).layer(HttpLayer::new(axum_routes));
    assert_eq!(call(&app, "PATCH", "/tower/unknown/1").await, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "PATCH", "/tower/unknown/2").await, StatusCode::NOT_FOUND);
    assert_eq!(requests("PATCH", "unmatched", "404"), 2.0);
    assert_eq!(requests("PATCH", "/tower/unknown/1", "404"), 0.0);
}

#[tokio::test]
async fn an_unknown_method_is_labelled_other() {
    let app = Router::new().route("/tower/any", any(|| async { "ok" })).layer(HttpLayer::new(axum_routes));
    assert_eq!(call(&app, "PURGE", "/tower/any").await, StatusCode::OK);
    assert_eq!(call(&app, "BREW", "/tower/any").await, StatusCode::OK);
    assert_eq!(requests("_OTHER", "/tower/any", "200"), 2.0);
    assert_eq!(requests("PURGE", "/tower/any", "200"), 0.0);
}

#[tokio::test]
async fn an_inner_error_is_recorded_as_500_and_passed_on() {
    let failing = tower::service_fn(|_: Request<()>| async { Err::<Response<()>, _>("the backend is down") });
    let service = HttpLayer::new(template_of).layer(failing);
    let mut request = Request::builder().method("PUT").uri("/tower/fails").body(()).expect("a request");
    request.extensions_mut().insert(Template("/tower/fails"));
    let error = service.oneshot(request).await.expect_err("the inner error comes through");
    assert_eq!(error, "the backend is down");
    assert_eq!(requests("PUT", "/tower/fails", "500"), 1.0);
    assert_eq!(duration_count("PUT", "/tower/fails"), 1.0);
}

#[tokio::test]
async fn a_request_dropped_before_its_response_is_recorded_as_499() {
    let (_never_sent, never) = tokio::sync::oneshot::channel::<()>();
    let never = std::sync::Mutex::new(Some(never));
    let hanging = tower::service_fn(move |_: Request<()>| {
        let wait = never.lock().expect("lock").take();
        async move {
            if let Some(wait) = wait {
                let _ = wait.await;
            }
            Ok::<_, Infallible>(Response::new(()))
        }
    });
    let mut service = HttpLayer::new(template_of).layer(hanging);
    let mut request = Request::builder().method("POST").uri("/tower/hangs").body(()).expect("a request");
    request.extensions_mut().insert(Template("/tower/hangs"));
    let response = tower::Service::call(&mut service, request);
    // Polled once (the handler waits), then the client goes away.
    let mut response = Box::pin(response);
    let polled = futures_poll_once(response.as_mut());
    assert!(polled.is_pending(), "the handler is still waiting");
    drop(response);
    assert_eq!(requests("POST", "/tower/hangs", "499"), 1.0);
    assert_eq!(duration_count("POST", "/tower/hangs"), 1.0);
}

fn futures_poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    future.poll(&mut context)
}

#[tokio::test]
async fn a_layer_without_metrics_makes_no_series() {
    let ok = tower::service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let service = HttpLayer::new(template_of).without_metrics().layer(ok);
    let mut request = Request::builder().method("GET").uri("/tower/spans-only").body(()).expect("a request");
    request.extensions_mut().insert(Template("/tower/spans-only"));
    service.oneshot(request).await.expect("infallible");
    assert!(!common::scrape().contains("/tower/spans-only"), "no series, not even an empty one");
}
