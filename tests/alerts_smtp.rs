//! E-mail notifications to a real SMTP server: aiosmtpd (from the venv
//! scripts/install-backends.sh makes) writing what it receives into a maildir. A firing and a
//! resolved alert arrive through the running manager over plain SMTP; over STARTTLS with a CA of
//! the test's own, the message arrives when the CA is trusted, and is refused (for good, without
//! the password in the error) when it is not.

mod common;

use std::time::{Duration, SystemTime};

use common::smtp::{SmtpSink, body, header};
use common::tls::Certificates;
use obs_runtime::alerts::{Alert, AlertManager, AlertRule, Channel, Condition, Severity, Smtp};
use obs_runtime::metrics::Gauge;

#[test]
#[ignore = "needs aiosmtpd: scripts/install-backends.sh"]
fn firing_and_resolved_alerts_arrive_by_e_mail() {
    let sink = SmtpSink::start(None);
    let email = Smtp::new(&format!("smtp://127.0.0.1:{}", sink.port), "obs@example.com", &["oncall@example.com"])
        .expect("the SMTP channel");
    let depth = Gauge::register("alerts_smtp_queue_depth", "Jobs waiting").expect("register the gauge");
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("queue_backlog")
                .condition(Condition::gauge("alerts_smtp_queue_depth").above(100.0))
                .severity(Severity::Critical)
                .message("{alerts_smtp_queue_depth} jobs are waiting")
                .label("service", "api-gateway")
                .build()
                .expect("the rule"),
        )
        .channel(email)
        .interval(Duration::from_millis(100))
        .build()
        .expect("the manager");
    let guard = manager.start().expect("start the manager");

    depth.set(250.0);
    let firing = sink.wait_for("[FIRING] CRITICAL - queue_backlog");
    assert_eq!(header(&firing, "From"), Some("obs@example.com"), "{firing}");
    assert_eq!(header(&firing, "To"), Some("oncall@example.com"), "{firing}");
    // The envelope, as the server saw it.
    assert_eq!(header(&firing, "X-MailFrom"), Some("obs@example.com"), "{firing}");
    assert_eq!(header(&firing, "X-RcptTo"), Some("oncall@example.com"), "{firing}");
    assert_eq!(header(&firing, "Content-Type"), Some("text/plain; charset=utf-8"), "{firing}");
    let text = body(&firing);
    assert!(text.starts_with("250 jobs are waiting\n\n"), "{firing}");
    for line in [
        "Alert:     queue_backlog\n",
        "Status:    firing\n",
        "Severity:  critical\n",
        "Value:     250\n",
        "Threshold: 100\n",
        "Labels:\n  service=api-gateway\n",
        "Started:   20",
    ] {
        assert!(text.contains(line), "{line:?} in {firing}");
    }
    assert!(!text.contains("Resolved:"), "{firing}");

    depth.set(0.0);
    let resolved = sink.wait_for("[RESOLVED] CRITICAL - queue_backlog");
    let text = body(&resolved);
    assert!(text.starts_with("250 jobs are waiting\n\n"), "a resolution repeats the firing message: {resolved}");
    assert!(text.contains("Status:    resolved\n") && text.contains("Value:     0\n"), "{resolved}");
    assert!(text.contains("\nResolved:  20"), "{resolved}");
    drop(guard);
    assert_eq!(sink.mails().len(), 2, "one firing and one resolved mail: {:#?}", sink.mails());
}

/// A firing alert, from a manager without channels driven by hand.
fn firing_alert() -> Alert {
    let gauge = Gauge::register("alerts_smtp_tls_errors", "Errors").expect("register the gauge");
    let manager = AlertManager::builder()
        .rule(
            AlertRule::builder("tls_errors")
                .condition(Condition::gauge("alerts_smtp_tls_errors").above(0.0))
                .severity(Severity::Warning)
                .message("{alerts_smtp_tls_errors} errors")
                .build()
                .expect("the rule"),
        )
        .build()
        .expect("the manager");
    gauge.set(3.0);
    manager.evaluate_at(SystemTime::now()).pop().expect("the rule fires")
}

#[test]
#[ignore = "needs aiosmtpd: scripts/install-backends.sh"]
fn starttls_with_a_private_ca() {
    let certificates = Certificates::new();
    let (cert, key) = certificates.server();
    let sink = SmtpSink::start(Some((&cert, &key)));
    let ca = certificates.ca_pem();
    let alert = firing_alert();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let send = |channel: &Smtp| runtime.block_on(channel.send(&alert));
    let starttls = format!("smtp://127.0.0.1:{}?tls=required", sink.port);

    // Trusting the CA: delivered over STARTTLS.
    let trusted = Smtp::new(&starttls, "obs@example.com", &["oncall@example.com"])
        .expect("the SMTP channel")
        .with_root_certificate_pem(&ca)
        .expect("the CA");
    send(&trusted).expect("delivered over STARTTLS");
    let mail = sink.wait_for("[FIRING] WARNING - tls_errors");
    assert!(body(&mail).starts_with("3 errors\n\n"), "{mail}");

    // Without it the certificate does not verify: refused for good, and the password in the URL
    // is not in the error.
    let untrusted = Smtp::new(
        &format!("smtp://obs:S3CRET@127.0.0.1:{}?tls=required", sink.port),
        "obs@example.com",
        &["oncall@example.com"],
    )
    .expect("the SMTP channel");
    let error = send(&untrusted).expect_err("an unknown CA");
    let text = error.to_string();
    assert!(!error.is_retryable() && !text.contains("S3CRET"), "{text}");
    assert!(text.contains("TLS handshake") && text.contains("certificate"), "{text}");

    // Plain SMTP to a server that requires STARTTLS: its 530 reply is permanent.
    let plain = Smtp::new(&format!("smtp://127.0.0.1:{}", sink.port), "obs@example.com", &["oncall@example.com"])
        .expect("the SMTP channel");
    let error = send(&plain).expect_err("STARTTLS is required");
    assert!(!error.is_retryable() && error.to_string().contains("530"), "{error}");
    assert_eq!(sink.mails().len(), 1, "{:#?}", sink.mails());
}
