//! Push to a real Prometheus Pushgateway (Debian's `prometheus-pushgateway`): a push lands under
//! its grouping key (values with a `/` included) with the values the test recorded, a real
//! Prometheus scrapes them from the gateway, push-add keeps the group's other families, delete
//! removes the group, `ObsBuilder::pushgateway` pushes when the guard stops obs, and a gateway
//! that is down is an `Err` (counted) that does not hang.
//!
//! Ignored by default: they need `prometheus-pushgateway` and `prometheus` on PATH
//! (`scripts/install-backends.sh` installs them; `scripts/test.sh` runs these).

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;
use common::backends::free_port;
use common::demo::KillOnDrop;
use obs_runtime::metrics::push::Pushgateway;
use obs_runtime::metrics::{Counter, Gauge, Samples};

/// A Pushgateway on 127.0.0.1, up once it answers.
struct Gateway {
    addr: SocketAddr,
    _process: KillOnDrop,
}

impl Gateway {
    fn start() -> Gateway {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("an address");
        let child = Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot run prometheus-pushgateway ({error}): run scripts/install-backends.sh")
            });
        let process = KillOnDrop::new("prometheus-pushgateway", child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !common::get(addr, "/-/ready").is_ok_and(|response| response.status == 200) {
            assert!(Instant::now() < deadline, "the Pushgateway did not get ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Gateway { addr, _process: process }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the gateway serves now.
    fn metrics(&self) -> String {
        let response = common::get(self.addr, "/metrics").expect("scrape the gateway");
        assert_eq!(response.status, 200, "{response:?}");
        response.body
    }
}

#[test]
#[ignore = "needs prometheus-pushgateway and prometheus: run scripts/test.sh"]
fn a_push_lands_under_its_grouping_key_and_prometheus_scrapes_it_from_the_gateway() {
    let gateway = Gateway::start();
    let rows = Counter::register("pushtest_rows_total", "Rows imported").expect("registers");
    rows.inc_by(1200.0);
    let lag = Gauge::register("pushtest_lag_seconds", "Lag").expect("registers");
    lag.set(4.5);
    let push = Pushgateway::new(&gateway.url(), "nightly import")
        .and_then(|push| push.grouping("instance", "db/2"))
        .expect("valid");
    push.push_blocking().expect("pushed");

    // The gateway serves the values under the grouping key, a value with a `/` and a space intact.
    let served = gateway.metrics();
    assert!(served.contains("pushtest_rows_total{instance=\"db/2\",job=\"nightly import\"} 1200\n"), "{served}");
    assert!(served.contains("pushtest_lag_seconds{instance=\"db/2\",job=\"nightly import\"} 4.5\n"), "{served}");

    // A real Prometheus scrapes the gateway (with `honor_labels`, as the gateway's docs say).
    let dir = TempDir::new("pushgateway-prometheus");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: pushgateway\n    \
             honor_labels: true\n    static_configs:\n      - targets: ['{}']\n",
            gateway.addr
        ),
    )
    .expect("write prometheus.yml");
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("an address");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address={web}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run prometheus ({error}): run scripts/install-backends.sh"));
    let mut prometheus = KillOnDrop::new("prometheus", child);
    let query = "/api/v1/query?query=pushtest_rows_total%7Bjob%3D%22nightly%20import%22%7D";
    let deadline = Instant::now() + Duration::from_secs(60);
    let value = loop {
        if let Ok(response) = common::get(web, query)
            && let Ok(answer) = serde_json::from_str::<serde_json::Value>(&response.body)
            && let Some(series) = answer["data"]["result"].as_array().and_then(|result| result.first().cloned())
        {
            break series;
        }
        assert!(Instant::now() < deadline, "Prometheus did not get the pushed value from the gateway");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(value["metric"]["instance"], "db/2", "{value}");
    assert_eq!(value["value"][1], "1200", "{value}");
    let stopped = prometheus.signal_and_wait("TERM", Duration::from_secs(30));
    assert!(stopped.success(), "prometheus after SIGTERM: {stopped}");

    // Push-add replaces the families pushed and keeps the group's others: a family only the
    // gateway has (pushed by another process, here by hand) stays.
    let family = "pushtest_other_family 7.0\n";
    let other = common::raw_request(
        gateway.addr,
        &format!(
            "POST /metrics/job@base64/bmlnaHRseSBpbXBvcnQ=/instance@base64/ZGIvMg== HTTP/1.1\r\nHost: {}\r\n\
             Content-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{family}",
            gateway.addr,
            family.len()
        ),
    );
    assert_eq!(other.expect("a push by hand").status, 200);
    rows.inc();
    push.push_add_blocking().expect("pushed");
    let served = gateway.metrics();
    assert!(served.contains("pushtest_rows_total{instance=\"db/2\",job=\"nightly import\"} 1201\n"), "{served}");
    assert!(served.contains("pushtest_other_family{instance=\"db/2\",job=\"nightly import\"} 7\n"), "{served}");
    // Push replaces the whole group: the other family goes.
    push.push_blocking().expect("pushed");
    assert!(!gateway.metrics().contains("pushtest_other_family"));

    // Delete removes the group. The gateway answers a DELETE at once and applies the requests
    // in order: once the next push (the async form, from inside an application's runtime, of
    // one family only) is in, the group is gone.
    push.delete_blocking().expect("deleted");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let async_push = Pushgateway::new(&gateway.url(), "async_job").expect("valid").only(["pushtest_rows_total"]);
    runtime.block_on(async_push.push()).expect("pushed");
    let served = gateway.metrics();
    assert!(!served.contains("job=\"nightly import\""), "{served}");
    assert!(served.contains("pushtest_rows_total{instance=\"\",job=\"async_job\"} 1201\n"), "{served}");
    // `only`: that group has the family named and the gateway's own, nothing else.
    let families: Vec<&str> = served
        .lines()
        .filter(|line| line.contains("job=\"async_job\""))
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect();
    assert_eq!(families, ["push_failure_time_seconds", "push_time_seconds", "pushtest_rows_total"], "{served}");
}

#[test]
#[ignore = "needs prometheus-pushgateway: run scripts/test.sh"]
fn what_the_gateway_would_overwrite_is_refused_before_sending_and_its_refusals_are_errs() {
    let gateway = Gateway::start();
    let errors =
        |reason| Samples::take().get("obs_internal_errors_total", &[("component", "push"), ("reason", reason)]);
    // A family with a label of the grouping key: the gateway would overwrite its values. (Its
    // label is one no other test groups by: the registry is the process's, and every whole-
    // registry push of the other tests would be refused too.)
    let clash =
        obs_runtime::metrics::GaugeVec::register("pushtest_clash_info", "Has zone", &["zone"]).expect("registers");
    clash.with_labels(&["eu-1"]).expect("a series").set(1.0);
    let push = Pushgateway::new(&gateway.url(), "clash_job")
        .and_then(|push| push.grouping("zone", "eu-2"))
        .expect("valid")
        .only(["pushtest_clash_info"]);
    let before = errors("push_refused");
    assert_eq!(
        push.push_blocking().expect_err("refused").to_string(),
        "the family pushtest_clash_info has the label zone, which the grouping key sets (the Pushgateway \
         would overwrite it): nothing was pushed"
    );
    assert_eq!(errors("push_refused") - before, 1.0);
    assert!(!gateway.metrics().contains("clash_job"), "nothing was sent");

    // A family the gateway holds with another type, from another pusher: it answers 400, quoted.
    let body = "# TYPE pushtest_conflict counter\npushtest_conflict 1\n";
    let other = common::raw_request(
        gateway.addr,
        &format!(
            "PUT /metrics/job/other_pusher HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain; version=0.0.4\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            gateway.addr,
            body.len()
        ),
    );
    assert_eq!(other.expect("a push by hand").status, 200);
    Gauge::register("pushtest_conflict", "A gauge here").expect("registers").set(2.0);
    let conflicting = Pushgateway::new(&gateway.url(), "conflict_job").expect("valid").only(["pushtest_conflict"]);
    let before = errors("push_failed");
    let message = conflicting.push_blocking().expect_err("the gateway refuses it").to_string();
    let start = format!("the Pushgateway {} answered PUT with HTTP 400 Bad Request: ", gateway.url());
    assert!(message.starts_with(&start), "{message}");
    assert!(message.contains("pushtest_conflict"), "the gateway's own reason is kept: {message}");
    assert_eq!(errors("push_failed") - before, 1.0);
}

#[test]
fn a_gateway_that_never_answers_is_an_err_after_the_timeout() {
    let hanging = common::receiver::Hanging::start();
    let push = Pushgateway::new(&hanging.url(), "hang_job").expect("valid").timeout(Duration::from_millis(300));
    let message = push.push_blocking().expect_err("no answer").to_string();
    let gateway = hanging.url().trim_end_matches("/hook").to_owned();
    assert_eq!(message, format!("PUT to the Pushgateway {gateway}: no answer within 300ms"));
    assert_eq!(hanging.accepted(), 1);
}

#[test]
#[ignore = "needs prometheus-pushgateway: run scripts/test.sh"]
fn the_guard_pushes_when_obs_stops() {
    let gateway = Gateway::start();
    let done = Counter::register("pushtest_on_stop_total", "Counted before stopping").expect("registers");
    let push = Pushgateway::new(&gateway.url(), "on_stop").expect("valid");
    let guard = obs_runtime::Obs::builder().without_http_server().pushgateway(push).init().expect("starts");
    done.inc_by(3.0);
    assert!(!gateway.metrics().contains("pushtest_on_stop_total"), "nothing is pushed before the stop");
    drop(guard);
    let served = gateway.metrics();
    assert!(served.contains("pushtest_on_stop_total{instance=\"\",job=\"on_stop\"} 3\n"), "{served}");
}

#[test]
fn a_gateway_that_is_down_is_an_err_counted_and_quick() {
    // A port nothing listens on: refused at once.
    let closed = common::receiver::closed_port_url();
    let push = Pushgateway::new(&closed, "down_job")
        .and_then(|push| push.grouping("instance", "secret-host-name"))
        .expect("valid")
        .timeout(Duration::from_secs(5));
    let reason = [("component", "push"), ("reason", "push_failed")];
    let before = Samples::take().get("obs_internal_errors_total", &reason);
    let error = push.push_blocking().expect_err("nothing listens there");
    let message = error.to_string();
    assert!(message.starts_with("PUT to the Pushgateway http://127.0.0.1:"), "{message}");
    // The URL's path (`/hook` here, a prefix) is not shown.
    assert!(!message.contains("/hook"), "{message}");
    assert_eq!(Samples::take().get("obs_internal_errors_total", &reason) - before, 1.0);
}
