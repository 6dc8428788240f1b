//! The built-in checks against real dependencies: Redis and PostgreSQL started on 127.0.0.1 by
//! the test (scripts/install-backends.sh installs them), HTTP and TCP against real sockets.

mod common;

use std::time::Duration;

use common::backends::{Postgres, Redis, free_port};
use common::get;
use obs_runtime::Obs;
use obs_runtime::health::{HealthChecker, HealthReport, HealthStatus, checks};

fn check<'a>(report: &'a HealthReport, name: &str) -> &'a obs_runtime::health::CheckResult {
    report.checks.iter().find(|check| check.name == name).expect("the check ran")
}

/// Adds the check `cache` on `redis` (2 s timeout) and serves `health` on the embedded server.
fn serve_with_redis(health: HealthChecker, redis: &Redis) -> (obs_runtime::ObsGuard, std::net::SocketAddr) {
    health
        .register(checks::redis("cache", &redis.url()).expect("a valid URL").timeout(Duration::from_secs(2)))
        .expect("registers");
    let obs = Obs::builder().http_addr("127.0.0.1:0").health(health).init().expect("starts");
    let addr = obs.http_addr().expect("running");
    (obs, addr)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).expect("JSON")
}

#[test]
#[ignore = "needs redis-server and postgresql: scripts/install-backends.sh"]
fn redis_and_postgres_healthy_then_redis_down_then_back() {
    let mut redis = Redis::start();
    let postgres = Postgres::start();
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
    health
        .register(checks::postgres("database", &postgres.url()).expect("a valid URL").timeout(Duration::from_secs(5)))
        .expect("registers");
    let (_obs, addr) = serve_with_redis(health, &redis);

    let up = get(addr, "/health").expect("health");
    assert_eq!(up.status, 200, "{}", up.body);
    let body = json(&up.body);
    assert_eq!(body["status"], "healthy", "{body}");
    let database = &body["checks"]["database"];
    assert!(database["details"]["active_connections"].as_u64().expect("a count") >= 1, "{database}");
    assert!(database["details"]["max_connections"].as_u64().expect("a count") > 0, "{database}");
    assert!(database["details"]["server_version"].is_string(), "{database}");
    let cache = &body["checks"]["cache"];
    assert!(cache["details"]["connected_clients"].as_u64().expect("a count") >= 1, "{cache}");
    assert!(cache["details"]["memory_usage"].is_string(), "{cache}");

    // Redis goes away (connection refused at once): unhealthy (503), not a timeout.
    redis.stop();
    let down = get(addr, "/health").expect("health");
    assert_eq!(down.status, 503, "{}", down.body);
    let body = json(&down.body);
    assert_eq!(body["checks"]["cache"]["status"], "unhealthy");
    assert_eq!(body["checks"]["cache"]["timed_out"], false, "{body}");
    let message = body["checks"]["cache"]["message"].as_str().expect("a message");
    assert!(message.starts_with(&format!("redis at 127.0.0.1:{}", redis.port())), "{message}");
    assert_eq!(body["checks"]["database"]["status"], "healthy");

    // And back.
    redis.restart();
    let again = get(addr, "/health").expect("health");
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(json(&again.body)["checks"]["cache"]["status"], "healthy");
}

#[test]
#[ignore = "needs redis-server: scripts/install-backends.sh"]
fn a_hung_redis_times_out_and_the_server_keeps_answering() {
    // Catches: a Redis check with no bound on a server that accepts and never answers (SIGSTOP:
    // the kernel still completes the connection), which would hold /health (and whoever waits on
    // it) for ever, or report it as some other failure than the check's timeout.
    let redis = Redis::start();
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
    let (_obs, addr) = serve_with_redis(health, &redis);
    let up = get(addr, "/health").expect("health");
    assert_eq!(up.status, 200, "{}", up.body);
    assert_eq!(json(&up.body)["checks"]["cache"]["timed_out"], false);

    redis.pause();
    // PING goes unanswered: the check's own timeout ends it, and /health answers.
    let hung = get(addr, "/health").expect("/health answers while Redis hangs");
    assert_eq!(hung.status, 503, "{}", hung.body);
    let body = json(&hung.body);
    let cache = &body["checks"]["cache"];
    assert_eq!(cache["status"], "unhealthy", "{body}");
    assert_eq!(cache["timed_out"], true, "{body}");
    assert_eq!(cache["message"], "timed out after 2s", "{body}");
    // Liveness never waits on a check.
    assert_eq!(get(addr, "/health/live").expect("live").status, 200);
    let scrape = get(addr, "/metrics").expect("scrape").body;
    assert_eq!(common::sample(&scrape, "health_check_status", &[("check", "cache")]), Some(0.0), "{scrape}");

    // SIGCONT: the same server answers again.
    redis.resume();
    let again = get(addr, "/health").expect("health");
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(json(&again.body)["checks"]["cache"]["timed_out"], false);
    assert_eq!(redis.ping().expect("PING after SIGCONT"), "+PONG");
}

#[tokio::test]
#[ignore = "needs postgresql: scripts/install-backends.sh"]
async fn postgres_down_is_unhealthy() {
    let mut postgres = Postgres::start();
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
    health.register(checks::postgres("database", &postgres.url()).expect("valid")).expect("registers");
    assert_eq!(health.report().await.status, HealthStatus::Healthy);
    postgres.stop();
    let report = health.report().await;
    assert_eq!(report.status, HealthStatus::Unhealthy);
    let message = check(&report, "database").message.clone().unwrap_or_default();
    assert!(message.starts_with("postgres: "), "{message}");
}

#[tokio::test]
#[ignore = "needs redis-server: scripts/install-backends.sh"]
async fn a_redis_password_is_sent_and_never_shown() {
    let redis = Redis::start();
    // This server has no password: AUTH fails, and the message says so without the secret.
    let url = format!("redis://:hunter2@127.0.0.1:{}", redis.port());
    let health = HealthChecker::new();
    health.register(checks::redis("cache", &url).expect("valid")).expect("registers");
    let report = health.report().await;
    let cache = check(&report, "cache");
    assert_eq!(cache.status, HealthStatus::Unhealthy);
    let message = cache.message.clone().unwrap_or_default();
    assert!(message.contains("AUTH failed"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn http_get_healthy_degraded_and_unhealthy() {
    // The obs server itself is a real HTTP server to check against.
    let obs = Obs::builder().http_addr("127.0.0.1:0").init().expect("starts");
    let addr = obs.http_addr().expect("running");
    let closed = free_port();
    let health = HealthChecker::new();
    health.register(checks::http_get("live", &format!("http://{addr}/health/live"), 200).expect("ok")).expect("ok");
    health.register(checks::http_get("missing", &format!("http://{addr}/nope"), 200).expect("ok")).expect("ok");
    health
        .register(checks::http_get("closed", &format!("http://127.0.0.1:{closed}/"), 200).expect("ok").critical(false))
        .expect("ok");
    let report = health.report().await;
    assert_eq!(check(&report, "live").status, HealthStatus::Healthy);
    let missing = check(&report, "missing");
    // An answer with the wrong status is degraded (the API answers, wrongly), "HTTP <code>".
    assert_eq!(missing.status, HealthStatus::Degraded);
    assert_eq!(missing.message.as_deref(), Some("HTTP 404"));
    assert_eq!(check(&report, "closed").status, HealthStatus::Unhealthy);
    assert_eq!(report.status, HealthStatus::Degraded);

    for bad in ["https://user:pw@api.example.com/health", "ftp://x/", "not a url", "http:///path"] {
        assert!(checks::http_get("x", bad, 200).is_err(), "{bad}");
    }
    assert!(checks::http_get("x", "http://127.0.0.1/", 42).is_err());
}

#[tokio::test]
async fn tcp_open_and_closed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let open = listener.local_addr().expect("addr");
    let health = HealthChecker::new();
    health.register(checks::tcp("open", open.to_string())).expect("ok");
    health.register(checks::tcp("closed", format!("127.0.0.1:{}", free_port()))).expect("ok");
    let report = health.report().await;
    assert_eq!(check(&report, "open").status, HealthStatus::Healthy);
    assert_eq!(check(&report, "closed").status, HealthStatus::Unhealthy);
    assert!(check(&report, "closed").message.as_deref().unwrap_or_default().starts_with("cannot connect to"));
}
