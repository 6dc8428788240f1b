//! The embedded HTTP server (on `127.0.0.1:9464` unless configured): `/metrics`, the health
//! endpoints and `/alerts`.
//!
//! It runs on obs's background runtime ([`crate::background`]: one thread of its own), so it works
//! whether or not the application uses tokio, and never competes with the application's executor.
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
//! - request bodies are never read, request heads are at most `max_header_bytes`;
//! - the one write, `POST /alerts/{name}/ack`, is served only when a bearer token is configured.
//!
//! Each closing the server decides is counted in `obs_http_connections_closed_total{reason}`.

mod connections;
mod io;
mod settings;

pub(crate) use settings::resolve as settings;

use std::convert::Infallible;
use std::future::Future;
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

/// A response the server sends.
pub(crate) type Reply = Response<Full<Bytes>>;

/// Serves one path: given the request's head, the response.
pub(crate) type Handler =
    Arc<dyn Fn(&http::request::Parts) -> std::pin::Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// Runs before a path is served.
type Hook = Arc<dyn Fn() + Send + Sync>;

/// What the server serves: the paths the pillars contribute (besides `/health/live` and the
/// index `/`, which are the server's own), and what runs before a path is served.
#[derive(Default)]
pub(crate) struct Routes {
    routes: Vec<(&'static str, &'static str, Handler)>,
    /// What `/` serves to clients that ask for HTML (the live page); the others get the index.
    home: Option<Handler>,
    writes: Vec<Write>,
    before: Vec<(&'static str, Hook)>,
}

/// Serves `POST {prefix}{name}{suffix}`: given the request's head and the name (one path
/// segment, percent-decoded), the response.
type WriteHandler =
    Arc<dyn Fn(&http::request::Parts, String) -> std::pin::Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

struct Write {
    prefix: &'static str,
    suffix: &'static str,
    summary: &'static str,
    handler: WriteHandler,
}

impl Write {
    /// The name in `path`, if `path` is this route's.
    fn name(&self, path: &str) -> Option<String> {
        let name = path.strip_prefix(self.prefix)?.strip_suffix(self.suffix)?;
        if name.is_empty() || name.contains('/') {
            return None;
        }
        crate::percent::decode(name)
    }
}

// Without a pillar that serves something, only the server's own paths are served.
#[cfg_attr(not(any(feature = "metrics", feature = "health", feature = "alerts")), allow(dead_code))]
impl Routes {
    /// Serves `path` with `handler`; `summary` is its line on the index page.
    pub(crate) fn add<F, Fut>(&mut self, path: &'static str, summary: &'static str, handler: F)
    where
        F: Fn(&http::request::Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |parts| Box::pin(handler(parts)));
        self.routes.push((path, summary, handler));
    }

    /// Serves `handler` at `/` to clients that accept `text/html` (a browser); the others keep
    /// getting the plain index.
    #[cfg(feature = "page")]
    pub(crate) fn home<F, Fut>(&mut self, handler: F)
    where
        F: Fn(&http::request::Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        self.home = Some(Arc::new(move |parts| Box::pin(handler(parts))));
    }

    /// Serves `POST {prefix}{name}{suffix}` with `handler`, given the name; `summary` is its line
    /// on the index page. The request's body is never read.
    #[cfg(feature = "alerts")]
    pub(crate) fn add_write<F, Fut>(
        &mut self,
        (prefix, suffix): (&'static str, &'static str),
        summary: &'static str,
        handler: F,
    ) where
        F: Fn(&http::request::Parts, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let handler: WriteHandler = Arc::new(move |parts, name| Box::pin(handler(parts, name)));
        self.writes.push(Write { prefix, suffix, summary, handler });
    }

    /// Runs `hook` (which must not wait) before each request for `path`.
    #[cfg(feature = "health")]
    pub(crate) fn before(&mut self, path: &'static str, hook: impl Fn() + Send + Sync + 'static) {
        self.before.push((path, Arc::new(hook)));
    }

    /// The index page: every path served, with what it is.
    fn index(&self) -> String {
        let mut paths = vec![("/health/live".to_owned(), "the process answers")];
        paths.extend(self.routes.iter().map(|(path, summary, _)| ((*path).to_owned(), *summary)));
        paths.extend(
            self.writes.iter().map(|write| (format!("POST {}{{name}}{}", write.prefix, write.suffix), write.summary)),
        );
        paths.sort();
        let width = paths.iter().map(|(path, _)| path.len()).max().unwrap_or(0) + 3;
        let mut index = String::from("obs\n");
        for (path, summary) in paths {
            index.push_str(&format!("{path:<width$}{summary}\n"));
        }
        index
    }
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|(path, _, _)| *path))
            .entries(self.writes.iter().map(|write| write.prefix))
            .finish()
    }
}

/// The routes, frozen when the server starts.
struct Served {
    routes: Routes,
    index: String,
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
    /// Closed by the server's task when it ends.
    finished: Option<std::sync::mpsc::Receiver<()>>,
}

impl Server {
    /// Binds `addr` now (so a taken or forbidden address is an `Err` here) and serves on a thread.
    pub(crate) fn start(addr: SocketAddr, limits: Limits, routes: Routes) -> Result<Server, ConfigError> {
        let served = Served { index: routes.index(), routes };
        let runtime = crate::background::handle().ok_or_else(|| {
            ConfigError::ServerThread(std::io::Error::other("obs's background runtime could not start"))
        })?;
        // Registered with obs's runtime; `enter`, not `block_on`: `init` may be called from
        // inside the application's runtime.
        let listener = {
            let _context = runtime.enter();
            listen(addr).map_err(|source| ConfigError::HttpBind { addr, source })?
        };
        let local_addr = listener.local_addr().map_err(|source| ConfigError::HttpBind { addr, source })?;
        self_metrics::register();
        let (stop, stopped) = watch::channel(None);
        let (finishing, finished) = std::sync::mpsc::channel::<()>();
        runtime.spawn(async move {
            let _finishing = finishing;
            serve(listener, limits, Arc::new(served), stopped).await;
        });
        Ok(Server { local_addr, stop: Some(stop), finished: Some(finished) })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets open connections finish their current request, and returns by
    /// `deadline` whatever they do.
    pub(crate) fn shutdown(&mut self, deadline: crate::Deadline) {
        self.signal_stop(deadline);
        self.wait_stopped(deadline);
    }

    /// Stops accepting at once; open connections may finish their current request by `deadline`.
    fn signal_stop(&mut self, deadline: crate::Deadline) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Some(deadline));
        }
    }

    /// Waits until the server's task has ended, or `deadline` (a moment after it, the task is
    /// left to end on its own: stopping is bounded in time).
    fn wait_stopped(&mut self, deadline: crate::Deadline) -> bool {
        let Some(finished) = self.finished.take() else { return true };
        // The sender is dropped when the task ends (also if it panicked).
        let ended = finished.recv_timeout(deadline.with_grace().remaining());
        matches!(ended, Err(std::sync::mpsc::RecvTimeoutError::Disconnected))
    }
}

impl crate::core::Part for Server {
    fn stage(&self) -> crate::core::Stage {
        crate::core::Stage::Intake
    }

    fn signal_stop(&mut self, deadline: crate::Deadline) {
        Server::signal_stop(self, deadline);
    }

    fn wait_stopped(&mut self, deadline: crate::Deadline) -> bool {
        Server::wait_stopped(self, deadline)
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
    routes: Arc<Served>,
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
    // Dropped (and so cancelled) when the server stops: what is still open at the deadline.
    let mut connections = tokio::task::JoinSet::new();
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
        connections.spawn(connection(stream, ticket, limits, http.clone(), routes.clone(), stopped.clone()));
        // Reap the ones that ended, so the set holds only open connections.
        while connections.try_join_next().is_some() {}
        // Let the connections run between accepts: a burst of connects cannot keep a newcomer's
        // request unread until it has become the oldest connection.
        tokio::task::yield_now().await;
    }
    // No new connections from here: the port is released at once.
    drop(listener);
    // Open connections may finish their current request by the deadline; what is left is
    // cancelled as the set drops.
    let deadline = stopped.borrow().unwrap_or_else(|| crate::Deadline::after(SHUTDOWN_GRACE));
    let _ = tokio::time::timeout(deadline.remaining(), table.all_closed()).await;
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Serves one connection until it ends, is evicted, outlives its lifetime or the server stops.
async fn connection(
    stream: tokio::net::TcpStream,
    ticket: connections::Ticket,
    limits: Limits,
    http: Arc<hyper::server::conn::http1::Builder>,
    routes: Arc<Served>,
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

async fn respond(served: Arc<Served>, request: Request<Incoming>) -> Result<Reply, Infallible> {
    let (parts, _body) = request.into_parts();
    let path = parts.uri.path();
    if let Some((write, name)) = served.routes.writes.iter().find_map(|write| Some((write, write.name(path)?))) {
        if parts.method != Method::POST {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only POST\n");
            response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return Ok(response);
        }
        return Ok((write.handler)(&parts, name).await);
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    for (_, hook) in served.routes.before.iter().filter(|(before, _)| *before == path) {
        hook();
    }
    if let Some((_, _, handler)) = served.routes.routes.iter().find(|(route, _, _)| *route == path) {
        return Ok(handler(&parts).await);
    }
    if path == "/"
        && let Some(home) = &served.routes.home
        && accepts_html(&parts)
    {
        return Ok(home(&parts).await);
    }
    Ok(match path {
        "/health/live" => json(StatusCode::OK, br#"{"status":"healthy"}"#.to_vec()),
        "/" => {
            let mut response = Response::new(Full::new(Bytes::from(served.index.clone())));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
            response
        }
        _ => text(StatusCode::NOT_FOUND, "not found; see /\n"),
    })
}

/// The items of a header that lists weighted values (`Accept`, `Accept-Encoding`), every line of
/// it: each value with its `q` weight (1 when not given).
fn weighted(parts: &http::request::Parts, name: header::HeaderName) -> impl Iterator<Item = (&str, f64)> {
    parts
        .headers
        .get_all(name)
        .into_iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(','))
        .map(|item| {
            let mut pieces = item.split(';');
            let value = pieces.next().unwrap_or("").trim();
            let weight = pieces
                .filter_map(|parameter| {
                    let parameter = parameter.trim();
                    parameter.strip_prefix("q=").or_else(|| parameter.strip_prefix("Q="))
                })
                .find_map(|weight| weight.trim().parse::<f64>().ok())
                .unwrap_or(1.0);
            (value, weight)
        })
}

/// Whether the request's `Accept` lists `text/html` (what browsers send for a page), with a
/// weight above 0.
fn accepts_html(parts: &http::request::Parts) -> bool {
    weighted(parts, header::ACCEPT).any(|(media, weight)| media.eq_ignore_ascii_case("text/html") && weight > 0.0)
}

/// Whether `Accept-Encoding` lists `gzip` (or `*`) with a weight above 0 (a `gzip;q=0` wins
/// over the `*`).
#[cfg(feature = "page")]
pub(crate) fn accepts_gzip(parts: &http::request::Parts) -> bool {
    let (mut gzip, mut any) = (None, None);
    for (coding, weight) in weighted(parts, header::ACCEPT_ENCODING) {
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(weight > 0.0);
        } else if coding == "*" {
            any = Some(weight > 0.0);
        }
    }
    gzip.or(any).unwrap_or(false)
}

pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    // Probes must see the state now, not a proxy's copy.
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

pub(crate) fn text(status: StatusCode, body: &'static str) -> Reply {
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
