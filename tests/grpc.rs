//! gRPC read by its own status codes, with a real tonic server and client: the standard
//! `grpc.health.v1.Health` service (tonic-health's generated types, a checker of our own that
//! answers OK, NOT_FOUND, INTERNAL, or DEADLINE_EXCEEDED when its work outlives its budget) behind
//! obs's server layer, called through a tonic channel under obs's client layer, and a call of a
//! method the server does not have. Each call's span (both sides) and its series in the RPC
//! families hold its code; nothing lands in the HTTP families; the error rates count the server
//! errors by the conventions.

mod common;

use std::time::{Duration, SystemTime};

use common::spans::{attribute, install, of_trace};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use obs_runtime::alerts::{AlertManager, AlertRule, AlertStatus, Condition};
use obs_runtime::client::ClientLayer;
use obs_runtime::metrics::Samples;
use obs_runtime::rpc::GrpcLayer;
use obs_runtime::trace::tower::HttpLayer;
use obs_runtime::trace::{Span, SpanData, SpanKind, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower::Layer;

/// Answers by the service name asked about.
struct Checker;

#[tonic::async_trait]
impl Health for Checker {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        match request.into_inner().service.as_str() {
            "ok" => Ok(tonic::Response::new(HealthCheckResponse { status: ServingStatus::Serving as i32 })),
            "fail" => Err(tonic::Status::internal("the checker broke")),
            "slow" => {
                // Work that never finishes, within a budget of 10 ms.
                let work = std::future::pending::<()>();
                match tokio::time::timeout(Duration::from_millis(10), work).await {
                    Ok(()) => unreachable!("pending never completes"),
                    Err(_) => Err(tonic::Status::deadline_exceeded("the check outlived its budget")),
                }
            }
            // Work that never finishes: the client's deadline ends the call.
            "forever" => std::future::pending().await,
            _ => Err(tonic::Status::not_found("no such service")),
        }
    }

    type WatchStream = tonic::codegen::tokio_stream::Empty<Result<HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("not here"))
    }
}

const SERVER: &str = "rpc_server_duration_seconds_count";
const CLIENT: &str = "rpc_client_duration_seconds_count";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_are_read_by_their_status_codes() {
    install();
    let (incoming, port) = common::grpc::incoming().await;
    let server = tonic::transport::Server::builder()
        .layer(GrpcLayer::new().services([<HealthServer<Checker> as tonic::server::NamedService>::NAME]))
        .add_service(HealthServer::new(Checker))
        .serve_with_incoming(incoming);
    tokio::spawn(server);
    let channel = common::grpc::channel(port, None).await;
    let origin = format!("http://127.0.0.1:{port}").parse().expect("a URI");
    let mut client = HealthClient::new(ClientLayer::new().origin(origin).layer(channel));

    let alerts = AlertManager::builder()
        .rule(rule("all", Condition::error_rate_percent()))
        .rule(rule("rpc", Condition::rpc_error_rate_percent()))
        .rule(rule("http", Condition::http_error_rate_percent()))
        .rule(rule("health_only", Condition::rpc_error_rate_percent().with_label("rpc_method", "Check")))
        .build()
        .expect("valid rules");
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    assert!(alerts.evaluate_at(t0).is_empty());

    let before = Samples::take();
    let parent = Span::new("grpc test");
    let trace_id = parent.context().expect("sampled").trace_id();
    let mut codes = Vec::new();
    for service in ["ok", "missing", "fail", "slow"] {
        let request = HealthCheckRequest { service: service.to_owned() };
        let code = match parent.scope_ref(client.check(request)).await {
            Ok(response) => {
                assert_eq!(response.into_inner().status, ServingStatus::Serving as i32);
                tonic::Code::Ok
            }
            Err(status) => status.code(),
        };
        codes.push(code);
    }
    use tonic::Code;
    assert_eq!(codes, [Code::Ok, Code::NotFound, Code::Internal, Code::DeadlineExceeded]);

    // A method the server does not have, by hand over HTTP/2: tonic answers UNIMPLEMENTED in the
    // headers (trailers-only).
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let request = http::Request::post(format!("http://127.0.0.1:{port}/shop.Cart/Empty"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .expect("a request");
    let response = h2.request(request).await.expect("a response");
    assert_eq!(response.headers()["grpc-status"], "12");
    response.into_body().collect().await.expect("the body");

    // A client's deadline of 50 ms on work that never ends, sent by hand (a tonic client would
    // give up at the same moment, racing the server's timer): tonic's server drops the call at
    // the deadline and answers CANCELLED; the server layer records DEADLINE_EXCEEDED.
    let message = [&[0x0a, 7][..], b"forever"].concat();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    frame.extend_from_slice(&message);
    let request = http::Request::post(format!("http://127.0.0.1:{port}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "50m")
        .header("traceparent", parent.context().expect("sampled").to_traceparent())
        .body(Full::new(Bytes::from(frame)))
        .expect("a request");
    let response = h2.request(request).await.expect("a response");
    let (parts, body) = response.into_parts();
    let trailers = body.collect().await.expect("the body").trailers().cloned();
    let status = parts.headers.get("grpc-status").or(trailers.as_ref().and_then(|t| t.get("grpc-status")));
    assert_eq!(status.map(|value| value.to_str().expect("ascii")), Some("1"), "tonic answers CANCELLED");

    // The client's own deadline (tonic's, in its channel), against a server without obs: the
    // client layer records DEADLINE_EXCEEDED.
    let (plain, plain_port) = common::grpc::incoming().await;
    tokio::spawn(
        tonic::transport::Server::builder().add_service(HealthServer::new(Checker)).serve_with_incoming(plain),
    );
    // (The channel's own timeout, not the request's `grpc-timeout`, which the server would
    // enforce too, racing the client's timer.)
    let channel = common::grpc::channel(plain_port, Some(Duration::from_millis(50))).await;
    let mut deadline_client = HealthClient::new(ClientLayer::new().layer(channel));
    let request = tonic::Request::new(HealthCheckRequest { service: "forever".to_owned() });
    let status = parent.scope_ref(deadline_client.check(request)).await.expect_err("the deadline passes");
    assert_eq!(status.code(), Code::Cancelled, "tonic's client says CANCELLED: {status:?}");
    drop(parent);

    // The metrics: one series per code, on each side; the unimplemented path as `_OTHER`.
    let made = Samples::take().since(&before);
    let health = [("rpc_system", "grpc"), ("rpc_service", "grpc.health.v1.Health"), ("rpc_method", "Check")];
    // Server: the four calls, and the one past its deadline (DEADLINE_EXCEEDED too). Client: the
    // four, and the one its channel's deadline ended (DEADLINE_EXCEEDED, whatever tonic says).
    for family in [SERVER, CLIENT] {
        for (code, count) in [("0", 1.0), ("5", 1.0), ("13", 1.0), ("4", 2.0)] {
            let labels: Vec<(&str, &str)> = health.iter().copied().chain([("rpc_grpc_status_code", code)]).collect();
            assert_eq!(made.get(family, &labels), count, "{family} {code}");
        }
        assert_eq!(made.get(family, &health), 5.0, "{family}: each call once");
    }
    let other = [("rpc_service", "_OTHER"), ("rpc_method", "_OTHER"), ("rpc_grpc_status_code", "12")];
    assert_eq!(made.get(SERVER, &other), 1.0);
    assert_eq!(made.get(SERVER, &[]), 6.0);
    assert_eq!(made.get("http_requests_total", &[]), 0.0, "gRPC is never counted as HTTP");
    assert_eq!(made.get("http_client_request_duration_seconds_count", &[]), 0.0);
    let (passed, output) = common::promtool_check_metrics(&common::scrape());
    assert!(passed, "{output}");

    // The spans: the server's under the client's, each side with the code and its status.
    let spans = of_trace(trace_id);
    let side = |kind: SpanKind| -> Vec<&SpanData> {
        spans.iter().filter(|span| span.kind() == kind && span.name() == "grpc.health.v1.Health/Check").collect()
    };
    let (clients, servers) = (side(SpanKind::Client), side(SpanKind::Server));
    // The four calls from client to server; the raw call past its deadline (a server span alone)
    // and the call to the server without obs (a client span alone).
    assert_eq!((clients.len(), servers.len()), (5, 5), "{spans:#?}");
    let deadline = |span: &&SpanData| attribute(span, "rpc.grpc.status_code").as_deref() == Some("4");
    let answered: Vec<&SpanData> = clients
        .iter()
        .copied()
        .filter(|client| servers.iter().any(|server| server.parent_span_id() == Some(client.context().span_id())))
        .collect();
    assert_eq!(answered.len(), 4);
    let child_of = |server: &SpanData, client: &SpanData| server.parent_span_id() == Some(client.context().span_id());
    let lone_clients = clients.iter().filter(|client| !servers.iter().any(|server| child_of(server, client)));
    let lone_servers = servers.iter().filter(|server| !clients.iter().any(|client| child_of(server, client)));
    let alone: Vec<&SpanData> = lone_clients.chain(lone_servers).copied().collect();
    assert_eq!(alone.len(), 2);
    assert!(alone.iter().all(deadline), "{alone:#?}");
    assert_eq!(
        attribute(alone.iter().find(|span| span.kind() == SpanKind::Client).expect("the client's"), "error.type")
            .as_deref(),
        Some("timeout")
    );
    for client in &answered {
        let server = servers
            .iter()
            .find(|server| server.parent_span_id() == Some(client.context().span_id()))
            .expect("the server span is the client span's child");
        let code = attribute(client, "rpc.grpc.status_code").expect("a code");
        assert_eq!(attribute(server, "rpc.grpc.status_code"), Some(code.clone()));
        // The client's server, from the origin the layer was given (tonic's requests carry only
        // their path).
        assert_eq!(attribute(client, "server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(attribute(client, "server.port"), Some(port.to_string()));
        for span in [client, server] {
            assert_eq!(attribute(span, "rpc.system").as_deref(), Some("grpc"));
            assert_eq!(attribute(span, "rpc.service").as_deref(), Some("grpc.health.v1.Health"));
            assert_eq!(attribute(span, "rpc.method").as_deref(), Some("Check"));
        }
        // A server span is an error for the server-error codes; a client span for any but OK.
        let (server_error, client_error) = match code.as_str() {
            "0" => (None, None),
            "5" => (None, Some("NOT_FOUND")),
            "13" => (Some("INTERNAL"), Some("INTERNAL")),
            "4" => (Some("DEADLINE_EXCEEDED"), Some("DEADLINE_EXCEEDED")),
            other => panic!("code {other}"),
        };
        let error = |span: &SpanData| match span.status() {
            Status::Error(description) => Some(description.to_string()),
            _ => None,
        };
        assert_eq!(error(server).as_deref(), server_error, "{server:#?}");
        assert_eq!(error(client).as_deref(), client_error, "{client:#?}");
    }

    // The error rates: 4 server errors (INTERNAL, DEADLINE_EXCEEDED twice, UNIMPLEMENTED) of 6
    // calls served; the HTTP one has no requests (no value); narrowed to `Check`, 3 of 5.
    let fired = alerts.evaluate_at(t0 + Duration::from_secs(30));
    let mut messages: Vec<String> = fired.iter().map(|alert| alert.message.clone()).collect();
    messages.sort();
    assert_eq!(messages, ["all: 66.7%", "health_only: 60.0%", "rpc: 66.7%"]);
    assert!(fired.iter().all(|alert| alert.status == AlertStatus::Firing));

    // The HTTP layer reads HTTP only: a REST route called with a gRPC content type (anyone can
    // send one) is an HTTP request by its route template, nothing in the RPC families.
    let before = Samples::take();
    let app = axum::Router::new()
        .route("/grpc-test/users/{id}", axum::routing::get(|| async { "ada" }))
        .layer(HttpLayer::new(|extensions| extensions.get::<axum::extract::MatchedPath>().map(|path| path.as_str())));
    let request = http::Request::get("/grpc-test/users/7")
        .header("content-type", "application/grpc")
        .body(axum::body::Body::empty())
        .expect("a request");
    let response = tower::ServiceExt::oneshot(app, request).await.expect("infallible");
    assert_eq!(response.status(), 200);
    let made = Samples::take().since(&before);
    assert_eq!(made.get("http_requests_total", &[("endpoint", "/grpc-test/users/{id}"), ("status", "200")]), 1.0);
    assert_eq!(made.get(SERVER, &[]), 0.0);
}

fn rule(name: &str, condition: obs_runtime::alerts::Query) -> AlertRule {
    AlertRule::builder(name)
        .condition(condition.window(Duration::from_secs(60)).above(10.0))
        .message(format!("{name}: {{error_rate_percent:.1}}%"))
        .cooldown(Duration::ZERO)
        .build()
        .expect("a valid rule")
}
