//! Push to a Prometheus Pushgateway, for jobs that end before anyone scrapes them (a batch job, a
//! CLI, a cron task): the whole registry in the text format, under a grouping key (`job`, and
//! labels such as `instance`), on demand and, given to [`ObsBuilder::pushgateway`], when obs
//! stops.
//!
//! [`Pushgateway::push`] replaces the group's metrics (HTTP `PUT`), [`Pushgateway::push_add`]
//! replaces only the families pushed (`POST`), [`Pushgateway::delete`] removes the group
//! (`DELETE`); each has a `_blocking` form for code outside an async runtime. Every call runs on
//! obs's background runtime with its own timeout (10 s unless [`Pushgateway::timeout`] says
//! otherwise), through obs's outbound client (the `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` proxies;
//! `https://` with the `tls` feature). A failure is an `Err` naming the gateway by scheme, host
//! and port only (the grouping key may carry what a user would not print), and is also counted in
//! `obs_internal_errors_total{component="push",reason="push_failed"}`.
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
use crate::egress::{Client, Outgoing, Target, Version};

const USER_AGENT: &str = concat!("obs-push/", env!("CARGO_PKG_VERSION"));

/// How long a push may take unless [`Pushgateway::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A Pushgateway and the grouping key obs's metrics are pushed under. Cheap to clone.
#[derive(Clone)]
pub struct Pushgateway {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    /// The gateway with the group's path.
    target: Target,
    /// The URL's own path, before `/metrics`.
    prefix: String,
    job: String,
    grouping: Vec<(String, String)>,
    timeout: Duration,
}

impl fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The gateway by scheme, host and port; the grouping key is not shown.
        f.debug_struct("Pushgateway").field("gateway", &self.inner.target.shown()).finish_non_exhaustive()
    }
}

/// A push, push-add or delete that did not succeed, or a Pushgateway that cannot be configured.
/// Its message never holds the URL's path, the grouping key's values or a credential.
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
    /// the URL without quoting it, or that `job` is empty.
    pub fn new(url: &str, job: &str) -> Result<Pushgateway, PushError> {
        let base = Target::parse(url).map_err(|bad| PushError::new(format!("the Pushgateway URL {}", bad.reason())))?;
        if job.is_empty() {
            return Err(PushError::new("the Pushgateway job name is empty"));
        }
        let client = Client::from_process_env(Version::Http1, USER_AGENT, &base);
        let prefix = base.path().split('?').next().unwrap_or("").trim_end_matches('/').to_owned();
        let inner =
            Inner { client, target: base, prefix, job: job.to_owned(), grouping: Vec::new(), timeout: DEFAULT_TIMEOUT };
        Ok(Pushgateway { inner: Arc::new(inner) }.with_path())
    }

    /// Adds `label=value` to the grouping key (after `job`): `instance` most often. `Err` when
    /// `label` is not a label name, is `job`, or is in the key already.
    pub fn grouping(self, label: &str, value: &str) -> Result<Pushgateway, PushError> {
        super::family::check_labels(&[label], super::encode::Kind::Gauge)
            .map_err(|error| PushError::new(format!("a Pushgateway grouping label: {error}")))?;
        if label == "job" || self.inner.grouping.iter().any(|(known, _)| known == label) {
            return Err(PushError::new(format!("the Pushgateway grouping key has the label {label} already")));
        }
        let mut inner = self.into_inner();
        inner.grouping.push((label.to_owned(), value.to_owned()));
        Ok(Pushgateway { inner: Arc::new(inner) }.with_path())
    }

    /// How long each push, push-add or delete may take, connecting included.
    pub fn timeout(self, timeout: Duration) -> Pushgateway {
        let mut inner = self.into_inner();
        inner.timeout = timeout;
        Pushgateway { inner: Arc::new(inner) }
    }

    fn into_inner(self) -> Inner {
        Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            client: Client::from_process_env(Version::Http1, USER_AGENT, &shared.target),
            target: shared.target.clone(),
            prefix: shared.prefix.clone(),
            job: shared.job.clone(),
            grouping: shared.grouping.clone(),
            timeout: shared.timeout,
        })
    }

    /// The group's path: `/metrics/job/<job>{/<label>/<value>}`, after the URL's own path.
    fn with_path(self) -> Pushgateway {
        let mut inner = self.into_inner();
        let mut path = format!("{}/metrics", inner.prefix);
        for (label, value) in std::iter::once(("job", inner.job.as_str()))
            .chain(inner.grouping.iter().map(|(label, value)| (label.as_str(), value.as_str())))
        {
            push_segment(&mut path, label, value);
        }
        inner.target = inner.target.with_path(path);
        Pushgateway { inner: Arc::new(inner) }
    }

    /// Replaces the group's metrics with obs's registry as it is now (HTTP `PUT`).
    pub async fn push(&self) -> Result<(), PushError> {
        self.send(Method::PUT).await
    }

    /// Replaces, in the group, the families obs has; the group's other families stay (`POST`).
    pub async fn push_add(&self) -> Result<(), PushError> {
        self.send(Method::POST).await
    }

    /// Removes the group from the gateway (`DELETE`).
    pub async fn delete(&self) -> Result<(), PushError> {
        self.send(Method::DELETE).await
    }

    /// [`Pushgateway::push`] for code outside an async runtime: waits, at most the timeout.
    pub fn push_blocking(&self) -> Result<(), PushError> {
        self.send_blocking(Method::PUT)
    }

    /// [`Pushgateway::push_add`], waiting.
    pub fn push_add_blocking(&self) -> Result<(), PushError> {
        self.send_blocking(Method::POST)
    }

    /// [`Pushgateway::delete`], waiting.
    pub fn delete_blocking(&self) -> Result<(), PushError> {
        self.send_blocking(Method::DELETE)
    }

    /// Runs the request on obs's background runtime and waits for it from any executor.
    async fn send(&self, method: Method) -> Result<(), PushError> {
        let Some(runtime) = crate::background::handle() else {
            return Err(failed("obs's background runtime could not start"));
        };
        let this = self.clone();
        match runtime.spawn(async move { this.exchange(method).await }).await {
            Ok(outcome) => outcome,
            Err(_) => Err(failed("the push task ended without an answer")),
        }
    }

    fn send_blocking(&self, method: Method) -> Result<(), PushError> {
        let Some(runtime) = crate::background::handle() else {
            return Err(failed("obs's background runtime could not start"));
        };
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        let this = self.clone();
        runtime.spawn(async move {
            let _ = done.send(this.exchange(method).await);
        });
        // The request has its own timeout: a moment more covers the hand-over.
        outcome
            .recv_timeout(self.inner.timeout + Duration::from_secs(1))
            .unwrap_or_else(|_| Err(failed("the push did not end in time")))
    }

    /// The request itself, on obs's runtime, within the timeout.
    async fn exchange(&self, method: Method) -> Result<(), PushError> {
        let inner = &self.inner;
        let body = if method == Method::DELETE {
            Bytes::new()
        } else {
            // Off the runtime's thread: a collector is anyone's code.
            match tokio::task::spawn_blocking(|| super::encode(Format::Text)).await {
                Ok(body) => Bytes::from(body),
                Err(_) => return Err(failed("reading the registry failed")),
            }
        };
        let headers: [(HeaderName, HeaderValue); 1] =
            [(header::CONTENT_TYPE, HeaderValue::from_static(Format::Text.content_type()))];
        let request = Outgoing { method: method.clone(), target: &inner.target, headers: &headers, body };
        let shown = inner.target.shown();
        let reply = match tokio::time::timeout(inner.timeout, inner.client.send(request)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => return Err(failed(&format!("{method} to the Pushgateway {shown}: {}", error.message()))),
            Err(_) => {
                return Err(failed(&format!(
                    "{method} to the Pushgateway {shown}: no answer within {:?}",
                    inner.timeout
                )));
            }
        };
        if reply.status.is_success() {
            return Ok(());
        }
        let detail = crate::egress::scrub(&reply.detail(), &inner.target, &[]);
        Err(failed(&format!("the Pushgateway {shown} answered {method} with HTTP {}: {detail}", reply.status)))
    }
}

/// Says and counts a failure, and returns it.
fn failed(message: &str) -> PushError {
    crate::diagnostics::warn("push", "push_failed", message);
    PushError::new(message)
}

/// `/<label>/<value>`, or `/<label>@base64/<value in base64url>` for a value that is empty or has
/// a character other than `[A-Za-z0-9_.~-]` (a `/` above all), as the Pushgateway reads them.
fn push_segment(path: &mut String, label: &str, value: &str) {
    let plain = !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_.~-".contains(&byte));
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

/// The push made when the guard stops obs.
#[derive(Debug)]
struct PushOnStop {
    gateway: Pushgateway,
    outcome: Option<std::sync::mpsc::Receiver<Result<(), PushError>>>,
}

impl crate::core::Part for PushOnStop {
    fn signal_stop(&mut self, deadline: crate::Deadline) {
        let Some(runtime) = crate::background::handle() else {
            failed("obs's background runtime could not start: the metrics were not pushed");
            return;
        };
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        // Within the shutdown's deadline, and the push's own timeout.
        let gateway = self.gateway.clone().timeout(deadline.remaining().min(self.gateway.inner.timeout));
        runtime.spawn(async move {
            let _ = done.send(gateway.push().await);
        });
        self.outcome = Some(outcome);
    }

    fn wait_stopped(&mut self, deadline: crate::Deadline) -> bool {
        let Some(outcome) = self.outcome.take() else { return false };
        // A failure was said and counted where it happened.
        matches!(outcome.recv_timeout(deadline.remaining()), Ok(Ok(())))
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
    }
}
