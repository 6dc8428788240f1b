//! Alerts: a rule over a live metric, evaluated in the background, and a notification channel of
//! your own next to the built-in ones (Slack, webhooks, e-mail, Alertmanager, the log).
//!
//! ```text
//! cargo run --example alerts
//! ```
//!
//! A queue's depth goes over the rule's threshold, so the alert fires; it goes back down, so the
//! alert resolves. The example prints both notifications as its channel receives them, then the
//! same rule as a Prometheus rules file, and exits.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use obs_runtime::alerts::{Alert, AlertManager, AlertRule, Channel, Condition, SendFuture, Severity};
use obs_runtime::metrics::Gauge;

/// A channel that hands each notification to `main` (a real one would call a pager's API).
struct Inbox(Sender<Alert>);

impl Channel for Inbox {
    fn name(&self) -> &str {
        "inbox"
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        let _ = self.0.send(alert.clone());
        Box::pin(async { Ok(()) })
    }
}

fn next(inbox: &Receiver<Alert>) -> Result<Alert, String> {
    let alert = inbox.recv_timeout(Duration::from_secs(10)).map_err(|_| "no notification within 10 s")?;
    println!("{} {} ({:?}): {}", alert.status.as_str(), alert.name, alert.severity, alert.message);
    Ok(alert)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let depth = Gauge::register("example_queue_depth", "Jobs waiting")?;
    let (sender, inbox) = channel();
    let alerts = AlertManager::builder()
        .rule(
            AlertRule::builder("queue_backlog")
                .condition(Condition::gauge("example_queue_depth").above(100.0))
                .severity(Severity::Warning)
                .message("{example_queue_depth} jobs are waiting"),
        )
        .channel(Inbox(sender))
        .interval(Duration::from_millis(100))
        .build()?;
    let rules = alerts.prometheus_rules("example");
    // Evaluates every 100 ms from now on; `/alerts` lists what is pending or firing.
    let obs = obs_runtime::Obs::builder().without_http_server().alerts(alerts).init()?;

    depth.set(250.0);
    next(&inbox)?; // firing
    depth.set(3.0);
    next(&inbox)?; // resolved

    print!("{}", rules.yaml());
    obs.shutdown();
    Ok(())
}
