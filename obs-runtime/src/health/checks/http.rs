use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

use super::invalid_url;
use crate::health::{CheckOutcome, HealthCheck, HealthError};

/// The chapter's external API check: `GET url` answering `expected_status` is healthy; another
/// status is degraded with `HTTP <code>` as the message (the API answers, wrongly); no answer is
/// unhealthy. The response body is not read.
///
/// Plain `http://` only: an `https://` URL is an `Err` (check such an API with your own HTTP
/// client in a [`HealthCheck::new`]).
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
    if uri.scheme_str() != Some("http") {
        return Err(invalid_url("url", url, "expected an http:// URL (https is not supported by this check)"));
    }
    let Some(authority) = uri.authority().cloned() else {
        return Err(invalid_url("url", url, "no host"));
    };
    if authority.as_str().contains('@') {
        // It would go out in the Host header and show in failure messages on /health.
        return Err(HealthError::Invalid {
            field: "url",
            reason: "credentials in the URL are not supported (they would be shown in /health)".to_owned(),
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
    let uri = Arc::new(uri);
    Ok(HealthCheck::new(name, move || {
        let (address, uri) = (address.clone(), uri.clone());
        let authority = authority.clone();
        async move {
            let result = get(&address, &authority, &uri).await;
            match result {
                Ok(status) if status == expected_status => CheckOutcome::healthy().with_detail("status", status),
                Ok(status) => CheckOutcome::degraded(format!("HTTP {status}")).with_detail("status", status),
                Err(error) => CheckOutcome::unhealthy(format!("GET {uri}: {error}")),
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
