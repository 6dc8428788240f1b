//! Spans from one attribute: `#[trace_operation]` opens a span around each call, a child of the
//! span it is called in, with `operation.name`, `operation.status` and, on an `Err`,
//! `error.message` and an `exception` event.
//!
//! ```text
//! cargo run --example trace_operation                                               # JSON lines on stdout
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run --example trace_operation  # OTLP (Jaeger, a collector)
//! ```
//!
//! It handles two requests (one fails), flushes the spans where the `OTEL_*` variables say, and
//! exits.

use obs_runtime::trace::TraceConfig;
use obs_runtime::trace_operation;

#[derive(Debug)]
struct NotFound;

/// What the span's `error.message` says.
impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such user")
    }
}

#[trace_operation("process_user_request")]
async fn process_user_request(user_id: u32) -> Result<String, NotFound> {
    obs_runtime::span_attributes!(user_id = user_id);
    let name = database_query(user_id).await?;
    Ok(format!("user {name}"))
}

// A client span with attributes known at compile time.
#[trace_operation("database_query", kind = client, fields(db.system = "postgresql"))]
async fn database_query(user_id: u32) -> Result<&'static str, NotFound> {
    if user_id == 1 { Ok("ada") } else { Err(NotFound) }
}

#[tokio::main]
async fn main() -> Result<(), obs_runtime::ConfigError> {
    let obs = obs_runtime::Obs::builder()
        .service("trace-example")
        .without_http_server()
        .tracing(TraceConfig::new())
        .init()?;
    let _ = process_user_request(1).await;
    let _ = process_user_request(2).await;
    // Exports what is queued (bounded in time), then stops.
    obs.shutdown();
    Ok(())
}
