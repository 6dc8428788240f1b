//! The live page: what the service is doing now, at `/` on the embedded server (feature `page`).
//!
//! A browser opening the observability port gets one self-contained page (no script, font or
//! style from anywhere else) that refreshes itself every [`LivePage::interval`]:
//! - per endpoint, the four golden signals over recent time: request rate, errors, latency
//!   (p50, p95, p99, estimated from the histogram's buckets with the interpolation of
//!   Prometheus' `histogram_quantile`, over each interval's counts) and,
//!   where the site tracks it, requests in flight; a chart point per interval, and the headline
//!   numbers over the last [`LivePage::window`];
//! - the health report (`/health`), the pending and firing alerts (`/alerts`) and the service
//!   level objectives (`/slo`), when those pillars are on;
//! - the slowest traces of the charts' span (5 minutes by default) as waterfalls of their spans
//!   (with the `trace` feature): each trace is put together, when its root is exported, from a
//!   bounded ring of the spans exported last ([`LivePage::recent_spans`], 2,048 by default), and
//!   kept while it is among the [`LivePage::slowest_traces`] slowest.
//!
//! Clients that do not ask for HTML (`curl`) still get the plain index of the paths at `/`. The
//! page reads `GET /page.json`; both are read-only, served within the server's bounds like the
//! other paths, and gzip-compressed when the client accepts it. The data is built at most once per
//! interval, however many clients ask, and bounded (endpoints x points at most 20,000).
//!
//! Like `/metrics`, the page has no authentication: endpoint and span names (URLs in them lose
//! credentials and secret query values), health messages and alerts are there for whoever reaches
//! the port. [`ObsBuilder::without_live_page`](crate::ObsBuilder::without_live_page) leaves it out.
//!
//! ```no_run
//! use std::time::Duration;
//! use obs_runtime::page::LivePage;
//!
//! let obs = obs_runtime::Obs::builder()
//!     .service("checkout")
//!     .live_page(LivePage::new().interval(Duration::from_secs(2)).recent_spans(4096))
//!     .init()?;
//! // Open http://127.0.0.1:9464/ in a browser.
//! # drop(obs);
//! # Ok::<(), obs_runtime::ConfigError>(())
//! ```

mod signals;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::ConfigError;
use crate::core::{Context, Part};
use crate::http::accepts_gzip;

/// The page itself: HTML, its style and its script, in one file.
const PAGE_HTML: &str = include_str!("page.html");

/// Defaults and bounds of the settings.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const MIN_INTERVAL: Duration = Duration::from_millis(500);
const MAX_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_POINTS: usize = 60;
const MAX_POINTS: usize = 720;
const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
const DEFAULT_RECENT_SPANS: usize = 2048;
const MAX_RECENT_SPANS: usize = 100_000;
const DEFAULT_SLOWEST_TRACES: usize = 10;
const MAX_SLOWEST_TRACES: usize = 100;
const DEFAULT_MAX_ENDPOINTS: usize = 100;
const MAX_ENDPOINTS: usize = 1000;
/// The most chart points the page holds (endpoints x points): what bounds `/page.json`.
const MAX_TOTAL_POINTS: usize = 20_000;

/// The live page's settings, for [`ObsBuilder::live_page`](crate::ObsBuilder::live_page). With
/// the `page` feature the page is served with the defaults even when this is not given.
///
/// `OBS_PAGE_INTERVAL` (`1s`, `500ms`) sets the interval when the builder does not.
#[derive(Debug, Clone)]
pub struct LivePage {
    interval: Option<Duration>,
    points: usize,
    window: Option<Duration>,
    recent_spans: usize,
    slowest_traces: usize,
    max_endpoints: usize,
}

impl Default for LivePage {
    fn default() -> LivePage {
        LivePage {
            interval: None,
            points: DEFAULT_POINTS,
            window: None,
            recent_spans: DEFAULT_RECENT_SPANS,
            slowest_traces: DEFAULT_SLOWEST_TRACES,
            max_endpoints: DEFAULT_MAX_ENDPOINTS,
        }
    }
}

impl LivePage {
    /// The defaults: a reading every 5 s, 60 points (5 minutes of charts), headline numbers over
    /// the last minute, the last 2,048 exported spans kept, the 10 slowest traces shown, at most
    /// 100 endpoints.
    pub fn new() -> LivePage {
        LivePage::default()
    }

    /// How often the registry is read (one chart point each) and the page refreshes: from 500 ms
    /// to 5 minutes; 5 s by default.
    pub fn interval(mut self, interval: Duration) -> LivePage {
        self.interval = Some(interval);
        self
    }

    /// How many points each chart keeps: from 2 to 720; 60 by default.
    pub fn points(mut self, points: usize) -> LivePage {
        self.points = points;
        self
    }

    /// What the headline numbers (rate, error ratio, latency quantiles) cover: at least one
    /// interval, at most the charts' span (rounded to whole intervals); by default 1 minute, or
    /// the nearest the interval and points allow.
    pub fn window(mut self, window: Duration) -> LivePage {
        self.window = Some(window);
        self
    }

    /// How many of the spans exported last are kept in memory to put traces together when
    /// their root is exported (each is its name, ids, times, kind and whether it failed: about
    /// 100 bytes with a short name): up to 100,000; 0 keeps none (and shows no traces); 2,048 by
    /// default. It must hold a trace's spans from its first to end until its root ends. Only
    /// sampled spans are exported, so only they are kept.
    pub fn recent_spans(mut self, spans: usize) -> LivePage {
        self.recent_spans = spans;
        self
    }

    /// How many of the slowest traces whose root ended within the charts' span (interval x
    /// points) the page keeps and shows, each with at most 1,000 spans (200 listed): from 1 to
    /// 100; 10 by default.
    pub fn slowest_traces(mut self, traces: usize) -> LivePage {
        self.slowest_traces = traces;
        self
    }

    /// The most endpoints the page shows (the first seen); the others are counted: from 1 to
    /// 1,000; 100 by default. Endpoints times points may be at most 20,000 (what bounds the
    /// page's data).
    pub fn max_endpoints(mut self, endpoints: usize) -> LivePage {
        self.max_endpoints = endpoints;
        self
    }

    /// Checks the settings, the environment's interval filling in.
    fn resolve(&self, env: &crate::Environment, service: &str) -> Result<Settings, ConfigError> {
        let invalid = |field: &'static str, reason: &str| ConfigError::Invalid { field, reason: reason.to_owned() };
        let (interval, field) = match self.interval {
            Some(interval) => (interval, "live_page.interval"),
            None => match env.duration(crate::env::OBS_PAGE_INTERVAL)? {
                None => (DEFAULT_INTERVAL, "live_page.interval"),
                Some(interval) => (interval, crate::env::OBS_PAGE_INTERVAL),
            },
        };
        if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
            return Err(invalid(field, "must be from 500ms to 5 minutes"));
        }
        if !(2..=MAX_POINTS).contains(&self.points) {
            return Err(invalid("live_page.points", "must be from 2 to 720"));
        }
        let span = interval * self.points as u32;
        let window = match self.window {
            Some(window) if window < interval || window > span => {
                return Err(invalid("live_page.window", "must be at least one interval and at most points x interval"));
            }
            Some(window) => window,
            None => DEFAULT_WINDOW.clamp(interval, span),
        };
        if self.recent_spans > MAX_RECENT_SPANS {
            return Err(invalid("live_page.recent_spans", "must be at most 100000"));
        }
        if !(1..=MAX_SLOWEST_TRACES).contains(&self.slowest_traces) {
            return Err(invalid("live_page.slowest_traces", "must be from 1 to 100"));
        }
        if !(1..=MAX_ENDPOINTS).contains(&self.max_endpoints) {
            return Err(invalid("live_page.max_endpoints", "must be from 1 to 1000"));
        }
        if self.max_endpoints * self.points > MAX_TOTAL_POINTS {
            return Err(invalid("live_page.points", "max_endpoints x points must be at most 20000"));
        }
        Ok(Settings {
            service: service.into(),
            signals: Arc::new(signals::Signals::new(interval, self.points, window, self.max_endpoints)),
            cached: Arc::new(tokio::sync::Mutex::new(None)),
            readings: Arc::new(AtomicU64::new(0)),
            recent_spans: self.recent_spans,
            slowest_traces: self.slowest_traces,
        })
    }
}

#[derive(Debug, Clone)]
struct Settings {
    service: Arc<str>,
    signals: Arc<signals::Signals>,
    /// `/page.json` as built after a reading (and gzipped): built at most once per reading, one
    /// build at a time, however many clients ask (the others wait for it without a thread).
    cached: Arc<tokio::sync::Mutex<Option<Cached>>>,
    /// Readings taken so far: what tells a cached body out of date.
    readings: Arc<AtomicU64>,
    recent_spans: usize,
    slowest_traces: usize,
}

#[derive(Debug)]
struct Cached {
    /// After which reading it was built.
    reading: u64,
    json: Bytes,
    gzip: Option<Bytes>,
}

/// The page as a pillar of the builder: there with the feature, unless
/// [`without_live_page`](crate::ObsBuilder::without_live_page).
#[derive(Debug, Default)]
pub(crate) struct Pillar {
    page: LivePage,
    settings: Option<Settings>,
}

impl Pillar {
    pub(crate) fn new(page: LivePage) -> Pillar {
        Pillar { page, settings: None }
    }
}

impl crate::core::Pillar for Pillar {
    fn prepare(&mut self, cx: &Context<'_>) -> Result<(), ConfigError> {
        // Served, or not read at all.
        if !cx.serving {
            return Ok(());
        }
        self.settings = Some(self.page.resolve(cx.env, cx.service.name())?);
        Ok(())
    }

    fn routes(&self, routes: &mut crate::http::Routes) {
        let Some(settings) = self.settings.clone() else { return };
        routes.home(|parts| {
            let gzip = accepts_gzip(parts);
            std::future::ready(reply("text/html; charset=utf-8", page_html(gzip), gzip, VARY_HOME))
        });
        let summary = "the live page's data (JSON); open / in a browser for the page";
        routes.add("/page.json", summary, move |parts| {
            let gzip = accepts_gzip(parts);
            let settings = settings.clone();
            async move {
                match cached_json(settings, gzip).await {
                    Some(body) => reply("application/json", body, gzip, "accept-encoding"),
                    None => crate::http::text(http::StatusCode::INTERNAL_SERVER_ERROR, "the page's data failed\n"),
                }
            }
        });
    }

    fn start(self: Box<Self>, _: &Context<'_>) -> Result<Option<Box<dyn Part>>, ConfigError> {
        let Some(settings) = self.settings else { return Ok(None) };
        let runtime = crate::background::handle().ok_or_else(|| {
            ConfigError::ServerThread(std::io::Error::other("obs's background runtime could not start"))
        })?;
        #[cfg(feature = "trace")]
        let spans = crate::trace::recent::Keeper::new(crate::trace::recent::Keep {
            spans: settings.recent_spans,
            traces: settings.slowest_traces,
            horizon: settings.signals.interval() * settings.signals.points() as u32,
        });
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (signals, readings) = (settings.signals.clone(), settings.readings.clone());
        // The first reading now, before `init` returns: every call after it is counted.
        signals.read(&crate::metrics::registry::registry().all_request_series(), SystemTime::now());
        runtime.spawn(async move {
            let interval = signals.interval();
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        // Off the runtime's thread: a build of the page's data holds the ring.
                        let signals = signals.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            let series = crate::metrics::registry::registry().all_request_series();
                            signals.read(&series, SystemTime::now());
                        })
                        .await;
                        readings.fetch_add(1, Ordering::Release);
                    }
                    _ = stopped.changed() => return,
                }
            }
        });
        Ok(Some(Box::new(Reader {
            stop,
            #[cfg(feature = "trace")]
            spans: Some(spans),
        })))
    }
}

/// `/` answers with what it says in `Accept`.
const VARY_HOME: &str = "accept, accept-encoding";

/// The task that reads the registry every interval, and the page's hold on the ring of recent
/// spans; both stop with obs.
#[derive(Debug)]
struct Reader {
    stop: tokio::sync::watch::Sender<bool>,
    #[cfg(feature = "trace")]
    spans: Option<crate::trace::recent::Keeper>,
}

impl Part for Reader {
    fn signal_stop(&mut self, _: crate::Deadline) {
        let _ = self.stop.send(true);
        #[cfg(feature = "trace")]
        drop(self.spans.take());
    }

    fn wait_stopped(&mut self, _: crate::Deadline) -> bool {
        true
    }
}

/// The page's HTML, gzipped once when asked so.
fn page_html(gzip: bool) -> Bytes {
    static GZIPPED: OnceLock<Bytes> = OnceLock::new();
    if gzip {
        GZIPPED.get_or_init(|| gzipped(PAGE_HTML.as_bytes())).clone()
    } else {
        Bytes::from_static(PAGE_HTML.as_bytes())
    }
}

/// `/page.json` since the latest reading, built now (off the runtime's thread) if no client
/// asked since; `None` if the build failed.
async fn cached_json(settings: Settings, gzip: bool) -> Option<Bytes> {
    let mut cached = settings.cached.clone().lock_owned().await;
    let reading = settings.readings.load(Ordering::Acquire);
    if cached.as_ref().is_none_or(|cached| cached.reading != reading) {
        let json = tokio::task::spawn_blocking(move || Bytes::from(page_json(&settings))).await.ok()?;
        *cached = Some(Cached { reading, json, gzip: None });
    }
    let cached = cached.as_mut()?;
    if !gzip {
        return Some(cached.json.clone());
    }
    if cached.gzip.is_none() {
        let json = cached.json.clone();
        cached.gzip = Some(tokio::task::spawn_blocking(move || gzipped(&json)).await.ok()?);
    }
    cached.gzip.clone()
}

/// What `/page.json` answers.
fn page_json(settings: &Settings) -> String {
    let signals = &settings.signals;
    let (endpoints, hidden) = signals.json();
    #[cfg(feature = "trace")]
    let (traces, recent) = {
        let (kept, capacity) = crate::trace::recent::len_and_capacity();
        if capacity == 0 {
            (serde_json::Value::Null, serde_json::Value::Null)
        } else {
            (
                crate::trace::recent::slowest_json(settings.slowest_traces),
                serde_json::json!({ "kept": kept, "capacity": capacity }),
            )
        }
    };
    #[cfg(not(feature = "trace"))]
    let (traces, recent) = {
        let _ = (settings.recent_spans, settings.slowest_traces);
        (serde_json::Value::Null, serde_json::Value::Null)
    };
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    serde_json::json!({
        "service": &*settings.service,
        "interval_seconds": signals.interval().as_secs_f64(),
        "window_seconds": signals.window().as_secs_f64(),
        "now_unix_ms": now.as_millis() as u64,
        "endpoints": endpoints,
        "hidden_endpoints": hidden,
        "traces": traces,
        "recent_spans": recent,
    })
    .to_string()
}

/// A 200 with `body` (gzipped when `gzip`), that the page's own origin may use and nothing else.
fn reply(content_type: &'static str, body: Bytes, gzip: bool, vary: &'static str) -> crate::http::Reply {
    use http::header;
    let mut response = http::Response::new(http_body_util::Full::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, header::HeaderValue::from_static(vary));
    // The page runs no script but its own inline one (which sets no inline handler), and loads
    // nothing from anywhere else.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("gzip"));
    }
    response
}

fn gzipped(body: &[u8]) -> Bytes {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    Bytes::from(encoder.finish().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use crate::http::accepts_gzip;

    fn parts(accept_encoding: &[&str]) -> http::request::Parts {
        let mut request = http::Request::builder().uri("/page.json");
        for line in accept_encoding {
            request = request.header(http::header::ACCEPT_ENCODING, *line);
        }
        request.body(()).expect("a request").into_parts().0
    }

    #[test]
    fn gzip_is_used_when_listed_with_a_weight_above_zero() {
        assert!(accepts_gzip(&parts(&["gzip, deflate, br"])));
        assert!(accepts_gzip(&parts(&["br", "GZIP;q=0.5"])));
        assert!(accepts_gzip(&parts(&["*"])));
        assert!(!accepts_gzip(&parts(&[])));
        assert!(!accepts_gzip(&parts(&["br, deflate"])));
        assert!(!accepts_gzip(&parts(&["gzip;q=0"])));
        // An explicit refusal of gzip wins over the wildcard.
        assert!(!accepts_gzip(&parts(&["*, gzip;q=0"])));
        assert!(!accepts_gzip(&parts(&["identity"])));
    }
}
