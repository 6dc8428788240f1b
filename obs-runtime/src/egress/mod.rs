//! The one client every outbound HTTP call of obs goes through: OTLP export (HTTP/1.1 or gRPC
//! over HTTP/2), the alert channels' webhooks and the HTTP health check.
//!
//! It connects within a connect timeout, through the proxy the environment names
//! ([`proxy`]), with TLS when the URL is `https://` (feature `tls`: rustls, [`crate::tls::Tls`]),
//! keeps one connection open for the next request when asked to, and reads a bounded part of the
//! answer. Its one error type, [`EgressError`], says whether another attempt may help (and when
//! the server asked to be retried) and never holds a credential, a URL's path or query, or the
//! value of a header it sent: every message is scrubbed of them before it leaves this module.

// Each of OTLP, the alert channels and the HTTP health check uses part of the client: a build
// with only some of them leaves the rest unused.
#![cfg_attr(not(all(feature = "otlp", feature = "alerts", feature = "health-http")), allow(dead_code))]

pub(crate) mod proxy;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

use self::proxy::{Proxies, Proxy};

/// A URL obs sends to, checked once: `http://` or `https://`, a host, a port (the scheme's by
/// default), no user or password (they would be printed, and sent in the clear over `http://`).
#[derive(Clone)]
pub(crate) struct Target {
    https: bool,
    host: String,
    port: u16,
    /// `host:port` as the URL gives it (the `Host` header).
    authority: String,
    /// The path and query, `/` at least.
    path: String,
    /// Scheme, host and port: how messages name it.
    shown: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.shown)
    }
}

/// Why a URL is not a [`Target`]; the caller words it for its setting (the URL is never quoted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadTarget {
    NotAUrl,
    Scheme,
    /// `https://` in a build without the `tls` feature.
    TlsNotCompiled,
    NoHost,
    Credentials,
}

impl BadTarget {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            BadTarget::NotAUrl => "not a URL with a host and a port up to 65535",
            BadTarget::Scheme => "not an http:// or https:// URL",
            BadTarget::TlsNotCompiled => "https:// needs the `tls` feature of obs-runtime",
            BadTarget::NoHost => "the URL has no host",
            BadTarget::Credentials => "credentials in the URL are not supported",
        }
    }
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Target, BadTarget> {
        let url = url.trim();
        let shown = crate::secret::url::for_humans(url);
        if shown == crate::secret::url::UNREADABLE {
            // `http` takes `host:99999` or `host:word` (and would connect to the default port).
            return Err(BadTarget::NotAUrl);
        }
        let uri: http::Uri = url.parse().map_err(|_| BadTarget::NotAUrl)?;
        let https = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            _ => return Err(BadTarget::Scheme),
        };
        let authority = uri.authority().ok_or(BadTarget::NoHost)?;
        if authority.as_str().contains('@') {
            return Err(BadTarget::Credentials);
        }
        if authority.host().is_empty() {
            return Err(BadTarget::NoHost);
        }
        if https && !cfg!(feature = "tls") {
            return Err(BadTarget::TlsNotCompiled);
        }
        Ok(Target {
            https,
            host: authority.host().trim_matches(['[', ']']).to_owned(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            path: uri.path_and_query().map_or("/", |path| path.as_str()).to_owned(),
            shown,
        })
    }

    /// The same host with another path and query.
    pub(crate) fn with_path(&self, path: impl Into<String>) -> Target {
        Target { path: path.into(), ..self.clone() }
    }

    pub(crate) fn is_https(&self) -> bool {
        self.https
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Scheme, host and port.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }
}

/// HTTP/1.1, or HTTP/2 (gRPC: prior knowledge over plain TCP, ALPN `h2` over TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    Http1,
    #[cfg(feature = "otlp-grpc")]
    Http2,
}

/// How to reach servers: TLS, proxies, the connect timeout, whether to keep a connection.
#[derive(Debug)]
pub(crate) struct Client {
    version: Version,
    connect_timeout: Duration,
    proxies: Proxies,
    keep_alive: bool,
    user_agent: &'static str,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The connection kept for the next request (to one target: each client sends to one).
    idle: Mutex<Option<(Sender, Instant)>>,
    /// The Mozilla roots' configuration, made at the first `https://` connection without
    /// settings of its own.
    #[cfg(feature = "tls")]
    default_tls: std::sync::OnceLock<Result<std::sync::Arc<rustls::ClientConfig>, crate::tls::TlsError>>,
}

enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    #[cfg(feature = "otlp-grpc")]
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sender")
    }
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::Http1(sender) => sender.is_closed(),
            #[cfg(feature = "otlp-grpc")]
            Sender::Http2(sender) => sender.is_closed(),
        }
    }
}

/// The connect timeout unless a client says otherwise.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A kept connection idle longer is not used again (a NAT or proxy may have dropped it silently).
const MAX_IDLE: Duration = Duration::from_secs(30);
/// The most of an answer's body read (the rest is not waited for).
const MAX_ANSWER: usize = 64 * 1024;

/// A failed call (no answer: an answer, whatever its status, is a [`Reply`]). Its message never
/// holds a credential, a URL's path or query, or a header value.
#[derive(Debug, Clone)]
pub(crate) struct EgressError {
    message: String,
    retryable: bool,
}

impl EgressError {
    pub(crate) fn retryable(message: impl Into<String>) -> EgressError {
        EgressError { message: message.into(), retryable: true }
    }

    pub(crate) fn permanent(message: impl Into<String>) -> EgressError {
        EgressError { message: message.into(), retryable: false }
    }

    pub(crate) fn is_retryable(&self) -> bool {
        self.retryable
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for EgressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A request: the client adds `Host`, `User-Agent` and (for HTTP/1.1) `Content-Length`.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: Method,
    pub(crate) target: &'a Target,
    pub(crate) headers: &'a [(HeaderName, HeaderValue)],
    pub(crate) body: Bytes,
}

/// An answer: its status, headers, trailers (gRPC's status), and up to 64 KiB of its body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) trailers: Option<HeaderMap>,
    pub(crate) body: Bytes,
}

impl Reply {
    /// Its `Retry-After`, as a wait from now.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(header::RETRY_AFTER)?.to_str().ok()?;
        crate::retry::parse_retry_after(value, std::time::SystemTime::now())
    }

    /// At most 200 characters of the body, as text, for a message (scrubbed by the caller with
    /// [`scrub`]).
    pub(crate) fn detail(&self) -> String {
        String::from_utf8_lossy(&self.body).chars().take(200).collect::<String>().trim().to_owned()
    }
}

/// `message` without what must never be printed: the target's path and query and their segments
/// (a webhook's secret is its path), and the values of `headers` and their last word (the token
/// of `Basic ..` or `Bearer ..`, padded or not).
pub(crate) fn scrub(message: &str, target: &Target, headers: &[(HeaderName, HeaderValue)]) -> String {
    // obs's own naming of the target (scheme, host and port) stays, whatever its host is called.
    const SHOWN: &str = "\u{0}target\u{0}";
    let mut message = message.replace(&target.shown, SHOWN);
    let path = target.path.as_str();
    let path_only = path.split('?').next().unwrap_or("");
    let query = path.split_once('?').map_or("", |(_, query)| query);
    let mut secrets: Vec<&str> = vec![path, path_only, query];
    secrets.extend(path_only.split('/'));
    secrets.extend(query.split('&').flat_map(|pair| pair.split('=')));
    for (_, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        let token = value.rsplit(' ').next().unwrap_or_default();
        secrets.extend([value, token, token.trim_end_matches('=')]);
    }
    // The longest first, so that a whole value goes before a piece of it.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    for secret in secrets.into_iter().filter(|secret| secret.len() >= 6) {
        message = message.replace(secret, crate::secret::REDACTED);
    }
    message.replace(SHOWN, &target.shown)
}

/// A request was not sent on a kept connection: the server had closed it.
struct Stale;

/// The byte stream under HTTP: TCP, a tunnel through a proxy, TLS over either.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

impl Client {
    /// A client for `version` sending to `target`, with the proxy `env` names for its scheme
    /// (`HTTPS_PROXY` or `HTTP_PROXY`, and `NO_PROXY`, lowercase or not); `Err` names a proxy
    /// variable that is not a proxy URL.
    pub(crate) fn new(
        version: Version,
        user_agent: &'static str,
        target: &Target,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Client, (&'static str, String)> {
        Ok(Client {
            version,
            connect_timeout: CONNECT_TIMEOUT,
            proxies: Proxies::from_env(target.https, env)?,
            keep_alive: false,
            user_agent,
            #[cfg(feature = "tls")]
            tls: None,
            idle: Mutex::new(None),
            #[cfg(feature = "tls")]
            default_tls: std::sync::OnceLock::new(),
        })
    }

    /// [`Client::new`] with the process's environment; a proxy variable that cannot be used is
    /// ignored (and said so: a warning counted in `obs_internal_errors_total`).
    pub(crate) fn from_process_env(version: Version, user_agent: &'static str, target: &Target) -> Client {
        let read = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        Client::new(version, user_agent, target, read).unwrap_or_else(|(name, reason)| {
            crate::diagnostics::warn("egress", "invalid_env", &format!("{name} {reason}: connecting directly"));
            Client::new(version, user_agent, target, |_| None).unwrap_or_else(|_| unreachable!("no variable, no error"))
        })
    }

    /// Keeps the connection open for the next request.
    pub(crate) fn keep_alive(mut self) -> Client {
        self.keep_alive = true;
        self
    }

    /// The TLS settings for `https://` targets (without, the Mozilla roots).
    #[cfg(feature = "tls")]
    pub(crate) fn tls(mut self, tls: &crate::tls::Tls) -> Result<Client, crate::tls::TlsError> {
        self.tls = Some(tls.client_config(self.alpn())?);
        Ok(self)
    }

    /// The protocol offered in the TLS handshake (ALPN).
    #[cfg(feature = "tls")]
    fn alpn(&self) -> &'static [u8] {
        match self.version {
            Version::Http1 => b"http/1.1",
            #[cfg(feature = "otlp-grpc")]
            Version::Http2 => b"h2",
        }
    }

    /// Sends `request` and reads the answer; the caller bounds the whole with its own timeout.
    pub(crate) async fn send(&self, request: Outgoing<'_>) -> Result<Reply, EgressError> {
        let target = request.target;
        let headers = request.headers;
        self.exchange(request)
            .await
            .map_err(|error| EgressError { message: scrub(&error.message, target, headers), ..error })
    }

    async fn exchange(&self, request: Outgoing<'_>) -> Result<Reply, EgressError> {
        let target = request.target;
        let proxy = self.proxies.for_target(&target.host, target.port);
        let kept = crate::sync::lock(&self.idle).take();
        if let Some((sender, _)) = kept.filter(|(sender, since)| !sender.is_closed() && since.elapsed() < MAX_IDLE) {
            match self.round_trip(sender, &request, proxy).await {
                // The kept connection was closed before the request was written: once more on a
                // new one (the request never left, so it cannot have been processed).
                Err(Stale) => {}
                Ok(reply) => return reply,
            }
        }
        let sender = self.connect(target, proxy).await?;
        match self.round_trip(sender, &request, proxy).await {
            Ok(reply) => reply,
            Err(Stale) => Err(EgressError::retryable(format!("{}: the connection closed at once", target.shown))),
        }
    }

    /// One request on `sender`; `Err(Stale)` when the connection was closed before the request
    /// was written.
    async fn round_trip(
        &self,
        mut sender: Sender,
        request: &Outgoing<'_>,
        proxy: Option<&Proxy>,
    ) -> Result<Result<Reply, EgressError>, Stale> {
        let target = request.target;
        // HTTP/1.1 through a proxy without a tunnel: the absolute URL, and the proxy's credentials.
        let forward = proxy.filter(|_| !target.https && self.version == Version::Http1);
        let uri = match forward {
            Some(_) => format!("http://{}{}", target.authority, target.path),
            None => match self.version {
                Version::Http1 => target.path.clone(),
                #[cfg(feature = "otlp-grpc")]
                Version::Http2 => {
                    format!("{}://{}{}", if target.https { "https" } else { "http" }, target.authority, target.path)
                }
            },
        };
        let mut builder = Request::builder().method(request.method.clone()).uri(uri);
        if self.version == Version::Http1 {
            builder = builder.header(header::HOST, target.authority.as_str());
        }
        let outgoing = builder.header(header::USER_AGENT, self.user_agent).body(Full::new(request.body.clone()));
        let mut outgoing = match outgoing {
            Ok(outgoing) => outgoing,
            Err(error) => {
                return Ok(Err(EgressError::permanent(format!(
                    "cannot make the request to {}: {error}",
                    target.shown
                ))));
            }
        };
        for (name, value) in request.headers {
            outgoing.headers_mut().insert(name.clone(), value.clone());
        }
        if let Some(authorization) = forward.and_then(|proxy| proxy.authorization.clone()) {
            outgoing.headers_mut().insert(header::PROXY_AUTHORIZATION, authorization);
        }
        let response = match &mut sender {
            Sender::Http1(sender) => match sender.ready().await {
                Ok(()) => sender.try_send_request(outgoing).await,
                Err(_) => return Err(Stale),
            },
            #[cfg(feature = "otlp-grpc")]
            Sender::Http2(sender) => match sender.ready().await {
                Ok(()) => sender.try_send_request(outgoing).await,
                Err(_) => return Err(Stale),
            },
        };
        let response = match response {
            Ok(response) => response,
            // Given back unsent: the connection was closed under it.
            Err(error) if error.message().is_some() => return Err(Stale),
            // TLS 1.3 ends the client's handshake before the server checks its certificate: a
            // refusal comes with the first answer (when the server's alert is not lost to a reset).
            Err(error) if refused_certificate(error.error()) => {
                let message =
                    format!("TLS with {}: the server refused the client certificate: {}", target.shown, error.error());
                return Ok(Err(EgressError::permanent(message)));
            }
            Err(error) => {
                return Ok(Err(EgressError::retryable(format!("HTTP request to {}: {}", target.shown, error.error()))));
            }
        };
        let (parts, body) = response.into_parts();
        let collected = http_body_util::Limited::new(body, MAX_ANSWER).collect().await;
        let (body, trailers, whole) = match collected {
            Ok(collected) => {
                let trailers = collected.trailers().cloned();
                (collected.to_bytes(), trailers, true)
            }
            // Too long, or cut: the status still counts; the connection is not kept.
            Err(_) => (Bytes::new(), None, false),
        };
        if self.keep_alive && whole && !sender.is_closed() {
            *crate::sync::lock(&self.idle) = Some((sender, Instant::now()));
        }
        Ok(Ok(Reply { status: parts.status, headers: parts.headers, trailers, body }))
    }

    /// A new connection to `target`: TCP (to the proxy, then a tunnel when needed), TLS, the HTTP
    /// handshake; its driver runs on the current runtime.
    async fn connect(&self, target: &Target, proxy: Option<&Proxy>) -> Result<Sender, EgressError> {
        let (host, port, what) = match proxy {
            Some(proxy) => (proxy.host.as_str(), proxy.port, format!("the proxy {} for {}", proxy.shown, target.shown)),
            None => (target.host.as_str(), target.port, target.shown.clone()),
        };
        let stream = match tokio::time::timeout(self.connect_timeout, TcpStream::connect((host, port))).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(EgressError::retryable(format!("cannot connect to {what}: {error}"))),
            Err(_) => {
                return Err(EgressError::retryable(format!(
                    "cannot connect to {what} within {:?}",
                    self.connect_timeout
                )));
            }
        };
        let _ = stream.set_nodelay(true);
        let tunnel = proxy.filter(|_| target.https || self.version != Version::Http1);
        let mut stream = stream;
        if let Some(proxy) = tunnel {
            tokio::time::timeout(self.connect_timeout, connect_tunnel(&mut stream, target, proxy)).await.map_err(
                |_| {
                    EgressError::retryable(format!(
                        "the proxy {} did not open a tunnel within {:?}",
                        proxy.shown, self.connect_timeout
                    ))
                },
            )??;
        }
        let io: Box<dyn Io> = if target.https { self.tls_handshake(target, stream).await? } else { Box::new(stream) };
        let io = TokioIo::new(io);
        match self.version {
            Version::Http1 => {
                let (sender, connection) = hyper::client::conn::http1::handshake(io).await.map_err(|error| {
                    EgressError::retryable(format!("HTTP handshake with {}: {error}", target.shown))
                })?;
                tokio::spawn(connection);
                Ok(Sender::Http1(sender))
            }
            #[cfg(feature = "otlp-grpc")]
            Version::Http2 => {
                let (sender, connection) =
                    hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.map_err(
                        |error| EgressError::retryable(format!("HTTP/2 handshake with {}: {error}", target.shown)),
                    )?;
                tokio::spawn(connection);
                Ok(Sender::Http2(sender))
            }
        }
    }

    #[cfg(feature = "tls")]
    async fn tls_handshake(&self, target: &Target, stream: TcpStream) -> Result<Box<dyn Io>, EgressError> {
        let config = match &self.tls {
            Some(config) => config.clone(),
            None => {
                let config = self.default_tls.get_or_init(|| crate::tls::Tls::new().client_config(self.alpn()));
                config.clone().map_err(|error| EgressError::permanent(error.to_string()))?
            }
        };
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|_| EgressError::permanent(format!("{} is not a TLS server name", target.shown)))?;
        let handshake = tokio_rustls::TlsConnector::from(config).connect(name, stream);
        let stream = match tokio::time::timeout(self.connect_timeout, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                // A certificate that is not trusted (or a client certificate the server refuses)
                // will not be on the next attempt either.
                let message = format!("TLS handshake with {}: {error}", target.shown);
                let permanent = refused_certificate(&error);
                return Err(if permanent { EgressError::permanent(message) } else { EgressError::retryable(message) });
            }
            Err(_) => {
                return Err(EgressError::retryable(format!(
                    "no TLS handshake with {} within {:?}",
                    target.shown, self.connect_timeout
                )));
            }
        };
        Ok(Box::new(stream))
    }

    #[cfg(not(feature = "tls"))]
    async fn tls_handshake(&self, target: &Target, _: TcpStream) -> Result<Box<dyn Io>, EgressError> {
        // `Target::parse` refuses https:// without the feature.
        Err(EgressError::permanent(format!("{}: https:// needs the `tls` feature of obs-runtime", target.shown)))
    }
}

/// Whether `error` (or what caused it) is a certificate refused, by this client (not trusted)
/// or by the server (a client certificate it does not accept): no retry will change that.
#[cfg(feature = "tls")]
fn refused_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        let rustls = error
            .downcast_ref::<rustls::Error>()
            .or_else(|| error.downcast_ref::<std::io::Error>()?.get_ref()?.downcast_ref::<rustls::Error>());
        if let Some(rustls) = rustls {
            return matches!(
                rustls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::AlertReceived(
                        rustls::AlertDescription::BadCertificate
                            | rustls::AlertDescription::UnknownCA
                            | rustls::AlertDescription::CertificateRequired
                            | rustls::AlertDescription::CertificateUnknown
                            | rustls::AlertDescription::UnsupportedCertificate
                            | rustls::AlertDescription::CertificateExpired
                            | rustls::AlertDescription::CertificateRevoked
                            | rustls::AlertDescription::AccessDenied
                    )
            );
        }
        cause = error.source();
    }
    false
}

#[cfg(not(feature = "tls"))]
fn refused_certificate(_: &(dyn std::error::Error + 'static)) -> bool {
    false
}

/// `CONNECT host:port` through `proxy`, on `stream`; `Ok` once the proxy answers 2xx.
async fn connect_tunnel(stream: &mut TcpStream, target: &Target, proxy: &Proxy) -> Result<(), EgressError> {
    let authority = if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    };
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(authorization) = &proxy.authorization {
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(authorization.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let failed = |error: std::io::Error| EgressError::retryable(format!("the proxy {}: {error}", proxy.shown));
    stream.write_all(&head).await.map_err(failed)?;
    // The proxy's answer, byte by byte up to its blank line (nothing of the tunnel is read).
    let mut answer = Vec::with_capacity(128);
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= 8192 {
            return Err(EgressError::retryable(format!(
                "the proxy {} answered CONNECT with an overlong head",
                proxy.shown
            )));
        }
        let byte = stream.read_u8().await.map_err(failed)?;
        answer.push(byte);
    }
    let status = answer
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|code| std::str::from_utf8(code).ok()?.parse::<u16>().ok())
        .unwrap_or(0);
    match status {
        200..=299 => Ok(()),
        407 => Err(EgressError::permanent(format!(
            "the proxy {} refused the tunnel to {}: HTTP 407 (proxy credentials missing or wrong)",
            proxy.shown, target.shown
        ))),
        // Forbidden (a proxy that allows CONNECT to port 443 only, say) and the like: for good.
        400..=499 if status != 408 && status != 429 => Err(EgressError::permanent(format!(
            "the proxy {} refused the tunnel to {}: HTTP {status}",
            proxy.shown, target.shown
        ))),
        _ => Err(EgressError::retryable(format!(
            "the proxy {} refused the tunnel to {}: HTTP {status}",
            proxy.shown, target.shown
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_and_shown_without_path_or_credentials() {
        let target = Target::parse(" http://Collector.example:4318/v1/traces?key=S3CRET ").expect("valid");
        assert_eq!(
            (target.host.as_str(), target.port, target.path()),
            ("Collector.example", 4318, "/v1/traces?key=S3CRET")
        );
        assert_eq!(target.shown(), "http://collector.example:4318");
        assert_eq!(format!("{target:?}"), "Target(http://collector.example:4318)");
        assert_eq!(Target::parse("http://[::1]/").map(|t| (t.host, t.port)).ok(), Some(("::1".to_owned(), 80)));
        for (url, why) in [
            ("ftp://host/", BadTarget::Scheme),
            ("http://host:99999/", BadTarget::NotAUrl),
            ("http://user:pw@host/", BadTarget::Credentials),
            ("not a url", BadTarget::NotAUrl),
        ] {
            assert_eq!(Target::parse(url).map(|_| ()), Err(why), "{url}");
        }
        let https = Target::parse("https://host/").map(|target| target.port);
        if cfg!(feature = "tls") {
            assert_eq!(https, Ok(443));
        } else {
            assert_eq!(https, Err(BadTarget::TlsNotCompiled));
        }
    }

    #[test]
    fn scrub_removes_paths_queries_and_header_values() {
        let target = Target::parse("http://h:1/services/T000/B000/XXXXSECRETXXXX?api_key=QUERYSECRET").expect("valid");
        let headers = [(header::AUTHORIZATION, HeaderValue::from_static("Bearer dG9rZW4tdmFsdWU="))];
        let message = "404 for /services/T000/B000/XXXXSECRETXXXX?api_key=QUERYSECRET; XXXXSECRETXXXX; \
                       QUERYSECRET; Bearer dG9rZW4tdmFsdWU=; dG9rZW4tdmFsdWU";
        let scrubbed = scrub(message, &target, &headers);
        for secret in ["SECRET", "dG9rZW4"] {
            assert!(!scrubbed.contains(secret), "{scrubbed}");
        }
        // The host obs names stays, even when the path repeats it.
        let target = Target::parse("http://notifier:8080/notifier").expect("valid");
        let message = "cannot connect to http://notifier:8080: refused (POST /notifier)";
        assert_eq!(scrub(message, &target, &[]), "cannot connect to http://notifier:8080: refused (POST [REDACTED])");
    }

    /// A server on 127.0.0.1 answering `answers` requests per connection with 204 (then closing
    /// it, saying so when it answers one only); returns its port and the count of connections it
    /// accepted.
    fn server(answers: usize) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
                let mut stream = stream;
                for _ in 0..answers {
                    // The head, up to its blank line (the requests have no body).
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|read| read > 0) && line != "\r\n" {
                        line.clear();
                    }
                    let answer: &[u8] = if answers == 1 {
                        b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n"
                    } else {
                        b"HTTP/1.1 204 No Content\r\n\r\n"
                    };
                    if stream.write_all(answer).is_err() {
                        break;
                    }
                }
            }
        });
        (port, accepted)
    }

    async fn get(client: &Client, target: &Target) -> StatusCode {
        let request = Outgoing { method: Method::GET, target, headers: &[], body: Bytes::new() };
        client.send(request).await.expect("an answer").status
    }

    #[tokio::test]
    async fn a_kept_connection_is_reused_and_one_the_server_closed_is_replaced() {
        // Three answers per connection: three requests, one connection.
        let (port, accepted) = server(3);
        let target = Target::parse(&format!("http://127.0.0.1:{port}/")).expect("valid");
        let client = Client::new(Version::Http1, "obs-test", &target, |_| None).expect("no proxy").keep_alive();
        for _ in 0..3 {
            assert_eq!(get(&client, &target).await, StatusCode::NO_CONTENT);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        // One answer per connection (`connection: close`): each request after the first finds the
        // kept connection closed, and goes on a new one (no error, no request lost).
        let (port, accepted) = server(1);
        let target = Target::parse(&format!("http://127.0.0.1:{port}/")).expect("valid");
        let client = Client::new(Version::Http1, "obs-test", &target, |_| None).expect("no proxy").keep_alive();
        for _ in 0..3 {
            assert_eq!(get(&client, &target).await, StatusCode::NO_CONTENT);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
