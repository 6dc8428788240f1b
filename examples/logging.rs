//! JSON logs: `tracing` events written as one JSON object a line, each carrying the trace and
//! span ids of the span it is logged in, with secrets redacted.
//!
//! ```text
//! cargo run --example logging
//! RUST_LOG=debug cargo run --example logging
//! ```
//!
//! It logs a login (its password field written as `"[REDACTED]"`, a card number in a value
//! masked), once outside any span and once inside one, then flushes and exits.

use obs_runtime::logging::LoggingConfig;
use obs_runtime::trace::{InMemoryExporter, SpanOutput, TraceConfig};
use obs_runtime::trace_operation;

#[trace_operation("login")]
fn login(user: &str, password: &str) -> Result<(), String> {
    // Inside the span: the line carries its trace_id and span_id.
    tracing::info!(user_id = user, password, "login attempt");
    if password == "lovelace" { Ok(()) } else { Err("wrong password".to_owned()) }
}

fn main() -> Result<(), obs_runtime::ConfigError> {
    let obs = obs_runtime::Obs::builder()
        .service("logging-example")
        .without_http_server()
        // Lines on stdout (the default output); `mask_values` also masks card numbers and bearer
        // tokens inside values.
        .logging(LoggingConfig::new().mask_values(true))
        // Lines carry the ids of recorded spans, so spans are on; kept in memory here, so that
        // stdout holds only the log lines (a service exports them: see the trace_operation example).
        .tracing(TraceConfig::new().output(SpanOutput::Exporter(Box::new(InMemoryExporter::new()))))
        .init()?;

    // Outside any span: trace_id and span_id are null.
    tracing::info!(card = "4111 1111 1111 1111", "card on file");
    if let Err(error) = login("ada", "not-the-password") {
        tracing::warn!(user_id = "ada", error, "login failed");
    }
    // Flushes the lines still buffered, then stops.
    obs.shutdown();
    Ok(())
}
