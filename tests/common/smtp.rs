//! An SMTP server for the e-mail tests: aiosmtpd (from the venv scripts/install-backends.sh
//! makes) on 127.0.0.1, writing each message it receives into a maildir.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::TempDir;
use super::backends::free_port;
use super::demo::KillOnDrop;

/// How long a mail may take to arrive.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(30);

/// `python -m aiosmtpd` on 127.0.0.1 with the `Mailbox` handler: each message one file in the
/// maildir's `new/`.
pub struct SmtpSink {
    pub port: u16,
    maildir: PathBuf,
    process: KillOnDrop,
    _dir: TempDir,
}

impl SmtpSink {
    /// Starts it, with STARTTLS required when `tls` gives a certificate and its key.
    pub fn start(tls: Option<(&Path, &Path)>) -> SmtpSink {
        let venv = super::venv();
        let dir = TempDir::new("smtp-sink");
        let maildir = dir.path().join("maildir");
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
    pub fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read(entry.path()).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect()
    }

    /// Waits for the message with this subject, and returns it.
    pub fn wait_for(&self, subject: &str) -> String {
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
pub fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    let head = mail.split("\n\n").next().unwrap_or("");
    head.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

/// The body of a received message.
pub fn body(mail: &str) -> &str {
    mail.split_once("\n\n").map_or("", |(_, body)| body)
}
