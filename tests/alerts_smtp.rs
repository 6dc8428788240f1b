//! E-mail notifications to a real SMTP server: aiosmtpd (from the venv
//! scripts/install-backends.sh makes) writing what it receives into a maildir. A firing and a
//! resolved alert arrive through the running manager over plain SMTP; over STARTTLS with a CA of
//! the test's own, the message arrives when the CA is trusted, and is refused (for good, without
//! the password in the error) when it is not.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::backends::free_port;
use common::demo::KillOnDrop;
use obs_runtime::alerts::{Alert, AlertManager, AlertRule, Channel, Condition, Severity, Smtp};
use obs_runtime::metrics::Gauge;

/// How long a mail may take to arrive (the manager evaluates every 100 ms).
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(20);

/// A new, empty directory under the system temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(kind: &str) -> TempDir {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let dir = std::env::temp_dir().join(format!("obs-{kind}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `python -m aiosmtpd` on 127.0.0.1 with the `Mailbox` handler: each message one file in the
/// maildir's `new/`.
struct SmtpSink {
    port: u16,
    maildir: PathBuf,
    process: KillOnDrop,
    _dir: TempDir,
}

impl SmtpSink {
    /// Starts it, with STARTTLS required when `tls` gives a certificate and its key.
    fn start(tls: Option<(&Path, &Path)>) -> SmtpSink {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/otel-venv");
        assert!(venv.join("bin/python").exists(), "no {}: run `bash scripts/install-backends.sh`", venv.display());
        let dir = TempDir::new("smtp-sink");
        let maildir = dir.0.join("maildir");
        let port = free_port();
        let mut command = Command::new(venv.join("bin/python"));
        command.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"]);
        if let Some((cert, key)) = tls {
            command.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        let child = command
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        let mut process = KillOnDrop::new("aiosmtpd", child);
        process.collect_stderr();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = process.try_wait() {
                panic!("aiosmtpd exited ({status}): {}", process.stderr_after_exit());
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}: {}", process.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink { port, maildir, process, _dir: dir }
    }

    /// The messages received so far, as text.
    fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read(entry.path()).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect()
    }

    /// Waits for the message with this subject, and returns it.
    fn wait_for(&self, subject: &str) -> String {
        let header = format!("Subject: {subject}\n");
        let deadline = Instant::now() + ARRIVAL_TIMEOUT;
        loop {
            if let Some(mail) = self.mails().into_iter().find(|mail| mail.replace("\r\n", "\n").contains(&header)) {
                return mail.replace("\r\n", "\n");
            }
            assert!(
                Instant::now() < deadline,
                "no mail with subject {subject:?} within {ARRIVAL_TIMEOUT:?}; received: {:#?}\naiosmtpd: {}",
                self.mails(),
                self.process.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The value of header `name` in a received message.
fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    let head = mail.split("\n\n").next().unwrap_or("");
    head.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

/// The body of a received message.
fn body(mail: &str) -> &str {
    mail.split_once("\n\n").map_or("", |(_, body)| body)
}

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

/// Runs `openssl` with `args` in `dir`; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output =
        Command::new("openssl").args(args).current_dir(dir).stdin(Stdio::null()).output().expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA (`ca.pem`) and a certificate it signed for 127.0.0.1 (`server.pem`, `server.key`).
fn make_certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca = ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=obs test CA"];
    openssl(dir, &[&["req", "-x509"], &ec[..], &ca[..]].concat());
    openssl(
        dir,
        &[&["req"], &ec[..], &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1\n",
    )
    .expect("write the extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
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
    let certificates = TempDir::new("smtp-tls");
    make_certificates(&certificates.0);
    let sink = SmtpSink::start(Some((&certificates.0.join("server.pem"), &certificates.0.join("server.key"))));
    let ca = std::fs::read(certificates.0.join("ca.pem")).expect("read the CA");
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
