//! The downstream service of the `user_service` demo: `GET /profiles/{id}` answers a small JSON
//! profile. Its server spans join the caller's trace through the `traceparent` header (or the
//! formats `OTEL_PROPAGATORS` names), so one trace spans both processes.
//!
//! ```text
//! cargo run --example profile_service      # listens on PROFILE_ADDR, default 127.0.0.1:8081
//! ```
//!
//! Spans go where the `OTEL_*` variables say (`OTEL_EXPORTER_OTLP_ENDPOINT`), else to stdout as
//! JSON lines. Its metrics are served on `OBS_HTTP_ADDR` (default 127.0.0.1:9465 here, so that it
//! runs beside the user service). SIGINT or SIGTERM stops it and flushes its spans.

use std::time::Duration;

use axum::extract::{MatchedPath, Path};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use obs_runtime::trace::TraceConfig;
use obs_runtime::trace::tower::HttpLayer;
use obs_runtime::trace_operation;
use serde_json::{Value, json};

#[trace_operation("load_profile", args)]
async fn load_profile(id: u32) -> Result<Value, StatusCode> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    match id {
        1..=3 => Ok(json!({ "id": id, "plan": if id == 1 { "pro" } else { "free" } })),
        _ => Err(StatusCode::NOT_FOUND),
    }
}

async fn profile(Path(id): Path<u32>) -> Result<Json<Value>, StatusCode> {
    load_profile(id).await.map(Json)
}

fn main() -> Result<(), String> {
    let addr = std::env::var("PROFILE_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    let metrics_addr = std::env::var("OBS_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:9465".to_owned());
    let obs = obs_runtime::Obs::builder()
        .service("profile-service")
        .http_addr(metrics_addr)
        // With `OTEL_PROPAGATORS=tracecontext,baggage`, the `tenant` entry of the baggage the user
        // service carries on becomes an attribute of the spans here (no other entry does).
        .tracing(TraceConfig::new().baggage_attributes(["tenant"]))
        .init()
        .map_err(|error| format!("cannot start observability: {error}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the tokio runtime: {error}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|error| format!("{addr}: {error}"))?;
        let bound = listener.local_addr().map_err(|error| error.to_string())?;
        let app = Router::new()
            .route("/profiles/{id}", get(profile))
            // A server span per request, in the caller's trace, and the RED metrics by route.
            .layer(HttpLayer::new(|extensions| extensions.get::<MatchedPath>().map(MatchedPath::as_str)));
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|error| error.to_string())?;
        eprintln!("profile service listening on http://{bound}");
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            })
            .await
            .map_err(|error| error.to_string())
    })?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    // Flushes the spans still queued (bounded by the export timeout).
    obs.shutdown();
    Ok(())
}
