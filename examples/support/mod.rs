//! What the examples share: an HTTP/1.1 client call made with hyper's connection API (the one
//! client the root package already depends on). Not an example of its own: cargo builds only
//! `examples/*.rs` and `examples/*/main.rs` as examples.

use std::time::Duration;

use axum::body::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt as _, Empty};

/// Sends `request` (its URI absolute: `http://host:port/path?query`) on a new connection and
/// returns the status and the body, within `timeout`. Errors never show the URL: it may carry a
/// secret.
pub async fn send(mut request: Request<Empty<Bytes>>, timeout: Duration) -> Result<(u16, String), String> {
    let authority = request.uri().authority().ok_or("the URL has no host")?.to_string();
    let path = request.uri().path_and_query().map_or("/", |path| path.as_str()).parse().map_err(|_| "not a path")?;
    // The request line goes out in origin form (`GET /path?query HTTP/1.1`), the host in `Host`.
    *request.uri_mut() = path;
    let host = authority.parse().map_err(|_| "not a host")?;
    request.headers_mut().insert(header::HOST, host);
    let call = async {
        let stream = tokio::net::TcpStream::connect(&authority).await.map_err(|error| error.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|error| error.to_string())?;
        let driver = tokio::spawn(connection);
        let response = sender.send_request(request).await.map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|error| error.to_string())?.to_bytes();
        driver.abort();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(timeout, call).await.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

/// `GET url`, within 5 s.
#[allow(dead_code)] // Not every example that shares this module calls it.
pub async fn get(url: &str) -> Result<(u16, String), String> {
    let request = Request::get(url).body(Empty::new()).map_err(|_| "not a URL".to_owned())?;
    send(request, Duration::from_secs(5)).await
}
