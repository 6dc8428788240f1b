//! RED metrics from one attribute: `#[track_request]` counts each call in `http_requests_total`
//! (by method, endpoint and the status its return value gives) and times it in
//! `http_request_duration_seconds`; obs serves them on `/metrics`.
//!
//! ```text
//! cargo run --example track_request
//! ```
//!
//! It makes a few calls, prints the request series a scrape of its `/metrics` shows, and exits.
//! `OBS_HTTP_ADDR` chooses the address (default `127.0.0.1:9464`; port 0 picks a free one).

mod support;

use obs_runtime::metrics::RequestOutcome;
use obs_runtime::track_request;

#[derive(Debug)]
enum ApiError {
    NotFound,
}

/// The status `#[track_request]` records for an error: the one the client would get.
impl RequestOutcome for ApiError {
    fn http_status(&self) -> u16 {
        match self {
            ApiError::NotFound => 404,
        }
    }
}

// Method, then endpoint: the endpoint is the route template, so every id shares one series.
#[track_request("GET", "/users/{id}")]
async fn get_user(id: u32) -> Result<String, ApiError> {
    if id == 1 { Ok("ada".to_owned()) } else { Err(ApiError::NotFound) }
}

// The named form, with buckets of its own and the in-flight gauge.
#[track_request(method = "POST", endpoint = "/login", buckets = [0.001, 0.01, 0.1, 1.0], track_concurrency)]
async fn login(user: &str) -> Result<String, ApiError> {
    if user.is_empty() { Err(ApiError::NotFound) } else { Ok(format!("token-for-{user}")) }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let obs = obs_runtime::init()?;
    let _ = get_user(1).await;
    let _ = get_user(1).await;
    let _ = get_user(999).await;
    let _ = login("ada").await;

    let addr = obs.http_addr().ok_or("the metrics server is not running")?;
    let (status, scrape) = support::get(&format!("http://{addr}/metrics")).await?;
    println!("GET http://{addr}/metrics: {status}");
    for line in scrape.lines().filter(|line| line.starts_with("http_requests_total{")) {
        println!("{line}");
    }
    obs.shutdown();
    Ok(())
}
