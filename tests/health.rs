//! Health checks: concurrency, timeouts, panics, aggregation, caching, the attribute, and the
//! endpoints on the embedded server (over real sockets).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{get, sample, scrape};
use obs_runtime::health::{CheckOutcome, HealthCheck, HealthChecker, HealthError, HealthReport, HealthStatus};
use obs_runtime::{Obs, health_check};

fn ok(name: &str) -> HealthCheck {
    HealthCheck::new(name, || async { CheckOutcome::healthy() })
}

fn status_of(report: &HealthReport, name: &str) -> HealthStatus {
    report.checks.iter().find(|check| check.name == name).expect("the check ran").status
}

#[tokio::test]
async fn the_chapter_aggregation() {
    // No checks: unhealthy, as in the chapter.
    assert_eq!(HealthChecker::new().report().await.status, HealthStatus::Unhealthy);

    let all_ok = HealthChecker::new();
    all_ok.register(ok("a")).expect("registers");
    all_ok.register(ok("b")).expect("registers");
    assert_eq!(all_ok.report().await.status, HealthStatus::Healthy);

    let one_degraded = HealthChecker::new();
    one_degraded.register(ok("a")).expect("registers");
    one_degraded.register(HealthCheck::new("b", || async { CheckOutcome::degraded("slow disk") })).expect("ok");
    assert_eq!(one_degraded.report().await.status, HealthStatus::Degraded);

    let critical_down = HealthChecker::new();
    critical_down.register(HealthCheck::new("db", || async { Err::<(), _>("connection refused") })).expect("ok");
    critical_down.register(ok("cache")).expect("registers");
    let report = critical_down.report().await;
    assert_eq!(report.status, HealthStatus::Unhealthy);
    assert_eq!(report.http_status(), 503);
    assert_eq!(report.checks[0].message.as_deref(), Some("connection refused"));

    // A non-critical check that fails degrades the whole, never fails it.
    let optional_down = HealthChecker::new();
    optional_down.register(ok("db")).expect("registers");
    optional_down
        .register(HealthCheck::new("search", || async { Err::<(), _>("down") }).critical(false))
        .expect("registers");
    let report = optional_down.report().await;
    assert_eq!(report.status, HealthStatus::Degraded);
    assert_eq!(report.http_status(), 200);
    assert_eq!(status_of(&report, "search"), HealthStatus::Unhealthy);
}

#[tokio::test]
async fn checks_run_concurrently_and_a_timeout_does_not_delay_the_others() {
    let health = HealthChecker::new();
    for name in ["one", "two", "three"] {
        health
            .register(HealthCheck::new(name, || async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                CheckOutcome::healthy()
            }))
            .expect("registers");
    }
    health
        .register(
            HealthCheck::new("hangs", || async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                CheckOutcome::healthy()
            })
            .timeout(Duration::from_millis(500)),
        )
        .expect("registers");
    let started = Instant::now();
    let report = health.report().await;
    let took = started.elapsed();
    // One after another would be 3 x 300 ms + 500 ms; concurrently it is about the slowest timeout.
    // (A correctness bound, not a benchmark: generous for a loaded machine, far below the sum of
    // an hour.)
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let hangs = report.checks.iter().find(|check| check.name == "hangs").expect("ran");
    assert_eq!(hangs.status, HealthStatus::Unhealthy);
    assert!(hangs.timed_out);
    assert_eq!(hangs.message.as_deref(), Some("timed out after 500ms"));
    for name in ["one", "two", "three"] {
        assert_eq!(status_of(&report, name), HealthStatus::Healthy, "{name}");
    }
    // The sleeps overlapped: the report took less than their sum. Measured against the checks'
    // own response times, not the wall clock, so a slow machine cannot make this flaky.
    let sum: Duration = report.checks.iter().map(|check| check.response_time).sum();
    assert!(report.duration < sum, "{:?} vs sum {sum:?}", report.duration);
}

#[tokio::test]
async fn a_panicking_check_is_unhealthy_with_the_message() {
    let health = HealthChecker::new();
    health
        .register(HealthCheck::new("panics", || async {
            if true {
                panic!("pool poisoned");
            }
            CheckOutcome::healthy()
        }))
        .expect("registers");
    health.register(HealthCheck::blocking("blocking-panics", || -> CheckOutcome { panic!("no file") })).expect("ok");
    health.register(ok("fine")).expect("registers");
    let report = health.report().await;
    assert_eq!(report.checks[0].message.as_deref(), Some("the check panicked: pool poisoned"));
    assert_eq!(report.checks[1].message.as_deref(), Some("the check panicked: no file"));
    assert_eq!(status_of(&report, "fine"), HealthStatus::Healthy);
}

#[tokio::test]
async fn slow_checks_are_flagged_and_details_kept() {
    let health = HealthChecker::new().slow_fraction(0.1).expect("valid fraction");
    health
        .register(
            HealthCheck::new("slowish", || async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                CheckOutcome::healthy().with_detail("connected_clients", 12).with_detail("memory_usage", "45MB")
            })
            .timeout(Duration::from_secs(1)),
        )
        .expect("registers");
    health.register(HealthCheck::blocking("quick", || Ok::<_, String>(()))).expect("registers");
    let report = health.report().await;
    let slowish = &report.checks[0];
    assert!(slowish.slow, "{slowish:?}");
    assert!(slowish.response_time >= Duration::from_millis(200));
    let details = slowish.details.as_ref().expect("details");
    assert_eq!(details["connected_clients"], 12);
    assert_eq!(details["memory_usage"], "45MB");
    assert!(!report.checks[1].slow);
    let error = HealthChecker::new().slow_fraction(1.5).expect_err("out of range");
    assert!(error.to_string().contains("slow_fraction"), "{error}");
}

#[tokio::test]
async fn concurrent_reports_share_one_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = HealthChecker::new().cache_ttl(Duration::ZERO);
    let counter = runs.clone();
    health
        .register(HealthCheck::new("counted", move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                CheckOutcome::healthy()
            }
        }))
        .expect("registers");
    // 200 callers at once: the first runs the checks, the others wait for that run.
    let reports = futures_join(200, || health.report()).await;
    assert_eq!(reports.len(), 200);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // With no cache, a later call runs again.
    health.report().await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn results_are_cached_for_the_ttl() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = HealthChecker::new().cache_ttl(Duration::from_secs(3600));
    let counter = runs.clone();
    health
        .register(HealthCheck::new("counted", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { CheckOutcome::healthy() }
        }))
        .expect("registers");
    for _ in 0..10 {
        health.report().await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Registering a check invalidates the cache.
    health.register(ok("new")).expect("registers");
    assert_eq!(health.report().await.checks.len(), 2);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

/// Polls `count` futures made by `make` together on the current task.
async fn futures_join<F: std::future::Future>(count: usize, make: impl Fn() -> F) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = (0..count).map(|_| Box::pin(make())).collect();
    let mut done: Vec<Option<F::Output>> = (0..count).map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, slot) in pinned.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(output) => *slot = Some(output),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    done.into_iter().flatten().collect()
}

#[test]
fn registration_errors_name_the_check() {
    let health = HealthChecker::new();
    health.register(ok("database")).expect("first");
    assert_eq!(health.register(ok("database")), Err(HealthError::DuplicateName("database".into())));
    let zero = ok("cache").timeout(Duration::ZERO);
    assert_eq!(health.register(zero), Err(HealthError::ZeroTimeout("cache".into())));
    assert_eq!(health.register(ok("")), Err(HealthError::EmptyName));
    let unknown = health.set_readiness(&["database", "queue"]).expect_err("queue is unknown");
    assert_eq!(unknown, HealthError::UnknownCheck("queue".into()));
    assert!(unknown.to_string().contains("\"queue\""), "{unknown}");
    health.set_readiness(&["database"]).expect("known");
}

#[test]
fn a_report_can_be_awaited_outside_any_tokio_runtime() {
    let health = HealthChecker::new();
    health
        .register(HealthCheck::new("uses-tokio", || async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            CheckOutcome::healthy()
        }))
        .expect("registers");
    // A minimal executor that is not tokio.
    let report = block_on(health.report());
    assert_eq!(report.status, HealthStatus::Healthy);
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

#[derive(Clone)]
struct Pool {
    up: Arc<std::sync::atomic::AtomicBool>,
}

/// The chapter's database check, as a user writes it with the attribute.
#[health_check(name = "database", timeout = "2s", critical)]
async fn database(pool: Pool) -> Result<CheckOutcome, Box<dyn std::error::Error + Send + Sync>> {
    if !pool.up.load(Ordering::SeqCst) {
        return Err("connection refused".into());
    }
    Ok(CheckOutcome::healthy().with_detail("connection_pool_size", 10))
}

#[health_check("cache", timeout = "250ms", critical = false)]
async fn cache() {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

#[health_check]
async fn external_api(mut attempts: u32) -> CheckOutcome {
    attempts += 1;
    CheckOutcome::degraded("HTTP 503").with_detail("attempts", attempts)
}

#[tokio::test]
async fn the_attribute_makes_registrable_checks() {
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let health = HealthChecker::new().cache_ttl(Duration::ZERO);
    health.register(database(Pool { up: up.clone() })).expect("registers");
    health.register(cache()).expect("registers");
    health.register(external_api(0)).expect("registers");
    assert_eq!(health.names(), ["database", "cache", "external_api"]);
    let report = health.report().await;
    assert_eq!(status_of(&report, "database"), HealthStatus::Healthy);
    let cache = report.checks.iter().find(|check| check.name == "cache").expect("ran");
    assert!(cache.timed_out && !cache.critical, "{cache:?}");
    assert_eq!(cache.message.as_deref(), Some("timed out after 250ms"));
    // Each run gets a fresh clone of the arguments.
    let api = report.checks.iter().find(|check| check.name == "external_api").expect("ran");
    assert_eq!(api.details.as_ref().expect("details")["attempts"], 1);
    assert_eq!(report.status, HealthStatus::Degraded);

    up.store(false, Ordering::SeqCst);
    let report = health.report().await;
    assert_eq!(report.status, HealthStatus::Unhealthy);
    let api = report.checks.iter().find(|check| check.name == "external_api").expect("ran");
    assert_eq!(api.details.as_ref().expect("details")["attempts"], 1);
    let database = report.checks.iter().find(|check| check.name == "database").expect("ran");
    assert_eq!(database.message.as_deref(), Some("connection refused"));
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).expect("JSON")
}

#[test]
fn the_endpoints_on_the_embedded_server() {
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let health = HealthChecker::new().cache_ttl(Duration::ZERO);
    health.register(database(Pool { up: up.clone() })).expect("registers");
    health
        .register(HealthCheck::new("search", || async { CheckOutcome::degraded("reindexing") }).critical(false))
        .expect("registers");
    let obs = Obs::builder().http_addr("127.0.0.1:0").health(health).init().expect("starts");
    let addr = obs.http_addr().expect("running");

    let live = get(addr, "/health/live").expect("live");
    assert_eq!(live.status, 200);
    assert_eq!(json(&live.body)["status"], "healthy");

    let full = get(addr, "/health").expect("health");
    assert_eq!(full.status, 200, "{}", full.body);
    assert_eq!(full.header("content-type"), Some("application/json"));
    assert_eq!(full.header("cache-control"), Some("no-store"));
    let body = json(&full.body);
    assert_eq!(body["status"], "degraded");
    let database = &body["checks"]["database"];
    assert_eq!(database["name"], "database");
    assert_eq!(database["status"], "healthy");
    assert!(database["response_time_ms"].as_f64().expect("a number") >= 0.0);
    assert_eq!(database["details"]["connection_pool_size"], 10);
    assert_eq!(database["message"], serde_json::Value::Null);
    assert_eq!(body["checks"]["search"]["message"], "reindexing");
    let checked_at = body["checked_at"].as_str().expect("a timestamp");
    assert!(checked_at.ends_with('Z') && checked_at.len() == 27, "{checked_at}");

    // Readiness: the critical checks only (the degraded search is left out).
    let ready = get(addr, "/health/ready").expect("ready");
    assert_eq!(ready.status, 200);
    let ready = json(&ready.body);
    assert_eq!(ready["status"], "healthy");
    assert!(ready["checks"].get("search").is_none(), "{ready}");

    up.store(false, Ordering::SeqCst);
    let down = get(addr, "/health").expect("health");
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(json(&down.body)["checks"]["database"]["message"], "connection refused");
    assert_eq!(get(addr, "/health/ready").expect("ready").status, 503);
    // Liveness does not depend on the checks.
    assert_eq!(get(addr, "/health/live").expect("live").status, 200);

    // Exported as metrics.
    let body = scrape();
    assert_eq!(sample(&body, "health_check_status", &[("check", "database")]), Some(0.0));
    assert_eq!(sample(&body, "health_check_status", &[("check", "search")]), Some(0.5));
    assert!(sample(&body, "health_check_duration_seconds", &[("check", "database")]).is_some());
}

#[test]
fn without_a_checker_only_liveness_is_served() {
    let obs = Obs::builder().http_addr("127.0.0.1:0").init().expect("starts");
    let addr = obs.http_addr().expect("running");
    assert_eq!(get(addr, "/health/live").expect("live").status, 200);
    assert_eq!(get(addr, "/health").expect("health").status, 404);
    assert_eq!(get(addr, "/health/ready").expect("ready").status, 404);
}

#[test]
fn a_storm_of_probes_runs_the_checks_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = HealthChecker::new().cache_ttl(Duration::from_secs(3600));
    let counter = runs.clone();
    health
        .register(HealthCheck::new("counted", move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                CheckOutcome::healthy()
            }
        }))
        .expect("registers");
    let obs = Obs::builder().http_addr("127.0.0.1:0").max_connections(256).health(health).init().expect("starts");
    let addr = obs.http_addr().expect("running");
    let probes: Vec<_> = (0..200).map(|_| std::thread::spawn(move || get(addr, "/health"))).collect();
    for probe in probes {
        let response = probe.join().expect("no panic").expect("answered");
        assert_eq!(response.status, 200, "{}", response.body);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
