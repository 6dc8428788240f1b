//! `#[track_request]` on a real tonic handler (a method of a `#[tonic::async_trait]` impl of the
//! standard `grpc.health.v1.Health` service, served by tonic and called by its client): each call
//! is recorded with its gRPC code as its HTTP equivalent (feature `tonic`: `RequestOutcome` for
//! `tonic::Status` and `tonic::Response`).

mod common;

use std::time::Duration;

use obs_runtime::metrics::Samples;
use obs_runtime::track_request;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

struct Checker;

#[tonic::async_trait]
impl Health for Checker {
    #[track_request("POST", "/grpc.health.v1.Health/Check")]
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        match request.into_inner().service.as_str() {
            "ok" => Ok(tonic::Response::new(HealthCheckResponse { status: ServingStatus::Serving as i32 })),
            "fail" => Err(tonic::Status::internal("the checker broke")),
            "slow" => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err(tonic::Status::deadline_exceeded("the check outlived its budget"))
            }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn track_request_on_a_tonic_handler_records_each_code() {
    let (incoming, port) = common::grpc::incoming().await;
    tokio::spawn(
        tonic::transport::Server::builder().add_service(HealthServer::new(Checker)).serve_with_incoming(incoming),
    );
    let mut client = HealthClient::new(common::grpc::channel(port, None).await);
    let before = Samples::take();
    let mut codes = Vec::new();
    for service in ["ok", "missing", "fail", "slow", "ok"] {
        let request = HealthCheckRequest { service: service.to_owned() };
        codes.push(client.check(request).await.map_or_else(|status| status.code(), |_| tonic::Code::Ok));
    }
    use tonic::Code;
    assert_eq!(codes, [Code::Ok, Code::NotFound, Code::Internal, Code::DeadlineExceeded, Code::Ok]);
    let made = Samples::take().since(&before);
    let endpoint = ("endpoint", "/grpc.health.v1.Health/Check");
    for (status, count) in [("200", 2.0), ("404", 1.0), ("500", 1.0), ("504", 1.0)] {
        assert_eq!(made.get("http_requests_total", &[endpoint, ("status", status)]), count, "{status}");
    }
    assert_eq!(made.get("http_requests_total", &[endpoint]), 5.0, "each call once");
    assert_eq!(made.get("http_request_duration_seconds_count", &[endpoint]), 5.0);
    // The time is the handler's run (the future the `async_trait` method returns), not the
    // building of that future: the slow call (504) slept 10 ms, above the 5 ms bucket (a lower
    // bound the sleep guarantees).
    let slow = [endpoint, ("method", "POST")];
    let bucket = |le: &str| made.get("http_request_duration_seconds_bucket", &[slow[0], slow[1], ("le", le)]);
    let (fast, all) = (bucket("0.005"), bucket("+Inf"));
    assert_eq!(all, 5.0, "the +Inf bucket holds every call");
    assert!(fast <= 4.0, "{fast} of 5 calls within 5 ms: the slow one's sleep was not timed");
    // (And that bucket is there by that name: the check above is not vacuous.)
    let scrape = common::scrape();
    assert!(
        scrape.lines().any(|line| line.starts_with("http_request_duration_seconds_bucket{")
            && line.contains("endpoint=\"/grpc.health.v1.Health/Check\"")
            && line.contains("le=\"0.005\"")),
        "{scrape}"
    );
}
