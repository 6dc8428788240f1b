//! Push to a Prometheus Pushgateway, for jobs that end before anyone scrapes them (a batch job, a
//! CLI, a cron task): the registry in the text format (or the families [`Pushgateway::only`]
//! names), under a grouping key (`job`, and labels such as `instance`), on demand and, given to
//! [`ObsBuilder::pushgateway`], when obs stops.
//!
//! [`Pushgateway::push`] replaces the group's metrics (HTTP `PUT`), [`Pushgateway::push_add`]
//! replaces only the families pushed (`POST`), [`Pushgateway::delete`] removes the group
//! (`DELETE`); each has a `_blocking` form for code outside an async runtime. Every call runs on
//! obs's background runtime within its timeout (10 s unless [`Pushgateway::timeout`] says
//! otherwise; reading the registry and connecting included), through obs's outbound client (the
//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` proxies; `https://` with the `tls` feature). As the
//! official clients do, a push is refused before it is sent when a family would be overwritten
//! by the gateway: one with a `job` label or a label of the grouping key, or one of the gateway's
//! own (`push_time_seconds`). A failure is an `Err` that names the gateway by scheme, host and
//! port (never the URL's path or a header's value), counted in
//! `obs_internal_errors_total{component="push",reason}`: `push_failed` (no answer, or one that is
//! not a success) or `push_refused`.
//!
//! ```no_run
//! use obs_runtime::metrics::{Counter, push::Pushgateway};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let rows = Counter::register("import_rows_total", "Rows imported")?;
//! rows.inc_by(1200.0);
//! let gateway = Pushgateway::new("http://127.0.0.1:9091", "nightly_import")?.grouping("instance", "db-2")?;
//! gateway.push().await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`ObsBuilder::pushgateway`]: crate::ObsBuilder::pushgateway

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, header};

use super::Format;
use super::encode::{EncodedFamily, Encoder};
use crate::egress::{Client, Outgoing, Target, Version};

const USER_AGENT: &str = concat!("obs-push/", env!("CARGO_PKG_VERSION"));

/// How long a push may take unless [`Pushgateway::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The families the Pushgateway writes itself for each group: a push may not carry them.
const GATEWAY_FAMILIES: [&str; 2] = ["push_time_seconds", "push_failure_time_seconds"];

/// A Pushgateway and the grouping key obs's metrics are pushed under. Cheap to clone.
#[derive(Clone)]
pub struct Pushgateway {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    client: Arc<Client>,
    /// The URL as given: its path (a prefix, which may hold a token) is kept out of messages.
    base: Target,
    /// The gateway with the group's path.
    target: Target,
    job: String,
    grouping: Vec<(String, String)>,
    timeout: Duration,
    /// The configured headers (their values are kept out of messages).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Only these families are pushed, if given.
    only: Option<Vec<String>>,
}

impl fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The gateway by scheme, host and port; the path and headers are not shown.
        f.debug_struct("Pushgateway").field("gateway", &self.inner.target.shown()).finish_non_exhaustive()
    }
}

/// A push, push-add or delete that did not succeed, or a Pushgateway that cannot be configured.
/// Its message names the gateway by scheme, host and port; it never holds the URL's path or
/// query, or a header's value. It may quote the gateway's answer, which names metrics and labels
/// as `/metrics` serves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushError {
    message: String,
}

impl PushError {
    fn new(message: impl Into<String>) -> PushError {
        PushError { message: message.into() }
    }
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PushError {}

impl Pushgateway {
    /// The Pushgateway at `url` (`http://host:port`, or `https://` with the `tls` feature; a path
    /// is a prefix, for a gateway behind a proxy), for the job `job`. `Err` says what is wrong with
    /// the URL without quoting it (a query is refused: the Pushgateway takes none), or that `job`
    /// is empty.
    pub fn new(url: &str, job: &str) -> Result<Pushgateway, PushError> {
        let base = Target::parse(url).map_err(|bad| PushError::new(format!("the Pushgateway URL {}", bad.reason())))?;
        if base.path().contains('?') {
            return Err(PushError::new("the Pushgateway URL has a query, which the Pushgateway does not take"));
        }
        if job.is_empty() {
            return Err(PushError::new("the Pushgateway job name is empty"));
        }
        let client = Arc::new(Client::from_process_env(Version::Http1, USER_AGENT, &base));
        let inner = Inner {
            client,
            target: base.clone(),
            base,
            job: job.to_owned(),
            grouping: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            headers: Vec::new(),
            only: None,
        };
        Ok(Pushgateway { inner: Arc::new(inner) }.with_path())
    }

    /// Adds `label=value` to the grouping key (after `job`): `instance` most often. `Err` when
    /// `label` is not a label name (or is `le`), is `job`, or is in the key already.
    pub fn grouping(self, label: &str, value: &str) -> Result<Pushgateway, PushError> {
        super::family::check_labels(&[label], super::encode::Kind::Histogram)
            .map_err(|error| PushError::new(format!("a Pushgateway grouping label: {error}")))?;
        if label == "job" || self.inner.grouping.iter().any(|(known, _)| known == label) {
            return Err(PushError::new(format!("the Pushgateway grouping key has the label {label} already")));
        }
        Ok(self.update(|inner| inner.grouping.push((label.to_owned(), value.to_owned()))).with_path())
    }

    /// A header sent with every request (`Authorization` for a gateway behind basic auth or a
    /// token). `Err` names the header when the name or value is not valid; the value is never
    /// shown.
    pub fn header(self, name: &str, value: &str) -> Result<Pushgateway, PushError> {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| PushError::new(format!("the Pushgateway header name {name:?} is not a header name")))?;
        let mut header_value = HeaderValue::from_str(value)
            .map_err(|_| PushError::new(format!("the value of the Pushgateway header {name} is not a header value")))?;
        header_value.set_sensitive(true);
        Ok(self.update(|inner| inner.headers.push((header_name, header_value))))
    }

    /// The TLS settings for an `https://` gateway (without, the Mozilla roots): a private CA, a
    /// client certificate. `Err` says what could not be loaded.
    #[cfg(feature = "tls")]
    pub fn tls(self, tls: &crate::tls::Tls) -> Result<Pushgateway, PushError> {
        let client = Client::from_process_env(Version::Http1, USER_AGENT, &self.inner.base)
            .tls(tls)
            .map_err(|error| PushError::new(format!("the Pushgateway's TLS settings: {error}")))?;
        Ok(self.update(|inner| inner.client = Arc::new(client)))
    }

    /// How long each push, push-add or delete may take, reading the registry and connecting
    /// included.
    pub fn timeout(self, timeout: Duration) -> Pushgateway {
        self.update(|inner| inner.timeout = timeout)
    }

    /// Pushes only these families (their names as the text format has them: `jobs_total`), not
    /// the whole registry (whose process and obs families every group would carry otherwise).
    pub fn only<'a>(self, families: impl IntoIterator<Item = &'a str>) -> Pushgateway {
        let families = families.into_iter().map(str::to_owned).collect();
        self.update(|inner| inner.only = Some(families))
    }

    fn update(self, change: impl FnOnce(&mut Inner)) -> Pushgateway {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        Pushgateway { inner: Arc::new(inner) }
    }

    /// The group's path: `/metrics/job/<job>{/<label>/<value>}`, after the URL's own path.
    fn with_path(self) -> Pushgateway {
        self.update(|inner| {
            let prefix = inner.base.path().trim_end_matches('/');
            let mut path = format!("{prefix}/metrics");
            for (label, value) in std::iter::once(("job", inner.job.as_str()))
                .chain(inner.grouping.iter().map(|(label, value)| (label.as_str(), value.as_str())))
            {
                push_segment(&mut path, label, value);
            }
            inner.target = inner.base.with_path(path);
        })
    }

    /// Replaces the group's metrics with obs's registry as it is now (HTTP `PUT`).
    pub async fn push(&self) -> Result<(), PushError> {
        self.send(Method::PUT).await
    }

    /// Replaces, in the group, the families obs has; the group's other families stay (`POST`).
    pub async fn push_add(&self) -> Result<(), PushError> {
        self.send(Method::POST).await
    }

    /// Removes the group from the gateway (`DELETE`; the gateway answers at once and deletes
    /// in the order of the requests it got).
    pub async fn delete(&self) -> Result<(), PushError> {
        self.send(Method::DELETE).await
    }

    /// [`Pushgateway::push`] for code outside an async runtime: blocks the calling thread, at
    /// most the timeout (in an async task, use [`Pushgateway::push`]: this would hold a worker).
    pub fn push_blocking(&self) -> Result<(), PushError> {
        self.send_blocking(Method::PUT)
    }

    /// [`Pushgateway::push_add`], blocking.
    pub fn push_add_blocking(&self) -> Result<(), PushError> {
        self.send_blocking(Method::POST)
    }

    /// [`Pushgateway::delete`], blocking.
    pub fn delete_blocking(&self) -> Result<(), PushError> {
        self.send_blocking(Method::DELETE)
    }

    /// Runs the request on obs's background runtime and waits for it from any executor; dropping
    /// the future cancels the request.
    async fn send(&self, method: Method) -> Result<(), PushError> {
        let Some(runtime) = crate::background::handle() else {
            return Err(failed("obs's background runtime could not start"));
        };
        let this = self.clone();
        let timeout = self.inner.timeout;
        let task = AbortOnDrop(runtime.spawn(async move { this.exchange(method, timeout).await }));
        match task.await {
            Ok(outcome) => outcome,
            Err(_) => Err(PushError::new("the push ended without an answer")),
        }
    }

    fn send_blocking(&self, method: Method) -> Result<(), PushError> {
        // obs's runtime thread drives the request: it cannot also wait for it.
        if std::thread::current().name() == Some("obs") {
            return Err(failed("a blocking push from obs's own runtime thread would never end: use `push()`"));
        }
        let Some(runtime) = crate::background::handle() else {
            return Err(failed("obs's background runtime could not start"));
        };
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        let this = self.clone();
        let timeout = self.inner.timeout;
        runtime.spawn(async move {
            let _ = done.send(this.exchange(method, timeout).await);
        });
        // The request ends within its timeout, counted there if it fails: a moment more covers
        // the hand-over.
        outcome
            .recv_timeout(timeout + Duration::from_secs(1))
            .unwrap_or_else(|_| Err(PushError::new("the push did not end in time")))
    }

    /// The request itself, on obs's runtime, reading the registry included, within `timeout`;
    /// a failure is said and counted here, once.
    async fn exchange(&self, method: Method, timeout: Duration) -> Result<(), PushError> {
        let shown = self.inner.target.shown().to_owned();
        match tokio::time::timeout(timeout, self.request(method.clone())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Failure::Refused(message))) => Err(refused(&message)),
            Ok(Err(Failure::Failed(message))) => Err(failed(&message)),
            Err(_) => Err(failed(&format!("{method} to the Pushgateway {shown}: no answer within {timeout:?}"))),
        }
    }

    async fn request(&self, method: Method) -> Result<(), Failure> {
        let inner = &self.inner;
        let shown = inner.target.shown();
        let body = if method == Method::DELETE {
            Bytes::new()
        } else {
            // Off the runtime's thread: a collector is anyone's code.
            let this = self.clone();
            let body = tokio::task::spawn_blocking(move || this.body())
                .await
                .map_err(|_| Failure::Failed("reading the registry failed".into()))?;
            Bytes::from(body.map_err(Failure::Refused)?)
        };
        let mut headers = inner.headers.clone();
        headers.push((header::CONTENT_TYPE, HeaderValue::from_static(Format::Text.content_type())));
        let request = Outgoing { method: method.clone(), target: &inner.target, headers: &headers, body };
        let reply =
            inner.client.send(request).await.map_err(|error| {
                Failure::Failed(format!("{method} to the Pushgateway {shown}: {}", error.message()))
            })?;
        if reply.status.is_success() {
            return Ok(());
        }
        // The gateway's answer, without the URL's own path or a header value.
        let detail = crate::egress::scrub(&reply.detail(), &inner.base, &inner.headers);
        Err(Failure::Failed(format!("the Pushgateway {shown} answered {method} with HTTP {}: {detail}", reply.status)))
    }

    /// The text body: the registry (or the families [`Pushgateway::only`] names), refused when a
    /// family would be overwritten by the gateway (one of its own, or a label of the grouping key).
    fn body(&self) -> Result<String, String> {
        let inner = &self.inner;
        let mut families = super::registry::registry().families(true, false);
        if let Some(only) = &inner.only {
            families.retain(|family| only.contains(&family.name));
        }
        check_families(&families, &inner.grouping)?;
        Ok(Encoder::new(Format::Text).write_families(&families))
    }
}

/// Why a request did not succeed: refused before sending, or failed.
enum Failure {
    Refused(String),
    Failed(String),
}

/// `Err` naming the first family that the gateway would overwrite: one it writes itself, or one
/// with a `job` label or a label of the grouping key (the gateway replaces its values).
fn check_families(families: &[EncodedFamily], grouping: &[(String, String)]) -> Result<(), String> {
    for family in families {
        if GATEWAY_FAMILIES.contains(&family.name.as_str()) {
            return Err(format!("the family {} is one the Pushgateway writes itself: nothing was pushed", family.name));
        }
        let labels = family.series.iter().flat_map(|series| series.labels.iter().map(|(name, _)| name.as_str()));
        for label in labels {
            if label == "job" || grouping.iter().any(|(grouped, _)| grouped == label) {
                return Err(format!(
                    "the family {} has the label {label}, which the grouping key sets (the Pushgateway would \
                     overwrite it): nothing was pushed",
                    family.name
                ));
            }
        }
    }
    Ok(())
}

/// A spawned request that is cancelled when its waiter goes away.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Says and counts a failure, and returns it.
fn failed(message: &str) -> PushError {
    crate::diagnostics::warn("push", "push_failed", message);
    PushError::new(message)
}

/// Says and counts a push refused before it was sent, and returns it.
fn refused(message: &str) -> PushError {
    crate::diagnostics::warn("push", "push_refused", message);
    PushError::new(message)
}

/// `/<label>/<value>`, or `/<label>@base64/<value in base64url>` for a value that is empty, `.` or
/// `..`, or has a character other than `[A-Za-z0-9_.~-]` (a `/` above all), as the Pushgateway
/// reads them.
fn push_segment(path: &mut String, label: &str, value: &str) {
    // `.` and `..` are path steps to the gateway's router: encoded too.
    let plain = !matches!(value, "" | "." | "..")
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_.~-".contains(&byte));
    if plain {
        path.push_str(&format!("/{label}/{value}"));
    } else {
        path.push_str(&format!("/{label}@base64/{}", base64url(value.as_bytes())));
    }
}

/// RFC 4648 §5 base64url, padded (`=` alone for the empty value, as the Pushgateway wants it).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if bytes.is_empty() {
        return "=".to_owned();
    }
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for (index, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if index <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Pushes when obs stops, as a part of the guard: [`ObsBuilder::pushgateway`].
///
/// [`ObsBuilder::pushgateway`]: crate::ObsBuilder::pushgateway
#[derive(Debug)]
pub(crate) struct Pillar {
    gateway: Pushgateway,
}

impl Pillar {
    pub(crate) fn new(gateway: Pushgateway) -> Pillar {
        Pillar { gateway }
    }
}

impl crate::core::Pillar for Pillar {
    fn prepare(&mut self, _: &crate::core::Context<'_>) -> Result<(), crate::ConfigError> {
        Ok(())
    }

    fn start(
        self: Box<Self>,
        _: &crate::core::Context<'_>,
    ) -> Result<Option<Box<dyn crate::core::Part>>, crate::ConfigError> {
        Ok(Some(Box::new(PushOnStop { gateway: self.gateway, outcome: None })))
    }
}

/// The push made when the guard stops obs: after the other parts stopped, so that what they
/// counted while stopping is in it (but the last OTLP export of metrics, which stops with it).
#[derive(Debug)]
struct PushOnStop {
    gateway: Pushgateway,
    outcome: Option<std::sync::mpsc::Receiver<Result<(), PushError>>>,
}

impl crate::core::Part for PushOnStop {
    fn stage(&self) -> crate::core::Stage {
        crate::core::Stage::Last
    }

    fn signal_stop(&mut self, deadline: crate::Deadline) {
        let Some(runtime) = crate::background::handle() else {
            failed("obs's background runtime could not start: the metrics were not pushed");
            return;
        };
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        // Within the shutdown's deadline, and the push's own timeout.
        let timeout = deadline.remaining().min(self.gateway.inner.timeout);
        let gateway = self.gateway.clone();
        runtime.spawn(async move {
            let _ = done.send(gateway.exchange(Method::PUT, timeout).await);
        });
        self.outcome = Some(outcome);
    }

    /// `true` once the push ended, done or failed (a failure is said and counted); `false` if it
    /// did not end by the deadline.
    fn wait_stopped(&mut self, deadline: crate::Deadline) -> bool {
        let Some(outcome) = self.outcome.take() else { return false };
        outcome.recv_timeout(deadline.remaining()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_rfc_4648_section_5() {
        // RFC 4648 §10's test vectors, in the URL-safe alphabet.
        for (plain, encoded) in
            [("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")]
        {
            assert_eq!(base64url(plain.as_bytes()), encoded);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8=");
        assert_eq!(base64url(b""), "=");
    }

    #[test]
    fn the_grouping_key_is_the_path_the_pushgateway_reads() {
        let gateway = Pushgateway::new("http://127.0.0.1:9091", "nightly import")
            .and_then(|gateway| gateway.grouping("instance", "db-2"))
            .and_then(|gateway| gateway.grouping("path", "/var/tmp"))
            .and_then(|gateway| gateway.grouping("empty", ""))
            .expect("valid");
        assert_eq!(
            gateway.inner.target.path(),
            "/metrics/job@base64/bmlnaHRseSBpbXBvcnQ=/instance/db-2/path@base64/L3Zhci90bXA=/empty@base64/="
        );
        let prefixed = Pushgateway::new("http://gateway.example/pushgateway/", "etl").expect("valid");
        assert_eq!(prefixed.inner.target.path(), "/pushgateway/metrics/job/etl");
    }

    #[test]
    fn bad_configuration_is_an_err_naming_it() {
        let error = |result: Result<Pushgateway, PushError>| result.expect_err("refused").to_string();
        assert_eq!(error(Pushgateway::new("http://127.0.0.1:9091", "")), "the Pushgateway job name is empty");
        assert!(error(Pushgateway::new("ftp://127.0.0.1", "etl")).starts_with("the Pushgateway URL "));
        let gateway = || Pushgateway::new("http://127.0.0.1:9091", "etl").expect("valid");
        assert_eq!(error(gateway().grouping("job", "x")), "the Pushgateway grouping key has the label job already");
        assert!(error(gateway().grouping("9bad", "x")).starts_with("a Pushgateway grouping label: "));
        assert_eq!(
            error(gateway().grouping("instance", "a").and_then(|gateway| gateway.grouping("instance", "b"))),
            "the Pushgateway grouping key has the label instance already"
        );
        assert!(error(gateway().grouping("le", "x")).starts_with("a Pushgateway grouping label: "));
        assert_eq!(
            error(Pushgateway::new("http://127.0.0.1:9091/gw?token=abc123", "etl")),
            "the Pushgateway URL has a query, which the Pushgateway does not take"
        );
        assert_eq!(
            error(gateway().header("bad name", "x")),
            "the Pushgateway header name \"bad name\" is not a header name"
        );
        // The value is never shown, not even when it is what is wrong.
        assert_eq!(
            error(gateway().header("Authorization", "Bearer s3cret\n")),
            "the value of the Pushgateway header Authorization is not a header value"
        );
        let with_header = gateway().header("Authorization", "Bearer s3cret").expect("valid");
        assert!(!format!("{with_header:?}").contains("s3cret"));
    }

    #[test]
    fn dot_segments_are_encoded_as_the_router_would_clean_them_up() {
        let gateway = Pushgateway::new("http://127.0.0.1:9091", ".")
            .and_then(|gateway| gateway.grouping("instance", ".."))
            .expect("valid");
        assert_eq!(gateway.inner.target.path(), "/metrics/job@base64/Lg==/instance@base64/Li4=");
    }

    #[test]
    fn families_the_gateway_would_overwrite_are_named() {
        use super::super::encode::{EncodedSeries, EncodedValue, Kind};
        let family = |name: &str, label: &str| EncodedFamily {
            name: name.to_owned(),
            kind: Kind::Gauge,
            help: String::new(),
            series: vec![EncodedSeries {
                labels: vec![(label.to_owned(), "x".to_owned())],
                value: EncodedValue::Scalar(1.0),
                exemplars: Vec::new(),
            }],
        };
        let grouping = [("instance".to_owned(), "a".to_owned())];
        assert_eq!(check_families(&[family("a_info", "zone")], &grouping), Ok(()));
        assert!(check_families(&[family("a_info", "job")], &grouping).is_err_and(|why| why.contains("label job")));
        assert!(
            check_families(&[family("a_info", "instance")], &grouping).is_err_and(|why| why.contains("label instance"))
        );
        assert!(
            check_families(&[family("push_time_seconds", "zone")], &grouping)
                .is_err_and(|why| why.starts_with("the family push_time_seconds is one the Pushgateway writes"))
        );
    }
}
