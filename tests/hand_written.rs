//! Hand-written metrics (counters, gauges and histograms, with labels or without) on the same
//! registry as the request metrics, and every way registering one can be wrong.

mod common;

use common::{sample, scrape};
use obs_runtime::metrics::{Counter, CounterVec, Gauge, GaugeVec, Histogram, HistogramVec, MetricError};

#[test]
fn request_metrics_written_by_hand_are_scraped_exactly() {
    let requests = CounterVec::register("hw_requests_total", "Total requests", &["method", "endpoint", "status"])
        .expect("registers");
    let ok = requests.with_labels(&["GET", "/users", "200"]).expect("labels");
    ok.inc();
    ok.inc_by(2.0);
    ok.inc_by(-5.0); // ignored: counters never go down
    let duration = HistogramVec::register("hw_request_duration_seconds", "Request duration", &["method"], &[0.1, 1.0])
        .expect("registers");
    let get = duration.with_labels(&["GET"]).expect("labels");
    get.observe(0.05);
    get.observe(0.5);
    get.observe(5.0);
    let connections = Gauge::register("hw_active_connections", "Active connections").expect("registers");
    connections.set(12.0);
    connections.dec();
    let memory = GaugeVec::register("hw_pool_bytes", "Pool memory", &["pool"]).expect("registers");
    memory.with_labels(&["main"]).expect("labels").add(4096.0);

    let body = scrape();
    assert!(body.contains("# HELP hw_requests_total Total requests\n# TYPE hw_requests_total counter\n"));
    let labels = [("method", "GET"), ("endpoint", "/users"), ("status", "200")];
    assert_eq!(sample(&body, "hw_requests_total", &labels), Some(3.0));
    assert_eq!(sample(&body, "hw_request_duration_seconds_bucket", &[("method", "GET"), ("le", "0.1")]), Some(1.0));
    assert_eq!(sample(&body, "hw_request_duration_seconds_bucket", &[("method", "GET"), ("le", "1.0")]), Some(2.0));
    assert_eq!(sample(&body, "hw_request_duration_seconds_bucket", &[("method", "GET"), ("le", "+Inf")]), Some(3.0));
    assert_eq!(sample(&body, "hw_request_duration_seconds_count", &[("method", "GET")]), Some(3.0));
    assert_eq!(sample(&body, "hw_request_duration_seconds_sum", &[("method", "GET")]), Some(5.55));
    assert_eq!(sample(&body, "hw_active_connections", &[]), Some(11.0));
    assert_eq!(sample(&body, "hw_pool_bytes", &[("pool", "main")]), Some(4096.0));
}

#[test]
fn label_values_are_escaped() {
    let odd = CounterVec::register("hw_odd_total", "Odd labels", &["path"]).expect("registers");
    odd.with_labels(&["a\"b\\c\nd"]).expect("labels").inc();
    assert!(scrape().contains("hw_odd_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

#[test]
fn an_unlabelled_metric_is_scraped_at_zero_before_its_first_update() {
    let _idle = Counter::register("hw_idle_total", "Never incremented").expect("registers");
    assert_eq!(sample(&scrape(), "hw_idle_total", &[]), Some(0.0));
}

#[test]
fn bad_names_labels_and_buckets_are_errs_naming_them() {
    let name = Counter::register("1bad_total", "x").expect_err("starts with a digit");
    assert!(matches!(&name, MetricError::InvalidName { name, .. } if name == "1bad_total"), "{name}");
    let suffix = Counter::register("hw_no_suffix", "x").expect_err("counter without _total");
    assert!(suffix.to_string().contains("_total"), "{suffix}");
    let label = CounterVec::register("hw_bad_label_total", "x", &["ok", "not-ok"]).expect_err("dash");
    assert!(matches!(&label, MetricError::InvalidLabel { label, .. } if label == "not-ok"), "{label}");
    let reserved = GaugeVec::register("hw_reserved", "x", &["__name"]).expect_err("reserved");
    assert!(matches!(reserved, MetricError::InvalidLabel { .. }));
    let twice = GaugeVec::register("hw_twice", "x", &["a", "a"]).expect_err("duplicate label");
    assert!(matches!(twice, MetricError::InvalidLabel { .. }));
    let le = HistogramVec::register("hw_le", "x", &["le"], &[1.0]).expect_err("le");
    assert!(matches!(le, MetricError::InvalidLabel { .. }));
    for buckets in [&[][..], &[1.0, 1.0][..], &[2.0, 1.0][..], &[f64::INFINITY][..], &[f64::NAN][..]] {
        let error = Histogram::register("hw_buckets", "x", buckets).expect_err("bad buckets");
        assert!(matches!(error, MetricError::InvalidBuckets { .. }), "{buckets:?}: {error}");
    }
}

#[test]
fn a_name_is_registered_once_and_obs_names_are_taken() {
    Gauge::register("hw_once", "x").expect("first");
    let again = Gauge::register("hw_once", "x").expect_err("second");
    assert_eq!(again, MetricError::AlreadyRegistered { name: "hw_once".into() });
    for taken in ["http_requests_total", "active_connections", "memory_usage_bytes", "process_cpu_seconds_total"] {
        let error = CounterVec::register(taken, "x", &[]).err();
        let error = error.or_else(|| Gauge::register(taken, "x").err()).expect("taken");
        assert!(matches!(error, MetricError::AlreadyRegistered { .. } | MetricError::InvalidName { .. }), "{taken}");
    }
}

#[test]
fn names_a_family_writes_implicitly_are_taken_too() {
    // A histogram writes `_bucket`, `_sum` and `_count` samples; a gauge of one of those names
    // would make a scrape that Prometheus rejects.
    Histogram::register("hw_latency_seconds", "x", &[0.1]).expect("first");
    let error = Gauge::register("hw_latency_seconds_count", "x").expect_err("collides");
    assert_eq!(error, MetricError::AlreadyRegistered { name: "hw_latency_seconds_count".into() });
    // The other way round: the histogram would write a sample named like the gauge.
    Gauge::register("hw_size_sum", "x").expect("first");
    let error = Histogram::register("hw_size", "x", &[1.0]).expect_err("collides");
    assert_eq!(error, MetricError::AlreadyRegistered { name: "hw_size_sum".into() });
    // A counter `x_total` is the family `x` in OpenMetrics.
    Counter::register("hw_jobs_total", "x").expect("first");
    let error = Gauge::register("hw_jobs", "x").expect_err("collides");
    assert_eq!(error, MetricError::AlreadyRegistered { name: "hw_jobs".into() });
    // And obs's own histogram's samples.
    let error = Gauge::register("http_request_duration_seconds_bucket", "x").expect_err("built-in");
    assert!(matches!(error, MetricError::AlreadyRegistered { .. }), "{error}");
}

#[test]
fn with_labels_checks_the_number_of_values() {
    let family = CounterVec::register("hw_arity_total", "x", &["a", "b"]).expect("registers");
    let error = family.with_labels(&["only-one"]).expect_err("one value for two labels");
    assert_eq!(error, MetricError::LabelCount { name: "hw_arity_total".into(), expected: 2, got: 1 });
}
