//! Attribute macros of [obs](https://docs.rs/obs-runtime). Depend on `obs-runtime`, which
//! re-exports them; this crate holds no runtime logic and does no I/O.
//!
//! Each macro runs parse -> check -> expand: arguments parse into a typed struct, every check
//! that can fail runs before any code is generated, and all errors are reported at once, each on
//! the offending token. When the pillar's Cargo feature is off the macro still checks its
//! arguments, then returns the function exactly as written.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::unimplemented)]

mod contract;
mod errors;
mod health_check;
mod item;
mod tokens;
mod trace_operation;
mod track_request;
mod types;

use proc_macro::TokenStream;

/// Records RED metrics (rate, errors, duration) for every call of the function:
/// `#[track_request("GET", "/users")]` or `#[track_request(method = "POST", endpoint = "/login")]`.
///
/// Use it through `obs_runtime::track_request`, whose documentation has the examples (they are
/// compiled and run there, where the runtime is).
#[proc_macro_attribute]
pub fn track_request(args: TokenStream, item: TokenStream) -> TokenStream {
    track_request::track_request(args.into(), item.into(), cfg!(feature = "metrics")).into()
}

/// Makes an `async fn` a health check: `#[health_check(name = "database", timeout = "2s",
/// critical)]` turns `async fn database(pool: Pool) -> Result<(), E>` into
/// `fn database(pool: Pool) -> HealthCheck`, registrable in one line.
///
/// Use it through `obs_runtime::health_check`, whose documentation has the examples.
#[proc_macro_attribute]
pub fn health_check(args: TokenStream, item: TokenStream) -> TokenStream {
    health_check::health_check(args.into(), item.into(), cfg!(feature = "health")).into()
}

/// Opens an OpenTelemetry span around every call of the function:
/// `#[trace_operation("process_user_request")]`, or bare for a span named by the function's path.
///
/// Use it through `obs_runtime::trace_operation`, whose documentation has the examples.
#[proc_macro_attribute]
pub fn trace_operation(args: TokenStream, item: TokenStream) -> TokenStream {
    trace_operation::trace_operation(args.into(), item.into(), cfg!(feature = "trace")).into()
}
