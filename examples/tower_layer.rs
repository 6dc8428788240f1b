//! The tower layer: for each request an axum (or any tower) server handles, a server span in the
//! caller's trace (from its `traceparent`) and the RED metrics, labelled with the route template
//! the request matched (`/users/{id}`), never the raw path.
//!
//! ```text
//! cargo run --example tower_layer
//! ```
//!
//! It serves a small app on a free port, sends it three requests (one with a `traceparent`),
//! prints the request series of its `/metrics`, and exits; the server spans are written to stdout
//! as JSON lines when it stops (or sent over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set).

mod support;

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Path};
use axum::http::StatusCode;
use axum::routing::get;
use http::Request;
use http_body_util::Empty;
use obs_runtime::trace::TraceConfig;
use obs_runtime::trace::tower::HttpLayer;

async fn user(Path(id): Path<u32>) -> Result<String, StatusCode> {
    if id == 1 { Ok("ada".to_owned()) } else { Err(StatusCode::NOT_FOUND) }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let obs = obs_runtime::Obs::builder().service("tower-example").tracing(TraceConfig::new()).init()?;
    let app = Router::new()
        .route("/users/{id}", get(user))
        .layer(HttpLayer::new(|extensions| extensions.get::<MatchedPath>().map(MatchedPath::as_str)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app_addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(async move { drop(stopped.await) }).await
    });

    // The caller's trace: its server span is a child of the span this header names.
    let traced = Request::get(format!("http://{app_addr}/users/1"))
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .body(Empty::new())?;
    let (status, _) = support::send(traced, Duration::from_secs(5)).await?;
    println!("GET /users/1 (with a traceparent): {status}");
    for path in ["/users/1", "/users/999"] {
        let (status, _) = support::get(&format!("http://{app_addr}{path}")).await?;
        println!("GET {path}: {status}");
    }

    let metrics = obs.http_addr().ok_or("the metrics server is not running")?;
    let (_, scrape) = support::get(&format!("http://{metrics}/metrics")).await?;
    for line in scrape.lines().filter(|line| line.starts_with("http_requests_total{")) {
        println!("{line}");
    }

    let _ = stop.send(());
    server.await??;
    // Exports the server spans (bounded in time), then stops.
    obs.shutdown();
    Ok(())
}
