//! A traced request, exported over OTLP/gRPC to an in-process receiver written with
//! tonic and the official generated types (`fake-opentelemetry-collector`): the tree, the
//! attributes, the statuses and the events, as a Rust OTLP consumer decodes them. One pipeline per
//! process: this file holds one test.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use obs_runtime::trace::{Protocol, Span, SpanKind, TraceConfig};
use obs_runtime::trace_operation;

#[derive(Debug)]
struct NotFound(u64);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user {} not found", self.0)
    }
}

#[trace_operation("process_user_request", args(user_id))]
async fn process_user_request(user_id: u64) -> Result<String, NotFound> {
    obs_runtime::span_attributes!("user.tier" = "gold", password = "hunter2");
    let row = database_query(user_id).await?;
    Ok(row)
}

#[trace_operation("database_query", kind = client, fields(db.system = "postgresql"))]
async fn database_query(user_id: u64) -> Result<String, NotFound> {
    tokio::task::yield_now().await;
    if user_id == 0 { Err(NotFound(user_id)) } else { Ok(format!("user {user_id}")) }
}

/// An attribute's value as text. The receiver keeps each `AnyValue` in its `Debug` form
/// (`Some(AnyValue { value: Some(StringValue("x")) })`): the value is read out of it.
fn value(attributes: &BTreeMap<String, String>, key: &str) -> Option<String> {
    let (_, rest) = attributes.get(key)?.split_once("Value(")?;
    Some(rest.split_once(')')?.0.trim_matches('"').to_owned())
}

fn attribute(span: &ExportedSpan, key: &str) -> Option<String> {
    value(&span.attributes, key)
}

fn one<'a>(spans: &'a [ExportedSpan], name: &str, user: &str) -> &'a ExportedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|span| span.name == name && (user.is_empty() || attribute(span, "user_id").as_deref() == Some(user)))
        .collect();
    assert_eq!(found.len(), 1, "one {name} for user {user:?} in {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_otlp_receiver_decodes_the_tree_attributes_statuses_and_events() {
    let mut collector = FakeCollectorServer::start().await.expect("the receiver starts");
    let config = TraceConfig::new()
        .otlp_endpoint(collector.endpoint())
        .protocol(Protocol::Grpc)
        .schedule_delay(Duration::from_millis(20));
    let guard = common::spans::traces_only("collector-test", config);

    let root = Span::builder("GET /users/{id}").kind(SpanKind::Server).start();
    let trace_id = root.context().expect("a sampled root").trace_id().to_string();
    let root_id = root.context().expect("a sampled root").span_id().to_string();
    assert_eq!(root.scope_ref(process_user_request(7)).await.expect("found"), "user 7");
    assert!(root.scope_ref(process_user_request(0)).await.is_err());
    drop(root);
    let guard = tokio::task::spawn_blocking(move || {
        assert!(guard.traces().expect("tracing").flush(), "flushed in time");
        guard
    })
    .await
    .expect("the flush ran");

    let spans = collector.exported_spans(5, Duration::from_secs(20)).await;
    assert_eq!(spans.len(), 5, "{spans:#?}");
    assert!(spans.iter().all(|span| span.trace_id == trace_id), "one trace: {spans:#?}");
    let root = one(&spans, "GET /users/{id}", "");
    assert_eq!(
        (root.span_id.as_str(), root.parent_span_id.as_str(), root.kind.as_str()),
        (root_id.as_str(), "", "SPAN_KIND_SERVER")
    );

    let ok = one(&spans, "process_user_request", "7");
    assert_eq!(ok.parent_span_id, root.span_id);
    assert_eq!(ok.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(attribute(ok, "operation.name").as_deref(), Some("process_user_request"));
    assert_eq!(attribute(ok, "operation.status").as_deref(), Some("success"));
    assert_eq!(attribute(ok, "user.tier").as_deref(), Some("gold"));
    assert_eq!(attribute(ok, "password").as_deref(), Some("[REDACTED]"));
    assert_eq!(ok.status.as_ref().map(|status| status.code.as_str()), Some("STATUS_CODE_OK"));
    assert!(ok.start_time_unix_nano > 0 && ok.end_time_unix_nano >= ok.start_time_unix_nano);
    let query = spans
        .iter()
        .find(|span| span.name == "database_query" && span.parent_span_id == ok.span_id)
        .expect("the query under the successful request");
    assert_eq!(query.kind, "SPAN_KIND_CLIENT");
    assert_eq!(attribute(query, "db.system").as_deref(), Some("postgresql"));

    let failed = one(&spans, "process_user_request", "0");
    assert_eq!(attribute(failed, "operation.status").as_deref(), Some("error"));
    assert_eq!(attribute(failed, "error.message").as_deref(), Some("user 0 not found"));
    let status = failed.status.as_ref().expect("a status");
    assert_eq!((status.code.as_str(), status.message.as_str()), ("STATUS_CODE_ERROR", "user 0 not found"));
    let exception = failed.events.iter().find(|event| event.name == "exception").expect("an exception event");
    assert_eq!(value(&exception.attributes, "exception.message").as_deref(), Some("user 0 not found"));
    let failed_query = spans
        .iter()
        .find(|span| span.name == "database_query" && span.parent_span_id == failed.span_id)
        .expect("the query under the failed request");
    assert_eq!(failed_query.status.as_ref().map(|status| status.code.as_str()), Some("STATUS_CODE_ERROR"));

    tokio::task::spawn_blocking(move || assert!(guard.shutdown(), "shut down in time")).await.expect("shutdown ran");
    collector.abort();
}
