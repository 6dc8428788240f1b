//! The built-in channels: Slack, a generic JSON webhook, Alertmanager (API v2) and the log.

use std::time::SystemTime;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::engine::{Alert, AlertStatus, REFRESH_INTERVAL};
use super::{AlertError, Channel, SendError, SendFuture, Severity};

/// An HTTP endpoint to POST JSON to. Its URL may hold a secret (Slack's does): it is never
/// printed, only its scheme, host and port.
#[derive(Clone)]
pub(crate) struct Endpoint {
    authority: http::uri::Authority,
    path: String,
    /// The URL as messages show it.
    shown: String,
    /// For `https://` (feature `alerts-tls`).
    #[cfg(feature = "alerts-tls")]
    tls: Option<super::tls::Tls>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The path and the credentials are left out: Slack's secret is its path.
        write!(f, "Endpoint({})", self.shown)
    }
}

impl Endpoint {
    pub(crate) fn parse(url: &str, field: &'static str) -> Result<Endpoint, AlertError> {
        let invalid = |reason: &str| AlertError::Channel { channel: field, reason: reason.to_owned() };
        let uri: Uri = url.trim().parse().map_err(|_| invalid("not a URL"))?;
        let shown = crate::secret::url::for_humans(url);
        if shown == crate::secret::url::UNREADABLE {
            // `http` takes `host:99999` or `host:word` (and would connect to the default port).
            return Err(invalid("not a URL with a host and a port up to 65535"));
        }
        let https = match uri.scheme_str() {
            Some("http") => false,
            #[cfg(feature = "alerts-tls")]
            Some("https") => true,
            #[cfg(not(feature = "alerts-tls"))]
            Some("https") => return Err(invalid("https:// URLs need the `alerts-tls` feature")),
            _ => return Err(invalid("not an http:// or https:// URL")),
        };
        let authority = uri.authority().cloned().ok_or_else(|| invalid("the URL has no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("credentials in the URL are not supported"));
        }
        let path = uri.path_and_query().map_or("/", |path| path.as_str()).to_owned();
        #[cfg(feature = "alerts-tls")]
        let tls = if https { Some(super::tls::Tls::new(&[]).map_err(|reason| invalid(&reason))?) } else { None };
        #[cfg(not(feature = "alerts-tls"))]
        let _ = https;
        Ok(Endpoint {
            authority,
            path,
            shown,
            #[cfg(feature = "alerts-tls")]
            tls,
        })
    }

    /// The same host with another path (Alertmanager's API below its base URL).
    fn join(&self, path: &str) -> Endpoint {
        let base = self.path.split('?').next().unwrap_or("").trim_end_matches('/');
        Endpoint { path: format!("{base}{path}"), ..self.clone() }
    }

    /// Trusts the CA certificates in `pem` as well as the usual roots (for an `https://` URL).
    #[cfg(feature = "alerts-tls")]
    pub(crate) fn add_root_certificates(&mut self, pem: &[u8], field: &'static str) -> Result<(), AlertError> {
        let invalid = |reason: String| AlertError::Channel { channel: field, reason };
        match &mut self.tls {
            Some(tls) => tls.add_roots(pem).map_err(invalid),
            None => Err(invalid("a root certificate is for an https:// URL".into())),
        }
    }

    /// At most 200 characters of a server's answer, without the URL's path or its segments (a
    /// relay's error page may echo them, and Slack's secret is its path).
    fn without_path(&self, answer: &str) -> String {
        let mut answer: String = answer.chars().take(200).collect();
        let path = self.path.split('?').next().unwrap_or("");
        for secret in std::iter::once(path).chain(path.split('/')).filter(|part| part.len() >= 6) {
            answer = answer.replace(secret, "[redacted]");
        }
        answer
    }

    /// POSTs `body` as JSON: 2xx is done; 429 and 5xx are worth a retry, other answers are not.
    pub(crate) async fn post_json(&self, body: Vec<u8>) -> Result<(), SendError> {
        let host = self.authority.host().trim_matches(['[', ']']);
        #[cfg(feature = "alerts-tls")]
        let default_port = if self.tls.is_some() { 443 } else { 80 };
        #[cfg(not(feature = "alerts-tls"))]
        let default_port = 80;
        let address = format!("{host}:{}", self.authority.port_u16().unwrap_or(default_port));
        let stream = tokio::net::TcpStream::connect(&address)
            .await
            .map_err(|error| SendError::retryable(format!("cannot connect to {}: {error}", self.shown)))?;
        let _ = stream.set_nodelay(true);
        #[cfg(feature = "alerts-tls")]
        if let Some(tls) = &self.tls {
            let stream = tls.connect(host, stream).await?;
            return self.exchange(TokioIo::new(stream), body).await;
        }
        self.exchange(TokioIo::new(stream), body).await
    }

    async fn exchange<IO>(&self, io: IO, body: Vec<u8>) -> Result<(), SendError>
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|error| SendError::retryable(format!("HTTP handshake: {error}")))?;
        let driver = tokio::spawn(connection);
        let request = Request::post(self.path.as_str())
            .header(header::HOST, self.authority.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, concat!("obs-alerts/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| SendError::permanent(error.to_string()))?;
        let result = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                // Read (a bounded part of) the answer so that the connection ends cleanly.
                let body = http_body_util::Limited::new(response.into_body(), 16 * 1024).collect().await;
                let detail = body.map(|body| self.without_path(&String::from_utf8_lossy(&body.to_bytes())));
                let message =
                    || format!("{} answered HTTP {status}: {}", self.shown, detail.unwrap_or_default().trim());
                match status.as_u16() {
                    200..=299 => Ok(()),
                    429 | 500..=599 => Err(SendError::retryable(message())),
                    _ => Err(SendError::permanent(message())),
                }
            }
            Err(error) => Err(SendError::retryable(format!("HTTP request: {error}"))),
        };
        driver.abort();
        result
    }
}

fn rfc3339(time: SystemTime) -> String {
    crate::time::rfc3339_micros(time)
}

/// The generic webhook's body: the alert as JSON.
pub(crate) fn alert_json(alert: &Alert) -> Value {
    json!({
        "alertname": alert.name,
        "severity": alert.severity.as_str(),
        "status": alert.status.as_str(),
        "message": alert.message,
        "labels": alert.labels,
        "value": alert.value,
        "threshold": alert.threshold,
        "activeSince": rfc3339(alert.active_since),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": alert.ends_at.map(rfc3339),
        "timestamp": rfc3339(alert.timestamp),
    })
}

/// A generic JSON webhook: each notification is POSTed as one object with `alertname`,
/// `severity`, `status` (`firing` or `resolved`), `message`, `labels`, `value`, `threshold`,
/// `activeSince`, `startsAt`, `endsAt` and `timestamp` (RFC 3339).
///
/// ```
/// let webhook = obs_runtime::alerts::Webhook::new("http://127.0.0.1:8080/hooks/alerts")?;
/// # Ok::<(), obs_runtime::alerts::AlertError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Webhook {
    endpoint: Endpoint,
    name: String,
}

impl Webhook {
    /// A webhook at `url` (`http://`, or `https://` with feature `alerts-tls`).
    pub fn new(url: &str) -> Result<Webhook, AlertError> {
        Ok(Webhook { endpoint: Endpoint::parse(url, "webhook")?, name: "webhook".into() })
    }

    /// Also trusts the CA certificates in `pem` (a private CA) for an `https://` URL.
    #[cfg(feature = "alerts-tls")]
    pub fn with_root_certificate_pem(mut self, pem: &[u8]) -> Result<Webhook, AlertError> {
        self.endpoint.add_root_certificates(pem, "webhook")?;
        Ok(self)
    }

    /// Another channel name (default `webhook`), to tell two webhooks apart in the metrics.
    pub fn named(mut self, name: impl Into<String>) -> Webhook {
        self.name = name.into();
        self
    }
}

impl Channel for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move { self.endpoint.post_json(alert_json(alert).to_string().into_bytes()).await })
    }
}

/// A Slack incoming webhook. The payload: one attachment coloured by severity
/// (`good`, `warning`, `danger`; `good` when resolved), titled `Alert: NAME`, the message as its
/// text, and the fields Severity, Status and Time.
#[derive(Debug, Clone)]
pub struct Slack {
    endpoint: Endpoint,
    name: String,
}

impl Slack {
    /// Slack's incoming webhook at `url` (`https://hooks.slack.com/services/..` with feature
    /// `alerts-tls`; `http://` for a relay).
    pub fn new(url: &str) -> Result<Slack, AlertError> {
        Ok(Slack { endpoint: Endpoint::parse(url, "slack")?, name: "slack".into() })
    }

    /// Another channel name (default `slack`), to tell two workspaces apart in the metrics.
    pub fn named(mut self, name: impl Into<String>) -> Slack {
        self.name = name.into();
        self
    }

    /// Also trusts the CA certificates in `pem` (a private CA) for an `https://` URL.
    #[cfg(feature = "alerts-tls")]
    pub fn with_root_certificate_pem(mut self, pem: &[u8]) -> Result<Slack, AlertError> {
        self.endpoint.add_root_certificates(pem, "slack")?;
        Ok(self)
    }

    /// The payload of one notification.
    pub fn payload(alert: &Alert) -> Value {
        let color = match (alert.status, alert.severity) {
            (AlertStatus::Resolved, _) | (_, Severity::Info) => "good",
            (_, Severity::Warning) => "warning",
            (_, Severity::Critical) => "danger",
        };
        json!({
            "attachments": [{
                "color": color,
                "title": format!("Alert: {}", alert.name),
                "text": alert.message,
                "fields": [
                    {"title": "Severity", "value": alert.severity.as_str(), "short": true},
                    {"title": "Status", "value": alert.status.as_str(), "short": true},
                    {"title": "Time", "value": rfc3339(alert.timestamp), "short": true},
                ],
            }]
        })
    }
}

impl Channel for Slack {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move { self.endpoint.post_json(Slack::payload(alert).to_string().into_bytes()).await })
    }
}

/// Prometheus Alertmanager, through its API v2 (`POST /api/v2/alerts`): labels `alertname`,
/// `severity` and the rule's, annotations `summary` (the message) and `value`; a resolution sends
/// `endsAt`. Firing alerts are sent again every minute with `endsAt` four minutes ahead, as
/// Prometheus does, so that Alertmanager resolves them by itself if this process dies.
///
/// ```
/// let alertmanager = obs_runtime::alerts::Alertmanager::new("http://127.0.0.1:9093")?;
/// # Ok::<(), obs_runtime::alerts::AlertError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Alertmanager {
    endpoint: Endpoint,
    name: String,
}

impl Alertmanager {
    /// Alertmanager at its base URL (`http://host:9093`, or with the path prefix it serves under).
    pub fn new(url: &str) -> Result<Alertmanager, AlertError> {
        let endpoint = Endpoint::parse(url, "alertmanager")?.join("/api/v2/alerts");
        Ok(Alertmanager { endpoint, name: "alertmanager".into() })
    }

    /// Another channel name (default `alertmanager`): each replica of an Alertmanager pair is
    /// a channel of its own.
    pub fn named(mut self, name: impl Into<String>) -> Alertmanager {
        self.name = name.into();
        self
    }

    /// Also trusts the CA certificates in `pem` (a private CA) for an `https://` URL.
    #[cfg(feature = "alerts-tls")]
    pub fn with_root_certificate_pem(mut self, pem: &[u8]) -> Result<Alertmanager, AlertError> {
        self.endpoint.add_root_certificates(pem, "alertmanager")?;
        Ok(self)
    }

    /// The body of one notification: a list of one alert.
    pub fn payload(alert: &Alert) -> Value {
        let mut labels = serde_json::Map::new();
        labels.insert("alertname".into(), alert.name.clone().into());
        labels.insert("severity".into(), alert.severity.as_str().into());
        for (name, value) in &alert.labels {
            labels.insert(name.clone(), value.clone().into());
        }
        let ends_at = alert.ends_at.or(alert.valid_until).unwrap_or(alert.timestamp + 4 * REFRESH_INTERVAL);
        let mut annotations = serde_json::Map::new();
        annotations.insert("summary".into(), alert.message.clone().into());
        if let Some(value) = alert.value {
            annotations.insert("value".into(), value.to_string().into());
        }
        json!([{
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339(alert.starts_at),
            "endsAt": rfc3339(ends_at),
        }])
    }
}

impl Channel for Alertmanager {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        Box::pin(async move { self.endpoint.post_json(Alertmanager::payload(alert).to_string().into_bytes()).await })
    }

    fn wants_refresh(&self) -> bool {
        true
    }
}

/// Writes each notification as a `tracing` event (target `obs::alerts`): `ERROR` for a critical
/// alert firing, `WARN` for a warning, `INFO` for the rest and for resolutions; fields
/// `alertname`, `severity`, `status`, `value`. With obs's JSON logs installed, they are log lines.
#[derive(Debug, Clone, Default)]
pub struct Log;

impl Log {
    /// The log channel.
    pub fn new() -> Log {
        Log
    }
}

impl Channel for Log {
    fn name(&self) -> &str {
        "log"
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> SendFuture<'a> {
        let value = alert.value.unwrap_or(f64::NAN);
        let (name, severity, status) = (alert.name.as_str(), alert.severity.as_str(), alert.status.as_str());
        let message = alert.message.as_str();
        match (alert.status, alert.severity) {
            (AlertStatus::Resolved, _) | (_, Severity::Info) => {
                tracing::info!(target: "obs::alerts", alertname = name, severity, status, value, "{message}");
            }
            (_, Severity::Warning) => {
                tracing::warn!(target: "obs::alerts", alertname = name, severity, status, value, "{message}");
            }
            (_, Severity::Critical) => {
                tracing::error!(target: "obs::alerts", alertname = name, severity, status, value, "{message}");
            }
        }
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_never_echoed() {
        #[cfg(not(feature = "alerts-tls"))]
        assert!(Slack::new("https://hooks.slack.com/services/T/B/SECRET").is_err());
        #[cfg(feature = "alerts-tls")]
        assert!(Slack::new("https://hooks.slack.com/services/T/B/SECRET").is_ok());
        for url in [
            "ftp://x/y",
            "not a url",
            "http://u:SECRET@h/",
            "https://u:SECRET@h/",
            "http://h:99999/SECRET",
            "http://u:SECRET/x",
        ] {
            let error = Slack::new(url).expect_err("this input is wrong").to_string();
            assert!(!error.contains("SECRET") && error.contains("slack"), "{error}");
        }
        let slack = Slack::new("http://127.0.0.1:9/services/T/B/SECRET?token=SECRET").expect("an http URL");
        assert!(!format!("{slack:?}").contains("SECRET"));
        assert_eq!(slack.endpoint.shown, "http://127.0.0.1:9");
        let am = Alertmanager::new("http://127.0.0.1:9093/prefix/").expect("an http URL");
        let echoed = "Cannot POST /services/T/B/SECRET (try /SECRET)";
        let cleaned = slack.endpoint.without_path(echoed);
        assert!(!cleaned.contains("SECRET"), "{cleaned}");
        assert_eq!(am.endpoint.path, "/prefix/api/v2/alerts");
    }

    #[tokio::test]
    async fn a_failed_delivery_names_the_host_only() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let webhook = Webhook::new(&format!("http://127.0.0.1:{closed}/hooks/SECRET?token=SECRET")).expect("valid");
        let error = webhook.endpoint.post_json(b"{}".to_vec()).await.expect_err("nothing listens").to_string();
        assert!(error.starts_with(&format!("cannot connect to http://127.0.0.1:{closed}: ")), "{error}");
        assert!(!error.contains("SECRET") && !error.contains("hooks"), "{error}");
    }
}
