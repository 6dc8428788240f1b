//! `#[track_request(.., log_errors)]`: a failed call logs one ERROR line with the error's message
//! and the current trace id; other calls log nothing.

mod common;

use common::Captured;
use obs_runtime::context::SpanContext;
use obs_runtime::logging::{LoggingConfig, Output};
use obs_runtime::metrics::RequestOutcome;
use obs_runtime::track_request;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt as _;

#[track_request("GET", "/errors/logged", log_errors)]
fn logged(fail: bool) -> Result<u32, std::io::Error> {
    if fail { Err(std::io::Error::other("database unreachable")) } else { Ok(1) }
}

#[derive(Debug)]
struct OnlyDebug {
    #[allow(dead_code)]
    code: u32,
}

#[track_request("POST", "/errors/debug", log_errors = true)]
async fn only_debug() -> Result<(), OnlyDebug> {
    Err(OnlyDebug { code: 7 })
}

#[derive(Debug)]
struct NotFound;

impl RequestOutcome for NotFound {
    fn http_status(&self) -> u16 {
        404
    }
}

#[track_request("GET", "/errors/not-found", log_errors)]
fn not_found() -> Result<(), NotFound> {
    Err(NotFound)
}

/// Neither `Display` nor `Debug`: its line says no `error`.
struct Opaque;

#[track_request("GET", "/errors/opaque", log_errors)]
fn opaque() -> Result<u32, Opaque> {
    Err(Opaque)
}

/// `()`: a failure like any other `Err` (its `Debug` is the text).
#[track_request("GET", "/errors/unit", log_errors)]
fn unit_error() -> Result<u32, ()> {
    Err(())
}

#[track_request("GET", "/errors/quiet")]
fn quiet() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("not logged: the site did not ask"))
}

#[tokio::test]
async fn failed_calls_log_one_error_line_in_the_current_trace() {
    let output = Captured::default();
    let (layer, guard) =
        common::log_layer("svc", LoggingConfig::new().output(Output::Writer(Box::new(output.clone()))))
            .expect("starts");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let _default = tracing::dispatcher::set_default(&dispatch);
    let context =
        SpanContext::from_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").expect("valid");
    {
        let _attached = context.attach();
        assert!(logged(true).is_err());
    }
    assert_eq!(logged(false).ok(), Some(1));
    assert!(only_debug().await.is_err());
    assert!(not_found().is_err());
    assert!(opaque().is_err());
    assert!(unit_error().is_err());
    assert!(quiet().is_err());
    assert!(guard.flush());

    let text = output.lines();
    let lines: Vec<Value> = text.iter().map(|line| serde_json::from_str(line).expect("JSON")).collect();
    assert_eq!(lines.len(), 4, "one line per failed call of a site that asked, 5xx only: {text:?}");
    let first = &lines[0];
    assert_eq!(first["level"], "ERROR");
    assert_eq!(first["message"], "request failed");
    assert_eq!(first["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(first["span_id"], "b7ad6b7169203331");
    assert_eq!(first["metadata"]["method"], "GET");
    assert_eq!(first["metadata"]["endpoint"], "/errors/logged");
    assert_eq!(first["metadata"]["status"], 500);
    assert_eq!(first["metadata"]["error"], "database unreachable");
    let second = &lines[1];
    assert_eq!(second["metadata"]["endpoint"], "/errors/debug");
    assert_eq!(second["metadata"]["error"], "OnlyDebug { code: 7 }");
    assert_eq!(second["trace_id"], Value::Null);
    let third = &lines[2];
    assert_eq!(third["metadata"]["endpoint"], "/errors/opaque");
    assert_eq!(third["metadata"]["status"], 500);
    assert_eq!(third["metadata"].get("error"), None, "{third}");
    let fourth = &lines[3];
    assert_eq!(fourth["metadata"]["endpoint"], "/errors/unit");
    assert_eq!(fourth["metadata"]["status"], 500);
    assert_eq!(fourth["metadata"]["error"], "()");
}
