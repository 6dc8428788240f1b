//! Service level objectives evaluated in process: burn rates, budget and SLI from counts these
//! tests cause, over windows a controlled clock moves through; the burn-rate alerts they fire;
//! the gauges on a real scrape, and `/slo` on the embedded server.

mod common;

use std::time::{Duration, Instant, SystemTime};

use obs_runtime::alerts::{AlertManager, AlertStatus, BurnRateAlert, Severity, Slo, SloStatus};
use obs_runtime::metrics::HistogramVec;
use obs_runtime::track_request;

const MINUTE: Duration = Duration::from_secs(60);

#[track_request("GET", "/slo-test/users")]
fn users(fail: bool) -> Result<(), std::io::Error> {
    if fail { Err(std::io::Error::other("down")) } else { Ok(()) }
}

#[track_request("GET", "/slo-test/served")]
fn served(fail: bool) -> Result<(), std::io::Error> {
    if fail { Err(std::io::Error::other("down")) } else { Ok(()) }
}

/// A time on a day boundary, so that every window's buckets start with it.
fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(20_000 * 86_400)
}

fn burn_rates(status: &SloStatus) -> Vec<(String, Option<f64>)> {
    status
        .burn_rates
        .iter()
        .map(|window| {
            (format!("{}s", window.window.as_secs()), window.burn_rate.map(|rate| (rate * 1e9).round() / 1e9))
        })
        .collect()
}

#[test]
fn burn_rates_budget_and_alerts_follow_the_counts_over_each_window() {
    let slo = Slo::availability("slo_test_users", 0.99).endpoint("/slo-test/users").build().expect("a valid objective");
    let manager = AlertManager::builder().slo(slo).build().expect("a valid manager");
    assert_eq!(manager.slos()[0].as_of, None);
    let t0 = t0();
    assert!(manager.evaluate_at(t0).is_empty());
    let status = &manager.slos()[0];
    assert_eq!((status.sli, status.error_budget_remaining, status.covered), (None, 1.0, Duration::ZERO));
    assert!(status.burn_rates.iter().all(|window| window.burn_rate.is_none()), "{status:?}");

    // 1,000 requests, 20 of them failed: 2% bad, twice the 1% budget, in every window.
    for index in 0..1000 {
        let _ = users(index % 50 == 0);
    }
    let fired = manager.evaluate_at(t0 + MINUTE);
    let status = &manager.slos()[0];
    let every = |rate: Option<f64>| -> Vec<(String, Option<f64>)> {
        ["300s", "1800s", "3600s", "7200s", "21600s", "86400s", "259200s"]
            .iter()
            .map(|window| (window.to_string(), rate))
            .collect()
    };
    assert_eq!(burn_rates(status), every(Some(2.0)));
    assert!(status.sli.is_some_and(|sli| (sli - 0.98).abs() < 1e-12), "{status:?}");
    assert!((status.error_budget_remaining - -1.0).abs() < 1e-9, "{status:?}");
    assert_eq!(status.covered, MINUTE);
    // Only the slowest ticket (1x over 3 days and 6 hours) is below a 2x burn.
    assert_eq!(fired.len(), 1, "{fired:?}");
    let ticket = &fired[0];
    assert_eq!(
        (ticket.name.as_str(), ticket.severity, ticket.status, ticket.value),
        ("slo_test_users_burn_rate_3d", Severity::Warning, AlertStatus::Firing, Some(2.0))
    );
    assert_eq!(
        ticket.message,
        "slo_test_users: the error budget burns 2.0x as fast as the objective allows over 3d (this alert: above 1x \
         over 3d and 6h)"
    );
    assert_eq!(
        ticket.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        ["long_window=3d", "short_window=6h", "slo=slo_test_users"]
    );

    // Nine minutes later, 1,000 good requests: the 5-minute window holds them alone, the longer
    // ones both batches (1% bad: the budget's pace exactly, which no alert is above).
    for _ in 0..1000 {
        let _ = users(false);
    }
    let resolved = manager.evaluate_at(t0 + 10 * MINUTE);
    let status = &manager.slos()[0];
    let mut expected = every(Some(1.0));
    expected[0].1 = Some(0.0);
    assert_eq!(burn_rates(status), expected);
    assert!(status.sli.is_some_and(|sli| (sli - 0.99).abs() < 1e-12), "{status:?}");
    assert!(status.error_budget_remaining.abs() < 1e-9, "{status:?}");
    assert_eq!(
        resolved.iter().map(|alert| (alert.name.as_str(), alert.status)).collect::<Vec<_>>(),
        [("slo_test_users_burn_rate_3d", AlertStatus::Resolved)]
    );
    // What a scrape shows.
    let scrape = common::scrape();
    let gauge = |name: &str, window: Option<&str>| {
        let mut labels = vec![("slo", "slo_test_users")];
        labels.extend(window.map(|window| ("window", window)));
        common::sample(&scrape, name, &labels)
    };
    assert_eq!(gauge("slo_objective_ratio", None), Some(0.99));
    assert_eq!(gauge("slo_burn_rate", Some("5m")), Some(0.0));
    assert_eq!(gauge("slo_burn_rate", Some("3d")), Some(1.0));
    assert!(gauge("slo_error_budget_remaining_ratio", None).is_some_and(|left| left.abs() < 1e-9), "{scrape}");
    let (passed, output) = common::promtool_check_metrics(&scrape);
    assert!(passed, "{output}");

    // Six hours and six minutes on, with no traffic since, the windows up to 2 hours are empty
    // (no burn rate) and the 6-hour one holds only the second batch: it starts on the boundary of
    // its 6-minute buckets, so none is counted in part.
    manager.evaluate_at(t0 + 6 * 60 * MINUTE + 6 * MINUTE);
    let status = &manager.slos()[0];
    assert_eq!(
        burn_rates(status),
        [
            ("300s".to_owned(), None),
            ("1800s".to_owned(), None),
            ("3600s".to_owned(), None),
            ("7200s".to_owned(), None),
            ("21600s".to_owned(), Some(0.0)),
            ("86400s".to_owned(), Some(1.0)),
            ("259200s".to_owned(), Some(1.0)),
        ]
    );
    assert_eq!(status.covered, 6 * 60 * MINUTE + 6 * MINUTE);
}

#[test]
fn a_page_needs_both_windows_above_its_factor() {
    let slo = Slo::availability("slo_test_served", 0.999)
        .endpoint("/slo-test/served")
        .burn_rate_alerts([BurnRateAlert::page(14.4, Duration::from_secs(3600), Duration::from_secs(300))])
        .runbook_url("https://runbooks.example.com/served")
        .build()
        .expect("a valid objective");
    let manager = AlertManager::builder().slo(slo).build().expect("a valid manager");
    let t0 = t0();
    manager.evaluate_at(t0);
    let minute = |n: u32, bad: u32| {
        for index in 0..1000 {
            let _ = served(index < bad);
        }
        manager.evaluate_at(t0 + n * MINUTE)
    };
    // An hour at 10x (1% bad): nothing.
    for n in 1..=60 {
        assert!(minute(n, 10).is_empty(), "minute {n}");
    }
    // Then 30x: the 5-minute window is above 14.4x at once, the hour only once it holds enough of
    // it: (10 * (60 - k) + 30 * k) / 60 > 14.4 from k = 14 on.
    for n in 61..=73 {
        assert!(minute(n, 30).is_empty(), "minute {n}");
    }
    let fired = minute(74, 30);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0].severity, fired[0].status), (Severity::Critical, AlertStatus::Firing));
    assert!((fired[0].value.expect("a burn rate") - 14.666_666_666).abs() < 1e-6, "{:?}", fired[0].value);
    assert_eq!(fired[0].runbook_url.as_deref(), Some("https://runbooks.example.com/served"));
    // Still 30x: it keeps firing, announced once.
    for n in 75..=90 {
        assert!(minute(n, 30).is_empty(), "minute {n}");
    }
    // The errors stop. The hour stays far above 14.4x, but the 5-minute window drops at once:
    // (30 * 4) / 5 = 24x at minute 91, 18x at 92, 12x at 93, when the page resolves.
    assert!(minute(91, 0).is_empty());
    assert!(minute(92, 0).is_empty());
    let resolved = minute(93, 0);
    assert_eq!(
        resolved.iter().map(|alert| (alert.name.as_str(), alert.status)).collect::<Vec<_>>(),
        [("slo_test_served_burn_rate_1h", AlertStatus::Resolved)]
    );
    // The hour: minutes 34 to 60 at 10x, 61 to 90 at 30x, three without errors.
    let hour = manager.slos()[0].burn_rates[1].burn_rate.expect("calls in the hour");
    assert!((hour - 19.5).abs() < 1e-9, "{hour}");
}

#[track_request("GET", "/slo-test/young")]
fn young(fail: bool) -> Result<(), std::io::Error> {
    if fail { Err(std::io::Error::other("down")) } else { Ok(()) }
}

#[test]
fn with_a_minimum_coverage_a_young_evaluator_waits_before_it_pages() {
    let slo = Slo::availability("slo_test_young", 0.999)
        .endpoint("/slo-test/young")
        .burn_rate_alerts([BurnRateAlert::page(14.4, Duration::from_secs(3600), Duration::from_secs(300))])
        .min_coverage(0.5)
        .build()
        .expect("a valid objective");
    let manager = AlertManager::builder().slo(slo).build().expect("a valid manager");
    let t0 = t0();
    manager.evaluate_at(t0);
    // Every call fails from the start: 1,000x. Until half an hour is seen, the page waits.
    for minute in 1..=29 {
        let _ = young(true);
        assert!(manager.evaluate_at(t0 + minute * MINUTE).is_empty(), "minute {minute}");
    }
    let _ = young(true);
    let fired = manager.evaluate_at(t0 + 30 * MINUTE);
    assert_eq!(
        fired.iter().map(|alert| (alert.name.as_str(), alert.status)).collect::<Vec<_>>(),
        [("slo_test_young_burn_rate_1h", AlertStatus::Firing)]
    );
}

#[test]
fn a_latency_objective_counts_calls_at_or_under_its_bound_as_good() {
    let jobs =
        HistogramVec::register("slo_test_job_seconds", "Jobs", &["queue"], &[0.1, 0.25, 1.0]).expect("a new histogram");
    let slo = Slo::latency("slo_test_jobs", 0.9, Duration::from_millis(250))
        .histogram("slo_test_job_seconds")
        .buckets(&[0.1, 0.25, 1.0])
        // (A 90% objective burns at most 10x: the workbook's 14.4x page is refused.)
        .burn_rate_alerts([BurnRateAlert::ticket(2.0, Duration::from_secs(3600), Duration::from_secs(300))])
        .build()
        .expect("0.25 is a bound");
    let manager = AlertManager::builder().slo(slo).build().expect("a valid manager");
    let (mail, sms) = (jobs.with_labels(&["mail"]).expect("a series"), jobs.with_labels(&["sms"]).expect("a series"));
    // Counted before the first evaluation: its baseline, not in any window (when it happened is
    // not known).
    mail.observe(5.0);
    manager.evaluate_at(t0());
    assert_eq!(manager.slos()[0].sli, None);
    for _ in 0..16 {
        mail.observe(0.05);
    }
    // On the bound is within it (`le`: less or equal).
    mail.observe(0.25);
    sms.observe(0.25);
    sms.observe(0.5);
    sms.observe(3.0);
    manager.evaluate_at(t0() + MINUTE);
    let status = &manager.slos()[0];
    // 2 of 20 over 250 ms: 10% bad, the budget's pace exactly.
    assert_eq!(status.kind, "latency");
    assert_eq!(status.sli, Some(0.9));
    assert_eq!(burn_rates(status), [("300s".to_owned(), Some(1.0)), ("3600s".to_owned(), Some(1.0))]);
}

#[test]
fn slo_is_served_on_the_embedded_server() {
    #[track_request("GET", "/slo-test/served-json")]
    fn handler(fail: bool) -> Result<(), std::io::Error> {
        if fail { Err(std::io::Error::other("down")) } else { Ok(()) }
    }
    let slo = Slo::availability("slo_test_json", 0.999).endpoint("/slo-test/served-json").build().expect("valid");
    let manager = AlertManager::builder().slo(slo).interval(Duration::from_millis(50)).build().expect("valid");
    let obs = obs_runtime::Obs::builder().http_addr("127.0.0.1:0").alerts(manager).init().expect("obs starts");
    let addr = obs.http_addr().expect("the server runs");
    let get_slo = || {
        let response = common::get(addr, "/slo").expect("GET /slo");
        assert_eq!(response.status, 200, "{}", response.body);
        let body: serde_json::Value = serde_json::from_str(&response.body).expect("/slo is JSON");
        body["slos"][0].clone()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    // The first evaluation is the baseline: the calls after it are counted.
    while get_slo()["asOf"].is_null() {
        assert!(Instant::now() < deadline, "no evaluation");
        std::thread::sleep(Duration::from_millis(20));
    }
    for index in 0..10 {
        let _ = handler(index == 0);
    }
    // Evaluated as they come: until an evaluation has seen all ten.
    let slo = loop {
        let slo = get_slo();
        if slo["sli"] == 0.9 {
            break slo;
        }
        assert!(Instant::now() < deadline, "{slo}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(slo["name"], "slo_test_json");
    assert_eq!(slo["kind"], "availability");
    assert_eq!(slo["objective"], 0.999);
    assert_eq!(slo["window"], "30d");
    assert_eq!(slo["sli"], 0.9);
    assert_eq!(slo["complete"], false);
    let windows: Vec<&str> =
        slo["burnRates"].as_array().expect("a list").iter().filter_map(|rate| rate["window"].as_str()).collect();
    assert_eq!(windows, ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
    // 1 of 10 bad against a 0.1% budget: 100x, in every window.
    for rate in slo["burnRates"].as_array().expect("a list") {
        let burn = rate["burnRate"].as_f64().expect("a burn rate");
        assert!((burn - 100.0).abs() < 1e-9, "{rate}");
    }
    assert!(slo["asOf"].as_str().is_some_and(|at| at.ends_with('Z')), "{slo}");
    let index = common::get(addr, "/").expect("GET /").body;
    assert!(index.contains("/slo"), "{index}");
    drop(obs);
}
