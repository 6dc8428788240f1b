//! Issue 16's tree, end to end, against real libraries: two axum servers, each with obs's
//! `HttpLayer` around tower-http's `TraceLayer`; the first's handler calls a
//! `#[tracing::instrument]` fn, which calls a `#[trace_operation]` fn, which calls the second
//! server with `client_request`; the second's handler is `#[tracing::instrument]`ed too. An OTLP
//! receiver written with tonic and the official generated types (`fake-opentelemetry-collector`)
//! decodes ONE trace with every parent exact; and a `follows_from` as a link. One pipeline per
//! process: this file holds one test.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Path};
use axum::routing::get;
use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use obs_runtime::trace::tower::HttpLayer;
use obs_runtime::trace::{Protocol, TraceConfig};
use obs_runtime::trace_operation;
use tower_http::trace::TraceLayer;
use tracing_subscriber::layer::SubscriberExt as _;

fn axum_routes(extensions: &http::Extensions) -> Option<&str> {
    extensions.get::<MatchedPath>().map(MatchedPath::as_str)
}

/// An app as a service author writes it: obs's layer outside, tower-http's inside.
fn app(router: Router) -> Router {
    router.layer(TraceLayer::new_for_http()).layer(HttpLayer::new(axum_routes))
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    format!("http://{address}")
}

/// `GET url` over one HTTP/1.1 connection; the status and the body.
async fn get_text(request: http::Request<Empty<Bytes>>) -> (u16, String) {
    let authority = request.uri().authority().expect("an authority").to_string();
    let stream = tokio::net::TcpStream::connect(authority).await.expect("connects");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let response = sender.send_request(request).await.expect("a response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("the body").to_bytes();
    (status, String::from_utf8(body.to_vec()).expect("UTF-8"))
}

#[tracing::instrument(skip(downstream), fields(api_key = "k-123"))]
async fn load_user(id: u64, downstream: String) -> String {
    fetch_profile(id, downstream).await
}

#[trace_operation("fetch_profile", args(id))]
async fn fetch_profile(id: u64, downstream: String) -> String {
    let uri = format!("{downstream}/profiles/{id}");
    let mut request = http::Request::get(uri).body(Empty::<Bytes>::new()).expect("a request");
    let client = obs_runtime::trace::client_request(&mut request);
    let (status, body) = get_text(request).await;
    client.record_response(status);
    body
}

async fn user_handler(Path(id): Path<u64>, downstream: axum::extract::State<String>) -> String {
    load_user(id, downstream.0).await
}

#[tracing::instrument]
async fn profile_handler(Path(id): Path<u64>) -> String {
    format!("profile {id}")
}

/// An attribute's value as text (the receiver keeps each `AnyValue` in its `Debug` form).
fn attribute(span: &ExportedSpan, key: &str) -> Option<String> {
    let attributes: &BTreeMap<String, String> = &span.attributes;
    let (_, rest) = attributes.get(key)?.split_once("Value(")?;
    let value = rest.split(')').next()?;
    Some(value.trim_matches('"').to_owned())
}

fn named<'a>(spans: &'a [ExportedSpan], name: &str) -> Vec<&'a ExportedSpan> {
    spans.iter().filter(|span| span.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_holds_obs_tower_http_instrument_and_client_spans_of_two_servers() {
    let mut collector = FakeCollectorServer::start().await.expect("the receiver starts");
    let config = TraceConfig::new()
        .otlp_endpoint(collector.endpoint())
        .protocol(Protocol::Grpc)
        .schedule_delay(Duration::from_millis(20));
    let guard = common::spans::traces_only("bridge-otlp-test", config);
    // A subscriber of the user's own, with the bridge added: every span (tower-http's are DEBUG).
    let subscriber = tracing_subscriber::registry().with(obs_runtime::trace::layer());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let profiles = serve(app(Router::new().route("/profiles/{id}", get(profile_handler)))).await;
    let users = serve(app(Router::new().route("/users/{id}", get(user_handler)).with_state(profiles))).await;
    let request = http::Request::get(format!("{users}/users/7")).body(Empty::<Bytes>::new()).expect("a request");
    assert_eq!(get_text(request).await, (200, "profile 7".to_owned()));
    // A span that follows from another, in a trace of its own: a link on the wire.
    let cause = tracing::info_span!(parent: None, "the_cause");
    let effect = tracing::info_span!(parent: None, "the_effect");
    effect.follows_from(&cause);
    drop((effect, cause));

    let guard = tokio::task::spawn_blocking(move || {
        assert!(guard.traces().expect("tracing").flush(), "flushed in time");
        guard
    })
    .await
    .expect("the flush ran");
    let all = collector.exported_spans(10, Duration::from_secs(20)).await;
    assert_eq!(all.len(), 10, "{all:#?}");
    let cause = named(&all, "the_cause")[0];
    let effect = named(&all, "the_effect")[0];
    assert_eq!(effect.parent_span_id, "");
    assert_eq!(effect.links.len(), 1, "{effect:#?}");
    assert_eq!((&effect.links[0].trace_id, &effect.links[0].span_id), (&cause.trace_id, &cause.span_id));
    let spans: Vec<ExportedSpan> =
        all.iter().filter(|span| span.name != "the_cause" && span.name != "the_effect").cloned().collect();
    assert_eq!(spans.len(), 8, "{spans:#?}");
    let trace_id = &spans[0].trace_id;
    assert!(spans.iter().all(|span| span.trace_id == *trace_id), "one trace: {spans:#?}");

    // Two obs server spans (HttpLayer) and two tower-http spans ("request"), one of each per server.
    let servers = named(&spans, "GET /users/{id}");
    let profile_servers = named(&spans, "GET /profiles/{id}");
    let tower_spans = named(&spans, "request");
    assert_eq!((servers.len(), profile_servers.len(), tower_spans.len()), (1, 1, 2), "{spans:#?}");
    let (server, profile_server) = (servers[0], profile_servers[0]);
    assert_eq!(server.parent_span_id, "", "the first server's span is the root");
    assert_eq!(server.kind, "SPAN_KIND_SERVER");
    let tower_of = |parent: &ExportedSpan| {
        *tower_spans
            .iter()
            .find(|span| span.parent_span_id == parent.span_id)
            .expect("a tower-http span under the server span")
    };
    let users_tower = tower_of(server);
    // tower-http's own field, as the request line had it (the test's client sends the absolute form).
    assert!(attribute(users_tower, "uri").is_some_and(|uri| uri.ends_with("/users/7")), "{users_tower:#?}");
    let instrumented = named(&spans, "load_user")[0];
    assert_eq!(instrumented.parent_span_id, users_tower.span_id);
    assert_eq!(attribute(instrumented, "id").as_deref(), Some("7"));
    assert_eq!(attribute(instrumented, "api_key").as_deref(), Some("[REDACTED]"));
    // The call site, typed as the semantic conventions have it.
    assert_eq!(attribute(instrumented, "code.file.path").as_deref(), Some(file!()));
    let line = instrumented.attributes.get("code.line.number").expect("the line of the call site");
    assert!(line.contains("IntValue("), "{line}");
    let operation = named(&spans, "fetch_profile")[0];
    assert_eq!(operation.parent_span_id, instrumented.span_id);
    let client = named(&spans, "GET")[0];
    assert_eq!(client.parent_span_id, operation.span_id);
    assert_eq!(client.kind, "SPAN_KIND_CLIENT");
    // The second server joins through the client's traceparent.
    assert_eq!(profile_server.parent_span_id, client.span_id);
    let profiles_tower = tower_of(profile_server);
    let handler = named(&spans, "profile_handler")[0];
    assert_eq!(handler.parent_span_id, profiles_tower.span_id);

    tokio::task::spawn_blocking(move || assert!(guard.shutdown(), "shut down in time")).await.expect("shutdown ran");
    collector.abort();
}
