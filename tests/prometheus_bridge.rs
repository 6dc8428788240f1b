//! The `prometheus` crate and obs, both ways (feature `prometheus`): a `prometheus::Registry`
//! served on obs's exposition exactly as the crate's own `TextEncoder` serves it (every line it
//! writes is in obs's body), accepted by promtool; a clash refused at registration, naming it;
//! a family the registry gets later served, or skipped and counted when its name is taken; the
//! series limit; and obs's registry gathered by a `prometheus::Registry`, which may itself be
//! bridged into obs without either reading itself forever.
//!
//! What a scrape counts depends on how many scrapes there were, so every test that scrapes and
//! compares counts holds `SCRAPES`.

mod common;

use std::sync::{Mutex, MutexGuard, PoisonError};

use obs_runtime::metrics::prometheus::{ObsCollector, register_registry};
use obs_runtime::metrics::{Counter, Format, HistogramVec, MetricError, Samples, Snapshot, encode, set_series_limit};
use prometheus::{Encoder as _, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

static SCRAPES: Mutex<()> = Mutex::new(());

fn scraping() -> MutexGuard<'static, ()> {
    SCRAPES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the `prometheus` crate itself serves for `registry`.
fn crate_text(registry: &Registry) -> String {
    let mut body = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut body).expect("the crate encodes");
    String::from_utf8(body).expect("utf-8")
}

/// A registry with the crate's four kinds of metric, each with values set.
fn shop_registry() -> Registry {
    let registry = Registry::new_custom(None, None).expect("a registry");
    let orders =
        IntCounterVec::new(Opts::new("bridge_shop_orders_total", "Orders, by \"state\""), &["state", "region"])
            .expect("a counter vec");
    registry.register(Box::new(orders.clone())).expect("registers");
    orders.with_label_values(&["paid", "eu"]).inc_by(3);
    orders.with_label_values(&["refunded", "us\\east\n2"]).inc();
    // A counter named as older code names them: no `_total`.
    let legacy = IntCounter::new("bridge_shop_legacy_requests", "Requests (legacy name)").expect("a counter");
    registry.register(Box::new(legacy.clone())).expect("registers");
    legacy.inc_by(5);
    let carts = IntGauge::new("bridge_shop_open_carts", "Open carts").expect("a gauge");
    registry.register(Box::new(carts.clone())).expect("registers");
    carts.set(-2);
    let latency = prometheus::HistogramVec::new(
        HistogramOpts::new("bridge_shop_checkout_seconds", "Checkout latency").buckets(vec![0.1, 1.0]),
        &["method"],
    )
    .expect("a histogram vec");
    registry.register(Box::new(latency.clone())).expect("registers");
    for seconds in [0.05, 0.5, 0.7, 3.0] {
        latency.with_label_values(&["card"]).observe(seconds);
    }
    registry
}

#[test]
fn a_registry_is_served_line_for_line_as_the_crate_serves_it() {
    let _scrapes = scraping();
    let registry = shop_registry();
    register_registry(&registry).expect("registers");

    let ours = crate_text(&registry);
    let body = encode(Format::Text);
    // Every line the crate writes, HELP and TYPE included, is in obs's body as it is, but for
    // the spelling of a whole bucket bound (`le="1"` there, `le="1.0"` in obs: the same number).
    for line in ours.lines() {
        let line = line.replace("le=\"1\"", "le=\"1.0\"");
        assert!(body.contains(&format!("{line}\n")), "missing {line:?}\n--- obs ---\n{body}\n--- crate ---\n{ours}");
    }
    // Spelled out, for the lines that matter most.
    for line in [
        // The crate sorts a metric's labels by name.
        "bridge_shop_orders_total{region=\"eu\",state=\"paid\"} 3\n",
        "bridge_shop_orders_total{region=\"us\\\\east\\n2\",state=\"refunded\"} 1\n",
        "# TYPE bridge_shop_legacy_requests counter\nbridge_shop_legacy_requests 5\n",
        "bridge_shop_open_carts -2\n",
        "bridge_shop_checkout_seconds_bucket{method=\"card\",le=\"0.1\"} 1\n",
        "bridge_shop_checkout_seconds_bucket{method=\"card\",le=\"1.0\"} 3\n",
        "bridge_shop_checkout_seconds_bucket{method=\"card\",le=\"+Inf\"} 4\n",
        "bridge_shop_checkout_seconds_count{method=\"card\"} 4\n",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }

    // OpenMetrics: the counter's family drops `_total`, and the legacy counter's samples get it.
    let openmetrics = encode(Format::OpenMetrics);
    for line in [
        "# TYPE bridge_shop_orders counter\n",
        "# TYPE bridge_shop_legacy_requests counter\nbridge_shop_legacy_requests_total 5\n",
        "bridge_shop_checkout_seconds_bucket{method=\"card\",le=\"1.0\"} 3\n",
    ] {
        assert!(openmetrics.contains(line), "missing {line:?} in\n{openmetrics}");
    }

    // Alert rules read bridged families like obs's own.
    let snapshot = Snapshot::take();
    assert_eq!(snapshot.sum("bridge_shop_orders_total", &[("state", "paid")]), Some(3.0));
    assert_eq!(snapshot.sum("bridge_shop_open_carts", &[]), Some(-2.0));
}

#[test]
#[ignore = "needs promtool: scripts/install-backends.sh"]
fn promtool_accepts_obs_with_a_bridged_registry() {
    let _scrapes = scraping();
    // Its own names: tests run in parallel, and each registry is registered for good.
    let registry = Registry::new();
    let jobs = IntCounterVec::new(Opts::new("bridge_lint_jobs_total", "Jobs"), &["queue"]).expect("a counter vec");
    registry.register(Box::new(jobs.clone())).expect("registers");
    jobs.with_label_values(&["email"]).inc();
    let depth = prometheus::Histogram::with_opts(HistogramOpts::new("bridge_lint_depth", "Depth").buckets(vec![1.0]))
        .expect("a histogram");
    registry.register(Box::new(depth.clone())).expect("registers");
    depth.observe(3.0);
    register_registry(&registry).expect("registers");
    let body = encode(Format::Text);
    assert!(body.contains("bridge_lint_jobs_total{queue=\"email\"} 1\n"), "{body}");
    let (clean, said) = common::promtool_check_metrics(&body);
    // promtool also lints names: the counter named without `_total` that another test bridges
    // (it may have run already; the registry is the process's) is its one complaint, as it
    // would be served by the crate itself. Any other problem, or a parse error, fails.
    let complaints: Vec<&str> = said.lines().skip(1).filter(|line| !line.trim().is_empty()).collect();
    let legacy = ["bridge_shop_legacy_requests counter metrics should have \"_total\" suffix"];
    assert!(clean || complaints == legacy, "promtool check metrics: {said}\n{body}");
}

#[test]
fn a_name_obs_has_is_refused_at_registration_and_nothing_of_the_registry_is_served() {
    let _scrapes = scraping();
    let registry = Registry::new();
    let fine = IntGauge::new("bridge_refused_fine", "Would be fine").expect("a gauge");
    registry.register(Box::new(fine.clone())).expect("registers");
    fine.set(1);
    // obs's own request counter.
    let clash = IntCounter::new("http_requests_total", "Someone else's").expect("a counter");
    registry.register(Box::new(clash.clone())).expect("registers");
    clash.inc();

    let error = register_registry(&registry).expect_err("the name is obs's");
    assert_eq!(error, MetricError::AlreadyRegistered { name: "http_requests_total".into() });
    assert_eq!(error.to_string(), "a metric named \"http_requests_total\" is already registered");
    assert!(!encode(Format::Text).contains("bridge_refused_fine"));

    // A name a hand-written family has, likewise.
    Counter::register("bridge_refused_hand_written_total", "obs's").expect("registers");
    let registry = Registry::new();
    let clash = IntCounter::new("bridge_refused_hand_written_total", "The registry's").expect("a counter");
    registry.register(Box::new(clash.clone())).expect("registers");
    clash.inc();
    assert_eq!(
        register_registry(&registry),
        Err(MetricError::AlreadyRegistered { name: "bridge_refused_hand_written_total".into() })
    );
}

#[test]
fn a_family_the_registry_gets_later_is_served_or_skipped_and_counted_when_taken() {
    let _scrapes = scraping();
    let registry = Registry::new();
    let first = IntGauge::new("bridge_later_first", "There at registration").expect("a gauge");
    registry.register(Box::new(first.clone())).expect("registers");
    first.set(1);
    register_registry(&registry).expect("registers");

    // Later: a free name, served from the next scrape on...
    let free = IntGauge::new("bridge_later_free", "Registered later").expect("a gauge");
    registry.register(Box::new(free.clone())).expect("registers");
    free.set(4);
    // ... and a name a hand-written obs family has: skipped, counted at each scrape.
    let obs_own = HistogramVec::register("bridge_later_taken_seconds", "obs's", &["route"], &[1.0]).expect("registers");
    obs_own.with_labels(&["/a"]).expect("a series").observe(0.5);
    let taken =
        IntGauge::new("bridge_later_taken_seconds_count", "Takes a name obs's histogram writes").expect("a gauge");
    registry.register(Box::new(taken.clone())).expect("registers");
    taken.set(99);

    let before = Samples::take();
    let after = Samples::take();
    let body = encode(Format::Text);
    assert!(body.contains("# TYPE bridge_later_free gauge\nbridge_later_free 4\n"), "{body}");
    assert!(body.contains("bridge_later_taken_seconds_count{route=\"/a\"} 1\n"), "{body}");
    assert!(!body.contains("bridge_later_taken_seconds_count 99"), "{body}");
    let taken_reason = [("component", "metrics"), ("reason", "family_taken")];
    // The scrape that `after` is counted once: from `before` to `after`, one more.
    assert_eq!(
        after.get("obs_internal_errors_total", &taken_reason) - before.get("obs_internal_errors_total", &taken_reason),
        1.0
    );
    // The free family is obs's for good now: a hand-written family may not take its name.
    assert_eq!(
        Counter::register("bridge_later_free", "too late").map(|_| ()),
        Err(MetricError::InvalidName { name: "bridge_later_free".into(), reason: "a counter's name ends in `_total`" })
    );
    assert_eq!(
        obs_runtime::metrics::Gauge::register("bridge_later_free", "too late").map(|_| ()),
        Err(MetricError::AlreadyRegistered { name: "bridge_later_free".into() })
    );
}

#[test]
fn a_bridged_family_keeps_the_series_limit() {
    let _scrapes = scraping();
    set_series_limit("bridge_limited_tenants_total", 2).expect("a limit");
    let registry = Registry::new();
    let tenants = IntCounterVec::new(Opts::new("bridge_limited_tenants_total", "By tenant"), &["tenant"]).expect("vec");
    registry.register(Box::new(tenants.clone())).expect("registers");
    for (tenant, requests) in [("a", 1), ("b", 2), ("c", 4), ("d", 8)] {
        tenants.with_label_values(&[tenant]).inc_by(requests);
    }
    register_registry(&registry).expect("registers");
    let samples = Samples::take();
    // The crate gathers sorted by label value: a and b get series, c and d are summed.
    assert_eq!(samples.get("bridge_limited_tenants_total", &[("tenant", "a")]), 1.0);
    assert_eq!(samples.get("bridge_limited_tenants_total", &[("tenant", "b")]), 2.0);
    assert_eq!(samples.get("bridge_limited_tenants_total", &[("otel_metric_overflow", "true")]), 12.0);
    assert_eq!(obs_runtime::metrics::series_count("bridge_limited_tenants_total"), Some(3));
    let overflowed = [("family", "bridge_limited_tenants_total")];
    assert_eq!(samples.get("obs_metric_series_overflow_total", &overflowed), 2.0);

    // A registry gathering obs leaves the bridged registry out, and leaves its bookkeeping as
    // it was: the family still counts its three series, and the next scrape does not count the
    // two folded label sets again.
    let other = Registry::new();
    other.register(Box::new(ObsCollector::new())).expect("registers");
    let text = crate_text(&other);
    assert!(!text.contains("\nbridge_limited_tenants_total{"), "{text}");
    assert_eq!(obs_runtime::metrics::series_count("bridge_limited_tenants_total"), Some(3));
    assert_eq!(Samples::take().get("obs_metric_series_overflow_total", &overflowed), 2.0);
}

/// A collector of the `prometheus` crate that panics when gathered.
struct PanicsWhenGathered(prometheus::core::Desc);

impl prometheus::core::Collector for PanicsWhenGathered {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        vec![&self.0]
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        panic!("a collector's bug");
    }
}

#[test]
fn a_bridged_registry_that_panics_costs_its_scrape_and_nothing_after() {
    let _scrapes = scraping();
    let registry = Registry::new();
    let desc = prometheus::core::Desc::new("bridge_panics_value".into(), "x".into(), vec![], Default::default());
    registry.register(Box::new(PanicsWhenGathered(desc.expect("a desc")))).expect("registers");
    // `describe` gathers the registry too: its panic is an `Err`, not the host's.
    assert_eq!(register_registry(&registry), Err(MetricError::CollectorPanicked));

    // A registry that panics only later, at a scrape.
    let later = Registry::new();
    register_registry(&later).expect("registers");
    let desc = prometheus::core::Desc::new("bridge_panics_later".into(), "x".into(), vec![], Default::default());
    later.register(Box::new(PanicsWhenGathered(desc.expect("a desc")))).expect("registers");
    let panic_reason = [("component", "metrics"), ("reason", "collector_panic")];
    let before = Samples::take();
    let after = Samples::take();
    assert_eq!(
        after.get("obs_internal_errors_total", &panic_reason) - before.get("obs_internal_errors_total", &panic_reason),
        1.0
    );
    // This thread still gathers obs through a prometheus registry: the panic did not leave the
    // bridge's flag set (which would make obs's collector yield nothing here).
    Counter::register("bridge_panics_obs_total", "obs's own").expect("registers").inc();
    let reader = Registry::new();
    reader.register(Box::new(ObsCollector::new())).expect("registers");
    assert!(crate_text(&reader).contains("\nbridge_panics_obs_total 1\n"));
    // The panicking collector leaves: the later scrapes of the other tests do not panic.
    let desc = prometheus::core::Desc::new("bridge_panics_later".into(), "x".into(), vec![], Default::default());
    later.unregister(Box::new(PanicsWhenGathered(desc.expect("a desc")))).expect("unregisters");
}

#[obs_runtime::track_request("GET", "/bridge/users")]
fn get_users() -> Result<&'static str, std::io::Error> {
    Ok("ada")
}

#[test]
fn obs_is_gathered_by_a_prometheus_registry() {
    let _scrapes = scraping();
    get_users().expect("ok");
    let orders = Counter::register("bridge_reverse_orders_total", "Orders placed").expect("registers");
    orders.inc_by(2.0);
    let latency = HistogramVec::register("bridge_reverse_latency_seconds", "Latency", &["route"], &[0.5, 2.0])
        .expect("registers");
    latency.with_labels(&["/pay"]).expect("a series").observe(1.0);

    let registry = Registry::new();
    registry.register(Box::new(ObsCollector::new())).expect("registers");
    let text = crate_text(&registry);
    for line in [
        "# TYPE bridge_reverse_orders_total counter\nbridge_reverse_orders_total 2\n",
        "http_requests_total{method=\"GET\",endpoint=\"/bridge/users\",status=\"200\"} 1\n",
        "bridge_reverse_latency_seconds_bucket{route=\"/pay\",le=\"0.5\"} 0\n",
        "bridge_reverse_latency_seconds_bucket{route=\"/pay\",le=\"2\"} 1\n",
        "bridge_reverse_latency_seconds_bucket{route=\"/pay\",le=\"+Inf\"} 1\n",
        "bridge_reverse_latency_seconds_sum{route=\"/pay\"} 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }

    // The registry refuses a second collector describing names obs has.
    let again = registry.register(Box::new(ObsCollector::new()));
    assert!(again.is_err(), "{again:?}");
    // And a registry that has one of obs's names refuses obs.
    let other = Registry::new();
    let clash = IntCounter::new("bridge_reverse_orders_total", "Someone else's").expect("a counter");
    other.register(Box::new(clash)).expect("registers");
    assert!(other.register(Box::new(ObsCollector::new())).is_err());
}

#[test]
fn a_registry_that_holds_obs_can_be_served_by_obs() {
    let _scrapes = scraping();
    let registry = Registry::new();
    let depth = IntGauge::new("bridge_loop_depth", "Jobs waiting").expect("a gauge");
    registry.register(Box::new(depth.clone())).expect("registers");
    depth.set(3);
    Counter::register("bridge_loop_obs_total", "obs's own").expect("registers").inc();
    registry.register(Box::new(ObsCollector::new())).expect("registers");
    register_registry(&registry).expect("registers");

    // obs serves the registry's own family once, and its own once.
    let body = encode(Format::Text);
    assert_eq!(body.matches("\nbridge_loop_depth 3\n").count(), 1, "{body}");
    assert_eq!(body.matches("\nbridge_loop_obs_total 1\n").count(), 1, "{body}");
    // The registry serves its family and obs's, each once: obs leaves the bridged registry out.
    let text = crate_text(&registry);
    assert_eq!(text.matches("\nbridge_loop_depth 3\n").count(), 1, "{text}");
    assert_eq!(text.matches("\nbridge_loop_obs_total 1\n").count(), 1, "{text}");
}
