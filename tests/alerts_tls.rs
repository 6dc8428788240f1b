//! `https://` channels (feature `alerts-tls`) against a real TLS server with a CA of the test's
//! own: trusted with `with_root_certificate_pem`, the Slack payload and the webhook's arrive;
//! without it, the handshake fails for good and the failure is counted.

mod common;

use std::time::{Duration, Instant};

use common::receiver::HttpsReceiver;
use common::tls::Certificates;
use obs_runtime::alerts::{AlertManager, AlertRule, Condition, Severity, Slack, Webhook};
use obs_runtime::metrics::Gauge;

#[test]
#[ignore = "needs the openssl command and python3 (scripts/install-backends.sh checks them)"]
fn https_channels_deliver_when_the_ca_is_trusted_and_count_a_failure_when_not() {
    let certificates = Certificates::new();
    let (cert, key) = certificates.server();
    let receiver = HttpsReceiver::start(&cert, &key);
    let ca = certificates.ca_pem();
    let errors = Gauge::register("alerts_tls_errors", "errors").expect("a new gauge");
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("tls_errors")
                .condition(Condition::gauge("alerts_tls_errors").above(0.0))
                .severity(Severity::Critical)
                .message("{value} errors")
                .build()
                .expect("a valid rule"),
        )
        .channel(
            Slack::new(&receiver.url("/slack")).and_then(|slack| slack.with_root_certificate_pem(&ca)).expect("slack"),
        )
        .channel(
            Webhook::new(&receiver.url("/hook"))
                .and_then(|hook| hook.with_root_certificate_pem(&ca))
                .expect("webhook")
                .named("trusted"),
        )
        .channel(Webhook::new(&receiver.url("/untrusted")).expect("webhook").named("untrusted"))
        .interval(Duration::from_millis(100))
        .build()
        .expect("a valid manager");
    errors.set(3.0);
    let guard = manager.start().expect("the manager starts");
    let received = receiver.wait_for(Duration::from_secs(20), |received| {
        ["/slack", "/hook"].iter().all(|path| received.iter().any(|r| r.path == *path))
    });
    let slack = received.iter().find(|r| r.path == "/slack").expect("slack");
    assert_eq!(slack.body["attachments"][0]["text"], "3 errors");
    assert_eq!(slack.body["attachments"][0]["color"], "danger");
    let hook = received.iter().find(|r| r.path == "/hook").expect("webhook");
    assert_eq!(hook.body["alertname"], "tls_errors");
    // The untrusted one never got through, and its failure is counted once.
    let failed = |channel: &str| {
        common::sample(&common::scrape(), "obs_alert_notifications_failed_total", &[("channel", channel)])
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while failed("untrusted") != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "the untrusted channel's failure was not counted: {:?}",
            failed("untrusted")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(receiver.received().iter().all(|r| r.path != "/untrusted"));
    assert_eq!(failed("trusted"), Some(0.0));
    drop(guard);
}

#[test]
fn a_root_certificate_is_checked() {
    let error = Webhook::new("https://127.0.0.1:1/hook")
        .and_then(|hook| hook.with_root_certificate_pem(b"not a certificate"))
        .expect_err("not PEM");
    assert!(error.to_string().contains("no certificate"), "{error}");
    let error = Webhook::new("http://127.0.0.1:1/hook")
        .and_then(|hook| hook.with_root_certificate_pem(b""))
        .expect_err("not https");
    assert!(error.to_string().contains("https://"), "{error}");
}
