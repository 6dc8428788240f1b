use std::sync::Arc;

use bytes::Bytes;
use http::Method;

use super::invalid_url;
use crate::egress::{Client, Outgoing, Target, Version};
use crate::health::{CheckOutcome, HealthCheck, HealthError};

/// An external API check: `GET url` answering `expected_status` is healthy; another
/// status is degraded with `HTTP <code>` as the message (the API answers, wrongly); no answer is
/// unhealthy. At most 64 KiB of the response body is read.
///
/// `http://`, or `https://` with feature `tls` (the Mozilla roots; [`http_get_with_tls`] for
/// others or a client certificate), through the proxy `HTTPS_PROXY`/`HTTP_PROXY` name unless
/// `NO_PROXY` (or loopback) says otherwise. A URL with a user and password is an `Err`. Messages
/// show the URL's scheme, host and port only: its path and query (`?api_key=..`) are sent, never
/// shown on `/health`.
///
/// ```
/// use obs_runtime::health::checks::http_get;
///
/// let check = http_get("external_api", "http://127.0.0.1:8080/health", 200).expect("a valid URL");
/// assert_eq!(check.name(), "external_api");
/// assert!(http_get("external_api", "ftp://api.example.com/health", 200).is_err());
/// ```
pub fn http_get(name: impl Into<String>, url: &str, expected_status: u16) -> Result<HealthCheck, HealthError> {
    check(name, url, expected_status, |target| Ok(Client::from_process_env(Version::Http1, USER_AGENT, target)))
}

/// [`http_get`] with these TLS settings for an `https://` URL: a private CA, the system's store,
/// a client certificate.
///
/// ```no_run
/// use obs_runtime::health::checks::http_get_with_tls;
/// use obs_runtime::tls::Tls;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = Tls::trusting_only(&std::fs::read("/etc/obs/internal-ca.pem")?)?;
/// let check = http_get_with_tls("billing_api", "https://billing.internal/health", 200, tls)?;
/// # Ok(()) }
/// ```
#[cfg(feature = "tls")]
pub fn http_get_with_tls(
    name: impl Into<String>,
    url: &str,
    expected_status: u16,
    tls: crate::tls::Tls,
) -> Result<HealthCheck, HealthError> {
    check(name, url, expected_status, |target| {
        Client::from_process_env(Version::Http1, USER_AGENT, target)
            .tls(&tls)
            .map_err(|error| HealthError::Invalid { field: "tls", reason: error.to_string() })
    })
}

const USER_AGENT: &str = concat!("obs-health/", env!("CARGO_PKG_VERSION"));

fn check(
    name: impl Into<String>,
    url: &str,
    expected_status: u16,
    client: impl FnOnce(&Target) -> Result<Client, HealthError>,
) -> Result<HealthCheck, HealthError> {
    let target = Target::parse(url).map_err(|why| invalid_url("url", url, why.reason()))?;
    if !(100..=999).contains(&expected_status) {
        return Err(HealthError::Invalid {
            field: "expected_status",
            reason: format!("{expected_status} is not an HTTP status"),
        });
    }
    let shared = Arc::new((client(&target)?, target));
    Ok(HealthCheck::new(name, move || {
        let shared = shared.clone();
        async move {
            let (client, target) = &*shared;
            let request = Outgoing { method: Method::GET, target, headers: &[], body: Bytes::new() };
            match client.send(request).await {
                Ok(reply) if reply.status.as_u16() == expected_status => {
                    CheckOutcome::healthy().with_detail("status", reply.status.as_u16())
                }
                Ok(reply) => CheckOutcome::degraded(format!("HTTP {}", reply.status.as_u16()))
                    .with_detail("status", reply.status.as_u16()),
                Err(error) => CheckOutcome::unhealthy(error.to_string()),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::HealthChecker;

    /// A port nothing listens on (bound, then released).
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("an address").port()
    }

    fn leaks(text: &str) -> Option<&'static str> {
        ["S3CRET", "api_key", "pw@", ":pw", "/private"].into_iter().find(|secret| text.contains(secret))
    }

    #[test]
    fn bad_urls_are_named_without_their_secrets() {
        let port = closed_port();
        for url in [
            format!("http://user:pw@127.0.0.1:{port}/private?api_key=S3CRET"),
            format!("https://user:pw@127.0.0.1:{port}/private?api_key=S3CRET"),
            format!("ftp://127.0.0.1:{port}/private?api_key=S3CRET"),
            "http://127.0.0.1:99999/private?api_key=S3CRET".to_owned(),
            "http:///private?api_key=S3CRET".to_owned(),
            "not a url /private?api_key=S3CRET".to_owned(),
        ] {
            let error = http_get("api", &url, 200).expect_err("not usable").to_string();
            assert_eq!(leaks(&error), None, "{url}: {error}");
            assert!(error.contains("url"), "{error}");
        }
    }

    #[tokio::test]
    async fn health_shows_no_path_or_query() {
        let port = closed_port();
        // A server that answers once, with another status: the path and query are sent, not shown.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let answering = listener.local_addr().expect("an address").port();
        let server = std::thread::spawn(move || {
            use std::io::{Read as _, Write as _};
            let (mut stream, _) = listener.accept().expect("the check connects");
            let mut request = vec![0; 4096];
            let read = stream.read(&mut request).expect("a request");
            stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").expect("answered");
            String::from_utf8_lossy(&request[..read]).into_owned()
        });
        let health = HealthChecker::new();
        let check = |name: &str, port: u16| {
            http_get(name, &format!("http://127.0.0.1:{port}/private?api_key=S3CRET"), 200).expect("valid")
        };
        health.register(check("down", port)).expect("registers");
        health.register(check("wrong", answering)).expect("registers");
        let report = health.report().await;
        let json = report.to_json();
        assert_eq!(leaks(&json), None, "{json}");
        let down = report.checks.iter().find(|check| check.name == "down").expect("ran");
        let message = down.message.as_deref().unwrap_or_default();
        assert!(message.starts_with(&format!("cannot connect to http://127.0.0.1:{port}: ")), "{message}");
        let wrong = report.checks.iter().find(|check| check.name == "wrong").expect("ran");
        assert_eq!(wrong.message.as_deref(), Some("HTTP 503"));
        let request = server.join().expect("the server ran");
        assert!(request.starts_with("GET /private?api_key=S3CRET HTTP/1.1"), "{request}");
    }
}
