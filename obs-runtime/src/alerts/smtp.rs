//! E-mail notifications over SMTP (plain, STARTTLS or TLS), with lettre.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, AsyncSmtpTransportBuilder};
use lettre::{AsyncTransport as _, Message, Tokio1Executor};

use super::engine::Alert;
use super::{AlertError, Channel, SendError, SendFuture};

/// The default bound of each SMTP step (connecting, each command); the manager's send timeout
/// bounds the whole attempt as well.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the URL does not say right. Generic on purpose: the URL may hold a password.
const BAD_URL: &str = "not a valid smtp:// or smtps:// URL (smtp://host:25, smtp://user:pass@host:587?tls=required \
                       for STARTTLS, smtps://user:pass@host:465 for TLS)";

/// How the connection is secured, from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtp://`: plain text.
    Plain,
    /// `smtp://...?tls=required`: STARTTLS, or no mail.
    StartTls,
    /// `smtp://...?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic,
    /// `smtps://`: TLS from the start.
    Tls,
}

/// E-mail through an SMTP server: one message per notification, to every recipient.
///
/// The subject names the status, severity and rule: `[FIRING] CRITICAL - high_error_rate`
/// (`[RESOLVED] ...` when it resolves); the body is plain text: the message, then the alert's
/// name, status, severity, value, threshold, labels (`name=value` lines), when it started and,
/// once resolved, when it ended.
///
/// The server comes as a URL, as lettre reads it:
///
/// | URL | connection |
/// |---|---|
/// | `smtp://host:25` | plain text (a local relay) |
/// | `smtp://user:pass@host:587?tls=required` | STARTTLS, or nothing is sent |
/// | `smtp://host:587?tls=opportunistic` | STARTTLS when the server offers it (open to a man in the middle) |
/// | `smtps://user:pass@host:465` | TLS from the start |
///
/// A user and password need TLS (`?tls=required` or `smtps://`): with plain text, or STARTTLS
/// only when offered, they would cross the network in the clear, so such a URL is an error.
/// Special characters in the user name or password must be percent-encoded. Certificates are
/// checked against the Mozilla roots (webpki-roots); [`with_root_certificate_pem`] trusts one
/// more CA. The URL and its password are never printed: errors and `Debug` show its scheme, host
/// and port only.
///
/// Each notification opens a connection (none is kept between alerts). Each SMTP step may take
/// 10 s ([`timeout`] changes it), and the whole attempt is bounded by the manager's
/// [`send_timeout`] (5 s by default). Connection failures, timeouts and 4xx replies are retried;
/// 5xx replies (a rejected address, failed authentication) and TLS failures are not.
///
/// [`with_root_certificate_pem`]: Smtp::with_root_certificate_pem
/// [`timeout`]: Smtp::timeout
/// [`send_timeout`]: super::AlertManagerBuilder::send_timeout
///
/// ```
/// use obs_runtime::alerts::Smtp;
///
/// let email = Smtp::new("smtp://127.0.0.1:2525", "obs@example.com", &["oncall@example.com"])?;
/// let starttls = Smtp::new(
///     "smtp://alerts:secret@smtp.example.com:587?tls=required",
///     "Obs <obs@example.com>",
///     &["oncall@example.com", "Team <team@example.com>"],
/// )?;
/// assert!(!format!("{starttls:?}").contains("secret"));
/// # Ok::<(), obs_runtime::alerts::AlertError>(())
/// ```
#[derive(Clone)]
pub struct Smtp {
    /// The transport as the URL made it, before the timeout.
    builder: AsyncSmtpTransportBuilder,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    host: String,
    /// The URL as messages show it (scheme, host and port).
    shown: String,
    security: Security,
    roots: Vec<Certificate>,
    timeout: Duration,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Scheme, host and port only: the URL's user and password stay out.
        f.debug_struct("Smtp").field("url", &self.shown).finish_non_exhaustive()
    }
}

fn invalid(reason: impl Into<String>) -> AlertError {
    AlertError::Channel { channel: "email", reason: reason.into() }
}

/// The host and the security of an SMTP URL, read the way lettre (the `url` crate) reads them.
fn parse_url(url: &str) -> Result<(String, Security), AlertError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid(BAD_URL))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // The user and password end at the last `@`.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.find(']').map(|close| &host_port[..close + 2]).ok_or_else(|| invalid(BAD_URL))?,
        None => host_port.split(':').next().unwrap_or(""),
    };
    if host.is_empty() {
        return Err(invalid("the URL has no host"));
    }
    let query = rest[end..].split('#').next().unwrap_or("").split_once('?').map_or("", |(_, query)| query);
    let tls = query.split('&').find_map(|pair| pair.strip_prefix("tls="));
    let security = match (scheme.to_ascii_lowercase().as_str(), tls) {
        ("smtp", None) => Security::Plain,
        ("smtp", Some("required")) => Security::StartTls,
        ("smtp", Some("opportunistic")) => Security::Opportunistic,
        ("smtp", Some(_)) => return Err(invalid("the URL's tls parameter must be `required` or `opportunistic`")),
        ("smtps", _) => Security::Tls,
        _ => return Err(invalid("not an smtp:// or smtps:// URL")),
    };
    if authority.contains('@') && matches!(security, Security::Plain | Security::Opportunistic) {
        // lettre would send the password in the clear (opportunistic: when STARTTLS is not
        // offered, or is stripped by someone in the middle).
        return Err(invalid("a user and password need TLS: add ?tls=required, or use smtps://"));
    }
    Ok((host.to_ascii_lowercase(), security))
}

impl Smtp {
    /// E-mail through the SMTP server at `url` (see the table above), from `from` to each of `to`
    /// (`user@example.com` or `Name <user@example.com>`). Everything is checked now: an error
    /// names the bad address, never the URL.
    pub fn new(url: &str, from: &str, to: &[&str]) -> Result<Smtp, AlertError> {
        let url = url.trim();
        let (host, security) = parse_url(url)?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| invalid(BAD_URL))?;
        let from: Mailbox =
            from.trim().parse().map_err(|_| invalid(format!("the sender {from:?} is not an e-mail address")))?;
        let to = to
            .iter()
            .map(|to| to.trim().parse().map_err(|_| invalid(format!("the recipient {to:?} is not an e-mail address"))))
            .collect::<Result<Vec<Mailbox>, AlertError>>()?;
        if to.is_empty() {
            return Err(invalid("no recipients: at least one address is needed"));
        }
        let transport = builder.clone().timeout(Some(DEFAULT_TIMEOUT)).build();
        let shown = crate::secret::url::for_humans(url);
        Ok(Smtp { builder, transport, host, shown, security, roots: Vec::new(), timeout: DEFAULT_TIMEOUT, from, to })
    }

    /// How long each SMTP step (connecting, each command) may take (default 10 s; zero keeps the
    /// default). The manager's [`send_timeout`](super::AlertManagerBuilder::send_timeout) bounds
    /// the whole attempt too.
    pub fn timeout(mut self, timeout: Duration) -> Smtp {
        self.timeout = if timeout.is_zero() { DEFAULT_TIMEOUT } else { timeout };
        self.transport = self.builder.clone().timeout(Some(self.timeout)).build();
        self
    }

    /// Also trusts the CA (or self-signed certificate) in `pem` for the server's certificate, on
    /// top of the Mozilla roots: for a relay with a private CA. Only for a URL with TLS
    /// (`?tls=required`, `?tls=opportunistic` or `smtps://`). Can be called again for more CAs.
    ///
    /// The server's certificate must name the URL's host (a DNS name, or an IP address in its
    /// subjectAltName), and must not itself be a CA certificate.
    pub fn with_root_certificate_pem(mut self, pem: &[u8]) -> Result<Smtp, AlertError> {
        if self.security == Security::Plain {
            return Err(invalid(
                "a root certificate needs a URL with TLS (smtp://...?tls=required or smtps://), not plain smtp://",
            ));
        }
        // lettre accepts a PEM without certificates (it would trust nothing more): refuse it.
        if !pem.windows(27).any(|window| window == b"-----BEGIN CERTIFICATE-----") {
            return Err(invalid("the root certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)"));
        }
        let certificate =
            Certificate::from_pem(pem).map_err(|_| invalid("the root certificate is not a valid PEM certificate"))?;
        self.roots.push(certificate);
        let mut parameters = TlsParameters::builder(self.host.clone());
        for root in &self.roots {
            parameters = parameters.add_root_certificate(root.clone());
        }
        let parameters = parameters
            .build_rustls()
            .map_err(|error| invalid(format!("the root certificate cannot be used: {error}")))?;
        let tls = match self.security {
            Security::StartTls => Tls::Required(parameters),
            Security::Opportunistic => Tls::Opportunistic(parameters),
            Security::Tls | Security::Plain => Tls::Wrapper(parameters),
        };
        self.builder = self.builder.tls(tls);
        self.transport = self.builder.clone().timeout(Some(self.timeout)).build();
        Ok(self)
    }

    /// The subject of a notification: `[FIRING] CRITICAL - high_error_rate`.
    pub fn subject(alert: &Alert) -> String {
        format!(
            "[{}] {} - {}",
            alert.status.as_str().to_ascii_uppercase(),
            alert.severity.as_str().to_ascii_uppercase(),
            alert.name
        )
    }

    /// The plain-text body of a notification.
    pub fn body(alert: &Alert) -> String {
        let mut body = String::with_capacity(256);
        let _ = writeln!(body, "{}\n", alert.message);
        if let Some(description) = &alert.description {
            let _ = writeln!(body, "{description}\n");
        }
        let _ = writeln!(body, "Alert:     {}", alert.name);
        let _ = writeln!(body, "Status:    {}", alert.status.as_str());
        let _ = writeln!(body, "Severity:  {}", alert.severity.as_str());
        match alert.value {
            Some(value) => {
                let _ = writeln!(body, "Value:     {value}");
            }
            None => body.push_str("Value:     no data\n"),
        }
        let _ = writeln!(body, "Threshold: {}", alert.threshold);
        if alert.labels.is_empty() {
            body.push_str("Labels:    none\n");
        } else {
            body.push_str("Labels:\n");
            for (name, value) in &alert.labels {
                let _ = writeln!(body, "  {name}={value}");
            }
        }
        if let Some(url) = &alert.runbook_url {
            let _ = writeln!(body, "Runbook:   {url}");
        }
        if let Some(url) = &alert.dashboard_url {
            let _ = writeln!(body, "Dashboard: {url}");
        }
        if alert.escalation_level > 0 {
            let _ = writeln!(body, "Escalated: level {}", alert.escalation_level + 1);
        }
        if let Some(at) = alert.acknowledged_at {
            let by = alert.acknowledged_by.as_deref().unwrap_or("someone");
            let _ = writeln!(body, "Acked:     by {by} at {}", crate::time::rfc3339_micros(at));
        }
        let _ = writeln!(body, "Started:   {}", crate::time::rfc3339_micros(alert.starts_at));
        if let Some(ends_at) = alert.ends_at {
            let _ = writeln!(body, "Resolved:  {}", crate::time::rfc3339_micros(ends_at));
        }
        body
    }

    /// The e-mail of one notification.
    fn message(&self, alert: &Alert) -> Result<Message, SendError> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(Smtp::subject(alert))
            .message_id(Some(message_id(&self.from)))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        message
            .body(Smtp::body(alert))
            .map_err(|error| SendError::permanent(format!("cannot make the e-mail: {error}")))
    }
}

/// A unique `Message-ID` in the sender's domain.
fn message_id(from: &Mailbox) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("<obs.{nanos}.{}.{n}@{}>", std::process::id(), from.email.domain())
}

/// Retryable: no connection, a timeout, a 4xx reply. Permanent: a 5xx reply, a failed TLS
/// handshake (a certificate that does not verify), a server without STARTTLS when it is
/// required, a reply that makes no sense.
fn send_error(shown: &str, error: &lettre::transport::smtp::Error) -> SendError {
    // lettre's text holds the server's reply or the I/O error, never the credentials.
    if tls_failed(error) {
        return SendError::permanent(format!("SMTP server {shown}: the TLS handshake failed: {error}"));
    }
    let message = format!("SMTP server {shown}: {error}");
    let permanent = error.is_permanent() || error.is_tls() || error.is_client() || error.is_response();
    if error.is_transient() || error.is_timeout() || !permanent {
        SendError::retryable(message)
    } else {
        SendError::permanent(message)
    }
}

/// Whether the TLS handshake failed: lettre reports it as a connection error caused by an
/// `InvalidData` I/O error (rustls's, e.g. `invalid peer certificate: UnknownIssuer`).
fn tls_failed(error: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData) {
            return true;
        }
        source = cause.source();
    }
    error.is_tls()
}

impl Channel for Smtp {
    fn name(&self) -> &str {
        "email"
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move {
            let message = self.message(alert)?;
            self.transport.send(message).await.map(drop).map_err(|error| send_error(&self.shown, &error))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::alerts::{AlertStatus, Severity};

    fn alert(status: AlertStatus) -> Alert {
        let at = |seconds| UNIX_EPOCH + Duration::from_secs(seconds);
        let mut alert = Alert::new("high_error_rate", Severity::Critical, status, "Error rate is 12.5%");
        alert.labels = BTreeMap::from([("service".into(), "api-gateway".into()), ("team".into(), "payments".into())]);
        alert.value = Some(12.5);
        alert.threshold = 5.0;
        alert.active_since = at(1_798_520_585);
        alert.starts_at = at(1_798_520_645);
        alert.ends_at = (status == AlertStatus::Resolved).then(|| at(1_798_521_245));
        alert.timestamp = at(1_798_520_645);
        alert
    }

    #[test]
    fn urls_are_checked_and_never_echoed() {
        for url in [
            "",
            "smtp.example.com",
            "http://user:SECRET@smtp.example.com",
            "imap://user:SECRET@smtp.example.com",
            "smtp://user:SECRET@",
            "smtp://user:SECRET@smtp.example.com:99999",
            "smtp://user:SECRET@smtp.example.com:587?tls=always",
            "smtp://user:SECRET@[::1:587",
            // A password in the clear: refused.
            "smtp://user:SECRET@smtp.example.com:25",
            "smtp://user:SECRET@smtp.example.com:587?tls=opportunistic",
        ] {
            let error = Smtp::new(url, "obs@example.com", &["oncall@example.com"]).expect_err("a bad URL");
            let text = error.to_string();
            assert!(matches!(error, AlertError::Channel { channel: "email", .. }), "{url}: {error:?}");
            assert!(text.contains("email") && !text.contains("SECRET"), "{url}: {text}");
        }
        for (url, host, security) in [
            ("smtp://127.0.0.1:2525", "127.0.0.1", Security::Plain),
            ("smtp://user:p%40ss@Smtp.Example.com:587?tls=required", "smtp.example.com", Security::StartTls),
            ("smtp://smtp.example.com/ehlo.example.com?tls=opportunistic", "smtp.example.com", Security::Opportunistic),
            ("smtps://user:SECRET@smtp.example.com", "smtp.example.com", Security::Tls),
            ("smtp://[::1]:25", "[::1]", Security::Plain),
        ] {
            let smtp = Smtp::new(url, "obs@example.com", &["oncall@example.com"]).expect("a good URL");
            assert_eq!((smtp.host.as_str(), smtp.security), (host, security), "{url}");
            let debug = format!("{smtp:?}");
            assert!(debug.contains(host) && !debug.contains("SECRET") && !debug.contains("user"), "{debug}");
        }
    }

    #[test]
    fn addresses_are_checked_and_named() {
        let url = "smtp://user:SECRET@smtp.example.com?tls=required";
        let error = Smtp::new(url, "not an address", &["oncall@example.com"]).expect_err("a bad sender").to_string();
        assert!(error.contains("sender") && error.contains("not an address") && !error.contains("SECRET"), "{error}");
        let error = Smtp::new(url, "obs@example.com", &["oncall@example.com", "oncall@"])
            .expect_err("a bad recipient")
            .to_string();
        assert!(error.contains("recipient") && error.contains("\"oncall@\"") && !error.contains("SECRET"), "{error}");
        let error = Smtp::new(url, "obs@example.com", &[]).expect_err("no recipients").to_string();
        assert!(error.contains("no recipients"), "{error}");
        let smtp = Smtp::new(url, " Obs <obs@example.com> ", &["Team <team@example.com>", " b@example.com"])
            .expect("good addresses");
        assert_eq!(smtp.to.len(), 2);
    }

    #[test]
    fn root_certificates_need_tls_and_a_certificate() {
        let plain = Smtp::new("smtp://127.0.0.1:25", "obs@example.com", &["a@example.com"]).expect("a good URL");
        let error = plain.with_root_certificate_pem(b"-----BEGIN CERTIFICATE-----").expect_err("no TLS").to_string();
        assert!(error.contains("TLS"), "{error}");
        let tls =
            Smtp::new("smtps://user:SECRET@127.0.0.1", "obs@example.com", &["a@example.com"]).expect("a good URL");
        let error = tls.clone().with_root_certificate_pem(b"not a certificate").expect_err("not PEM").to_string();
        assert!(error.contains("PEM") && !error.contains("SECRET"), "{error}");
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let error = tls.with_root_certificate_pem(garbage).expect_err("not a certificate").to_string();
        assert!(!error.contains("SECRET"), "{error}");
    }

    #[test]
    fn a_refused_connection_is_retryable_and_keeps_the_password_out() {
        // A port nobody listens on: bound a moment ago, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("its address").port();
        let url = format!("smtp://obs:SECRET@127.0.0.1:{port}?tls=required");
        let smtp =
            Smtp::new(&url, "obs@example.com", &["a@example.com"]).expect("a good URL").timeout(Duration::from_secs(2));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let error = runtime.block_on(smtp.send(&alert(AlertStatus::Firing))).expect_err("nobody listens");
        let text = error.to_string();
        assert!(error.is_retryable(), "{text}");
        assert!(text.starts_with(&format!("SMTP server smtp://127.0.0.1:{port}: ")), "{text}");
        assert!(!text.contains("SECRET") && !text.contains("tls=required"), "{text}");
    }

    #[test]
    fn the_message_has_a_status_severity_and_rule_subject_and_a_plain_text_body() {
        let smtp = Smtp::new("smtp://127.0.0.1:25", "Obs <obs@example.com>", &["oncall@example.com", "b@example.com"])
            .expect("a good URL")
            .timeout(Duration::from_secs(3));
        assert_eq!(smtp.timeout, Duration::from_secs(3));
        let firing = alert(AlertStatus::Firing);
        assert_eq!(Smtp::subject(&firing), "[FIRING] CRITICAL - high_error_rate");
        assert_eq!(
            Smtp::body(&firing),
            "Error rate is 12.5%\n\n\
             Alert:     high_error_rate\n\
             Status:    firing\n\
             Severity:  critical\n\
             Value:     12.5\n\
             Threshold: 5\n\
             Labels:\n  service=api-gateway\n  team=payments\n\
             Started:   2026-12-29T05:04:05.000000Z\n"
        );
        let mut escalated = alert(AlertStatus::Firing);
        escalated.escalation_level = 2;
        escalated.acknowledged_by = Some("alice".into());
        escalated.acknowledged_at = Some(UNIX_EPOCH + Duration::from_secs(86_400));
        assert!(
            Smtp::body(&escalated).contains("Escalated: level 3\nAcked:     by alice at 1970-01-02T00:00:00.000000Z\n"),
            "{}",
            Smtp::body(&escalated)
        );
        let resolved = alert(AlertStatus::Resolved);
        assert_eq!(Smtp::subject(&resolved), "[RESOLVED] CRITICAL - high_error_rate");
        assert!(Smtp::body(&resolved).ends_with("Resolved:  2026-12-29T05:14:05.000000Z\n"));
        let mut no_data = alert(AlertStatus::Firing);
        no_data.value = None;
        no_data.labels.clear();
        no_data.severity = Severity::Warning;
        assert_eq!(Smtp::subject(&no_data), "[FIRING] WARNING - high_error_rate");
        let body = Smtp::body(&no_data);
        assert!(body.contains("Value:     no data\n") && body.contains("Labels:    none\n"), "{body}");

        let message = smtp.message(&firing).expect("the e-mail");
        let envelope = message.envelope();
        assert_eq!(envelope.from().map(ToString::to_string).as_deref(), Some("obs@example.com"));
        let to: Vec<String> = envelope.to().iter().map(ToString::to_string).collect();
        assert_eq!(to, ["oncall@example.com", "b@example.com"]);
        let text = String::from_utf8(message.formatted()).expect("UTF-8");
        assert!(text.contains("Subject: [FIRING] CRITICAL - high_error_rate\r\n"), "{text}");
        assert!(text.contains("From: Obs <obs@example.com>\r\n"), "{text}");
        assert!(text.contains("To: oncall@example.com, b@example.com\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/plain; charset=utf-8\r\n"), "{text}");
        assert!(text.contains("Message-ID: <obs.") && text.contains("@example.com>\r\n"), "{text}");
        assert!(text.contains("\r\n\r\nError rate is 12.5%\r\n\r\nAlert:     high_error_rate\r\n"), "{text}");
        assert!(text.contains("  service=api-gateway\r\n"), "{text}");
    }
}
