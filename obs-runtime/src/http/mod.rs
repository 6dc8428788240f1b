//! The embedded HTTP server (the chapter's `start_http_server(8000)`): `/metrics`, the health
//! endpoints and `/alerts`.
//!
//! It runs on its own thread with its own single-threaded tokio runtime, so it works whether or
//! not the application uses tokio, and never competes with the application's executor.
//!
//! The observability port must keep answering `/metrics` and `/health/live` while bad clients
//! hold connections, so every connection is bounded:
//! - request headers must arrive within `header_timeout`, and a kept-alive connection waits that
//!   long for its next request (hyper's header read timeout covers both);
//! - a response the client does not read for `write_timeout` ends the connection;
//! - no connection lives longer than `connection_lifetime` (after its current request);
//! - at most `max_connections` are open, and at most `max_connections_per_peer` from one address:
//!   at either limit the connection idle longest, still sending its headers, or whose response has
//!   stalled gives its slot to the newcomer ([`connections`]); a newcomer is refused only when every
//!   slot serves a request that makes progress;
//! - request bodies are never read, request heads are at most `max_header_bytes`.
//!
//! Each closing the server decides is counted in `obs_http_connections_closed_total{reason}`.

mod connections;
mod io;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use crate::ConfigError;
use connections::{Refused, Table};

/// The server's bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    /// `None`: no cap per peer address (behind a proxy every peer is the proxy).
    pub(crate) max_connections_per_peer: Option<usize>,
    pub(crate) header_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) connection_lifetime: Duration,
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
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
pub(crate) const MAX_HEADER_BYTES: usize = 1 << 20;
/// Defaults.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 64;
pub(crate) const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 16;
pub(crate) const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Pending connections the kernel queues before the server accepts them: a burst of reconnecting
/// clients must not crowd a scraper out of the queue.
const LISTEN_BACKLOG: u32 = 1024;

/// A running server. Dropping it stops it (see [`Server::shutdown`]).
#[derive(Debug)]
pub(crate) struct Server {
    local_addr: SocketAddr,
    /// Carries the deadline by which open connections must be done.
    stop: Option<watch::Sender<Option<crate::Deadline>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Closed by the server thread when it ends.
    finished: std::sync::mpsc::Receiver<()>,
}

impl Server {
    /// Binds `addr` now (so a taken or forbidden address is an `Err` here) and serves on a thread.
    pub(crate) fn start(addr: SocketAddr, limits: Limits, routes: Routes) -> Result<Server, ConfigError> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ConfigError::ServerThread)?;
        // Registered with the server's runtime; `enter`, not `block_on`: `init` may be called from
        // inside the application's runtime.
        let listener = {
            let _context = runtime.enter();
            listen(addr).map_err(|source| ConfigError::HttpBind { addr, source })?
        };
        let local_addr = listener.local_addr().map_err(|source| ConfigError::HttpBind { addr, source })?;
        self_metrics::register();
        let (stop, stopped) = watch::channel(None);
        let (finishing, finished) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("obs-http".into())
            .spawn(move || {
                let _finishing = finishing;
                runtime.block_on(serve(listener, limits, Arc::new(routes), stopped));
                // Dropping the runtime here cancels the connections still open at the deadline.
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
            let _ = stop.send(Some(deadline));
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

/// How long a server stopped by dropping it waits for open connections.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A listener on `addr` with a deep accept queue (and `SO_REUSEADDR`, as std's has).
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn serve(
    listener: tokio::net::TcpListener,
    limits: Limits,
    routes: Arc<Routes>,
    mut stopped: watch::Receiver<Option<crate::Deadline>>,
) {
    let table = Arc::new(Table::new(limits.max_connections, limits.max_connections_per_peer));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // A client that shuts its sending side after the request still gets the response.
        .half_close(true)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    let http = Arc::new(http);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of file descriptors and the like: back off instead of spinning (a stop still
            // stops at once).
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                _ = stopped.changed() => break,
            }
        };
        let ticket = match table.admit(peer.ip()) {
            Ok((ticket, admitted)) => {
                self_metrics::closed("evicted", admitted.evicted);
                ticket
            }
            Err(refused) => {
                self_metrics::closed(
                    match refused {
                        Refused::Limit => "limit",
                        Refused::PeerLimit => "peer_limit",
                    },
                    1,
                );
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, ticket, limits, http.clone(), routes.clone(), stopped.clone()));
        // Let the connections run between accepts: a burst of connects cannot keep a newcomer's
        // request unread until it has become the oldest connection.
        tokio::task::yield_now().await;
    }
    // No new connections from here: the port is released at once.
    drop(listener);
    // Open connections may finish their current request by the deadline; what is left is
    // cancelled when the runtime drops.
    let deadline = stopped.borrow().unwrap_or_else(|| crate::Deadline::after(SHUTDOWN_GRACE));
    let _ = tokio::time::timeout(deadline.remaining(), table.all_closed()).await;
}

/// Serves one connection until it ends, is evicted, outlives its lifetime or the server stops.
async fn connection(
    stream: tokio::net::TcpStream,
    ticket: connections::Ticket,
    limits: Limits,
    http: Arc<hyper::server::conn::http1::Builder>,
    routes: Arc<Routes>,
    mut stopped: watch::Receiver<Option<crate::Deadline>>,
) {
    let conn = ticket.conn.clone();
    let io = io::GuardedIo::new(stream, conn.clone(), limits.write_timeout);
    let service = hyper::service::service_fn(move |request| {
        let serving = conn.serving();
        let routes = routes.clone();
        async move {
            // One request at a time per connection between the others' turns: a client that
            // pipelines requests cannot keep the server's thread to itself.
            tokio::task::yield_now().await;
            let response = respond(routes, request).await;
            drop(serving);
            response
        }
    });
    let conn = ticket.conn.clone();
    let mut connection = std::pin::pin!(http.serve_connection(TokioIo::new(io), service));
    let lifetime = tokio::time::sleep(limits.connection_lifetime);
    tokio::select! {
        ended = connection.as_mut() => {
            if let Err(error) = ended {
                if conn.write_timed_out() {
                    self_metrics::closed("write_timeout", 1);
                } else if error.is_timeout() {
                    self_metrics::closed(if conn.was_idle() { "idle_timeout" } else { "header_timeout" }, 1);
                } else if error.is_parse_too_large() {
                    self_metrics::closed("header_too_large", 1);
                } else if error.is_parse() {
                    self_metrics::closed("bad_request", 1);
                }
            }
        }
        // Counted when the table chose it; dropping the connection closes the socket.
        _ = conn.evicted() => {}
        _ = lifetime => {
            self_metrics::closed("lifetime", 1);
            connection.as_mut().graceful_shutdown();
            // The current response may finish; the write deadline bounds a client that does not
            // read. Evicted meanwhile (its slot was given away): closed at once.
            tokio::select! {
                _ = tokio::time::timeout(limits.write_timeout, connection) => {}
                _ = conn.evicted() => {}
            }
        }
        // A connection between requests, or still receiving headers (a slow client could hold
        // the stop to its header timeout), is closed at once; one serving a request finishes it.
        _ = stopped.changed() => {
            if conn.waits_for_request() {
                return;
            }
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                _ = connection => {}
                _ = conn.evicted() => {}
            }
        }
    }
    drop(ticket);
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
            // A scrape never waits for a health check: it serves the gauges of the last report
            // (and its age), and starts a run in the background when that report is stale.
            #[cfg(feature = "health")]
            if let Some(checker) = &routes.health {
                checker.refresh_in_background();
            }
            // Repeated Accept lines are one list (RFC 9110 §5.3); a line that is not text is skipped.
            let mut lines = parts.headers.get_all(header::ACCEPT).iter().filter_map(|value| value.to_str().ok());
            let format = match (lines.next(), lines.next()) {
                (first, None) => crate::metrics::Format::from_accept(first),
                (Some(first), Some(second)) => {
                    let joined = [first, second].into_iter().chain(lines).collect::<Vec<_>>().join(",");
                    crate::metrics::Format::from_accept(Some(&joined))
                }
                (None, Some(_)) => crate::metrics::Format::from_accept(None),
            };
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

/// The server's own metrics ("monitor your monitoring system").
mod self_metrics {
    /// The reasons a connection is closed by the server, each a series from the start.
    #[cfg(feature = "metrics")]
    const REASONS: [&str; 9] = [
        "limit",
        "peer_limit",
        "evicted",
        "header_timeout",
        "idle_timeout",
        "write_timeout",
        "lifetime",
        "header_too_large",
        "bad_request",
    ];

    #[cfg(feature = "metrics")]
    static METRICS: std::sync::OnceLock<Option<(Vec<crate::metrics::Counter>, crate::metrics::Gauge)>> =
        std::sync::OnceLock::new();

    /// Registered when the first server starts, so every reason is scraped at 0 before anything
    /// goes wrong.
    pub(super) fn register() {
        #[cfg(feature = "metrics")]
        METRICS.get_or_init(|| {
            let closed = crate::metrics::CounterVec::register(
                "obs_http_connections_closed_total",
                "Connections the obs HTTP server closed or refused on its own, by reason: limit and \
                 peer_limit (refused, every slot busy), evicted (gave its slot to a newcomer), \
                 header_timeout, idle_timeout, write_timeout, lifetime, header_too_large, bad_request",
                &["reason"],
            )
            .ok()?;
            let counters = REASONS.iter().map(|reason| closed.with_labels(&[reason])).collect::<Result<_, _>>().ok()?;
            let open = crate::metrics::Gauge::register(
                "obs_http_connections_open",
                "Connections the obs HTTP server holds open now",
            )
            .ok()?;
            Some((counters, open))
        });
    }

    pub(super) fn closed(reason: &'static str, connections: u32) {
        #[cfg(feature = "metrics")]
        if connections > 0
            && let Some(Some((counters, _))) = METRICS.get()
            && let Some(index) = REASONS.iter().position(|known| *known == reason)
        {
            counters[index].inc_by(f64::from(connections));
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (reason, connections);
    }

    pub(super) fn open(connections: usize) {
        #[cfg(feature = "metrics")]
        if let Some(Some((_, open))) = METRICS.get() {
            open.set(connections as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = connections;
    }
}
