//! W3C Baggage through a service: the tower layer reads the `baggage` header of a request (with
//! `tracecontext,baggage` configured), the handler sees it across an `.await`, in a spawned task and
//! on another thread, and its outgoing request carries it on; the spans hold the entry named to
//! `baggage_attributes`, the log lines those named to `baggage_fields` (a secret-named one
//! redacted), and no other. One pipeline (and one propagator set) per process: this file holds one
//! test.

mod common;

use std::time::Duration;

use axum::Router;
use axum::extract::MatchedPath;
use axum::routing::get;
use http::Request;
use obs_runtime::baggage::Baggage;
use obs_runtime::trace::tower::HttpLayer;
use obs_runtime::trace::{InMemoryExporter, Propagator, Span, SpanOutput, TraceConfig, ValueRef};
use tower::ServiceExt;

fn routes(extensions: &http::Extensions) -> Option<&str> {
    extensions.get::<MatchedPath>().map(MatchedPath::as_str)
}

/// What the handler saw, and the headers of the request it would send downstream.
async fn handler() -> String {
    let direct = Baggage::current().get("tenant").map(str::to_owned);
    tracing::info!(order = 7, "handling the request");
    tokio::task::yield_now().await;
    let after_await = Baggage::current().get("tenant").map(str::to_owned);
    let spawned = tokio::spawn(obs_runtime::trace::in_current_span(async {
        Baggage::current().get("tenant").map(str::to_owned)
    }))
    .await
    .expect("the task joins");
    let thread = std::thread::spawn(Span::current().bind(|| Baggage::current().get("user").map(str::to_owned)))
        .join()
        .expect("the thread joins");
    // One more entry for the downstream call only.
    let downstream = Baggage::current().with("hop", "2").expect("a valid entry");
    let mut outgoing = Request::get("http://profiles.internal/profiles/1").body(()).expect("a request");
    let client = {
        let _baggage = downstream.attach();
        obs_runtime::trace::client_request(&mut outgoing)
    };
    client.record_response(200);
    let header = |name: &str| outgoing.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or("");
    serde_json::json!({
        "direct": direct,
        "after_await": after_await,
        "spawned": spawned,
        "thread": thread,
        "baggage_out": header("baggage"),
        "traceparent_out": header("traceparent"),
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baggage_reaches_the_handler_its_tasks_and_threads_and_goes_on_but_not_into_spans() {
    let exported = InMemoryExporter::new();
    let config = TraceConfig::new()
        .output(SpanOutput::Exporter(Box::new(exported.clone())))
        .schedule_delay(Duration::from_millis(5))
        .propagators([Propagator::TraceContext, Propagator::Baggage])
        // This entry, and only this one, is asked for in the spans.
        .baggage_attributes(["tenant"]);
    let output = common::Captured::default();
    let logging = obs_runtime::logging::LoggingConfig::new()
        .output(obs_runtime::logging::Output::Writer(Box::new(output.clone())))
        .filter("info")
        .baggage_fields(["tenant", "password"]);
    let guard = obs_runtime::Obs::builder()
        .service("baggage-service")
        .environment(obs_runtime::Environment::empty())
        .without_http_server()
        .logging(logging)
        .tracing(config)
        .init()
        .expect("installs");
    let app = Router::new().route("/baggage/{id}", get(handler)).layer(HttpLayer::new(routes));
    let request = Request::get("/baggage/1")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .header("baggage", "tenant=acme%20corp, user=alice;pii, password=hunter2")
        .body(axum::body::Body::empty())
        .expect("a request");
    let response = app.oneshot(request).await.expect("infallible");
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("the body");
    let seen: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(seen["direct"], "acme corp");
    assert_eq!(seen["after_await"], "acme corp");
    assert_eq!(seen["spawned"], "acme corp");
    assert_eq!(seen["thread"], "alice");
    // Percent-encoded again, the property kept, the new entry last.
    assert_eq!(seen["baggage_out"], "tenant=acme%20corp,user=alice;pii,password=hunter2,hop=2");
    assert!(
        seen["traceparent_out"].as_str().is_some_and(|value| value.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
    );
    // Outside the request, none.
    assert!(Baggage::current().is_empty());
    // Into the log line: the keys named (a secret-named one redacted), nothing else of it.
    assert!(guard.logs().expect("logging").flush());
    let line =
        output.lines().into_iter().find(|line| line.contains("handling the request")).expect("the handler's line");
    let line: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(line["metadata"]["tenant"], "acme corp", "{line}");
    assert_eq!(line["metadata"]["order"], 7, "{line}");
    assert!(line["metadata"].get("user").is_none(), "{line}");
    assert_eq!(line["metadata"]["password"], "[REDACTED]", "{line}");
    assert!(!output.lines().iter().any(|line| line.contains("hunter2") || line.contains("alice")));
    // Copied into the spans for the key named, and nothing else of it.
    assert!(guard.traces().expect("tracing").flush());
    let spans = exported.spans();
    let server = spans.iter().find(|span| span.name() == "GET /baggage/{id}").expect("the server span");
    let client = spans.iter().find(|span| span.name() == "GET").expect("the client span");
    // The layer records the request's metrics in its server span: that span is their exemplar
    // (in the caller's trace, with the id it was exported with).
    let openmetrics = obs_runtime::metrics::encode(obs_runtime::metrics::Format::OpenMetrics);
    let counted = openmetrics
        .lines()
        .find(|line| line.starts_with("http_requests_total{method=\"GET\",endpoint=\"/baggage/{id}\",status=\"200\"}"))
        .unwrap_or_else(|| panic!("no series in {openmetrics}"));
    let exemplar =
        format!(" 1 # {{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"{}\"}} 1 ", server.context().span_id());
    assert!(counted.contains(&exemplar), "{counted}");
    for span in [server, client] {
        let tenant = span.attributes().find(|(key, _)| *key == "tenant").map(|(_, value)| value);
        assert!(matches!(tenant, Some(ValueRef::Str("acme corp"))), "{span:#?}");
    }
    for span in &spans {
        for (key, value) in span.attributes() {
            let text = match value {
                ValueRef::Str(text) => text.to_owned(),
                _ => String::new(),
            };
            assert!(key != "user" && key != "hop" && !text.contains("alice"), "{key}={text}");
        }
    }
}
