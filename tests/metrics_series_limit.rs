//! The series limit of hand-written families: past it (2,000 label sets by default, or the
//! family's own), a new label set's handle updates the family's one overflow series
//! `{otel_metric_overflow="true"}`; the label sets made before keep theirs; totals stay exact;
//! each redirected `with_labels` call is counted in `obs_metric_series_overflow_total{family}`;
//! the registry holds the limit of series and one more, however many label sets were asked for.
//! Each test uses families of its own (the registry is the process's), and never changes the
//! default limit. One test sets the request families' limit: no other test here makes request
//! series.

mod common;

use std::sync::OnceLock;

use obs_runtime::metrics::{
    CounterVec, DEFAULT_SERIES_LIMIT, Format, GaugeVec, HistogramVec, MAX_SERIES_LIMIT, MetricError, Samples, Snapshot,
    encode, series_count, set_default_series_limit, set_series_limit,
};

const LABEL_SETS: usize = 100_000;
const OVERFLOW: [(&str, &str); 1] = [("otel_metric_overflow", "true")];

/// The samples named `name` with a label `label`: the ordinary series of a family.
fn ordinary(samples: &Samples, name: &str, label: &str) -> usize {
    samples
        .iter()
        .filter_map(|(sample, mut labels, _)| (sample == name && labels.any(|(key, _)| key == label)).then_some(()))
        .count()
}

/// The samples named `name` whose only label is the overflow label.
fn overflow_series(samples: &Samples, name: &str) -> usize {
    samples.iter().filter_map(|(sample, labels, _)| (sample == name && labels.eq(OVERFLOW)).then_some(())).count()
}

fn overflow_counted(samples: &Samples, family: &str) -> f64 {
    samples.get("obs_metric_series_overflow_total", &[("family", family)])
}

/// 100,000 users counted once each on a counter with the default limit, the first user once
/// more after the limit; done once for the tests that read it.
fn counted_users() -> &'static CounterVec {
    static USERS: OnceLock<CounterVec> = OnceLock::new();
    USERS.get_or_init(|| {
        let users =
            CounterVec::register("limit_test_logins_total", "Logins by user", &["user", "kind"]).expect("registers");
        for user in 0..LABEL_SETS {
            users.with_labels(&[&format!("u{user}"), "password"]).expect("two values").inc();
        }
        users.with_labels(&["u0", "password"]).expect("two values").inc_by(2.0);
        users
    })
}

#[test]
fn a_counter_past_the_default_limit_keeps_its_first_series_and_sums_the_rest_in_one() {
    counted_users();
    let samples = Samples::take();
    let name = "limit_test_logins_total";
    assert_eq!(ordinary(&samples, name, "user"), DEFAULT_SERIES_LIMIT);
    assert_eq!(overflow_series(&samples, name), 1);
    let excess = (LABEL_SETS - DEFAULT_SERIES_LIMIT) as f64;
    assert_eq!(samples.get(name, &OVERFLOW), excess);
    // A label set made before the limit still counts in its own series.
    assert_eq!(samples.get(name, &[("user", "u0")]), 3.0);
    assert_eq!(samples.get(name, &[("user", "u1999")]), 1.0);
    assert_eq!(samples.get(name, &[("user", "u2000")]), 0.0);
    // Everything recorded, across every series.
    assert_eq!(samples.get(name, &[]), LABEL_SETS as f64 + 2.0);
    assert_eq!(overflow_counted(&samples, name), excess);
    assert_eq!(series_count(name), Some(DEFAULT_SERIES_LIMIT + 1));
    // Alert rules read the same series.
    let snapshot = Snapshot::take();
    assert_eq!(snapshot.sum(name, &[]), Some(LABEL_SETS as f64 + 2.0));
    assert_eq!(snapshot.sum(name, &OVERFLOW), Some(excess));
}

/// 100,000 jobs observed on a histogram limited to 500 label sets before it was registered.
fn observed_jobs() -> &'static HistogramVec {
    static JOBS: OnceLock<HistogramVec> = OnceLock::new();
    JOBS.get_or_init(|| {
        set_series_limit("limit_test_job_seconds", 500).expect("a valid limit");
        let jobs = HistogramVec::register("limit_test_job_seconds", "Job durations", &["job"], &[1.0, 5.0])
            .expect("registers");
        for job in 0..LABEL_SETS {
            // 0, 1, ..., 9 seconds: whole numbers, so the sums are exact.
            jobs.with_labels(&[&job.to_string()]).expect("one value").observe((job % 10) as f64);
        }
        jobs
    })
}

#[test]
fn a_histogram_past_its_own_limit_has_one_overflow_series_with_every_excess_observation() {
    observed_jobs();
    let samples = Samples::take();
    let limit = 500;
    let excess = LABEL_SETS - limit;
    assert_eq!(ordinary(&samples, "limit_test_job_seconds_count", "job"), limit);
    assert_eq!(overflow_series(&samples, "limit_test_job_seconds_count"), 1);
    assert_eq!(overflow_series(&samples, "limit_test_job_seconds_sum"), 1);
    assert_eq!(samples.get("limit_test_job_seconds_count", &OVERFLOW), excess as f64);
    // Jobs 500..100,000: a tenth of them each of 0..9 s.
    let per_value = (excess / 10) as f64;
    let bucket = |le| samples.get("limit_test_job_seconds_bucket", &[OVERFLOW[0], ("le", le)]);
    assert_eq!(bucket("1.0"), 2.0 * per_value);
    assert_eq!(bucket("5.0"), 6.0 * per_value);
    assert_eq!(bucket("+Inf"), excess as f64);
    assert_eq!(samples.get("limit_test_job_seconds_sum", &OVERFLOW), 45.0 * per_value);
    assert_eq!(samples.get("limit_test_job_seconds_count", &[]), LABEL_SETS as f64);
    assert_eq!(samples.get("limit_test_job_seconds_sum", &[]), 45.0 * (LABEL_SETS / 10) as f64);
    assert_eq!(overflow_counted(&samples, "limit_test_job_seconds"), excess as f64);
    assert_eq!(series_count("limit_test_job_seconds"), Some(limit + 1));
    let mut overflow_count = 0;
    Snapshot::take().for_each_histogram("limit_test_job_seconds", |labels, _, counts| {
        if labels.get("otel_metric_overflow") == Some("true") {
            assert_eq!(labels.iter().count(), 1, "the overflow series has no other label");
            overflow_count = counts.iter().sum();
        }
    });
    assert_eq!(overflow_count, excess as u64);
}

#[test]
fn a_limit_lowered_later_keeps_the_series_made_and_sends_new_ones_to_overflow() {
    let queues = GaugeVec::register("limit_test_queue_depth", "Jobs waiting", &["queue"]).expect("registers");
    let early: Vec<_> = (0..10).map(|queue| queues.with_labels(&[&format!("q{queue}")]).expect("one value")).collect();
    set_series_limit("limit_test_queue_depth", 5).expect("a valid limit");
    // A new label set: the overflow series. A gauge's overflow series holds what its handles did.
    let late = queues.with_labels(&["late"]).expect("one value");
    late.add(4.0);
    queues.with_labels(&["later"]).expect("one value").add(1.0);
    early[9].set(7.0);
    queues.with_labels(&["q3"]).expect("one value").set(2.0);
    assert_eq!(series_count("limit_test_queue_depth"), Some(11));
    let snapshot = Snapshot::take();
    assert_eq!(snapshot.sum("limit_test_queue_depth", &OVERFLOW), Some(5.0));
    assert_eq!(snapshot.sum("limit_test_queue_depth", &[("queue", "q9")]), Some(7.0));
    assert_eq!(snapshot.sum("limit_test_queue_depth", &[("queue", "q3")]), Some(2.0));
    assert_eq!(snapshot.sum("limit_test_queue_depth", &[("queue", "late")]), None);
    assert_eq!(snapshot.sum("obs_metric_series_overflow_total", &[("family", "limit_test_queue_depth")]), Some(2.0));
}

#[test]
fn a_label_set_resolved_again_past_the_limit_is_counted_per_call() {
    set_series_limit("limit_test_calls_total", 1).expect("a valid limit");
    let calls = CounterVec::register("limit_test_calls_total", "Calls", &["caller"]).expect("registers");
    calls.with_labels(&["first"]).expect("one value").inc();
    let late = calls.with_labels(&["second"]).expect("one value");
    // One handle, many observations: one redirected call.
    (0..10).for_each(|_| late.inc());
    calls.with_labels(&["second"]).expect("one value").inc();
    calls.with_labels(&["third"]).expect("one value").inc();
    let snapshot = Snapshot::take();
    assert_eq!(snapshot.sum("limit_test_calls_total", &OVERFLOW), Some(12.0));
    assert_eq!(snapshot.sum("obs_metric_series_overflow_total", &[("family", "limit_test_calls_total")]), Some(3.0));
    assert_eq!(snapshot.sum("limit_test_calls_total", &[]), Some(13.0));
}

#[obs_runtime::track_request("GET", "/limit-test/a")]
fn site_a() -> Result<(), std::io::Error> {
    Ok(())
}
#[obs_runtime::track_request("GET", "/limit-test/b")]
fn site_b() -> Result<(), std::io::Error> {
    Ok(())
}
#[obs_runtime::track_request("POST", "/limit-test/a")]
fn site_c() -> Result<(), std::io::Error> {
    Ok(())
}
#[obs_runtime::track_request("GET", "/limit-test/d", track_concurrency)]
fn site_d() -> Result<(), std::io::Error> {
    Ok(())
}
#[obs_runtime::track_request("GET", "/limit-test/e")]
fn site_e() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("fails"))
}

#[test]
fn track_request_sites_past_the_request_limit_record_into_the_overflow_series_once_resolved() {
    // Any of the three request families' names sets their one limit.
    set_series_limit("http_request_duration_seconds", 3).expect("a valid limit");
    for site in [site_a, site_b, site_c, site_d, site_e] {
        let _ = site();
    }
    for site in [site_a, site_d, site_e] {
        let _ = site();
    }
    let samples = Samples::take();
    assert_eq!(samples.get("http_requests_total", &[("endpoint", "/limit-test/a"), ("method", "GET")]), 2.0);
    assert_eq!(samples.get("http_requests_total", &[("endpoint", "/limit-test/a"), ("method", "POST")]), 1.0);
    assert_eq!(samples.get("http_requests_total", &[("endpoint", "/limit-test/d")]), 0.0);
    // d twice, e twice (failing, 500): one series whatever the status.
    assert_eq!(overflow_series(&samples, "http_requests_total"), 1);
    assert_eq!(samples.get("http_requests_total", &OVERFLOW), 4.0);
    assert_eq!(samples.get("http_request_duration_seconds_count", &OVERFLOW), 4.0);
    assert_eq!(samples.get("http_requests_total", &[]), 8.0);
    // d tracks concurrency: the overflow series has an in-flight gauge, at 0 again.
    assert_eq!(overflow_series(&samples, "http_requests_in_flight"), 1);
    // Two sites, each resolved once.
    assert_eq!(overflow_counted(&samples, "http_requests_total"), 2.0);
    assert_eq!(series_count("http_requests_in_flight"), Some(4));
    assert_eq!(Snapshot::take().sum("http_requests_total", &OVERFLOW), Some(4.0));
}

#[test]
fn limits_of_zero_or_absurd_size_and_bad_names_are_errors_naming_them() {
    let zero = set_series_limit("limit_test_zero_total", 0).expect_err("0 is refused");
    assert!(
        matches!(&zero, MetricError::InvalidSeriesLimit { family: Some(family), limit: 0, .. } if family == "limit_test_zero_total")
    );
    assert_eq!(
        zero.to_string(),
        "invalid series limit 0 for limit_test_zero_total: a family holds at least one label set"
    );
    let huge = set_series_limit("limit_test_zero_total", MAX_SERIES_LIMIT + 1).expect_err("too large");
    assert!(huge.to_string().contains("1000001") && huge.to_string().contains("MAX_SERIES_LIMIT"), "{huge}");
    assert!(matches!(set_series_limit("limit test", 10), Err(MetricError::InvalidName { .. })));
    let default = set_default_series_limit(0).expect_err("0 is refused");
    assert!(matches!(default, MetricError::InvalidSeriesLimit { family: None, limit: 0, .. }));
    assert!(set_default_series_limit(usize::MAX).is_err());
    // The overflow series' label is not a family's own.
    let taken = CounterVec::register("limit_test_label_total", "x", &["otel_metric_overflow"]).expect_err("reserved");
    assert!(matches!(taken, MetricError::InvalidLabel { ref label, .. } if label == "otel_metric_overflow"));
}

#[test]
#[ignore = "needs promtool: scripts/install-backends.sh"]
fn promtool_accepts_families_with_overflow_series() {
    counted_users();
    observed_jobs();
    let body = encode(Format::Text);
    assert!(body.contains("limit_test_job_seconds_bucket{otel_metric_overflow=\"true\",le=\"+Inf\"} 99500\n"));
    let (clean, said) = common::promtool_check_metrics(&body);
    assert!(clean, "promtool check metrics: {said}");
}
