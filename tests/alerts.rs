//! Alerting against the live registry: the built-in conditions read what `#[track_request]` and
//! hand-written metrics record, `/alerts` and `alerts_firing` show the state, and a channel that
//! fails or hangs never holds up the others or the evaluator. Time is driven by hand
//! (`evaluate_at`) except where the background thread is the point.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::receiver::{Hanging, Receiver, closed_port_url};
use obs_runtime::alerts::{
    Alert, AlertManager, AlertRule, AlertStatus, Channel, Condition, SendError, SendFuture, Severity, Webhook,
};
use obs_runtime::metrics::{Counter, Gauge, HistogramVec};
use obs_runtime::track_request;

const S: fn(u64) -> Duration = Duration::from_secs;

#[track_request("GET", "/alerts-test/users")]
fn get_user(fail: bool) -> Result<&'static str, http::StatusCode> {
    if fail { Err(http::StatusCode::INTERNAL_SERVER_ERROR) } else { Ok("ada") }
}

#[track_request("GET", "/alerts-test/other")]
fn other(fail: bool) -> Result<&'static str, http::StatusCode> {
    if fail { Err(http::StatusCode::SERVICE_UNAVAILABLE) } else { Ok("ok") }
}

#[test]
fn the_error_rate_is_the_share_of_5xx_over_the_window() {
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("high_error_rate")
                .condition(Condition::error_rate_percent().endpoint("/alerts-test/users").window(S(60)).above(5.0))
                .severity(Severity::Critical)
                .message("Error rate is {error_rate_percent}%")
                .label("service", "api-gateway")
                .cooldown(Duration::ZERO)
                .build()
                .expect("a valid rule"),
        )
        .build()
        .expect("a valid manager");
    let t0 = SystemTime::UNIX_EPOCH + S(1_000_000);
    // Errors before the first evaluation are outside every window.
    for _ in 0..50 {
        let _ = get_user(true);
    }
    assert!(manager.evaluate_at(t0).is_empty());
    // 8 of 100 fail here; another endpoint's errors do not count.
    for call in 0..100 {
        let _ = get_user(call % 25 < 2);
        let _ = other(true);
    }
    let fired = manager.evaluate_at(t0 + S(10));
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0].status, fired[0].message.as_str()), (AlertStatus::Firing, "Error rate is 8%"));
    assert_eq!(fired[0].labels["service"], "api-gateway");
    // Within the window the errors still count (8 of 200 is 4 %: below the threshold).
    for _ in 0..100 {
        let _ = get_user(false);
    }
    let resolved = manager.evaluate_at(t0 + S(40));
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].status, AlertStatus::Resolved);
    // No requests in the window at all is no value: not active.
    assert!(manager.evaluate_at(t0 + S(200)).is_empty());
    assert!(manager.active().is_empty());
}

#[test]
fn quantiles_and_rates_read_their_window() {
    let sizes = HistogramVec::register("alerts_test_payload_bytes", "sizes", &["kind"], &[100.0, 1000.0, 10000.0])
        .expect("a new histogram");
    let uploads = sizes.with_labels(&["upload"]).expect("one label value");
    let retries = Counter::register("alerts_test_retries_total", "retries").expect("a new counter");
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("big_uploads")
                .condition(
                    Condition::histogram_quantile("alerts_test_payload_bytes", 0.5)
                        .with_label("kind", "upload")
                        .window(S(60))
                        .above(500.0),
                )
                .message("median upload {quantile:.0} bytes")
                .build()
                .expect("a valid rule"),
        )
        .rule(
            AlertRule::builder("retry_storm")
                .condition(Condition::counter_rate("alerts_test_retries_total").window(S(60)).above(2.0))
                .message("{rate} retries/s")
                .build()
                .expect("a valid rule"),
        )
        .build()
        .expect("a valid manager");
    let t0 = SystemTime::UNIX_EPOCH + S(2_000_000);
    uploads.observe(50.0);
    retries.inc_by(1000.0);
    assert!(manager.evaluate_at(t0).is_empty());
    // Ten uploads in (100, 1000]: the median is interpolated in that bucket.
    for _ in 0..10 {
        uploads.observe(700.0);
    }
    retries.inc_by(30.0);
    let mut fired = manager.evaluate_at(t0 + S(10));
    fired.sort_by(|a, b| a.name.cmp(&b.name));
    let messages: Vec<&str> = fired.iter().map(|alert| alert.message.as_str()).collect();
    assert_eq!(messages, ["median upload 550 bytes", "3 retries/s"]);
}

#[test]
fn runtime_busy_percent_is_the_workers_busy_time_over_their_number() {
    // Catches: a busy share not divided by the workers (170%), not per second of the window, or
    // read from the wrong family. The runtime's families are written by hand here, with values
    // the test sets (this binary registers no runtime).
    let workers = Gauge::register("tokio_runtime_workers", "Workers").expect("registers");
    let busy =
        obs_runtime::metrics::CounterVec::register("tokio_runtime_worker_busy_seconds_total", "Busy", &["worker"])
            .expect("registers");
    let (first, second) = (busy.with_labels(&["0"]).expect("a series"), busy.with_labels(&["1"]).expect("a series"));
    workers.set(2.0);
    first.inc_by(100.0);
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("runtime_saturated")
                .condition(Condition::runtime_busy_percent().window(S(60)).above(80.0))
                .message("{runtime_busy_percent:.1}% busy")
                .build()
                .expect("a valid rule"),
        )
        .build()
        .expect("a valid manager");
    let t0 = SystemTime::UNIX_EPOCH + S(3_000_000);
    assert!(manager.evaluate_at(t0).is_empty());
    // In 10 s, 9 s and 8 s busy: 17 s of 20.
    first.inc_by(9.0);
    second.inc_by(8.0);
    let fired = manager.evaluate_at(t0 + S(10));
    assert_eq!(fired.iter().map(|alert| alert.message.as_str()).collect::<Vec<_>>(), ["85.0% busy"]);
    // Idle for the next 10 s: 17 s of 40 since the first sample, 42.5%: resolved.
    let resolved = manager.evaluate_at(t0 + S(20));
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].status, AlertStatus::Resolved);
}

/// The process's CPU time (user and system, all threads) in seconds, read by the test itself from
/// the kernel (`/proc/self/stat`, `getconf CLK_TCK`), not through obs.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // After "pid (comm) ": field 3 (state) first, so utime (field 14) is at 11 and stime at 12.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("(comm)") + 2..].split(' ').collect();
    let ticks = |index: usize| fields[index].parse::<u64>().expect("a tick count");
    static CLK_TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let per_second = *CLK_TCK.get_or_init(|| {
        let output = std::process::Command::new("getconf").arg("CLK_TCK").output().expect("getconf CLK_TCK");
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("CLK_TCK is a number")
    });
    (ticks(11) + ticks(12)) as f64 / per_second
}

#[test]
fn cpu_and_memory_read_the_process() {
    // Catches: a CPU percentage that does not read the process's CPU time, or divides by the wrong
    // interval (the value must lie between what the kernel counted inside and around the two
    // evaluations, over the 10 s the evaluations are apart).
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("cpu")
                .condition(Condition::cpu_usage_percent().above(1.0))
                .build()
                .expect("a valid rule"),
        )
        .rule(
            AlertRule::builder("memory")
                .condition(Condition::memory_usage_percent().above(0.0))
                .build()
                .expect("a valid rule"),
        )
        .build()
        .expect("a valid manager");
    let t0 = SystemTime::now();
    let outer_start = process_cpu_seconds();
    let first = manager.evaluate_at(t0);
    let inner_start = process_cpu_seconds();
    // No CPU rate before a second sample: only memory fires.
    assert_eq!(first.iter().map(|alert| alert.name.as_str()).collect::<Vec<_>>(), ["memory"]);
    let memory = first[0].value.expect("memory has a value");
    assert!(memory > 0.0 && memory < 100.0, "{memory}");
    // Burn at least 0.2 s of CPU, as the kernel counts it: 2 % of the 10 s between evaluations.
    let mut spin = 0u64;
    while process_cpu_seconds() - inner_start < 0.2 {
        for _ in 0..100_000 {
            spin = std::hint::black_box(spin.wrapping_mul(31).wrapping_add(7));
        }
    }
    let inner_end = process_cpu_seconds();
    let fired = manager.evaluate_at(t0 + S(10));
    let outer_end = process_cpu_seconds();
    assert_eq!(fired.iter().map(|alert| alert.name.as_str()).collect::<Vec<_>>(), ["cpu"], "{fired:?}");
    let cpu = fired[0].value.expect("CPU has a value");
    let (least, most) = ((inner_end - inner_start) * 10.0, (outer_end - outer_start) * 10.0);
    assert!(least >= 2.0, "{least}");
    assert!(least - 1e-9 <= cpu && cpu <= most + 1e-9, "CPU {cpu}% outside the kernel's [{least}, {most}]");
}

#[test]
fn the_embedded_server_lists_active_alerts_and_the_scrape_shows_them() {
    let depth = Gauge::register("alerts_test_queue_depth", "jobs waiting").expect("a new gauge");
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("queue_backlog")
                .condition(Condition::gauge("alerts_test_queue_depth").above(100.0))
                .severity(Severity::Warning)
                .message("{alerts_test_queue_depth} jobs waiting")
                .build()
                .expect("a valid rule"),
        )
        .rule(
            AlertRule::builder("queue_backlog_long")
                .condition(Condition::gauge("alerts_test_queue_depth").above(100.0))
                .for_duration(S(3600))
                .build()
                .expect("a valid rule"),
        )
        .interval(Duration::from_millis(50))
        .build()
        .expect("a valid manager");
    depth.set(150.0);
    let obs = obs_runtime::Obs::builder().http_addr("127.0.0.1:0").alerts(manager).init().expect("obs starts");
    let addr = obs.http_addr().expect("the server runs");
    let deadline = Instant::now() + S(10);
    let body = loop {
        let response = common::get(addr, "/alerts").expect("GET /alerts");
        assert_eq!(response.status, 200);
        let body: serde_json::Value = serde_json::from_str(&response.body).expect("/alerts is JSON");
        if body["alerts"].as_array().is_some_and(|alerts| alerts.len() == 2) {
            break body;
        }
        assert!(Instant::now() < deadline, "{body}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let alerts = body["alerts"].as_array().expect("a list of alerts");
    let firing = alerts.iter().find(|alert| alert["alertname"] == "queue_backlog").expect("queue_backlog is listed");
    assert_eq!(firing["status"], "firing");
    assert_eq!(firing["severity"], "warning");
    assert_eq!(firing["message"], "150 jobs waiting");
    assert_eq!(firing["value"], 150.0);
    let pending =
        alerts.iter().find(|alert| alert["alertname"] == "queue_backlog_long").expect("queue_backlog_long is listed");
    assert_eq!(pending["status"], "pending");
    // Acknowledging over HTTP is off without a token: no write on the port.
    let ack = common::request(addr, "POST", "/alerts/queue_backlog/ack", "").expect("POST");
    assert_eq!((ack.status, ack.header("allow")), (405, Some("GET, HEAD")));
    let scrape = common::get(addr, "/metrics").expect("GET /metrics").body;
    let firing = |name: &str| common::sample(&scrape, "alerts_firing", &[("alertname", name), ("severity", "warning")]);
    assert_eq!(firing("queue_backlog"), Some(1.0));
    assert_eq!(firing("queue_backlog_long"), Some(0.0));
    // The guard's manager is the one that runs: its two active alerts.
    let mut active: Vec<String> =
        obs.alerts().expect("alerting runs").active().into_iter().map(|alert| alert.name).collect();
    active.sort();
    assert_eq!(active, ["queue_backlog", "queue_backlog_long"]);
    obs.shutdown();
}

#[test]
fn a_failing_or_hanging_channel_holds_up_neither_the_others_nor_the_evaluator() {
    // Catches: deliveries made one channel after another (or inline in the evaluation), so that a
    // server that never answers holds up the good channel's notifications or the evaluator; and a
    // stop that loses what the hanging channel still held without counting it.
    let good = Receiver::start();
    let hanging = Hanging::start();
    let load = Gauge::register("alerts_test_load", "load").expect("a new gauge");
    // Counts this manager's evaluation passes.
    let passes = Arc::new(AtomicUsize::new(0));
    let counted = passes.clone();
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("overload")
                .condition(
                    Condition::custom("load", move |snapshot| {
                        counted.fetch_add(1, Ordering::Relaxed);
                        snapshot.max("alerts_test_load", &[])
                    })
                    .above(1.0),
                )
                .message("load {load}")
                .build()
                .expect("a valid rule"),
        )
        .channel(Webhook::new(&hanging.url()).expect("an http URL").named("hanging"))
        .channel(Webhook::new(&closed_port_url()).expect("an http URL").named("closed"))
        .channel(Webhook::new(&good.url("/good")).expect("an http URL").named("good"))
        .interval(Duration::from_millis(50))
        // Far beyond the test: the hanging server's first attempt is still waiting when it stops.
        .send_timeout(S(300))
        .build()
        .expect("a valid manager");
    let failed = |channel: &str| failed_notifications(channel).expect("the failure counter is registered");
    let sent = |channel: &str| {
        common::sample(&common::scrape(), "obs_alert_notifications_sent_total", &[("channel", channel)])
            .expect("the sent counter is registered")
    };
    let evaluations = || passes.load(Ordering::Relaxed);
    assert_eq!((failed("hanging"), failed("closed"), failed("good")), (0.0, 0.0, 0.0));
    load.set(5.0);
    let guard = manager.start().expect("the manager starts");
    let received = good.wait_for(S(60), |received| !received.is_empty());
    assert_eq!(received[0].path, "/good");
    assert_eq!(received[0].body["alertname"], "overload");
    assert_eq!(received[0].body["status"], "firing");
    assert_eq!(received[0].body["message"], "load 5");
    // The hanging server holds the first attempt; meanwhile the evaluator goes on (20 passes).
    wait_until("the hanging server got its request", || hanging.accepted() == 1);
    let before = evaluations();
    wait_until("20 more evaluations", || evaluations() >= before + 20);
    // The refused one failed after its three attempts, once; the good one delivered, once.
    wait_until("the refused notification counted", || failed("closed") == 1.0);
    wait_until("the good channel's delivery counted", || sent("good") == 1.0);
    assert_eq!((failed("hanging"), failed("good")), (0.0, 0.0));
    assert_eq!(hanging.accepted(), 1, "one attempt, still waiting for its answer");
    // The end of the overload is delivered to the good channel while the hanging one still hangs.
    load.set(0.0);
    let received = good.wait_for(S(60), |received| received.len() == 2);
    assert_eq!(received[1].body["status"], "resolved");
    wait_until("the refused resolution counted", || failed("closed") == 2.0);
    // Counted just after the send returns: waited for, not raced.
    wait_until("the good channel's two deliveries counted", || sent("good") == 2.0);
    // Stopping gives up on the hanging channel after the flush timeout: its firing notification
    // (in flight) and its resolution (queued) are both counted, exactly.
    drop(guard);
    assert_eq!((failed("hanging"), failed("closed"), failed("good")), (2.0, 2.0, 0.0));
    assert_eq!(sent("hanging"), 0.0);
}

#[test]
fn a_channel_that_never_answers_is_tried_three_times_then_counted_once() {
    // Catches: a retry loop that stops early or goes on for ever, or counts each attempt as a
    // failed notification.
    let hanging = Hanging::start();
    let heat = Gauge::register("alerts_test_heat", "heat").expect("a new gauge");
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("heat")
                .condition(Condition::gauge("alerts_test_heat").above(1.0))
                .build()
                .expect("a valid rule"),
        )
        .channel(Webhook::new(&hanging.url()).expect("an http URL").named("never_answers"))
        .interval(S(3600))
        .send_timeout(Duration::from_millis(100))
        .build()
        .expect("a valid manager");
    heat.set(5.0);
    let guard = manager.start().expect("the manager starts");
    wait_until("the notification counted as failed", || failed_notifications("never_answers") == Some(1.0));
    // One connection per attempt: three attempts, each timed out (the accepting thread may lag).
    wait_until("three connections accepted", || hanging.accepted() == 3);
    drop(guard);
    assert_eq!(failed_notifications("never_answers"), Some(1.0));
}

/// `obs_alert_notifications_failed_total{channel}` as scraped.
fn failed_notifications(channel: &str) -> Option<f64> {
    common::sample(&common::scrape(), "obs_alert_notifications_failed_total", &[("channel", channel)])
}

/// Polls `done` until it holds; fails the test, saying `what`, if it has not after a minute (a
/// bound on the test, not a claim about speed).
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + S(60);
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Holds every notification at a gate the test opens, telling the test which one it holds.
struct Gated {
    name: &'static str,
    gate: Arc<tokio::sync::Semaphore>,
    sending: std::sync::Mutex<std::sync::mpsc::Sender<AlertStatus>>,
    delivered: Arc<std::sync::Mutex<Vec<AlertStatus>>>,
}

impl Gated {
    /// The channel, its gate (shut: open it with `add_permits(1)`), what it is sending, and what it
    /// delivered.
    #[allow(clippy::type_complexity)]
    fn new(
        name: &'static str,
    ) -> (
        Gated,
        Arc<tokio::sync::Semaphore>,
        std::sync::mpsc::Receiver<AlertStatus>,
        Arc<std::sync::Mutex<Vec<AlertStatus>>>,
    ) {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (sending, is_sending) = std::sync::mpsc::channel();
        let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
        let channel =
            Gated { name, gate: gate.clone(), sending: std::sync::Mutex::new(sending), delivered: delivered.clone() };
        (channel, gate, is_sending, delivered)
    }
}

impl Channel for Gated {
    fn name(&self) -> &str {
        self.name
    }
    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move {
            let _ = self.sending.lock().map(|sending| sending.send(alert.status));
            // Once open, the gate stays open: the permit goes back.
            drop(self.gate.acquire().await.map_err(|_| SendError::permanent("the gate closed"))?);
            self.delivered.lock().map_err(|_| SendError::permanent("poisoned"))?.push(alert.status);
            Ok(())
        })
    }
}

/// A new gauge `gauge`, and a manager with one rule, firing while it is above 1 (no cooldown),
/// sending to `channels` with `send_timeout`. Only the evaluation at start runs on its own (the
/// interval is an hour): the test makes the others with `evaluate_at`.
fn on_a_gauge(gauge: &str, channels: Vec<Box<dyn Channel>>, send_timeout: Duration) -> (Gauge, AlertManager) {
    let level = Gauge::register(gauge, "level").expect("a new gauge");
    let mut manager = AlertManager::builder()
        .rule(
            AlertRule::builder(gauge)
                .condition(Condition::gauge(gauge).above(1.0))
                .cooldown(Duration::ZERO)
                .build()
                .expect("a valid rule"),
        )
        .interval(S(3600))
        .send_timeout(send_timeout);
    for channel in channels {
        manager = manager.channel(channel);
    }
    (level, manager.build().expect("a valid manager"))
}

#[test]
fn a_full_queue_drops_and_counts_exactly_what_did_not_fit() {
    // Catches: a full queue that blocks the evaluator, grows without bound, or drops notifications
    // without counting them (or counts the wrong number).
    const QUEUE: usize = 256;
    const EXTRA: usize = 10;
    let (channel, gate, sending, delivered) = Gated::new("full_queue");
    let (level, manager) = on_a_gauge("alerts_test_level", vec![Box::new(channel)], S(300));
    level.set(5.0);
    let guard = manager.start().expect("the manager starts");
    // The firing notification from the first evaluation is being sent, held at the gate: the
    // queue behind it is empty.
    assert_eq!(sending.recv_timeout(S(60)), Ok(AlertStatus::Firing));
    // 266 more notifications, resolved and firing in turn: 256 fill the queue, 10 do not fit.
    let t0 = SystemTime::now() + S(1);
    for index in 0..QUEUE + EXTRA {
        level.set(if index % 2 == 0 { 0.0 } else { 5.0 });
        let announced = manager.evaluate_at(t0 + S(index as u64));
        assert_eq!(announced.len(), 1, "evaluation {index}: {announced:?}");
    }
    assert_eq!(failed_notifications("full_queue"), Some(EXTRA as f64));
    gate.add_permits(1);
    wait_until("the queued notifications delivered", || {
        delivered.lock().map(|delivered| delivered.len()).unwrap_or(0) == 1 + QUEUE
    });
    // Counted just after each send returns: waited for, not raced.
    wait_until("every delivery counted", || sent_notifications("full_queue") == Some((1 + QUEUE) as f64));
    // In order: the first firing, then the 256 that fitted (resolved, firing, ...).
    let expected: Vec<AlertStatus> =
        (0..=QUEUE).map(|index| if index % 2 == 0 { AlertStatus::Firing } else { AlertStatus::Resolved }).collect();
    assert_eq!(*delivered.lock().expect("delivered"), expected);
    drop(guard);
    assert_eq!(failed_notifications("full_queue"), Some(EXTRA as f64));
}

/// Blocks its thread in `send` (a synchronous wait, as a blocking client would) until the test
/// lets it go; tells the test each time a send begins, and each time a send's future is gone.
struct Blocking {
    name: &'static str,
    entered: std::sync::Mutex<std::sync::mpsc::Sender<AlertStatus>>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    left: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
}

/// What a test holds to drive a [`Blocking`]: sends begun, sends let go, sends' futures gone.
struct BlockingControl {
    entered: std::sync::mpsc::Receiver<AlertStatus>,
    release: std::sync::mpsc::Sender<()>,
    left: std::sync::mpsc::Receiver<()>,
}

impl Blocking {
    fn new(name: &'static str) -> (Blocking, BlockingControl) {
        let (entered, is_entered) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel();
        let (left, has_left) = std::sync::mpsc::channel();
        let channel = Blocking {
            name,
            entered: std::sync::Mutex::new(entered),
            release: std::sync::Mutex::new(released),
            left: std::sync::Mutex::new(left),
        };
        (channel, BlockingControl { entered: is_entered, release, left: has_left })
    }
}

/// Says "gone" when dropped, with the send's future.
struct Left(Option<std::sync::mpsc::Sender<()>>);

impl Drop for Left {
    fn drop(&mut self) {
        if let Some(left) = self.0.take() {
            let _ = left.send(());
        }
    }
}

impl Channel for Blocking {
    fn name(&self) -> &str {
        self.name
    }
    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        let left = Left(self.left.lock().ok().map(|left| left.clone()));
        Box::pin(async move {
            let _left = left;
            let _ = self.entered.lock().map(|entered| entered.send(alert.status));
            // No `.await`: the thread itself waits.
            let _ = self.release.lock().map(|release| release.recv());
            Ok(())
        })
    }
}

fn sent_notifications(channel: &str) -> Option<f64> {
    common::sample(&common::scrape(), "obs_alert_notifications_sent_total", &[("channel", channel)])
}

#[test]
fn a_channel_that_blocks_its_thread_holds_up_no_other_channel() {
    // Catches: sends run on obs's runtime thread, where one channel that blocks stalls the other
    // channels' deliveries (and /metrics, the health probes and the evaluator with them).
    let (blocking, BlockingControl { entered, release, left: _ }) = Blocking::new("blocks_its_thread");
    let (beside, gate, sending, delivered) = Gated::new("beside_a_blocking_one");
    gate.add_permits(1);
    let (level, manager) = on_a_gauge("alerts_test_blocking_level", vec![Box::new(blocking), Box::new(beside)], S(300));
    level.set(5.0);
    let guard = manager.start().expect("the manager starts");
    // The firing notification holds a thread in the blocking channel's send.
    assert_eq!(entered.recv_timeout(S(60)), Ok(AlertStatus::Firing));
    assert_eq!(sending.recv_timeout(S(60)), Ok(AlertStatus::Firing));
    // While it does, the resolution reaches the other channel.
    level.set(0.0);
    let resolved = manager.evaluate_at(SystemTime::now() + S(1));
    assert_eq!(resolved.iter().map(|alert| alert.status).collect::<Vec<_>>(), [AlertStatus::Resolved]);
    assert_eq!(sending.recv_timeout(S(60)), Ok(AlertStatus::Resolved));
    wait_until("the other channel's deliveries", || {
        delivered.lock().map(|delivered| delivered.len()).unwrap_or(0) == 2
    });
    assert_eq!(*delivered.lock().expect("delivered"), [AlertStatus::Firing, AlertStatus::Resolved]);
    assert_eq!(sent_notifications("blocks_its_thread"), Some(0.0));
    // Let both of the blocking channel's sends go: each is delivered, in order.
    release.send(()).expect("the channel waits");
    assert_eq!(entered.recv_timeout(S(60)), Ok(AlertStatus::Resolved));
    release.send(()).expect("the channel waits");
    wait_until("the blocking channel's deliveries counted", || sent_notifications("blocks_its_thread") == Some(2.0));
    assert_eq!(failed_notifications("blocks_its_thread"), Some(0.0));
    drop(guard);
}

#[test]
fn a_channel_blocked_past_its_timeout_holds_one_thread_and_fails_the_rest() {
    // Catches: each retry and each later notification of a channel stuck in a blocking call taking
    // another thread of the pool (health checks and evaluations share it), or the channel staying
    // refused after its thread is back. (Each attempt waits up to the send timeout for the thread.)
    let (blocking, BlockingControl { entered, release, left }) = Blocking::new("blocked_past_its_timeout");
    let (level, manager) = on_a_gauge("alerts_test_stuck_level", vec![Box::new(blocking)], Duration::from_millis(500));
    level.set(5.0);
    let guard = manager.start().expect("the manager starts");
    assert_eq!(entered.recv_timeout(S(60)), Ok(AlertStatus::Firing));
    // The attempt times out; its retry waits for the thread, which is still held: the firing fails.
    wait_until("the firing notification failed", || failed_notifications("blocked_past_its_timeout") == Some(1.0));
    // So does the resolution, without a send.
    level.set(0.0);
    let t0 = SystemTime::now() + S(1);
    assert_eq!(manager.evaluate_at(t0).len(), 1);
    wait_until("the resolution failed", || failed_notifications("blocked_past_its_timeout") == Some(2.0));
    assert_eq!(entered.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty), "one thread entered the channel");
    // The thread comes back (the send's future is gone, and the thread with it); the next
    // notification takes it and is sent.
    release.send(()).expect("the channel waits");
    assert_eq!(left.recv_timeout(S(60)), Ok(()));
    level.set(5.0);
    assert_eq!(manager.evaluate_at(t0 + S(1)).len(), 1);
    assert_eq!(entered.recv_timeout(S(60)), Ok(AlertStatus::Firing));
    release.send(()).expect("the channel waits");
    wait_until("the notification after the thread came back", || {
        sent_notifications("blocked_past_its_timeout") == Some(1.0)
    });
    assert_eq!(failed_notifications("blocked_past_its_timeout"), Some(2.0));
    drop(guard);
}

/// Panics on its first notification, records the others.
struct Flaky {
    calls: AtomicUsize,
    delivered: Arc<std::sync::Mutex<Vec<AlertStatus>>>,
}

impl Channel for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move {
            if self.calls.fetch_add(1, Ordering::Relaxed) == 0 {
                panic!("a bug in a channel");
            }
            self.delivered.lock().map_err(|_| SendError::permanent("poisoned"))?.push(alert.status);
            Ok(())
        })
    }
}

#[test]
fn a_panicking_channel_fails_one_notification_and_keeps_delivering() {
    let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let flaky: Box<dyn Channel> = Box::new(Flaky { calls: AtomicUsize::new(0), delivered: delivered.clone() });
    let pressure = Gauge::register("alerts_test_pressure", "pressure").expect("a new gauge");
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("pressure")
                .condition(Condition::gauge("alerts_test_pressure").above(1.0))
                .build()
                .expect("a valid rule"),
        )
        .channel(flaky)
        .interval(Duration::from_millis(20))
        .build()
        .expect("a valid manager");
    let failed = || common::sample(&common::scrape(), "obs_alert_notifications_failed_total", &[("channel", "flaky")]);
    pressure.set(5.0);
    let guard = manager.start().expect("the manager starts");
    let deadline = Instant::now() + S(10);
    while failed() != Some(1.0) {
        assert!(Instant::now() < deadline, "the panic was not counted");
        std::thread::sleep(Duration::from_millis(10));
    }
    pressure.set(0.0);
    let deadline = Instant::now() + S(10);
    while delivered.lock().map(|d| d.clone()).unwrap_or_default() != [AlertStatus::Resolved] {
        assert!(Instant::now() < deadline, "the resolution after the panic was not delivered");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(guard);
}

#[test]
fn two_channels_may_not_share_a_name() {
    let hook = || Webhook::new("http://127.0.0.1:1/hook").expect("an http URL");
    let error = AlertManager::builder().channel(hook()).channel(hook()).build().expect_err("the same name twice");
    assert!(error.to_string().contains("\"webhook\""), "{error}");
    AlertManager::builder().channel(hook()).channel(hook().named("second")).build().expect("distinct names");
}

#[test]
fn a_custom_condition_may_touch_the_family_it_reads() {
    let slots =
        obs_runtime::metrics::GaugeVec::register("alerts_test_slots", "slots", &["pool"]).expect("a new family");
    slots.with_labels(&["a"]).expect("one label").set(1.0);
    let touched = slots.clone();
    // Whether the application's call inside the read was answered.
    let answered = Arc::new(AtomicUsize::new(0));
    let answers = answered.clone();
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("slots")
                .condition(
                    Condition::custom("slots", move |snapshot| {
                        let mut total = 0.0;
                        // Inside the read, the application's own call on the same family: it
                        // would wait for the family's lock forever if the read held it.
                        snapshot.for_each("alerts_test_slots", |_, value| {
                            total += value;
                            if touched.with_labels(&["b"]).is_ok() {
                                answers.fetch_add(1, Ordering::SeqCst);
                            }
                        });
                        Some(total)
                    })
                    .above(0.5),
                )
                .build()
                .expect("a valid rule"),
        )
        .build()
        .expect("a valid manager");
    // Catches: a read that holds the family's lock while calling back (a deadlock, or a failed
    // with_labels), or that sees the series the callback adds in the same pass.
    let fired = manager.evaluate_at(SystemTime::now());
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].value, Some(1.0));
    assert_eq!(answered.load(Ordering::SeqCst), 1);
    // The series the callback made exists, at 0.
    assert_eq!(common::sample(&common::scrape(), "alerts_test_slots", &[("pool", "b")]), Some(0.0));
}
