//! Health checks: a built-in check (a TCP connect) and one of your own (`#[health_check]`), run
//! concurrently, each under its own timeout, and served on `/health`, `/health/ready` and
//! `/health/live`.
//!
//! ```text
//! cargo run --example health_checks
//! ```
//!
//! It asks its own `/health` and `/health/ready` once, prints the answers, and exits.
//! `OBS_HTTP_ADDR` chooses the address (default `127.0.0.1:9464`; port 0 picks a free one).

mod support;

use std::time::Duration;

use obs_runtime::health::{CheckOutcome, HealthChecker, checks};
use obs_runtime::health_check;

/// Stands in for a client of a search cluster.
#[derive(Clone)]
struct SearchClient;

impl SearchClient {
    async fn healthy_shards(&self) -> std::io::Result<(u32, u32)> {
        Ok((2, 3))
    }
}

// Not critical: a search outage degrades the service, it does not take it out of rotation.
#[health_check(name = "search", timeout = "2s", critical = false)]
async fn search(client: SearchClient) -> std::io::Result<CheckOutcome> {
    let (healthy, total) = client.healthy_shards().await?; // an `Err` is unhealthy, with its message
    let outcome = if healthy == total { CheckOutcome::healthy() } else { CheckOutcome::degraded("shards down") };
    Ok(outcome.with_detail("healthy_shards", healthy).with_detail("shards", total))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The "database" here is a port this example opens; a real one would be `checks::postgres`.
    let database = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let health = HealthChecker::builder()
        .check(checks::tcp("database", database.local_addr()?.to_string()).timeout(Duration::from_secs(1)))
        .check(search(SearchClient));
    let obs = obs_runtime::Obs::builder().health(health).init()?;

    let addr = obs.http_addr().ok_or("the embedded server is not running")?;
    for path in ["/health", "/health/ready"] {
        let (status, body) = support::get(&format!("http://{addr}{path}")).await?;
        println!("GET {path}: {status}\n{body}");
    }
    obs.shutdown();
    Ok(())
}
