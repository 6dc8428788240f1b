//! OTLP over gRPC to a real decoder (the official `opentelemetry-proto` types behind grpcio), from
//! inside a tokio current-thread runtime, whose shutdown must not hang (a known deadlock of
//! other crates' exporters). One pipeline per process: this file holds one test.

mod common;

use std::time::Duration;

use common::otlp::Sink;
use obs_runtime::trace::{Protocol, Span, TraceConfig};
use obs_runtime::trace_operation;

#[trace_operation("grpc_operation", fields(count = 3, ratio = 0.5, flag = true))]
async fn operation() -> Result<(), String> {
    tokio::task::yield_now().await;
    let _child = Span::new("grpc_child");
    Ok(())
}

#[test]
fn spans_go_out_over_grpc_and_shutdown_inside_a_current_thread_runtime_returns() {
    // The first export is refused (UNAVAILABLE, retryable): it is retried.
    let sink = Sink::start(1);
    let config = TraceConfig::new()
        .otlp_endpoint(format!("http://127.0.0.1:{}", sink.grpc_port))
        .protocol(Protocol::Grpc)
        .schedule_delay(Duration::from_millis(20));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let trace_id = runtime.block_on(async {
        let guard = common::spans::traces_only("grpc-service", config);
        let root = Span::new("grpc_root");
        let trace_id = root.context().expect("a context").trace_id();
        root.scope_ref(operation()).await.expect("ok");
        drop(root);
        // Inside the runtime's only thread: must return, having exported everything.
        assert!(guard.shutdown(), "shut down in time");
        trace_id
    });
    let spans = sink.wait_for(|spans| spans.len() >= 3);
    let trace_id = trace_id.to_string();
    assert!(
        spans.iter().all(|span| span["trace_id"] == trace_id.as_str() && span["transport"] == "grpc"),
        "{spans:#?}"
    );
    let operation = spans.iter().find(|span| span["name"] == "grpc_operation").expect("the operation");
    assert_eq!(operation["attributes"]["count"], 3);
    assert_eq!(operation["attributes"]["ratio"], 0.5);
    assert_eq!(operation["attributes"]["flag"], true);
    assert_eq!(operation["resource"]["service.name"], "grpc-service");
    let child = spans.iter().find(|span| span["name"] == "grpc_child").expect("the child");
    assert_eq!(child["parent_span_id"], operation["span_id"]);
}
