//! The demo's alerting end to end: a burst of failing requests over HTTP fires the chapter's
//! `high_error_rate`, which reaches a Slack-format webhook, a generic webhook, a real Alertmanager
//! (through API v2, routed on to its own webhook) and an SMTP server; when the errors stop and
//! leave the window, each of them receives the resolution.

mod common;

use std::time::Duration;

use common::backends::Alertmanager;
use common::demo::Demo;
use common::receiver::{Received, Receiver};

const WAIT: Duration = Duration::from_secs(30);

fn with_status<'a>(received: &'a [Received], path: &str, status: &str) -> Option<&'a Received> {
    received.iter().find(|r| r.path == path && r.body["status"] == status)
}

fn slack_with_status<'a>(received: &'a [Received], status: &str) -> Option<&'a Received> {
    received.iter().find(|r| {
        r.path == "/slack"
            && r.body["attachments"][0]["title"] == "Alert: high_error_rate"
            && r.body["attachments"][0]["fields"][1]["value"] == status
    })
}

#[test]
#[ignore = "needs prometheus-alertmanager: scripts/install-backends.sh"]
fn failing_requests_fire_high_error_rate_everywhere_and_its_end_resolves_it() {
    let receiver = Receiver::start();
    let alertmanager = Alertmanager::start(&receiver.url("/alertmanager-webhook"));
    let demo = Demo::start_with(&[
        ("OBS_SLACK_WEBHOOK_URL", &receiver.url("/slack")),
        ("OBS_WEBHOOK_URL", &receiver.url("/webhook")),
        ("OBS_ALERTMANAGER_URL", &alertmanager.url()),
        ("OBS_ALERT_EVAL_INTERVAL", "200ms"),
        ("OBS_ERROR_RATE_WINDOW", "3s"),
        ("OBS_ERROR_RATE_FOR", "600ms"),
    ]);
    for _ in 0..20 {
        let response = common::get(demo.app, "/users/1?fail=1").expect("request the demo");
        assert_eq!(response.status, 500);
    }
    // Pending first (`for` is 600 ms), then firing; /alerts shows it.
    let fired = receiver.wait_for(WAIT, |received| {
        slack_with_status(received, "firing").is_some()
            && with_status(received, "/webhook", "firing").is_some()
            && with_status(received, "/alertmanager-webhook", "firing").is_some()
    });
    let slack = &slack_with_status(&fired, "firing").expect("valid in this test").body["attachments"][0];
    assert_eq!(slack["color"], "danger");
    assert_eq!(slack["text"], "Error rate is 100.0%");
    assert_eq!(slack["fields"][0]["title"], "Severity");
    assert_eq!(slack["fields"][0]["value"], "critical");
    assert_eq!(slack["fields"][2]["title"], "Time");
    let webhook = &with_status(&fired, "/webhook", "firing").expect("valid in this test").body;
    assert_eq!(webhook["alertname"], "high_error_rate");
    assert_eq!(webhook["labels"]["service"], "user-service");
    assert_eq!(webhook["value"], 100.0);
    // Alertmanager routed it: its own webhook format, our labels and annotations.
    let routed = &with_status(&fired, "/alertmanager-webhook", "firing").expect("valid in this test").body;
    let alert = &routed["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "high_error_rate");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["service"], "user-service");
    assert_eq!(alert["annotations"]["summary"], "Error rate is 100.0%");
    let listed = common::get(demo.metrics, "/alerts").expect("GET /alerts");
    let listed: serde_json::Value = serde_json::from_str(&listed.body).expect("JSON");
    assert!(
        listed["alerts"]
            .as_array()
            .expect("valid in this test")
            .iter()
            .any(|a| a["alertname"] == "high_error_rate" && a["status"] == "firing"),
        "{listed}"
    );
    let scrape = demo.scrape();
    let firing =
        common::sample(&scrape, "alerts_firing", &[("alertname", "high_error_rate"), ("severity", "critical")]);
    assert_eq!(firing, Some(1.0), "{scrape}");
    // No more errors: after the window there are no requests in it, and the alert resolves.
    let resolved = receiver.wait_for(WAIT, |received| {
        slack_with_status(received, "resolved").is_some()
            && with_status(received, "/webhook", "resolved").is_some()
            && with_status(received, "/alertmanager-webhook", "resolved").is_some()
    });
    assert_eq!(
        slack_with_status(&resolved, "resolved").expect("valid in this test").body["attachments"][0]["color"],
        "good"
    );
    assert!(with_status(&resolved, "/webhook", "resolved").expect("valid in this test").body["endsAt"].is_string());
    assert_eq!(
        with_status(&resolved, "/alertmanager-webhook", "resolved").expect("valid in this test").body["alerts"][0]["labels"]
            ["alertname"],
        "high_error_rate"
    );
    // The log channel wrote both, the firing one at ERROR (critical).
    let logged = |status: &'static str| {
        move |line: &serde_json::Value| {
            line["metadata"]["alertname"] == "high_error_rate" && line["metadata"]["status"] == status
        }
    };
    let firing_line = demo.log_line(logged("firing"));
    assert_eq!(
        (firing_line["level"].as_str(), firing_line["message"].as_str()),
        (Some("ERROR"), Some("Error rate is 100.0%"))
    );
    demo.log_line(logged("resolved"));
    let scrape = demo.scrape();
    for channel in ["slack", "webhook", "alertmanager"] {
        let failed = common::sample(&scrape, "obs_alert_notifications_failed_total", &[("channel", channel)]);
        assert_eq!(failed, Some(0.0), "{channel}: {scrape}");
    }
    let status = demo.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status}");
}
