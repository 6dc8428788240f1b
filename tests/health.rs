//! Health checks: concurrency, timeouts, panics, aggregation, caching, the attribute, and the
//! endpoints on the embedded server (over real sockets).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{get, sample, scrape};
use obs_runtime::health::{
    CheckOutcome, CheckResult, Detail, HealthCheck, HealthChecker, HealthError, HealthReport, HealthStatus,
};
use obs_runtime::{Obs, health_check};

fn ok(name: &str) -> HealthCheck {
    HealthCheck::new(name, || async { CheckOutcome::healthy() })
}

/// A check that counts its runs in `runs`, taking `pause` (counted when the run ends).
fn counted(runs: &Arc<AtomicUsize>, pause: Duration) -> HealthCheck {
    let runs = runs.clone();
    HealthCheck::new("counted", move || {
        let runs = runs.clone();
        async move {
            tokio::time::sleep(pause).await;
            runs.fetch_add(1, Ordering::SeqCst);
            CheckOutcome::healthy()
        }
    })
}

fn status_of(report: &HealthReport, name: &str) -> HealthStatus {
    report.checks.iter().find(|check| check.name == name).expect("the check ran").status
}

#[tokio::test]
async fn the_overall_status_aggregates_the_checks() {
    // No checks: unhealthy (nothing vouches for the service).
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
    // Returns at all: the hour-long check is cut at its timeout.
    let report = health.report().await;
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
    let health = HealthChecker::builder().slow_fraction(0.1).build().expect("valid fraction");
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
    assert_eq!(details["connected_clients"], Detail::I64(12));
    assert_eq!(details["memory_usage"], Detail::Str("45MB".into()));
    assert!(!report.checks[1].slow);
    let error = HealthChecker::builder().slow_fraction(1.5).build().expect_err("out of range");
    assert!(error.to_string().contains("slow_fraction"), "{error}");
}

#[test]
fn a_result_is_json_with_its_details_by_name() {
    let outcome = CheckOutcome::degraded("replica \"b\" lags")
        .with_detail("up", true)
        .with_detail("lag_seconds", 2.5)
        .with_detail("replicas", 3_usize)
        .with_detail("offset", -7)
        .with_detail("host", "db");
    let result = CheckResult {
        name: "database".into(),
        status: outcome.status,
        response_time: Duration::from_micros(1_234_567),
        message: outcome.message,
        details: outcome.details,
        critical: true,
        slow: false,
        timed_out: false,
    };
    assert_eq!(
        result.to_json(),
        r#"{"critical":true,"details":{"host":"db","lag_seconds":2.5,"offset":-7,"replicas":3,"up":true},"message":"replica \"b\" lags","name":"database","response_time_ms":1234.567,"slow":false,"status":"degraded","timed_out":false}"#
    );
    let details = result.details.as_ref().expect("details");
    assert_eq!(details["replicas"], Detail::U64(3));
    assert_eq!(details["offset"].to_string(), "-7");
    let bare = CheckResult { details: None, message: None, ..result };
    assert!(bare.to_json().contains(r#""details":null,"message":null,"#), "{}", bare.to_json());
}

#[tokio::test]
async fn concurrent_reports_share_one_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
    health.register(counted(&runs, Duration::from_millis(200))).expect("registers");
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
    let health = HealthChecker::builder().cache_ttl(Duration::from_secs(3600)).build().expect("valid");
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

/// A database check, as a user writes it with the attribute.
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
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
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
    assert_eq!(api.details.as_ref().expect("details")["attempts"], Detail::U64(1));
    assert_eq!(report.status, HealthStatus::Degraded);

    up.store(false, Ordering::SeqCst);
    let report = health.report().await;
    assert_eq!(report.status, HealthStatus::Unhealthy);
    let api = report.checks.iter().find(|check| check.name == "external_api").expect("ran");
    assert_eq!(api.details.as_ref().expect("details")["attempts"], Detail::U64(1));
    let database = report.checks.iter().find(|check| check.name == "database").expect("ran");
    assert_eq!(database.message.as_deref(), Some("connection refused"));
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).expect("JSON")
}

#[test]
fn the_endpoints_on_the_embedded_server() {
    let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
    // Names of their own: the gauges are process-wide, and other tests run checks meanwhile.
    let pool = Pool { up: up.clone() };
    health
        .register(HealthCheck::new("endpoint_database", move || {
            let up = pool.up.load(Ordering::SeqCst);
            async move {
                if up {
                    Ok(CheckOutcome::healthy().with_detail("connection_pool_size", 10))
                } else {
                    Err("connection refused")
                }
            }
        }))
        .expect("registers");
    health
        .register(
            HealthCheck::new("endpoint_search", || async { CheckOutcome::degraded("reindexing") }).critical(false),
        )
        .expect("registers");
    // Refreshed only at start: the gauges change with the runs this test asks for, no others.
    let obs = Obs::builder()
        .http_addr("127.0.0.1:0")
        .health(health)
        .health_refresh_interval(Duration::from_secs(3600))
        .init()
        .expect("starts");
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
    let database = &body["checks"]["endpoint_database"];
    assert_eq!(database["name"], "endpoint_database");
    assert_eq!(database["status"], "healthy");
    // The run's time, the same in the JSON (ms, to the µs) and in the gauge (s) of that run.
    // Catches: a unit mix-up, or a duration that is not the run's (0, or another run's).
    let response_time_ms = database["response_time_ms"].as_f64().expect("a number");
    let gauge = sample(&scrape(), "health_check_duration_seconds", &[("check", "endpoint_database")]);
    assert_eq!(gauge.map(|seconds| (seconds * 1_000_000.0).round() / 1000.0), Some(response_time_ms));
    assert_eq!(database["details"]["connection_pool_size"], 10);
    assert_eq!(database["message"], serde_json::Value::Null);
    assert_eq!(body["checks"]["endpoint_search"]["message"], "reindexing");
    let checked_at = body["checked_at"].as_str().expect("a timestamp");
    assert!(checked_at.ends_with('Z') && checked_at.len() == 27, "{checked_at}");

    // Readiness: the critical checks only (the degraded search is left out).
    let ready = get(addr, "/health/ready").expect("ready");
    assert_eq!(ready.status, 200);
    let ready = json(&ready.body);
    assert_eq!(ready["status"], "healthy");
    assert!(ready["checks"].get("endpoint_search").is_none(), "{ready}");

    up.store(false, Ordering::SeqCst);
    let down = get(addr, "/health").expect("health");
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(json(&down.body)["checks"]["endpoint_database"]["message"], "connection refused");
    assert_eq!(get(addr, "/health/ready").expect("ready").status, 503);
    // Liveness does not depend on the checks.
    assert_eq!(get(addr, "/health/live").expect("live").status, 200);

    // Exported as metrics.
    let body = scrape();
    assert_eq!(sample(&body, "health_check_status", &[("check", "endpoint_database")]), Some(0.0));
    assert_eq!(sample(&body, "health_check_status", &[("check", "endpoint_search")]), Some(0.5));
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
    let health = HealthChecker::builder().cache_ttl(Duration::from_secs(3600)).build().expect("valid");
    health.register(counted(&runs, Duration::from_millis(300))).expect("registers");
    // Every probe comes from 127.0.0.1: no per-peer cap, as behind a proxy.
    let obs = Obs::builder()
        .http_addr("127.0.0.1:0")
        .max_connections(256)
        .max_connections_per_peer(None)
        .health(health)
        .init()
        .expect("starts");
    let addr = obs.http_addr().expect("running");
    let probes: Vec<_> = (0..200).map(|_| std::thread::spawn(move || get(addr, "/health"))).collect();
    for probe in probes {
        let response = probe.join().expect("no panic").expect("answered");
        assert_eq!(response.status, 200, "{}", response.body);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn readiness_runs_only_its_checks_and_counts_group_members_as_critical() {
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
    // No critical check: ready (there is nothing to wait for), though /health is degraded.
    health.register(HealthCheck::new("optional", || async { Err::<(), _>("down") }).critical(false)).expect("ok");
    let ready = health.readiness().await;
    assert_eq!((ready.status, ready.checks.len()), (HealthStatus::Healthy, 0));
    assert_eq!(health.report().await.status, HealthStatus::Degraded);

    // A non-critical check that hangs does not hold readiness up: only the critical ones run.
    health.register(ok("critical")).expect("ok");
    health
        .register(
            HealthCheck::new("hangs", || async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                CheckOutcome::healthy()
            })
            .timeout(Duration::from_secs(60))
            .critical(false),
        )
        .expect("ok");
    let ready = health.readiness().await;
    assert_eq!(ready.checks.iter().map(|check| check.name.as_str()).collect::<Vec<_>>(), ["critical"]);
    assert!(ready.duration < Duration::from_secs(30), "waited for the hanging check: {:?}", ready.duration);

    // A readiness group decides, and its members count as critical there.
    health.set_readiness(&["optional"]).expect("known");
    let ready = health.readiness().await;
    assert_eq!(ready.status, HealthStatus::Unhealthy);
    assert_eq!(ready.http_status(), 503);
}

#[tokio::test]
async fn a_run_outlives_a_caller_that_gave_up() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = HealthChecker::builder().cache_ttl(Duration::from_secs(3600)).build().expect("valid");
    health.register(counted(&runs, Duration::from_millis(300))).expect("registers");
    // A probe that times out before the checks finish (as a Kubernetes probe with a short
    // timeoutSeconds does): its future is dropped.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), health.report()).await;
    assert!(gave_up.is_err());
    // The run went on, and its result is the one served: the check ran once.
    let report = health.report().await;
    assert_eq!(report.status, HealthStatus::Healthy);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_full_report_and_readiness_asking_at_once_share_one_run_of_a_check() {
    // Catches: the second report finding the first's run of the same check in progress and calling
    // the check unhealthy ("still running past its timeout") while it is well within it (a scrape's
    // background refresh and a readiness probe overlapping flipped readiness to 503).
    let runs = Arc::new(AtomicUsize::new(0));
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
    health.register(counted(&runs, Duration::from_millis(300))).expect("registers");
    let (all, ready) = tokio::join!(health.report(), health.readiness());
    assert_eq!((all.status, ready.status), (HealthStatus::Healthy, HealthStatus::Healthy), "{all:?} {ready:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one run, its result given to both");
}

#[tokio::test]
async fn a_blocking_check_past_its_timeout_is_not_started_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(std::sync::Barrier::new(2));
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
    let (counter, barrier) = (calls.clone(), release.clone());
    health
        .register(
            HealthCheck::blocking("stuck", move || {
                counter.fetch_add(1, Ordering::SeqCst);
                barrier.wait();
                CheckOutcome::healthy()
            })
            .timeout(Duration::from_millis(100)),
        )
        .expect("registers");
    let first = health.report().await;
    assert!(first.checks[0].timed_out, "{first:?}");
    let second = health.report().await;
    let message = second.checks[0].message.clone().unwrap_or_default();
    assert!(message.contains("still running"), "{message}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no second copy of a stuck blocking call");
    release.wait();
}

#[test]
fn a_check_that_blocks_its_thread_does_not_stall_the_server() {
    // Catches: a check that blocks its thread (a synchronous client in an async fn) running on the
    // server's own runtime thread, so that /health/live and / wait for it.
    let (started, has_started) = std::sync::mpsc::channel::<()>();
    // Held by the test: each run of the check blocks on it (a read lock) until it is released.
    let gate = Arc::new(std::sync::RwLock::new(()));
    let held = gate.write().expect("the gate");
    let (started, check_gate) = (std::sync::Mutex::new(started), gate.clone());
    let check_gate = Arc::new((started, check_gate));
    let health = HealthChecker::builder().cache_ttl(Duration::ZERO).build().expect("valid");
    health
        .register(
            HealthCheck::new("blocks", move || {
                let check_gate = check_gate.clone();
                async move {
                    let (started, gate) = &*check_gate;
                    let _ = started.lock().map(|started| started.send(()));
                    // A synchronous wait inside an async fn: the thread is blocked, not awaiting.
                    drop(gate.read());
                    CheckOutcome::healthy()
                }
            })
            // Far beyond the test: the check ends when the gate opens, never by its timeout.
            .timeout(Duration::from_secs(600)),
        )
        .expect("registers");
    let obs = Obs::builder().http_addr("127.0.0.1:0").health(health).init().expect("starts");
    let addr = obs.http_addr().expect("running");
    let slow = std::thread::spawn(move || get(addr, "/health"));
    // The check has started and is blocked (by the refresh at init or by this request).
    has_started.recv_timeout(Duration::from_secs(60)).expect("the check started");
    assert_eq!(get(addr, "/health/live").expect("live").status, 200);
    assert_eq!(get(addr, "/").expect("index").status, 200);
    // The gate is still shut: /health cannot have been answered yet.
    assert!(!slow.is_finished(), "/health answered while its only check was still blocked");
    drop(held);
    let answered = slow.join().expect("no panic").expect("answered");
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert_eq!(json(&answered.body)["checks"]["blocks"]["status"], "healthy", "{}", answered.body);
}

#[test]
fn the_background_refresh_fills_the_health_gauges_with_no_probe() {
    let health = HealthChecker::new();
    health.register(HealthCheck::new("scrape_only", || async { CheckOutcome::degraded("slow disk") })).expect("ok");
    let obs = Obs::builder().http_addr("127.0.0.1:0").health(health).init().expect("starts");
    let addr = obs.http_addr().expect("running");
    // Nobody asks /health: the run started at init fills the gauges, and scrapes serve them.
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let body = get(addr, "/metrics").expect("scrape").body;
        if sample(&body, "health_check_status", &[("check", "scrape_only")]) == Some(0.5) {
            break;
        }
        assert!(std::time::Instant::now() < give_up, "the gauge never came: {body}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
