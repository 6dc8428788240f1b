use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

use super::invalid_url;
use crate::health::{CheckOutcome, HealthCheck, HealthError};

/// An external API check: `GET url` answering `expected_status` is healthy; another
/// status is degraded with `HTTP <code>` as the message (the API answers, wrongly); no answer is
/// unhealthy. The response body is not read.
///
/// Plain `http://` only: an `https://` URL is an `Err` (check such an API with your own HTTP
/// client in a [`HealthCheck::new`]), and so is one with a user and password (they would cross
/// the network in the clear). Messages show the URL's scheme, host and port only: its path and
/// query (`?api_key=..`) are sent, never shown on `/health`.
///
/// ```
/// use obs_runtime::health::checks::http_get;
///
/// let check = http_get("external_api", "http://127.0.0.1:8080/health", 200).expect("a valid URL");
/// assert_eq!(check.name(), "external_api");
/// assert!(http_get("external_api", "https://api.example.com/health", 200).is_err());
/// ```
pub fn http_get(name: impl Into<String>, url: &str, expected_status: u16) -> Result<HealthCheck, HealthError> {
    let uri: Uri = url.parse().map_err(|error: http::uri::InvalidUri| invalid_url("url", url, &error.to_string()))?;
    if crate::secret::url::for_humans(url) == crate::secret::url::UNREADABLE {
        // `http` takes `host:99999` or `host:word` (and would connect to port 80).
        return Err(invalid_url("url", url, "not a URL with a host and a port up to 65535"));
    }
    if uri.scheme_str() != Some("http") {
        return Err(invalid_url("url", url, "expected an http:// URL (https is not supported by this check)"));
    }
    let Some(authority) = uri.authority().cloned() else {
        return Err(invalid_url("url", url, "no host"));
    };
    if authority.as_str().contains('@') {
        // Plain http:// would send them in the clear.
        return Err(HealthError::Invalid {
            field: "url",
            reason: "credentials in the URL are not supported (plain http:// would send them in the clear)".to_owned(),
        });
    }
    if !(100..=999).contains(&expected_status) {
        return Err(HealthError::Invalid {
            field: "expected_status",
            reason: format!("{expected_status} is not an HTTP status"),
        });
    }
    let port = authority.port_u16().unwrap_or(80);
    let address: Arc<str> = format!("{}:{port}", authority.host()).into();
    // What /health shows: the path and query may hold a key (`?api_key=..`).
    let shown: Arc<str> = crate::secret::url::for_humans(url).into();
    let uri = Arc::new(uri);
    Ok(HealthCheck::new(name, move || {
        let (address, uri, shown) = (address.clone(), uri.clone(), shown.clone());
        let authority = authority.clone();
        async move {
            let result = get(&address, &authority, &uri).await;
            match result {
                Ok(status) if status == expected_status => CheckOutcome::healthy().with_detail("status", status),
                Ok(status) => CheckOutcome::degraded(format!("HTTP {status}")).with_detail("status", status),
                Err(error) => CheckOutcome::unhealthy(format!("GET {shown}: {error}")),
            }
        }
    }))
}

async fn get(address: &str, authority: &http::uri::Authority, uri: &Uri) -> Result<u16, String> {
    let stream = tokio::net::TcpStream::connect(address).await.map_err(|error| format!("cannot connect: {error}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|error| error.to_string())?;
    // The connection is driven alongside the request, and dropped with it.
    let driver = tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let request = Request::get(path)
        .header(header::HOST, authority.as_str())
        .header(header::USER_AGENT, concat!("obs-health/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new())
        .map_err(|error| error.to_string())?;
    let response = sender.send_request(request).await.map_err(|error| error.to_string());
    driver.abort();
    Ok(response?.status().as_u16())
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
        assert!(message.starts_with(&format!("GET http://127.0.0.1:{port}: ")), "{message}");
        let wrong = report.checks.iter().find(|check| check.name == "wrong").expect("ran");
        assert_eq!(wrong.message.as_deref(), Some("HTTP 503"));
        let request = server.join().expect("the server ran");
        assert!(request.starts_with("GET /private?api_key=S3CRET HTTP/1.1"), "{request}");
    }
}
