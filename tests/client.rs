//! The client middlewares against a real server started here (axum behind obs's server layer):
//! hyper-util's client under [`ClientLayer`] and reqwest under [`ObsMiddleware`]. The server span
//! of each call is the client span's child; each call is counted once in
//! `http_client_request_duration_seconds` with its status and `error_type`; a refused connection
//! and a timeout are error spans and counted failures; the exposition passes `promtool`.

mod common;

use std::time::Duration;

use axum::Router;
use axum::extract::MatchedPath;
use axum::routing::get;
use common::receiver::Hanging;
use common::spans::{attribute, install, of_trace};
use http::StatusCode;
use http_body_util::Empty;
use hyper::body::Bytes;
use obs_runtime::client::ClientLayer;
use obs_runtime::client::reqwest::ObsMiddleware;
use obs_runtime::metrics::Samples;
use obs_runtime::trace::tower::HttpLayer;
use obs_runtime::trace::{Span, SpanData, SpanKind, Status};
use tower::{Layer, ServiceExt};

const FAMILY: &str = "http_client_request_duration_seconds_count";

/// Serves `/client/ok` (200), `/client/missing` (404) and `/client/fail` (500) on a free port
/// of 127.0.0.1, each request in a server span; returns the port.
async fn serve() -> u16 {
    let app = Router::new()
        .route("/client/ok", get(|| async { "ok" }))
        .route("/client/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/client/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(HttpLayer::new(|extensions| extensions.get::<MatchedPath>().map(MatchedPath::as_str)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    port
}

/// The calls of this test's trace that got a response: each client span with the server span
/// under it.
fn client_and_server_spans(spans: &[SpanData]) -> Vec<(&SpanData, &SpanData)> {
    let clients: Vec<&SpanData> = spans
        .iter()
        .filter(|span| span.kind() == SpanKind::Client && attribute(span, "http.response.status_code").is_some())
        .collect();
    clients
        .into_iter()
        .map(|client| {
            let children: Vec<&SpanData> = spans
                .iter()
                .filter(|span| {
                    span.kind() == SpanKind::Server && span.parent_span_id() == Some(client.context().span_id())
                })
                .collect();
            assert_eq!(children.len(), 1, "one server span under {client:#?} in {spans:#?}");
            (client, children[0])
        })
        .collect()
}

/// The port of `http://127.0.0.1:{port}/..`.
fn port_of(url: &str) -> String {
    url.parse::<http::Uri>().expect("a URL").port_u16().expect("a port").to_string()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("its address").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_util_under_the_client_layer() {
    install();
    let port = serve().await;
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let client = ClientLayer::new().layer(client);
    let before = Samples::take();
    let parent = Span::new("tower client test");
    let trace_id = parent.context().expect("sampled").trace_id();
    let mut statuses = Vec::new();
    for path in ["/client/ok", "/client/ok", "/client/missing", "/client/fail"] {
        let request =
            http::Request::get(format!("http://127.0.0.1:{port}{path}")).body(Empty::new()).expect("a request");
        let response = parent.scope_ref(client.clone().oneshot(request)).await.expect("a response");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 404, 500]);
    // A refused connection: an error, with its type.
    let refused = closed_port();
    let request =
        http::Request::get(format!("http://127.0.0.1:{refused}/client/ok")).body(Empty::new()).expect("a request");
    let error = parent.scope_ref(client.clone().oneshot(request)).await.expect_err("refused");
    // A timeout of tower's, inside the layer.
    let hanging = Hanging::start();
    let timed = ClientLayer::new().layer(tower::timeout::Timeout::new(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Empty<Bytes>>(),
        Duration::from_millis(100),
    ));
    let request = http::Request::get(hanging.url()).body(Empty::new()).expect("a request");
    parent.scope_ref(timed.oneshot(request)).await.expect_err("times out");
    drop(parent);

    let made = Samples::take().since(&before);
    let port_label = port.to_string();
    let of = |status: &str, error_type: &str| {
        made.get(
            FAMILY,
            &[
                ("http_request_method", "GET"),
                ("server_address", "127.0.0.1"),
                ("server_port", &port_label),
                ("http_response_status_code", status),
                ("error_type", error_type),
            ],
        )
    };
    assert_eq!(of("200", ""), 2.0);
    assert_eq!(of("404", "404"), 1.0);
    assert_eq!(of("500", "500"), 1.0);
    let refused_label = refused.to_string();
    assert_eq!(
        made.get(
            FAMILY,
            &[("server_port", &refused_label), ("http_response_status_code", ""), ("error_type", "connection_refused")]
        ),
        1.0,
        "{error}"
    );
    let hanging_port = port_of(&hanging.url());
    assert_eq!(made.get(FAMILY, &[("server_port", &hanging_port), ("error_type", "timeout")]), 1.0);
    // Each call counted once (the tests run side by side: each has ports of its own).
    let each =
        [port_label.as_str(), &refused_label, &hanging_port].map(|port| made.get(FAMILY, &[("server_port", port)]));
    assert_eq!(each, [4.0, 1.0, 1.0]);

    let spans = of_trace(trace_id);
    let calls = client_and_server_spans(&spans);
    assert_eq!(calls.len(), 4, "the four calls that reached the server");
    for (client, server) in &calls {
        assert_eq!(attribute(client, "server.port"), Some(port_label.clone()));
        assert_eq!(attribute(client, "http.response.status_code"), attribute(server, "http.response.status_code"));
    }
    let mut types: Vec<String> = spans.iter().filter_map(|span| attribute(span, "error.type")).collect();
    types.sort();
    assert_eq!(types, ["404", "500", "connection_refused", "timeout"]);
    let unanswered: Vec<&SpanData> = spans
        .iter()
        .filter(|span| span.kind() == SpanKind::Client && attribute(span, "http.response.status_code").is_none())
        .collect();
    assert_eq!(unanswered.len(), 2);
    assert!(unanswered.iter().all(|span| matches!(span.status(), Status::Error(_))));
    let (ok, missing) = (&calls[0].0, &calls[2].0);
    assert_eq!(ok.status(), &Status::Unset);
    assert!(matches!(missing.status(), Status::Error(_)), "a client's 404 is an error");

    let (passed, output) = common::promtool_check_metrics(&common::scrape());
    assert!(passed, "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_under_the_middleware() {
    install();
    let port = serve().await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::builder().build().expect("a client"))
        .with(ObsMiddleware::new())
        .build();
    let before = Samples::take();
    let parent = Span::new("reqwest client test");
    let trace_id = parent.context().expect("sampled").trace_id();
    let mut statuses = Vec::new();
    for path in ["/client/ok", "/client/missing", "/client/ok?token=secret-value"] {
        let response =
            parent.scope_ref(client.get(format!("http://127.0.0.1:{port}{path}")).send()).await.expect("a response");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 404, 200]);
    let refused = closed_port();
    // Secrets in the URL of calls that fail: reqwest's error says the whole URL.
    let refused_url = format!("http://user:pa55word@127.0.0.1:{refused}/client/ok?api_key=s3cr3t-refused");
    parent.scope_ref(client.get(refused_url).send()).await.expect_err("refused");
    let hanging = Hanging::start();
    // The timeout on this request alone: the others must not time out on a loaded machine.
    let hanging_url = format!("{}?token=s3cr3t-hanging", hanging.url());
    let timed = client.get(hanging_url).timeout(Duration::from_millis(200)).send();
    parent.scope_ref(timed).await.expect_err("times out");
    drop(parent);

    let made = Samples::take().since(&before);
    let port_label = port.to_string();
    let at = |status: &str, error_type: &str| {
        made.get(
            FAMILY,
            &[("server_port", &port_label), ("http_response_status_code", status), ("error_type", error_type)],
        )
    };
    assert_eq!(at("200", ""), 2.0);
    assert_eq!(at("404", "404"), 1.0);
    assert_eq!(made.get(FAMILY, &[("server_port", &refused.to_string()), ("error_type", "connection_refused")]), 1.0);
    let hanging_port = port_of(&hanging.url());
    assert_eq!(made.get(FAMILY, &[("server_port", &hanging_port), ("error_type", "timeout")]), 1.0);
    let each = [port_label.as_str(), &refused.to_string(), &hanging_port]
        .map(|port| made.get(FAMILY, &[("server_port", port)]));
    assert_eq!(each, [3.0, 1.0, 1.0], "each call counted once");

    let spans = of_trace(trace_id);
    let calls = client_and_server_spans(&spans);
    assert_eq!(calls.len(), 3);
    let urls: Vec<Option<String>> = calls.iter().map(|(client, _)| attribute(client, "url.full")).collect();
    assert!(
        urls.contains(&Some(format!("http://127.0.0.1:{port}/client/ok?token=REDACTED"))),
        "a secret query value is redacted: {urls:?}"
    );
    let mut types: Vec<String> = spans.iter().filter_map(|span| attribute(span, "error.type")).collect();
    types.sort();
    assert_eq!(types, ["404", "connection_refused", "timeout"]);
    // No secret in any span, whatever field; the failed calls say the URL redacted.
    let all = format!("{spans:?}");
    for secret in ["s3cr3t-refused", "s3cr3t-hanging", "pa55word"] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
    let refused_span = spans
        .iter()
        .find(|span| attribute(span, "error.type").as_deref() == Some("connection_refused"))
        .expect("the refused call's span");
    let Status::Error(message) = refused_span.status() else { panic!("{refused_span:?}") };
    assert!(message.contains(&format!("for url (http://127.0.0.1:{refused}/client/ok?api_key=REDACTED)")), "{message}");
}
