//! The `metrics` facade on obs's registry (feature `metrics-rs`): the macros' counters, gauges
//! and histograms are obs families with exact values, per-name buckets and fixed names (text and
//! OpenMetrics, checked by promtool); what obs cannot take is a no-op handle counted in
//! `obs_internal_errors_total`; the series limit holds; and a real crate that emits through
//! `metrics` (tokio-metrics' runtime reporter) shows the runtime it watches.
//!
//! A process has one global `metrics` recorder: [`installed`] installs obs's once for every test,
//! and each test uses names of its own (tests run in parallel threads). The refusals are counted
//! in one test only, so that its before/after deltas are exact.

mod common;

use std::sync::OnceLock;

use metrics::{counter, describe_counter, describe_gauge, gauge, histogram};
use obs_runtime::metrics::metrics_rs::ObsRecorder;
use obs_runtime::metrics::{Format, MetricError, Snapshot, encode, series_count, set_series_limit};

/// The buckets of `mrs_test_latency_seconds` (the recorder's own for that name).
const LATENCY_BUCKETS: [f64; 3] = [0.1, 0.5, 1.0];

/// Installs obs's recorder as the process's `metrics` recorder, once.
fn installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        ObsRecorder::new()
            .buckets("mrs_test.latency.seconds", &LATENCY_BUCKETS)
            .expect("valid buckets")
            .default_buckets(&[1.0, 10.0])
            .expect("valid buckets")
            .install()
            .expect("the first recorder of the process");
    });
}

/// `obs_internal_errors_total{component="metrics",reason}` now, 0 before the first.
fn internal_errors(reason: &str) -> f64 {
    Snapshot::take().sum("obs_internal_errors_total", &[("component", "metrics"), ("reason", reason)]).unwrap_or(0.0)
}

#[test]
fn macros_record_exact_values_into_obs_families() {
    installed();
    describe_counter!("mrs_test.jobs.done", "Jobs finished");
    counter!("mrs_test.jobs.done", "queue" => "email").increment(3);
    counter!("mrs_test.jobs.done", "queue" => "sms").increment(1);
    counter!("mrs_test.jobs.done", "queue" => "email").increment(2);

    // A key with the same labels in another order is the same series.
    counter!("mrs_test.pairs", "a" => "1", "b" => "2").increment(1);
    counter!("mrs_test.pairs", "b" => "2", "a" => "1").increment(1);

    // `absolute` raises a counter, never lowers it.
    let absolute = counter!("mrs_test.absolute_total");
    absolute.absolute(10);
    absolute.absolute(4);
    absolute.increment(1);
    absolute.absolute(20);

    describe_gauge!("mrs_test.queue.depth", metrics::Unit::Count, "Jobs waiting");
    let depth = gauge!("mrs_test.queue.depth", "queue" => "email");
    depth.set(5.0);
    depth.increment(2.0);
    depth.decrement(1.5);
    gauge!("2nd.mrs_test-depth").set(-4.0);

    let latency = histogram!("mrs_test.latency.seconds", "route" => "/a");
    for value in [0.0625, 0.25, 0.25, 2.0] {
        latency.record(value);
    }
    latency.record_many(0.5, 3);
    // No buckets of its own: the recorder's defaults.
    histogram!("mrs_test.sizes").record(5.0);

    let body = encode(Format::Text);
    for expected in [
        "# HELP mrs_test_jobs_done_total Jobs finished\n# TYPE mrs_test_jobs_done_total counter\n\
         mrs_test_jobs_done_total{queue=\"email\"} 5\nmrs_test_jobs_done_total{queue=\"sms\"} 1\n",
        "# HELP mrs_test_pairs_total mrs_test_pairs_total\n# TYPE mrs_test_pairs_total counter\n\
         mrs_test_pairs_total{a=\"1\",b=\"2\"} 2\n",
        "mrs_test_absolute_total 20\n",
        "# HELP mrs_test_queue_depth Jobs waiting\n# TYPE mrs_test_queue_depth gauge\n\
         mrs_test_queue_depth{queue=\"email\"} 5.5\n",
        "# TYPE _2nd_mrs_test_depth gauge\n_2nd_mrs_test_depth -4\n",
        "# TYPE mrs_test_latency_seconds histogram\n\
         mrs_test_latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n\
         mrs_test_latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 6\n\
         mrs_test_latency_seconds_bucket{route=\"/a\",le=\"1.0\"} 6\n\
         mrs_test_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 7\n\
         mrs_test_latency_seconds_sum{route=\"/a\"} 4.0625\n\
         mrs_test_latency_seconds_count{route=\"/a\"} 7\n",
        "mrs_test_sizes_bucket{le=\"1.0\"} 0\nmrs_test_sizes_bucket{le=\"10.0\"} 1\n\
         mrs_test_sizes_bucket{le=\"+Inf\"} 1\nmrs_test_sizes_sum 5\nmrs_test_sizes_count 1\n",
    ] {
        assert!(body.contains(expected), "missing\n{expected}\nin\n{body}");
    }

    let open_metrics = encode(Format::OpenMetrics);
    for expected in [
        "# HELP mrs_test_jobs_done Jobs finished\n# TYPE mrs_test_jobs_done counter\n\
         mrs_test_jobs_done_total{queue=\"email\"} 5\n",
        "# TYPE mrs_test_queue_depth gauge\nmrs_test_queue_depth{queue=\"email\"} 5.5\n",
        "mrs_test_latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 6\n",
    ] {
        assert!(open_metrics.contains(expected), "missing\n{expected}\nin\n{open_metrics}");
    }
    assert!(open_metrics.ends_with("# EOF\n"));

    // The same families, read as alert rules read them.
    let snapshot = Snapshot::take();
    assert_eq!(snapshot.sum("mrs_test_jobs_done_total", &[]), Some(6.0));
    assert_eq!(snapshot.sum("mrs_test_queue_depth", &[("queue", "email")]), Some(5.5));
}

#[test]
fn a_local_recorder_records_with_its_own_buckets() {
    let recorder = ObsRecorder::new().buckets("mrs_local.rows", &[10.0, 100.0]).expect("valid buckets");
    metrics::with_local_recorder(&recorder, || {
        let rows = histogram!("mrs_local.rows", "table" => "users");
        rows.record(42.0);
        rows.record(7.0);
        counter!("mrs_local.queries").increment(2);
    });
    let body = encode(Format::Text);
    for expected in [
        "mrs_local_rows_bucket{table=\"users\",le=\"10.0\"} 1\n\
         mrs_local_rows_bucket{table=\"users\",le=\"100.0\"} 2\n\
         mrs_local_rows_bucket{table=\"users\",le=\"+Inf\"} 2\n\
         mrs_local_rows_sum{table=\"users\"} 49\nmrs_local_rows_count{table=\"users\"} 2\n",
        "mrs_local_queries_total 2\n",
    ] {
        assert!(body.contains(expected), "missing\n{expected}\nin\n{body}");
    }
}

#[test]
fn what_obs_cannot_take_is_a_no_op_counted_once_per_registration() {
    installed();
    let labels = internal_errors("metrics_rs_labels");
    let taken = internal_errors("metrics_rs_name_taken");
    let clash = internal_errors("metrics_rs_type");
    let invalid = internal_errors("metrics_rs_invalid");

    // The first key fixes the label names; a key with others is refused, at each registration.
    counter!("mrs_refused.jobs", "queue" => "email").increment(1);
    counter!("mrs_refused.jobs", "tenant" => "acme").increment(5);
    counter!("mrs_refused.jobs", "queue" => "sms", "tenant" => "acme").increment(7);
    counter!("mrs_refused.jobs").increment(9);
    // obs's own request counter, as `http_requests` (a counter gets `_total`) and as itself.
    counter!("http_requests").increment(1);
    counter!("http_requests_total", "method" => "GET").increment(1);
    // One name, two types.
    counter!("mrs_refused.dual").increment(1);
    gauge!("mrs_refused.dual").set(3.0);
    histogram!("mrs_refused.dual_total").record(1.0);
    // Names and labels that cannot be fixed.
    counter!("").increment(1);
    histogram!("mrs_refused.sizes", "le" => "1").record(1.0);
    gauge!("mrs_refused.reserved", "__name" => "x").set(1.0);

    assert_eq!(internal_errors("metrics_rs_labels") - labels, 3.0);
    assert_eq!(internal_errors("metrics_rs_name_taken") - taken, 2.0);
    assert_eq!(internal_errors("metrics_rs_type") - clash, 2.0);
    assert_eq!(internal_errors("metrics_rs_invalid") - invalid, 3.0);

    let body = encode(Format::Text);
    let jobs: Vec<&str> = body.lines().filter(|line| line.starts_with("mrs_refused_jobs_total")).collect();
    assert_eq!(jobs, ["mrs_refused_jobs_total{queue=\"email\"} 1"]);
    assert!(body.contains("mrs_refused_dual_total 1\n"), "{body}");
    assert!(!body.contains("mrs_refused_dual "), "{body}");
    assert!(!body.contains("mrs_refused_sizes"), "{body}");
    assert!(!body.contains("mrs_refused_reserved"), "{body}");
    assert_eq!(common::sample(&body, "http_requests_total", &[("method", "GET")]), None);

    // The family a refused first key did not make is made by a key obs takes.
    histogram!("mrs_refused.sizes", "kind" => "a").record(1.0);
    assert_eq!(series_count("mrs_refused_sizes"), Some(1));
    assert_eq!(internal_errors("metrics_rs_invalid") - invalid, 3.0);
}

#[test]
fn bad_configuration_is_an_err_naming_it() {
    let unsorted = ObsRecorder::new().buckets("mrs_config.latency", &[1.0, 0.5]).expect_err("unsorted");
    assert_eq!(unsorted, MetricError::InvalidBuckets { reason: "bounds must be strictly increasing" });
    assert_eq!(unsorted.to_string(), "invalid buckets: bounds must be strictly increasing");
    let empty = ObsRecorder::new().buckets("mrs_config.latency", &[]).expect_err("empty");
    assert_eq!(empty.to_string(), "invalid buckets: at least one bound is needed");
    let infinite = ObsRecorder::new().default_buckets(&[1.0, f64::INFINITY]).expect_err("infinite");
    assert_eq!(infinite.to_string(), "invalid buckets: bounds must be finite (+Inf is always added)");
    let nameless = ObsRecorder::new().buckets("", &[1.0]).expect_err("no name");
    assert_eq!(nameless.to_string(), "invalid metric name \"\": a metric name is not empty");

    installed();
    let again = ObsRecorder::new().install().expect_err("a recorder is installed");
    assert_eq!(
        again.to_string(),
        "a `metrics` recorder is already installed (a process has one global recorder): obs's recorder was not \
         installed"
    );
}

#[test]
fn the_series_limit_holds_for_metrics_families() {
    installed();
    set_series_limit("mrs_limited_jobs_total", 2).expect("a valid limit");
    for (tenant, count) in [("a", 1), ("b", 2), ("c", 5)] {
        counter!("mrs_limited.jobs", "tenant" => tenant).increment(count);
    }
    // Registered again: the own series from the key table, "c" to the overflow series again.
    counter!("mrs_limited.jobs", "tenant" => "a").increment(10);
    counter!("mrs_limited.jobs", "tenant" => "c").increment(5);
    counter!("mrs_limited.jobs", "tenant" => "d").increment(1);

    assert_eq!(series_count("mrs_limited_jobs_total"), Some(3));
    let body = encode(Format::Text);
    let jobs: Vec<&str> = body.lines().filter(|line| line.starts_with("mrs_limited_jobs_total")).collect();
    assert_eq!(
        jobs,
        [
            "mrs_limited_jobs_total{tenant=\"a\"} 11",
            "mrs_limited_jobs_total{tenant=\"b\"} 2",
            "mrs_limited_jobs_total{otel_metric_overflow=\"true\"} 11",
        ]
    );
    assert_eq!(
        common::sample(&body, "obs_metric_series_overflow_total", &[("family", "mrs_limited_jobs_total")]),
        Some(3.0)
    );
}

/// The workers of the runtimes tokio-metrics reports (every test that reports one builds it so).
const WORKERS: usize = 3;

/// Builds a runtime of [`WORKERS`] workers and has tokio-metrics' reporter, built inside it (it
/// watches the current runtime) and described (the HELP lines), report it once through the
/// `metrics` recorder: what its loop does at each interval.
fn report_a_runtime() {
    installed();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let mut reporter = tokio_metrics::RuntimeMetricsReporterBuilder::default().describe().build();
        reporter.run_once();
    });
}

#[test]
fn tokio_metrics_reports_the_runtime_through_obs() {
    report_a_runtime();

    let body = encode(Format::Text);
    assert!(
        body.contains(
            "# HELP tokio_workers_count The number of worker threads used by the runtime\n\
             # TYPE tokio_workers_count gauge\ntokio_workers_count 3\n"
        ),
        "{body}"
    );
    assert_eq!(common::sample(&body, "tokio_workers_count", &[]), Some(WORKERS as f64));
    // The reporter runs in `block_on`'s future, which is no task: none is alive, none queued.
    assert_eq!(common::sample(&body, "tokio_live_tasks_count", &[]), Some(0.0));
    assert_eq!(common::sample(&body, "tokio_global_queue_depth", &[]), Some(0.0));
    // Its counters get `_total` (busy time in microseconds: the unit is not in the name).
    assert!(
        body.contains(
            "# HELP tokio_total_busy_duration_total The amount of time worker threads were busy\n\
             # TYPE tokio_total_busy_duration_total counter\ntokio_total_busy_duration_total "
        ),
        "{body}"
    );
    assert!(body.contains("# TYPE tokio_busy_ratio gauge\n"), "{body}");
}

#[test]
#[ignore = "needs promtool: scripts/install-backends.sh"]
fn promtool_accepts_the_metrics_families() {
    report_a_runtime();
    counter!("mrs_promtool.jobs", "queue" => "email").increment(1);
    gauge!("mrs_promtool.depth").set(2.0);
    histogram!("mrs_promtool.latency.seconds", "route" => "/\"quoted\"\n").record(0.2);
    let body = encode(Format::Text);
    assert!(body.contains("mrs_promtool_jobs_total{queue=\"email\"} 1\n"), "{body}");
    let (clean, said) = common::promtool_check_metrics(&body);
    if clean {
        return;
    }
    // The one complaint allowed is a lint (exit status 3; a body promtool cannot parse is 1) of
    // the names tokio-metrics chose for its gauges (`tokio_workers_count`): obs keeps a name as
    // its emitter gives it, as metrics-exporter-prometheus does, so that the crate's documented
    // names are found.
    let mut lines = said.lines();
    assert!(lines.next().is_some_and(|status| status.ends_with("exit status: 3")), "promtool check metrics: {said}");
    for line in lines.filter(|line| !line.is_empty()) {
        let tokio_count = line.starts_with("tokio_")
            && line.ends_with(" non-histogram and non-summary metrics should not have \"_count\" suffix");
        assert!(tokio_count, "promtool check metrics: {said}");
    }
}
