//! The built-in channels: Slack, a generic JSON webhook, Alertmanager (API v2) and the log.

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderName, HeaderValue, Method, header};
use serde_json::{Value, json};

use super::engine::{Alert, AlertStatus, REFRESH_INTERVAL};
use super::{AlertError, Channel, SendError, SendFuture, Severity};
use crate::egress::{Client, Outgoing, Target, Version};

/// An HTTP endpoint to POST JSON to, through obs's one outbound client (proxies from
/// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`, TLS for `https://`). Its URL may hold a secret (Slack's
/// does): it is never printed, only its scheme, host and port.
#[derive(Clone)]
pub(crate) struct Endpoint {
    target: Target,
    client: Arc<Client>,
    /// What the client trusts for `https://` (feature `tls`).
    #[cfg(feature = "tls")]
    tls: crate::tls::Tls,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The path and the credentials are left out: Slack's secret is its path.
        write!(f, "Endpoint({})", self.target.shown())
    }
}

const USER_AGENT: &str = concat!("obs-alerts/", env!("CARGO_PKG_VERSION"));

impl Endpoint {
    pub(crate) fn parse(url: &str, field: &'static str) -> Result<Endpoint, AlertError> {
        let target = Target::parse(url)
            .map_err(|why| AlertError::Channel { channel: field, reason: why.reason().to_owned() })?;
        #[cfg(feature = "tls")]
        return Endpoint::connecting(target, crate::tls::Tls::new(), field);
        #[cfg(not(feature = "tls"))]
        Ok(Endpoint { client: Arc::new(Client::from_process_env(Version::Http1, USER_AGENT, &target)), target })
    }

    /// An endpoint at `target` whose `https://` connections use `tls`.
    #[cfg(feature = "tls")]
    fn connecting(target: Target, tls: crate::tls::Tls, field: &'static str) -> Result<Endpoint, AlertError> {
        let client = Client::from_process_env(Version::Http1, USER_AGENT, &target)
            .tls(&tls)
            .map_err(|error| AlertError::Channel { channel: field, reason: error.to_string() })?;
        Ok(Endpoint { target, client: Arc::new(client), tls })
    }

    /// The same host with another path (Alertmanager's API below its base URL).
    fn join(&self, path: &str) -> Endpoint {
        let base = self.target.path().split('?').next().unwrap_or("").trim_end_matches('/');
        Endpoint { target: self.target.with_path(format!("{base}{path}")), ..self.clone() }
    }

    /// Connects to an `https://` URL with these TLS settings.
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(self, tls: crate::tls::Tls, field: &'static str) -> Result<Endpoint, AlertError> {
        Endpoint::connecting(self.target, tls, field)
    }

    /// Trusts the CA certificates in `pem` as well (for an `https://` URL).
    #[cfg(feature = "tls")]
    pub(crate) fn add_root_certificates(self, pem: &[u8], field: &'static str) -> Result<Endpoint, AlertError> {
        let invalid = |reason: String| AlertError::Channel { channel: field, reason };
        if !self.target.is_https() {
            return Err(invalid("a root certificate is for an https:// URL".into()));
        }
        let tls = self.tls.clone().with_root_certificate_pem(pem).map_err(|error| invalid(error.to_string()))?;
        self.with_tls(tls, field)
    }

    /// POSTs `body` as JSON: 2xx is done; 429 and 5xx are worth a retry (after the answer's
    /// `Retry-After` if it has one), other answers are not.
    pub(crate) async fn post_json(&self, body: Vec<u8>) -> Result<(), SendError> {
        const HEADERS: [(HeaderName, HeaderValue); 1] =
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        let request = Outgoing { method: Method::POST, target: &self.target, headers: &HEADERS, body: body.into() };
        let reply = self.client.send(request).await.map_err(|error| {
            if error.is_retryable() {
                SendError::retryable(error.message())
            } else {
                SendError::permanent(error.message())
            }
        })?;
        let status = reply.status;
        // A relay's error page may echo the path (Slack's secret).
        let message = || {
            let detail = crate::egress::scrub(&reply.detail(), &self.target, &[]);
            format!("{} answered HTTP {status}: {detail}", self.target.shown())
        };
        match status.as_u16() {
            200..=299 => Ok(()),
            429 | 500..=599 => {
                let error = SendError::retryable(message());
                Err(match reply.retry_after() {
                    Some(wait) => error.with_retry_after(wait),
                    None => error,
                })
            }
            _ => Err(SendError::permanent(message())),
        }
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
        "runbookUrl": alert.runbook_url,
        "dashboardUrl": alert.dashboard_url,
        "description": alert.description,
        "escalationLevel": alert.escalation_level,
        "acknowledged": alert.acknowledged_at.is_some(),
        "acknowledgedBy": alert.acknowledged_by,
        "acknowledgedAt": alert.acknowledged_at.map(rfc3339),
    })
}

/// A generic JSON webhook: each notification is POSTed as one object with `alertname`,
/// `severity`, `status` (`firing` or `resolved`), `message`, `labels`, `value`, `threshold`,
/// `activeSince`, `startsAt`, `endsAt` and `timestamp` (RFC 3339), the rule's `runbookUrl`,
/// `dashboardUrl` and `description` (`null` when it has none), `escalationLevel` (0 before any
/// escalation), `acknowledged`, `acknowledgedBy` and `acknowledgedAt`.
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
    /// A webhook at `url` (`http://`, or `https://` with feature `tls`).
    pub fn new(url: &str) -> Result<Webhook, AlertError> {
        Ok(Webhook { endpoint: Endpoint::parse(url, "webhook")?, name: "webhook".into() })
    }

    /// Also trusts the CA certificates in `pem` (a private CA) for an `https://` URL.
    #[cfg(feature = "tls")]
    pub fn with_root_certificate_pem(mut self, pem: &[u8]) -> Result<Webhook, AlertError> {
        self.endpoint = self.endpoint.add_root_certificates(pem, "webhook")?;
        Ok(self)
    }

    /// Connects to an `https://` URL with these TLS settings (the servers trusted, a client
    /// certificate for mutual TLS) instead of the Mozilla roots.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::Tls) -> Result<Webhook, AlertError> {
        self.endpoint = self.endpoint.with_tls(tls, "webhook")?;
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
/// (`good`, `warning`, `danger`; `good` when resolved), titled `Alert: NAME` (a link to the
/// rule's runbook if it has one), the message (and the rule's description under it) as its text,
/// the fields Severity, Status and Time, and Runbook and Dashboard link buttons for the rule's.
#[derive(Debug, Clone)]
pub struct Slack {
    endpoint: Endpoint,
    name: String,
}

impl Slack {
    /// Slack's incoming webhook at `url` (`https://hooks.slack.com/services/..` with feature
    /// `tls`; `http://` for a relay).
    pub fn new(url: &str) -> Result<Slack, AlertError> {
        Ok(Slack { endpoint: Endpoint::parse(url, "slack")?, name: "slack".into() })
    }

    /// Another channel name (default `slack`), to tell two workspaces apart in the metrics.
    pub fn named(mut self, name: impl Into<String>) -> Slack {
        self.name = name.into();
        self
    }

    /// Also trusts the CA certificates in `pem` (a private CA) for an `https://` URL.
    #[cfg(feature = "tls")]
    pub fn with_root_certificate_pem(mut self, pem: &[u8]) -> Result<Slack, AlertError> {
        self.endpoint = self.endpoint.add_root_certificates(pem, "slack")?;
        Ok(self)
    }

    /// Connects to an `https://` URL with these TLS settings (the servers trusted, a client
    /// certificate for mutual TLS) instead of the Mozilla roots.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::Tls) -> Result<Slack, AlertError> {
        self.endpoint = self.endpoint.with_tls(tls, "slack")?;
        Ok(self)
    }

    /// The payload of one notification.
    pub fn payload(alert: &Alert) -> Value {
        let color = match (alert.status, alert.severity) {
            (AlertStatus::Resolved, _) | (_, Severity::Info) => "good",
            (_, Severity::Warning) => "warning",
            (_, Severity::Critical) => "danger",
        };
        // The description under the message; the runbook and dashboard as link buttons.
        let text = match &alert.description {
            Some(description) => format!("{}\n{description}", alert.message),
            None => alert.message.clone(),
        };
        let buttons: Vec<Value> = [("Runbook", &alert.runbook_url), ("Dashboard", &alert.dashboard_url)]
            .into_iter()
            .filter_map(|(label, url)| url.as_ref().map(|url| json!({"type": "button", "text": label, "url": url})))
            .collect();
        let mut attachment = json!({
            "color": color,
            "title": format!("Alert: {}", alert.name),
            "text": text,
            "fields": [
                {"title": "Severity", "value": alert.severity.as_str(), "short": true},
                {"title": "Status", "value": alert.status.as_str(), "short": true},
                {"title": "Time", "value": rfc3339(alert.timestamp), "short": true},
            ],
        });
        if let Some(url) = &alert.runbook_url {
            attachment["title_link"] = url.clone().into();
        }
        // An escalated page says so; an acknowledged alert says who is on it.
        if let Some(fields) = attachment["fields"].as_array_mut() {
            if alert.escalation_level > 0 {
                fields.push(json!({"title": "Escalation", "value": format!("level {}", alert.escalation_level + 1), "short": true}));
            }
            if let Some(at) = alert.acknowledged_at {
                let by = alert.acknowledged_by.as_deref().unwrap_or("someone");
                fields.push(
                    json!({"title": "Acknowledged", "value": format!("by {by} at {}", rfc3339(at)), "short": true}),
                );
            }
        }
        if !buttons.is_empty() {
            attachment["actions"] = buttons.into();
        }
        json!({ "attachments": [attachment] })
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
/// `severity` and the rule's, annotations `summary` (the message), `value`, and the rule's
/// `runbook_url`, `dashboard_url` and `description` when it has them; a resolution sends
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
    #[cfg(feature = "tls")]
    pub fn with_root_certificate_pem(mut self, pem: &[u8]) -> Result<Alertmanager, AlertError> {
        self.endpoint = self.endpoint.add_root_certificates(pem, "alertmanager")?;
        Ok(self)
    }

    /// Connects to an `https://` URL with these TLS settings (the servers trusted, a client
    /// certificate for mutual TLS) instead of the Mozilla roots.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::Tls) -> Result<Alertmanager, AlertError> {
        self.endpoint = self.endpoint.with_tls(tls, "alertmanager")?;
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
        for (name, text) in [
            ("runbook_url", &alert.runbook_url),
            ("dashboard_url", &alert.dashboard_url),
            ("description", &alert.description),
        ] {
            if let Some(text) = text {
                annotations.insert(name.into(), text.clone().into());
            }
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
        let (runbook_url, dashboard_url) = (alert.runbook_url.as_deref(), alert.dashboard_url.as_deref());
        let description = alert.description.as_deref();
        let (escalation_level, acknowledged_by) = (alert.escalation_level, alert.acknowledged_by.as_deref());
        match (alert.status, alert.severity) {
            (AlertStatus::Resolved, _) | (_, Severity::Info) => {
                tracing::info!(target: "obs::alerts", alertname = name, severity, status, value, runbook_url, dashboard_url, description, escalation_level, acknowledged_by, "{message}");
            }
            (_, Severity::Warning) => {
                tracing::warn!(target: "obs::alerts", alertname = name, severity, status, value, runbook_url, dashboard_url, description, escalation_level, acknowledged_by, "{message}");
            }
            (_, Severity::Critical) => {
                tracing::error!(target: "obs::alerts", alertname = name, severity, status, value, runbook_url, dashboard_url, description, escalation_level, acknowledged_by, "{message}");
            }
        }
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linked(status: AlertStatus) -> Alert {
        let mut alert = Alert::new("high_error_rate", Severity::Critical, status, "Error rate is 12.5%");
        alert.runbook_url = Some("https://runbooks.example.com/e?team=a&x=1".into());
        alert.dashboard_url = Some("https://grafana.example.com/d/api".into());
        alert.description = Some("Users see errors.".into());
        alert
    }

    #[test]
    fn links_and_description_reach_every_payload_and_nothing_is_added_without_them() {
        let alert = linked(AlertStatus::Firing);
        let slack = &Slack::payload(&alert)["attachments"][0];
        assert_eq!(slack["text"], "Error rate is 12.5%\nUsers see errors.");
        assert_eq!(slack["title_link"], "https://runbooks.example.com/e?team=a&x=1");
        assert_eq!(
            slack["actions"],
            json!([
                {"type": "button", "text": "Runbook", "url": "https://runbooks.example.com/e?team=a&x=1"},
                {"type": "button", "text": "Dashboard", "url": "https://grafana.example.com/d/api"},
            ])
        );
        let webhook = alert_json(&alert);
        assert_eq!(webhook["runbookUrl"], "https://runbooks.example.com/e?team=a&x=1");
        assert_eq!(webhook["dashboardUrl"], "https://grafana.example.com/d/api");
        assert_eq!(webhook["description"], "Users see errors.");
        let annotations = &Alertmanager::payload(&alert)[0]["annotations"];
        assert_eq!(annotations["runbook_url"], "https://runbooks.example.com/e?team=a&x=1");
        assert_eq!(annotations["dashboard_url"], "https://grafana.example.com/d/api");
        assert_eq!(annotations["description"], "Users see errors.");
        // Without them: no button, no title link, no annotation, nulls in the webhook.
        let plain = Alert::new("high_error_rate", Severity::Critical, AlertStatus::Firing, "Error rate is 12.5%");
        let slack = &Slack::payload(&plain)["attachments"][0];
        assert!(slack.get("actions").is_none() && slack.get("title_link").is_none(), "{slack}");
        assert_eq!(slack["text"], "Error rate is 12.5%");
        assert!(alert_json(&plain)["runbookUrl"].is_null());
        let annotations = &Alertmanager::payload(&plain)[0]["annotations"];
        assert!(annotations.get("runbook_url").is_none() && annotations.get("description").is_none(), "{annotations}");
    }

    #[test]
    fn an_escalated_or_acknowledged_alert_says_so() {
        let mut alert = linked(AlertStatus::Firing);
        let fields = |alert: &Alert| Slack::payload(alert)["attachments"][0]["fields"].as_array().map_or(0, Vec::len);
        assert_eq!(fields(&alert), 3);
        alert.escalation_level = 1;
        alert.acknowledged_by = Some("alice".into());
        alert.acknowledged_at = Some(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(86_400));
        let slack = &Slack::payload(&alert)["attachments"][0];
        assert_eq!(slack["fields"][3], json!({"title": "Escalation", "value": "level 2", "short": true}));
        assert_eq!(
            slack["fields"][4],
            json!({"title": "Acknowledged", "value": "by alice at 1970-01-02T00:00:00.000000Z", "short": true})
        );
        let webhook = alert_json(&alert);
        assert_eq!((&webhook["escalationLevel"], &webhook["acknowledgedBy"]), (&json!(1), &json!("alice")));
    }

    #[test]
    fn urls_are_checked_and_never_echoed() {
        #[cfg(not(feature = "tls"))]
        assert!(Slack::new("https://hooks.slack.com/services/T/B/SECRET").is_err());
        #[cfg(feature = "tls")]
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
        assert_eq!(slack.endpoint.target.shown(), "http://127.0.0.1:9");
        let am = Alertmanager::new("http://127.0.0.1:9093/prefix/").expect("an http URL");
        let echoed = "Cannot POST /services/T/B/SECRET (try /SECRET)";
        let cleaned = crate::egress::scrub(echoed, &slack.endpoint.target, &[]);
        assert!(!cleaned.contains("SECRET"), "{cleaned}");
        assert_eq!(am.endpoint.target.path(), "/prefix/api/v2/alerts");
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
