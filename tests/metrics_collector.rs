//! Collectors: families computed at scrape time by code outside obs. Their families are in the
//! exposition (checked by promtool) and in `Snapshot`; their names are checked, a name taken by
//! anyone (obs, a hand-written family, another collector, the same collector twice) is an `Err`
//! naming it; a family not described is skipped and counted; and the series limit holds: 100,000
//! label sets make 2,000 series and one overflow series, with exact totals.
//!
//! What a scrape counts (overflow, skipped samples) depends on how many scrapes there were, so
//! every test that scrapes holds `SCRAPES` and compares the scrape it made with the one before.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use obs_runtime::metrics::{
    Collected, Collector, CounterVec, DEFAULT_SERIES_LIMIT, Desc, Format, MAX_ADDED_FAMILIES, MetricError, MetricKind,
    Samples, Snapshot, encode, register_collector, series_count, set_series_limit,
};

static SCRAPES: Mutex<()> = Mutex::new(());

fn scraping() -> MutexGuard<'static, ()> {
    SCRAPES.lock().unwrap_or_else(PoisonError::into_inner)
}

const LABEL_SETS: usize = 100_000;
const OVERFLOW: [(&str, &str); 1] = [("otel_metric_overflow", "true")];

/// Yields a counter and a histogram with one series per tenant: 100,000 tenants.
struct Tenants;

impl Collector for Tenants {
    fn describe(&self) -> Vec<Desc> {
        vec![
            Desc::counter("collector_test_tenant_requests_total", "Requests by tenant", &["tenant"]),
            Desc::histogram(
                "collector_test_tenant_payload_bytes",
                "Payload sizes by tenant",
                &["tenant"],
                &[10.0, 100.0],
            ),
        ]
    }

    fn collect(&self, out: &mut Collected<'_>) {
        for tenant in 0..LABEL_SETS {
            let tenant = tenant.to_string();
            out.counter("collector_test_tenant_requests_total", &[&tenant], 2.0);
            // One observation of 50 bytes each.
            out.histogram("collector_test_tenant_payload_bytes", &[&tenant], &[0, 1, 0], 50.0);
        }
    }
}

fn tenants_registered() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| register_collector(Arc::new(Tenants)).expect("registers"));
}

fn overflow_counted(samples: &Samples, family: &str) -> f64 {
    samples.get("obs_metric_series_overflow_total", &[("family", family)])
}

fn count_where(samples: &Samples, name: &str, keep: impl Fn(&[(&str, &str)]) -> bool) -> usize {
    samples
        .iter()
        .filter_map(|(sample, labels, _)| {
            let labels: Vec<(&str, &str)> = labels.collect();
            (sample == name && keep(&labels)).then_some(())
        })
        .count()
}

#[test]
fn a_collector_past_the_limit_yields_the_limit_of_series_and_one_overflow_series_with_exact_totals() {
    tenants_registered();
    let _scrapes = scraping();
    let before = Samples::take();
    let samples = Samples::take();
    let excess = (LABEL_SETS - DEFAULT_SERIES_LIMIT) as f64;
    let counter = "collector_test_tenant_requests_total";
    assert_eq!(
        count_where(&samples, counter, |labels| labels.first().is_some_and(|(key, _)| *key == "tenant")),
        DEFAULT_SERIES_LIMIT
    );
    assert_eq!(count_where(&samples, counter, |labels| labels == OVERFLOW), 1);
    assert_eq!(samples.get(counter, &OVERFLOW), 2.0 * excess);
    assert_eq!(samples.get(counter, &[("tenant", "0")]), 2.0);
    assert_eq!(samples.get(counter, &[("tenant", "1999")]), 2.0);
    assert_eq!(samples.get(counter, &[("tenant", "2000")]), 0.0);
    assert_eq!(samples.get(counter, &[]), 2.0 * LABEL_SETS as f64);
    let histogram = "collector_test_tenant_payload_bytes";
    assert_eq!(count_where(&samples, "collector_test_tenant_payload_bytes_count", |labels| labels == OVERFLOW), 1);
    assert_eq!(samples.get("collector_test_tenant_payload_bytes_count", &OVERFLOW), excess);
    assert_eq!(samples.get("collector_test_tenant_payload_bytes_bucket", &[OVERFLOW[0], ("le", "10.0")]), 0.0);
    assert_eq!(samples.get("collector_test_tenant_payload_bytes_bucket", &[OVERFLOW[0], ("le", "100.0")]), excess);
    assert_eq!(samples.get("collector_test_tenant_payload_bytes_sum", &OVERFLOW), 50.0 * excess);
    assert_eq!(samples.get("collector_test_tenant_payload_bytes_count", &[]), LABEL_SETS as f64);
    // The excess label sets are counted once, whichever scrape first folded them (this test's
    // first or another's): the same ones folded again are not counted again.
    assert_eq!(overflow_counted(&samples, counter), excess);
    assert_eq!(overflow_counted(&samples, histogram), excess);
    let moved = samples.since(&before);
    assert_eq!(overflow_counted(&moved, counter), 0.0);
    assert_eq!(overflow_counted(&moved, histogram), 0.0);
    // The registry holds nothing of them between scrapes; a scrape keeps the limit and one more.
    assert_eq!(series_count(counter), Some(DEFAULT_SERIES_LIMIT + 1));
    // A Snapshot (what alert rules read) sees the same, and counts nothing.
    let snapshot = Snapshot::take();
    assert_eq!(snapshot.sum(counter, &[]), Some(2.0 * LABEL_SETS as f64));
    assert_eq!(snapshot.sum(counter, &OVERFLOW), Some(2.0 * excess));
    let mut observations = 0;
    snapshot.for_each_histogram(histogram, |_, bounds, counts| {
        assert_eq!(bounds, [10.0, 100.0]);
        observations += counts.iter().sum::<u64>();
    });
    assert_eq!(observations, LABEL_SETS as u64);
    assert_eq!(overflow_counted(&Samples::take().since(&samples), counter), 0.0, "nothing new was folded");
}

/// Yields a family it did not describe next to one it did, and samples that do not fit.
struct Sloppy;

impl Collector for Sloppy {
    fn describe(&self) -> Vec<Desc> {
        vec![Desc::gauge("collector_test_sloppy_temperature", "Degrees", &["room"])]
    }

    fn collect(&self, out: &mut Collected<'_>) {
        out.gauge("collector_test_sloppy_temperature", &["hall"], 19.5);
        for room in ["a", "b", "c"] {
            out.gauge("collector_test_ghost_humidity", &[room], 0.5);
        }
        out.counter("collector_test_sloppy_temperature", &["kitchen"], 1.0); // another type
        out.gauge("collector_test_sloppy_temperature", &[], 1.0); // no label value
        out.gauge("collector_test_sloppy_temperature", &["hall"], 20.0); // the hall again
    }
}

#[test]
fn an_undescribed_family_and_samples_that_do_not_fit_are_skipped_and_counted() {
    register_collector(Arc::new(Sloppy)).expect("registers");
    let _scrapes = scraping();
    let before = Samples::take();
    let samples = Samples::take();
    assert_eq!(samples.get("collector_test_sloppy_temperature", &[("room", "hall")]), 19.5);
    assert_eq!(count_where(&samples, "collector_test_sloppy_temperature", |_| true), 1);
    assert_eq!(count_where(&samples, "collector_test_ghost_humidity", |_| true), 0);
    assert!(!encode(Format::Text).contains("collector_test_ghost_humidity"));
    let moved = samples.since(&before);
    let errors = |reason| moved.get("obs_internal_errors_total", &[("component", "metrics"), ("reason", reason)]);
    assert_eq!(errors("undescribed_family"), 3.0);
    assert_eq!(errors("invalid_sample"), 3.0);
    assert_eq!(Snapshot::take().sum("collector_test_ghost_humidity", &[]), None);
}

/// Panics in its collection.
struct Panics(AtomicBool);

impl Collector for Panics {
    fn describe(&self) -> Vec<Desc> {
        vec![Desc::gauge("collector_test_panicking_value", "x", &[])]
    }

    fn collect(&self, out: &mut Collected<'_>) {
        out.gauge("collector_test_panicking_value", &[], 1.0);
        if self.0.load(Ordering::Relaxed) {
            panic!("a collector's bug");
        }
    }
}

#[test]
fn a_collector_that_panics_yields_nothing_that_time_and_the_scrape_goes_on() {
    let panics = Arc::new(Panics(AtomicBool::new(false)));
    register_collector(panics.clone()).expect("registers");
    let _scrapes = scraping();
    assert_eq!(Samples::take().get("collector_test_panicking_value", &[]), 1.0);
    panics.0.store(true, Ordering::Relaxed);
    let before = Samples::take();
    let samples = Samples::take();
    assert_eq!(count_where(&samples, "collector_test_panicking_value", |_| true), 0);
    let moved = samples.since(&before);
    assert_eq!(moved.get("obs_internal_errors_total", &[("component", "metrics"), ("reason", "collector_panic")]), 1.0);
    panics.0.store(false, Ordering::Relaxed);
}

/// A collector of the given families, yielding nothing.
struct Describes(Vec<Desc>);

impl Collector for Describes {
    fn describe(&self) -> Vec<Desc> {
        self.0.clone()
    }

    fn collect(&self, _: &mut Collected<'_>) {}
}

fn register(families: Vec<Desc>) -> Result<(), MetricError> {
    register_collector(Arc::new(Describes(families)))
}

fn taken(name: &str) -> MetricError {
    MetricError::AlreadyRegistered { name: name.to_owned() }
}

#[test]
fn names_taken_by_anyone_are_errors_naming_the_family_and_nothing_is_registered() {
    // obs's own, and the process metrics' prefix.
    assert_eq!(register(vec![Desc::counter("http_requests_total", "x", &[])]), Err(taken("http_requests_total")));
    assert_eq!(register(vec![Desc::gauge("process_custom", "x", &[])]), Err(taken("process_custom")));
    // A hand-written family's.
    CounterVec::register("collector_test_handwritten_total", "x", &["a"]).expect("registers");
    assert_eq!(
        register(vec![Desc::counter("collector_test_handwritten_total", "x", &[])]),
        Err(taken("collector_test_handwritten_total"))
    );
    // Another collector's, whichever registers second; and a hand-written family after a collector.
    register(vec![Desc::gauge("collector_test_first_gauge", "x", &[])]).expect("registers");
    assert_eq!(
        register(vec![Desc::gauge("collector_test_first_gauge", "y", &["b"])]),
        Err(taken("collector_test_first_gauge"))
    );
    assert_eq!(
        CounterVec::register("collector_test_first_gauge", "x", &[]).map(|_| ()),
        Err(MetricError::InvalidName {
            name: "collector_test_first_gauge".into(),
            reason: "a counter's name ends in `_total`"
        })
    );
    assert_eq!(
        obs_runtime::metrics::GaugeVec::register("collector_test_first_gauge", "x", &[]).map(|_| ()),
        Err(taken("collector_test_first_gauge"))
    );
    // Twice in one collector, by name or by the names its samples use.
    let twice =
        register(vec![Desc::gauge("collector_test_twice", "x", &[]), Desc::gauge("collector_test_twice", "y", &[])]);
    assert_eq!(twice, Err(MetricError::DescribedTwice { name: "collector_test_twice".into() }));
    assert_eq!(
        twice.expect_err("described twice").to_string(),
        "the collector describes more than one family named \"collector_test_twice\""
    );
    let shadowed = register(vec![
        Desc::histogram("collector_test_latency", "x", &[], &[1.0]),
        Desc::gauge("collector_test_latency_count", "y", &[]),
    ]);
    assert_eq!(shadowed, Err(MetricError::DescribedTwice { name: "collector_test_latency_count".into() }));
    // All or nothing: the valid family of a refused collector is still free.
    let refused = register(vec![
        Desc::gauge("collector_test_free_gauge", "x", &[]),
        Desc::gauge("collector_test_first_gauge", "x", &[]),
    ]);
    assert_eq!(refused, Err(taken("collector_test_first_gauge")));
    register(vec![Desc::gauge("collector_test_free_gauge", "x", &[])]).expect("still free");
}

#[test]
fn descriptions_are_checked_like_hand_written_families() {
    let bad_name = register(vec![Desc::gauge("collector test", "x", &[])]);
    assert!(matches!(bad_name, Err(MetricError::InvalidName { ref name, .. }) if name == "collector test"));
    let no_total = register(vec![Desc::counter("collector_test_requests", "x", &[])]);
    assert!(matches!(no_total, Err(MetricError::InvalidName { ref name, .. }) if name == "collector_test_requests"));
    let le = register(vec![Desc::histogram("collector_test_sizes", "x", &["le"], &[1.0])]);
    assert!(matches!(le, Err(MetricError::InvalidLabel { ref label, .. }) if label == "le"));
    let overflow_label = register(vec![Desc::gauge("collector_test_g", "x", &["otel_metric_overflow"])]);
    assert!(matches!(overflow_label, Err(MetricError::InvalidLabel { .. })));
    let buckets = register(vec![Desc::histogram("collector_test_sizes", "x", &[], &[2.0, 1.0])]);
    assert!(matches!(buckets, Err(MetricError::InvalidBuckets { .. })));
    assert_eq!(Desc::histogram("collector_test_sizes", "x", &[], &[1.0]).kind(), MetricKind::Histogram);
}

#[test]
#[ignore = "needs promtool: scripts/install-backends.sh"]
fn promtool_accepts_collected_families_with_their_overflow_series() {
    tenants_registered();
    let body = {
        let _scrapes = scraping();
        encode(Format::Text)
    };
    assert!(body.contains("# TYPE collector_test_tenant_payload_bytes histogram\n"));
    assert!(body.contains("collector_test_tenant_requests_total{otel_metric_overflow=\"true\"} 196000\n"));
    let (clean, said) = common::promtool_check_metrics(&body);
    assert!(clean, "promtool check metrics: {said}");
}

/// Yields the same label sets in another order at each collection, as a collector over a hash
/// map does.
struct Rotating(std::sync::atomic::AtomicUsize);

const ROTATING: &str = "collector_test_rotating_total";

impl Collector for Rotating {
    fn describe(&self) -> Vec<Desc> {
        vec![Desc::counter(ROTATING, "Requests by shard", &["shard"])]
    }

    fn collect(&self, out: &mut Collected<'_>) {
        let turn = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for offset in 0..5 {
            let shard = (turn + offset) % 5;
            out.counter(ROTATING, &[&shard.to_string()], 10.0 + shard as f64);
        }
    }
}

#[test]
fn the_label_sets_that_got_a_series_keep_it_whatever_order_later_collections_yield_them_in() {
    set_series_limit(ROTATING, 3).expect("a valid limit");
    register_collector(Arc::new(Rotating(std::sync::atomic::AtomicUsize::new(0)))).expect("registers");
    let _scrapes = scraping();
    let before = Samples::take();
    for _ in 0..4 {
        let samples = Samples::take();
        // The first collection yielded shards 0, 1, 2 first: they keep their series.
        for shard in ["0", "1", "2"] {
            assert_eq!(samples.get(ROTATING, &[("shard", shard)]), 10.0 + shard.parse::<f64>().expect("a number"));
        }
        assert_eq!(samples.get(ROTATING, &OVERFLOW), 13.0 + 14.0, "shards 3 and 4");
        assert_eq!(count_where(&samples, ROTATING, |labels| labels.first().is_some_and(|(key, _)| *key == "shard")), 3);
    }
    // Two label sets overflowed: counted once, at the first scrape, not again at the next five.
    assert_eq!(overflow_counted(&before, ROTATING), 2.0);
    assert_eq!(overflow_counted(&Samples::take(), ROTATING), 2.0);
}

/// Adds families while collecting (as a bridge to a registry that grows does): one new family,
/// one it then gives again with other label names, and more than it may add.
struct Growing {
    round: std::sync::atomic::AtomicUsize,
    /// Whether to also give a changed family and a taken name (counted problems): only in the
    /// scrape the test makes, so that other tests' counts do not move.
    armed: AtomicBool,
    /// Set when its test is done: it yields nothing more (no `family_limit` at later scrapes).
    done: AtomicBool,
}

impl Collector for Growing {
    fn describe(&self) -> Vec<Desc> {
        vec![Desc::gauge("collector_test_growing_base", "Described at registration", &[])]
    }

    fn collect(&self, out: &mut Collected<'_>) {
        if self.done.load(Ordering::Relaxed) {
            return;
        }
        let round = self.round.fetch_add(1, Ordering::Relaxed);
        out.gauge("collector_test_growing_base", &[], 1.0);
        out.describe(Desc::gauge("collector_test_growing_late", "Added at the first collection", &["shard"]))
            .expect("a free name");
        out.gauge("collector_test_growing_late", &["a"], 7.0);
        // The same family again: fine.
        out.describe(Desc::gauge("collector_test_growing_late", "Added at the first collection", &["shard"]))
            .expect("the same family");
        if self.armed.load(Ordering::Relaxed) {
            // With other label names: refused, and counted.
            assert_eq!(
                out.describe(Desc::gauge("collector_test_growing_late", "Changed", &["shard", "zone"])),
                Err(MetricError::DescribedTwice { name: "collector_test_growing_late".into() })
            );
            // A name obs has: refused, and counted.
            assert_eq!(
                out.describe(Desc::gauge("active_connections", "Taken", &[])),
                Err(MetricError::AlreadyRegistered { name: "active_connections".into() })
            );
        }
        // One family per round past the first thousand: the limit stops them.
        let many = if round == 0 { MAX_ADDED_FAMILIES } else { MAX_ADDED_FAMILIES + 2 };
        let mut refused = 0;
        for n in 0..many {
            let name = format!("collector_test_growing_many_{n}");
            match out.describe(Desc::gauge(&name, "One of many", &[])) {
                Ok(()) => out.gauge(&name, &[], n as f64),
                Err(MetricError::TooManyFamilies { limit }) => {
                    assert_eq!(limit, MAX_ADDED_FAMILIES);
                    refused += 1;
                }
                Err(other) => panic!("{other}"),
            }
        }
        // The late family took one of the thousand.
        assert_eq!(refused, many - (MAX_ADDED_FAMILIES - 1));
    }
}

#[test]
fn a_collector_adds_families_while_collecting_within_a_limit_and_refusals_are_counted() {
    let growing =
        Arc::new(Growing { round: Default::default(), armed: AtomicBool::new(false), done: AtomicBool::new(false) });
    register_collector(growing.clone()).expect("registers");
    let _scrapes = scraping();
    let first = Samples::take();
    growing.armed.store(true, Ordering::Relaxed);
    let second = Samples::take();
    growing.armed.store(false, Ordering::Relaxed);
    assert_eq!(second.get("collector_test_growing_late", &[("shard", "a")]), 7.0);
    assert_eq!(second.get("collector_test_growing_many_0", &[]), 0.0);
    assert_eq!(second.get("collector_test_growing_many_998", &[]), 998.0);
    assert_eq!(series_count("collector_test_growing_many_999"), None);
    let body = encode(Format::Text);
    assert!(body.contains("# HELP collector_test_growing_late Added at the first collection\n"), "{body}");
    assert!(!body.contains("collector_test_growing_many_999 "), "{body}");
    // The second scrape's problems, counted by `second`: one changed family, one taken name, and
    // the families past the limit (1,002 asked, 999 free places); and the three invalid samples
    // of `Sloppy` (another test's collector) if it was collected in that scrape.
    let moved = second.since(&first);
    let reason = |reason| moved.get("obs_internal_errors_total", &[("component", "metrics"), ("reason", reason)]);
    let sloppy = if second.get("collector_test_sloppy_temperature", &[("room", "hall")]) == 19.5 { 3.0 } else { 0.0 };
    assert_eq!(reason("invalid_sample"), 1.0 + sloppy);
    assert_eq!(reason("family_taken"), 1.0);
    assert_eq!(reason("family_limit"), 3.0);
    // A hand-written family may not take a name a collector added.
    assert_eq!(
        obs_runtime::metrics::Gauge::register("collector_test_growing_late", "too late").map(|_| ()),
        Err(MetricError::AlreadyRegistered { name: "collector_test_growing_late".into() })
    );
    growing.done.store(true, Ordering::Relaxed);
}

/// Panics when asked what it yields.
struct PanicsInDescribe;

impl Collector for PanicsInDescribe {
    fn describe(&self) -> Vec<Desc> {
        panic!("the collector's own bug");
    }

    fn collect(&self, _out: &mut Collected<'_>) {}
}

#[test]
fn a_collector_whose_describe_panics_is_an_err_not_a_panic() {
    let error = register_collector(Arc::new(PanicsInDescribe)).expect_err("refused");
    assert_eq!(error, MetricError::CollectorPanicked);
    assert_eq!(error.to_string(), "the collector's `describe` panicked: nothing of it is registered");
}
