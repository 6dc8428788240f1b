//! The core the pillars plug into, seen from outside: the threads obs runs (as the kernel names
//! them), the paths the server lists, the service's identity on `/metrics`, the series limits and
//! the environment given to the builder. A binary of its own: it counts the process's threads.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use obs_runtime::alerts::{AlertManager, AlertRule, Condition, Log, Severity};
use obs_runtime::health::{HealthCheck, HealthChecker};
use obs_runtime::logging::{LoggingConfig, Output};
use obs_runtime::metrics::CounterVec;
use obs_runtime::trace::{InMemoryExporter, SpanOutput, TraceConfig};
use obs_runtime::{ConfigError, Environment, Obs, Service};

/// How many threads of each name whose name starts with `obs` the process has now (Linux's
/// `/proc/self/task/*/comm`).
fn obs_threads() -> BTreeMap<String, usize> {
    let mut threads = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").expect("procfs") {
        let comm = task.expect("a task").path().join("comm");
        // A thread that ended meanwhile has no comm any more.
        let Ok(name) = std::fs::read_to_string(comm) else { continue };
        let name = name.trim().to_owned();
        if name.starts_with("obs") {
            *threads.entry(name).or_insert(0) += 1;
        }
    }
    threads
}

/// `threads` once obs's threads have named themselves (a thread takes its name when it starts
/// running): at most 20 s of polling, then what is seen is what is compared.
fn settled(expected: &BTreeMap<String, usize>, lasting: impl Fn(BTreeMap<String, usize>) -> BTreeMap<String, usize>) {
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = lasting(obs_threads());
    while seen != *expected && std::time::Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
        seen = lasting(obs_threads());
    }
    assert_eq!(seen, *expected, "obs's threads");
}

/// One test, in order: the background runtime is one per process, and is counted from before it
/// starts.
#[test]
fn the_core_seen_from_outside() {
    every_pillar_on_runs_three_threads_of_obs_and_the_rest_is_as_configured();
    the_environment_given_is_all_obs_reads_and_wrong_limits_are_errs_naming_them();
    user_code_that_blocks_stalls_neither_the_probes_nor_the_scrape();
}

fn every_pillar_on_runs_three_threads_of_obs_and_the_rest_is_as_configured() {
    assert_eq!(obs_threads(), BTreeMap::new(), "nothing runs before init");

    // Only the server: one thread, the background runtime's.
    let plain = Obs::builder().environment(Environment::empty()).http_addr("127.0.0.1:0").init().expect("starts");
    settled(&BTreeMap::from([("obs".to_owned(), 1)]), |threads| threads);
    let index = common::get(plain.http_addr().expect("serves"), "/").expect("index");
    assert_eq!(
        index.body,
        "obs\n\
         /health/live   the process answers\n\
         /metrics       Prometheus metrics\n\
         /page.json     the live page's data (JSON); open / in a browser for the page\n"
    );
    assert!(plain.shutdown(), "stopped in time");

    let health = HealthChecker::new();
    health.register(HealthCheck::new("fine", || async { Ok::<(), String>(()) })).expect("registers");
    let alerts = AlertManager::builder()
        .rule(
            AlertRule::builder("NeverFires")
                .condition(Condition::custom("zero", |_| Some(0.0)).above(1.0))
                .severity(Severity::Info)
                .build()
                .expect("a valid rule"),
        )
        .channel(Log::new())
        .interval(Duration::from_millis(50))
        .build()
        .expect("a valid manager");
    let spans = InMemoryExporter::new();
    let obs = Obs::builder()
        .service(Service::new("arch-test").version("1.0.0").attribute("deployment.environment.name", "ci"))
        .environment(Environment::empty())
        .http_addr("127.0.0.1:0")
        .health(health)
        .alerts(alerts)
        .tracing(TraceConfig::new().output(SpanOutput::Exporter(Box::new(spans.clone()))))
        .logging(LoggingConfig::new().output(Output::Writer(Box::new(std::io::sink()))))
        .series_limit("arch_jobs_total", 2)
        .init()
        .expect("every pillar starts");
    let addr = obs.http_addr().expect("serves");
    assert_eq!(obs.service_name(), "arch-test");
    // A health report: its check ran on the blocking pool, off the runtime's thread.
    assert_eq!(common::get(addr, "/health").expect("health").status, 200);

    // The runtime, the log writer, the span exporter; and the blocking pool's threads, made while
    // checks or evaluations run (not counted: how many depends on timing).
    settled(
        &BTreeMap::from([("obs".to_owned(), 1), ("obs-log".to_owned(), 1), ("obs-spans".to_owned(), 1)]),
        |mut threads| {
            threads.remove("obs-blocking");
            threads
        },
    );

    let index = common::get(addr, "/").expect("index");
    assert_eq!(
        index.body,
        "obs\n\
         /alerts         the alerts pending or firing (JSON)\n\
         /health         every health check (200 healthy or degraded, 503 unhealthy)\n\
         /health/live    the process answers\n\
         /health/ready   the readiness checks\n\
         /metrics        Prometheus metrics\n\
         /page.json      the live page's data (JSON); open / in a browser for the page\n"
    );

    // The identity given once, on /metrics as OpenTelemetry's Prometheus mapping has it.
    let scrape = common::get(addr, "/metrics").expect("scrape").body;
    assert!(
        scrape.contains(
            "target_info{service_name=\"arch-test\",service_version=\"1.0.0\",\
             deployment_environment_name=\"ci\"} 1\n"
        ),
        "{scrape}"
    );

    // The builder's series limit: the third label set goes to the overflow series.
    let jobs = CounterVec::register("arch_jobs_total", "Jobs", &["queue"]).expect("registers");
    for queue in ["a", "b", "c", "d"] {
        jobs.with_labels(&[queue]).expect("a series").inc();
    }
    let scrape = common::scrape();
    assert_eq!(common::sample(&scrape, "arch_jobs_total", &[("otel_metric_overflow", "true")]), Some(2.0));
    assert!(obs.shutdown(), "stopped in time");
}

fn the_environment_given_is_all_obs_reads_and_wrong_limits_are_errs_naming_them() {
    let env = Environment::from_pairs([
        ("OBS_HTTP_ADDR", "127.0.0.1:0"),
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.version=2"),
    ]);
    let obs = Obs::builder().service("from-code").environment(env).init().expect("starts");
    assert_eq!(obs.service_name(), "from-env", "OTEL_SERVICE_NAME wins, as the specification says");
    assert_ne!(obs.http_addr().expect("serves").port(), 0);
    drop(obs);

    let field = |result: Result<obs_runtime::ObsGuard, ConfigError>| match result {
        Err(ConfigError::Invalid { field, .. }) => field,
        other => panic!("not an Invalid error: {other:?}"),
    };
    let quiet = || Obs::builder().environment(Environment::empty()).without_http_server();
    assert_eq!(field(quiet().series_limit("not a name", 5).init()), "series_limit");
    assert_eq!(field(quiet().series_limit("arch_other_total", 0).init()), "series_limit");
    assert_eq!(field(quiet().default_series_limit(0).init()), "default_series_limit");
    assert_eq!(field(quiet().service("").init()), "service");
    let bad_env = Environment::from_pairs([("OBS_SHUTDOWN_TIMEOUT", "soon")]);
    assert_eq!(field(Obs::builder().environment(bad_env).without_http_server().init()), "OBS_SHUTDOWN_TIMEOUT");
}

/// A custom alert condition and a collector that block their thread (each until the test lets it
/// go): `/health/live`, `/health` and the scrape's other paths keep answering, and so do `/alerts`
/// and `/metrics` once the user's code returns. The requests that need the blocked code wait for
/// it, off the runtime's thread.
fn user_code_that_blocks_stalls_neither_the_probes_nor_the_scrape() {
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    /// Blocks each caller until the test sends on the gate; says when a caller is in.
    #[derive(Clone)]
    struct Gate {
        entered: mpsc::SyncSender<()>,
        release: Arc<Mutex<mpsc::Receiver<()>>>,
    }
    impl Gate {
        fn new() -> (Gate, mpsc::Receiver<()>, mpsc::Sender<()>) {
            let (entered, is_in) = mpsc::sync_channel(16);
            let (open, release) = mpsc::channel();
            (Gate { entered, release: Arc::new(Mutex::new(release)) }, is_in, open)
        }
        fn pass(&self) {
            let _ = self.entered.try_send(());
            let _ = self.release.lock().map(|release| release.recv());
        }
    }

    struct Stuck(Gate);
    impl obs_runtime::metrics::Collector for Stuck {
        fn describe(&self) -> Vec<obs_runtime::metrics::Desc> {
            vec![obs_runtime::metrics::Desc::gauge("arch_stuck_value", "A collector that blocks", &[])]
        }
        fn collect(&self, out: &mut obs_runtime::metrics::Collected<'_>) {
            self.0.pass();
            out.gauge("arch_stuck_value", &[], 1.0);
        }
    }

    let (condition_gate, condition_in, open_condition) = Gate::new();
    let alerts = AlertManager::builder()
        .rule(
            AlertRule::builder("Stuck")
                .condition(
                    Condition::custom("stuck", move |_| {
                        condition_gate.pass();
                        Some(0.0)
                    })
                    .above(1.0),
                )
                .severity(Severity::Info)
                .build()
                .expect("a valid rule"),
        )
        .channel(Log::new())
        .interval(Duration::from_secs(3600));
    let obs = Obs::builder()
        .service("arch-blocked")
        .environment(Environment::empty())
        .http_addr("127.0.0.1:0")
        .alerts(alerts)
        .init()
        .expect("starts");
    let addr = obs.http_addr().expect("serves");
    // The first evaluation, at start, is in the condition now, holding the rules' lock.
    condition_in.recv().expect("the condition runs");
    let alerts_page = std::thread::spawn(move || common::get(addr, "/alerts").expect("answered once released"));
    for path in ["/health/live", "/metrics", "/"] {
        assert_eq!(common::get(addr, path).expect("answered").status, 200, "{path} while the condition blocks");
    }
    open_condition.send(()).expect("release the condition");
    let page = alerts_page.join().expect("the /alerts request");
    assert_eq!((page.status, page.body.as_str()), (200, r#"{"alerts":[]}"#));

    // A collector that blocks holds its scrape, not the probes.
    let (collector_gate, collector_in, open_collector) = Gate::new();
    obs_runtime::metrics::register_collector(Arc::new(Stuck(collector_gate))).expect("registers");
    let scrape = std::thread::spawn(move || common::get(addr, "/metrics").expect("answered once released"));
    collector_in.recv().expect("the scrape is in the collector");
    assert_eq!(common::get(addr, "/health/live").expect("answered").status, 200, "while the collector blocks");
    open_collector.send(()).expect("release the collector");
    let scraped = scrape.join().expect("the scrape");
    assert!(scraped.body.contains("arch_stuck_value 1\n"), "{}", scraped.body);
    // Later scrapes pass the gate at once: its sender is gone.
    drop(open_collector);
    drop(open_condition);
    assert!(obs.shutdown(), "stopped in time");
}
