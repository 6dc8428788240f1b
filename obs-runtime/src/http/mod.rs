//! The embedded HTTP server (the chapter's `start_http_server(8000)`): `/metrics` today, and the
//! place later pillars add their endpoints.
//!
//! It runs on its own thread with its own single-threaded tokio runtime, so it works whether or
//! not the application uses tokio, and never competes with the application's executor. It is
//! bounded everywhere: at most `max_connections` connections at once (others are closed at once and
//! counted in `obs_http_connections_rejected_total`), request headers must arrive within
//! `header_timeout` and fit in `max_header_bytes`, and request bodies are never read.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};

use crate::ConfigError;

/// The server's bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) max_header_bytes: usize,
}

/// What the server serves besides `/metrics`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routes {
    #[cfg(feature = "health")]
    pub(crate) health: Option<crate::health::HealthChecker>,
    #[cfg(feature = "alerts")]
    pub(crate) alerts: Option<crate::alerts::AlertManager>,
}

/// hyper refuses smaller read buffers.
pub(crate) const MIN_HEADER_BYTES: usize = 8192;
/// Upper bounds of the settings: beyond them a setting is a mistake (and some would overflow).
pub(crate) const MAX_CONNECTIONS: usize = 65_536;
pub(crate) const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(3600);
pub(crate) const MAX_HEADER_BYTES: usize = 1 << 20;

/// A running server. Dropping it stops it (see [`Server::shutdown`]).
#[derive(Debug)]
pub(crate) struct Server {
    local_addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Closed by the server thread when it ends.
    finished: std::sync::mpsc::Receiver<()>,
}

impl Server {
    /// Binds `addr` now (so a taken or forbidden address is an `Err` here) and serves on a thread.
    pub(crate) fn start(addr: SocketAddr, limits: Limits, routes: Routes) -> Result<Server, ConfigError> {
        let listener = std::net::TcpListener::bind(addr).map_err(|source| ConfigError::HttpBind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| ConfigError::HttpBind { addr, source })?;
        listener.set_nonblocking(true).map_err(|source| ConfigError::HttpBind { addr, source })?;
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ConfigError::ServerThread)?;
        self_metrics::register();
        let (stop, stopped) = watch::channel(false);
        let (finishing, finished) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("obs-http".into())
            .spawn(move || {
                let _finishing = finishing;
                runtime.block_on(serve(listener, limits, Arc::new(routes), stopped));
                // Dropping the runtime here cancels the connections still open after the grace.
                drop(runtime);
            })
            .map_err(ConfigError::ServerThread)?;
        Ok(Server { local_addr, stop: Some(stop), thread: Some(thread), finished })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets open connections finish their current request, and returns by
    /// `deadline` whatever they do.
    pub(crate) fn shutdown(&mut self, deadline: crate::Deadline) {
        let timeout = deadline.remaining();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            // The sender is dropped when the thread ends (also if it panicked).
            if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) = self.finished.recv_timeout(timeout) {
                let _ = thread.join();
            }
            // Else the thread is left to end on its own: shutdown is bounded in time.
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown(crate::Deadline::after(SHUTDOWN_GRACE));
    }
}

/// How long a stopping server waits for open connections.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

async fn serve(
    listener: std::net::TcpListener,
    limits: Limits,
    routes: Arc<Routes>,
    mut stopped: watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let Ok((stream, _peer)) = accepted else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            self_metrics::connection_rejected();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let routes = routes.clone();
        let service = hyper::service::service_fn(move |request| respond(routes.clone(), request));
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopped.changed() => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    // No new connections from here: the port is released at once.
    drop(listener);
    // Open connections may finish their current request, within the grace; what is left is
    // cancelled when the runtime drops.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all)).await;
}

async fn respond(routes: Arc<Routes>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, _body) = request.into_parts();
    #[cfg(not(any(feature = "health", feature = "alerts")))]
    let _ = routes;
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    Ok(match parts.uri.path() {
        #[cfg(feature = "metrics")]
        "/metrics" => {
            // The health gauges are as fresh as the (cached) health report: a scrape alone keeps
            // them up to date, with no one probing /health.
            #[cfg(feature = "health")]
            if let Some(checker) = &routes.health {
                checker.report().await;
            }
            let accept = parts.headers.get(header::ACCEPT).and_then(|value| value.to_str().ok());
            let format = crate::metrics::Format::from_accept(accept);
            let mut response = Response::new(Full::new(Bytes::from(crate::metrics::encode(format))));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(format.content_type()));
            response
        }
        "/health/live" => json(StatusCode::OK, br#"{"status":"healthy"}"#.to_vec()),
        #[cfg(feature = "health")]
        "/health" | "/health/ready" => match &routes.health {
            Some(checker) => {
                let report = if parts.uri.path() == "/health" {
                    (*checker.report().await).clone()
                } else {
                    checker.readiness().await
                };
                let status = StatusCode::from_u16(report.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                json(status, report.to_json().to_string().into_bytes())
            }
            None => text(StatusCode::NOT_FOUND, "no health checks are configured (ObsBuilder::health)\n"),
        },
        #[cfg(feature = "alerts")]
        "/alerts" => match &routes.alerts {
            Some(manager) => json(StatusCode::OK, crate::alerts::active_json(manager).into_bytes()),
            None => text(StatusCode::NOT_FOUND, "no alert rules are configured (ObsBuilder::alerts)\n"),
        },
        "/" => text(StatusCode::OK, INDEX),
        _ => text(StatusCode::NOT_FOUND, "not found; see /\n"),
    })
}

const INDEX: &str = concat!(
    "obs\n",
    "/health/live   the process answers\n",
    "/health        every health check (200 healthy or degraded, 503 unhealthy)\n",
    "/health/ready  the readiness checks\n",
    "/alerts        the alerts pending or firing (JSON)\n",
    "/metrics       Prometheus metrics\n",
);

fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    // Probes must see the state now, not a proxy's copy.
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The server's own counters ("monitor your monitoring system").
mod self_metrics {
    #[cfg(feature = "metrics")]
    static REJECTED: std::sync::OnceLock<Option<crate::metrics::Counter>> = std::sync::OnceLock::new();

    /// Registered when the first server starts, so the counter is scraped at 0 before anything
    /// goes wrong.
    pub(super) fn register() {
        #[cfg(feature = "metrics")]
        REJECTED.get_or_init(|| {
            crate::metrics::Counter::register(
                "obs_http_connections_rejected_total",
                "Connections to the obs HTTP server closed at once because max_connections were open",
            )
            .ok()
        });
    }

    pub(super) fn connection_rejected() {
        #[cfg(feature = "metrics")]
        if let Some(Some(counter)) = REJECTED.get() {
            counter.inc();
        }
    }
}
