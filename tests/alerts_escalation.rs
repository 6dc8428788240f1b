//! Routing by severity, escalation and acknowledgement, through a manager that runs and delivers
//! to real webhook receivers, on a clock the test moves: critical alerts page the on-call and,
//! unacknowledged 15 minutes later, their lead; warnings go to tickets, info to a channel of its
//! own; `POST /alerts/{name}/ack` with the bearer token stops the escalation, without it is
//! refused and counted.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::receiver::{Received, Receiver};
use obs_runtime::alerts::{AlertManager, AlertRule, Condition, Route, Severity, Webhook};
use obs_runtime::metrics::Gauge;

const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "test-ack-token-0123456789";

fn scraped(name: &str, labels: &[(&str, &str)]) -> f64 {
    common::sample(&common::scrape(), name, labels).unwrap_or_else(|| panic!("{name}{labels:?} is not scraped"))
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until an evaluation that read the clock after it moved has finished. The counter goes up
/// as a pass starts, after it read the clock: the pass counted first may have read the old time,
/// the second read the new one, and it has finished once a third starts.
fn evaluated() {
    let before = scraped("obs_alert_evaluations_total", &[]);
    wait_until("three more evaluations", || scraped("obs_alert_evaluations_total", &[]) >= before + 3.0);
}

/// The notifications at `path`: (alertname, status, escalation level, acknowledged by).
fn heard(received: &[Received], path: &str) -> Vec<(String, String, u64, Option<String>)> {
    received
        .iter()
        .filter(|r| r.path == path)
        .map(|r| {
            (
                r.body["alertname"].as_str().unwrap_or("").to_owned(),
                r.body["status"].as_str().unwrap_or("").to_owned(),
                r.body["escalationLevel"].as_u64().unwrap_or(99),
                r.body["acknowledgedBy"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn note(name: &str, status: &str, level: u64, by: Option<&str>) -> (String, String, u64, Option<String>) {
    (name.to_owned(), status.to_owned(), level, by.map(str::to_owned))
}

#[test]
fn severities_are_routed_escalated_unless_acknowledged_and_acknowledged_with_the_token() {
    let receiver = Receiver::start();
    let t0 = 20_000 * 86_400;
    let clock = Arc::new(AtomicU64::new(t0));
    let read = clock.clone();
    let advance = |seconds: u64| {
        clock.fetch_add(seconds, Ordering::SeqCst);
        evaluated();
    };
    let gauge = |name: &str| Gauge::register(name, "test").expect("a new gauge");
    let (db, disk, deploy) =
        (gauge("escalation_test_db"), gauge("escalation_test_disk"), gauge("escalation_test_deploy"));
    let rule = |name: &str, gauge: &str, severity| {
        AlertRule::builder(name)
            .condition(Condition::gauge(gauge).above(0.0))
            .severity(severity)
            .message(name)
            .cooldown(Duration::ZERO)
            .build()
            .expect("a valid rule")
    };
    let webhook = |path: &str| Webhook::new(&receiver.url(path)).expect("an http URL").named(&path[1..]);
    let manager = AlertManager::builder()
        .rule(rule("db_down", "escalation_test_db", Severity::Critical))
        .rule(rule("disk_filling", "escalation_test_disk", Severity::Warning))
        .rule(rule("deploy_done", "escalation_test_deploy", Severity::Info))
        .channel(webhook("/oncall"))
        .channel(webhook("/lead"))
        .channel(webhook("/tickets"))
        .channel(webhook("/info"))
        .route(Severity::Critical, Route::to(["oncall"]).escalate_after(Duration::from_secs(900), ["lead"]))
        .route(Severity::Warning, Route::to(["tickets"]))
        .route(Severity::Info, Route::to(["info"]))
        .clock(move || SystemTime::UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst)))
        .interval(Duration::from_millis(10))
        .ack_token(TOKEN)
        .build()
        .expect("a valid manager");
    let obs = obs_runtime::Obs::builder().http_addr("127.0.0.1:0").alerts(manager).init().expect("obs starts");
    let addr = obs.http_addr().expect("the server runs");
    let sent = |channel: &str| scraped("obs_alert_notifications_sent_total", &[("channel", channel)]);
    // The level the evaluator has escalated db_down to (it queues the notification as it does).
    let level = || {
        let active = obs.alerts().expect("alerting runs").active();
        active.iter().find(|alert| alert.name == "db_down").map(|alert| alert.escalation_level)
    };

    // Each severity reaches its own channels, and only those.
    db.set(1.0);
    disk.set(1.0);
    deploy.set(1.0);
    wait_until("three deliveries", || sent("oncall") + sent("tickets") + sent("info") == 3.0);
    let received = receiver.received();
    assert_eq!(heard(&received, "/oncall"), [note("db_down", "firing", 0, None)]);
    assert_eq!(heard(&received, "/tickets"), [note("disk_filling", "firing", 0, None)]);
    assert_eq!(heard(&received, "/info"), [note("deploy_done", "firing", 0, None)]);
    assert!(heard(&received, "/lead").is_empty());

    // Unacknowledged: the lead hears it 15 minutes after the on-call did, not a second sooner.
    advance(899);
    assert_eq!(level(), Some(0));
    clock.fetch_add(1, Ordering::SeqCst);
    let received = receiver.wait_for(WAIT, |received| !heard(received, "/lead").is_empty());
    assert_eq!(heard(&received, "/lead"), [note("db_down", "firing", 1, None)]);
    // Whoever heard it fire hears it resolve.
    db.set(0.0);
    let received = receiver.wait_for(WAIT, |received| heard(received, "/lead").len() == 2);
    assert_eq!(heard(&received, "/lead")[1], note("db_down", "resolved", 1, None));
    wait_until("the on-call's resolution", || heard(&receiver.received(), "/oncall").len() == 2);

    // It fires again: the on-call first, as before.
    advance(60);
    db.set(1.0);
    wait_until("the on-call's second page", || heard(&receiver.received(), "/oncall").len() == 3);
    // Acknowledging: without the token, with a wrong one, or with GET, refused.
    let ack = |path: &str, headers: &str| common::request(addr, "POST", path, headers).expect("POST");
    let refused = ack("/alerts/db_down/ack", "");
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    let wrong = ack("/alerts/db_down/ack", "Authorization: Bearer test-ack-token-0123456780\r\n");
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("www-authenticate"), Some(r#"Bearer error="invalid_token""#));
    assert!(!wrong.body.contains(TOKEN), "{}", wrong.body);
    assert_eq!(common::get(addr, "/alerts/db_down/ack").expect("GET").status, 405);
    let bearer = format!("Authorization: Bearer {TOKEN}\r\n");
    assert_eq!(ack("/alerts/disk_filling/ack?by=a%20b", &bearer).status, 400);
    assert_eq!(ack("/alerts/not_a_rule/ack", &bearer).status, 404);
    let accepted = ack("/alerts/db_down/ack?by=alice%40example.com", &bearer);
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    let alert: serde_json::Value = serde_json::from_str(&accepted.body).expect("the alert as JSON");
    assert_eq!((&alert["alertname"], &alert["acknowledged"]), (&"db_down".into(), &true.into()));
    assert_eq!(alert["acknowledgedBy"], "alice@example.com");
    // At the manager's clock (15 minutes, a second and a minute after the start), not the wall's.
    assert!(alert["acknowledgedAt"].as_str().is_some_and(|at| at.starts_with("2024-10-04T00:16:00")), "{alert}");
    let listed: serde_json::Value =
        serde_json::from_str(&common::get(addr, "/alerts").expect("GET /alerts").body).expect("JSON");
    let listed = listed["alerts"].as_array().expect("a list").iter().find(|a| a["alertname"] == "db_down").cloned();
    assert_eq!(listed.expect("db_down is listed")["acknowledgedBy"], "alice@example.com");
    let requests = |result: &str| scraped("obs_alert_ack_requests_total", &[("result", result)]);
    assert_eq!(
        (requests("unauthorized"), requests("bad_request"), requests("not_firing"), requests("acknowledged")),
        (2.0, 1.0, 1.0, 1.0)
    );
    // Acknowledged: half an hour on, the lead has heard nothing of this firing.
    advance(1800);
    assert_eq!(level(), Some(0));
    // Its resolution goes to the on-call alone, saying who acknowledged it.
    db.set(0.0);
    let received = receiver.wait_for(WAIT, |received| heard(received, "/oncall").len() == 4);
    assert_eq!(heard(&received, "/oncall")[3], note("db_down", "resolved", 0, Some("alice@example.com")));
    assert_eq!(heard(&received, "/lead").len(), 2);
    assert_eq!((heard(&received, "/tickets").len(), heard(&received, "/info").len()), (1, 1));
    let index = common::get(addr, "/").expect("GET /").body;
    assert!(index.contains("POST /alerts/{name}/ack"), "{index}");
    drop(obs);
}
