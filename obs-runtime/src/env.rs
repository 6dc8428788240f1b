//! Where obs reads its configuration variables, and their names.
//!
//! Every `OBS_*` and `OTEL_*` variable obs reads is read through an [`Environment`]: the
//! process's (the default) or a fixed set given to
//! [`ObsBuilder::environment`](crate::ObsBuilder::environment), so a test, or a service that keeps
//! its configuration elsewhere, decides exactly what obs sees. Each is named here, but for the
//! per-signal OTLP variables (`OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_*` and
//! `OTEL_{signal}_EXPORTER`), which the OTLP module's table of signals spells from the signal's
//! name. The proxy variables (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, and their lowercase forms)
//! are read through the [`Environment`] by the OTLP exporters, and from the process by what is
//! made before the builder, as other HTTP clients read them: the alert channels, the Pushgateway
//! push and the HTTP health checks. `SSL_CERT_FILE` (for `tls::Tls::system`) is the process's too.
//!
//! The rule for what is wrong (one error shape, [`ConfigError::Invalid`] naming the setting):
//! - a value given in code that is wrong is an `Err` naming the builder method;
//! - an `OBS_*` variable that is wrong is an `Err` naming the variable (its value is never quoted:
//!   it may be a secret);
//! - an `OTEL_*` value the OpenTelemetry specification says to tolerate (a number, boolean, list or
//!   choice that does not parse) is a warning, counted in `obs_internal_errors_total`, and the
//!   default is used;
//! - a destination that cannot be used as given (an endpoint that is not a URL obs can reach, or
//!   one with credentials in it) is an `Err` naming the variable.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::ConfigError;

/// The embedded server's address (`host:port`).
#[cfg(feature = "http-server")]
pub(crate) const OBS_HTTP_ADDR: &str = "OBS_HTTP_ADDR";
/// The embedded server's cap of connections per peer address (`0`: no cap).
#[cfg(feature = "http-server")]
pub(crate) const OBS_HTTP_MAX_CONNECTIONS_PER_PEER: &str = "OBS_HTTP_MAX_CONNECTIONS_PER_PEER";
/// How often the live page reads the registry and refreshes (`1s`, `500ms`).
#[cfg(feature = "page")]
pub(crate) const OBS_PAGE_INTERVAL: &str = "OBS_PAGE_INTERVAL";
/// How long stopping may take (`500ms`, `10s`, `1m`).
pub(crate) const OBS_SHUTDOWN_TIMEOUT: &str = "OBS_SHUTDOWN_TIMEOUT";
/// The service's name (wins over `service.name` in `OTEL_RESOURCE_ATTRIBUTES`).
pub(crate) const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// `key=value,...` resource attributes.
pub(crate) const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `true` turns the OpenTelemetry signals (spans) off.
#[cfg(feature = "trace")]
pub(crate) const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// The alert channels and interval `AlertManagerBuilder::from_env` reads.
#[cfg(feature = "alerts")]
pub(crate) const OBS_SLACK_WEBHOOK_URL: &str = "OBS_SLACK_WEBHOOK_URL";
#[cfg(feature = "alerts")]
pub(crate) const OBS_WEBHOOK_URL: &str = "OBS_WEBHOOK_URL";
#[cfg(feature = "alerts")]
pub(crate) const OBS_ALERTMANAGER_URL: &str = "OBS_ALERTMANAGER_URL";
#[cfg(feature = "alerts")]
pub(crate) const OBS_SMTP_URL: &str = "OBS_SMTP_URL";
#[cfg(feature = "alerts")]
pub(crate) const OBS_SMTP_FROM: &str = "OBS_SMTP_FROM";
#[cfg(feature = "alerts")]
pub(crate) const OBS_SMTP_TO: &str = "OBS_SMTP_TO";
#[cfg(feature = "alerts")]
pub(crate) const OBS_ALERT_EVAL_INTERVAL: &str = "OBS_ALERT_EVAL_INTERVAL";
#[cfg(feature = "alerts")]
pub(crate) const OBS_ALERT_ACK_TOKEN: &str = "OBS_ALERT_ACK_TOKEN";
#[cfg(feature = "alerts")]
pub(crate) const OBS_ALERT_ACK_TOKEN_FILE: &str = "OBS_ALERT_ACK_TOKEN_FILE";
/// The log filter's directives.
#[cfg(feature = "logging")]
pub(crate) const RUST_LOG: &str = "RUST_LOG";
/// Which `tracing` spans become obs spans, as `RUST_LOG` directives, when they differ from the
/// log lines' (`LoggingConfig::span_filter`).
#[cfg(all(feature = "logging", feature = "tracing-bridge"))]
pub(crate) const OBS_SPAN_FILTER: &str = "OBS_SPAN_FILTER";

// The OpenTelemetry specification's variables the pillars read (its names, its meanings).
/// Where spans go: `otlp`, `console` (JSON lines), `none`.
#[cfg(feature = "trace")]
pub(crate) const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// The sampler's name (`parentbased_traceidratio`, `always_on`, ...).
#[cfg(feature = "trace")]
pub(crate) const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// The sampler's argument: the ratio of `traceidratio` samplers.
#[cfg(feature = "trace")]
pub(crate) const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
/// The context propagators, a list (`tracecontext,baggage`, `b3`, `none`).
#[cfg(feature = "trace")]
pub(crate) const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";
/// The span pipeline's export delay, in milliseconds.
#[cfg(feature = "trace")]
pub(crate) const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// How long one span export may take, in milliseconds.
#[cfg(feature = "trace")]
pub(crate) const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";
/// How many spans wait for export at most.
#[cfg(feature = "trace")]
pub(crate) const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// How many spans one export carries at most.
#[cfg(feature = "trace")]
pub(crate) const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// The longest string value of a span attribute, in characters.
#[cfg(feature = "trace")]
pub(crate) const OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT";
/// The same for every signal (the span limit wins).
#[cfg(feature = "trace")]
pub(crate) const OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT";
/// The OTLP endpoint of spans, whole (no `/v1/traces` added).
#[cfg(feature = "trace")]
pub(crate) const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// How long one OTLP export of spans may take, in milliseconds.
#[cfg(feature = "trace")]
pub(crate) const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// The OTLP endpoint of every signal, each signal's path added (`/v1/traces`, ...).
#[cfg(any(feature = "trace", feature = "otlp"))]
pub(crate) const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// How long one OTLP export of any signal may take, in milliseconds.
#[cfg(any(feature = "trace", feature = "otlp"))]
pub(crate) const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// `http/protobuf` or `grpc`, for every signal.
#[cfg(feature = "otlp")]
pub(crate) const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// `gzip` or `none`, for every signal.
#[cfg(feature = "otlp")]
pub(crate) const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// `key=value,...` headers of every OTLP request.
#[cfg(feature = "otlp")]
pub(crate) const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// The PEM file of the roots that the collector's certificate is checked against.
#[cfg(feature = "otlp")]
pub(crate) const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// The PEM file of obs's client certificate (mutual TLS).
#[cfg(feature = "otlp")]
pub(crate) const OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// The PEM file of that certificate's private key.
#[cfg(feature = "otlp")]
pub(crate) const OTEL_EXPORTER_OTLP_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
/// How often the registry is exported over OTLP, in milliseconds.
#[cfg(all(feature = "metrics", feature = "otlp"))]
pub(crate) const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
/// How long one metrics export may take, in milliseconds.
#[cfg(all(feature = "metrics", feature = "otlp"))]
pub(crate) const OTEL_METRIC_EXPORT_TIMEOUT: &str = "OTEL_METRIC_EXPORT_TIMEOUT";
/// `cumulative`, `delta` or `lowmemory`.
#[cfg(all(feature = "metrics", feature = "otlp"))]
pub(crate) const OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: &str =
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
/// The log records' export delay, in milliseconds.
#[cfg(all(feature = "logging", feature = "otlp"))]
pub(crate) const OTEL_BLRP_SCHEDULE_DELAY: &str = "OTEL_BLRP_SCHEDULE_DELAY";
/// How long one export of log records may take, in milliseconds.
#[cfg(all(feature = "logging", feature = "otlp"))]
pub(crate) const OTEL_BLRP_EXPORT_TIMEOUT: &str = "OTEL_BLRP_EXPORT_TIMEOUT";
/// How many log records wait for export at most.
#[cfg(all(feature = "logging", feature = "otlp"))]
pub(crate) const OTEL_BLRP_MAX_QUEUE_SIZE: &str = "OTEL_BLRP_MAX_QUEUE_SIZE";
/// How many log records one export carries at most.
#[cfg(all(feature = "logging", feature = "otlp"))]
pub(crate) const OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE";

/// Where obs reads its `OBS_*` and `OTEL_*` variables: the process's environment (the default),
/// or a fixed set of variables.
///
/// ```
/// use obs_runtime::{Environment, Obs};
///
/// # fn main() -> Result<(), obs_runtime::ConfigError> {
/// // Whatever the process's environment says, obs sees only these.
/// let obs = Obs::builder()
///     .environment(Environment::from_pairs([("OBS_HTTP_ADDR", "127.0.0.1:0")]))
///     .init()?;
/// assert!(obs.http_addr().is_some());
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Environment(Source);

#[derive(Clone, Default)]
enum Source {
    #[default]
    Process,
    Fixed(Arc<BTreeMap<String, String>>),
}

impl Environment {
    /// The process's environment variables (the default).
    pub fn process() -> Environment {
        Environment(Source::Process)
    }

    /// No variable at all: only what the code sets, and the defaults.
    pub fn empty() -> Environment {
        Environment::from_pairs(std::iter::empty::<(String, String)>())
    }

    /// Exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Environment {
        let variables = pairs.into_iter().map(|(key, value)| (key.into(), value.into())).collect();
        Environment(Source::Fixed(Arc::new(variables)))
    }

    /// A variable as it is: `Ok(None)` when unset, an `Err` naming it when it is not UTF-8.
    pub(crate) fn var(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match &self.0 {
            Source::Fixed(variables) => Ok(variables.get(name).cloned()),
            Source::Process => match std::env::var(name) {
                Ok(value) => Ok(Some(value)),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(ConfigError::Invalid { field: name, reason: "not UTF-8".to_owned() })
                }
            },
        }
    }

    /// An `OBS_*` duration (`500ms`, `10s`, `1m`): `Ok(None)` when unset, an `Err` naming the
    /// variable (never quoting it) when it is not a duration.
    pub(crate) fn duration(&self, name: &'static str) -> Result<Option<std::time::Duration>, ConfigError> {
        match self.var(name)? {
            None => Ok(None),
            Some(text) => crate::parse_duration(&text).map(Some).ok_or_else(|| ConfigError::Invalid {
                field: name,
                reason: "not a duration (500ms, 10s, 1m)".to_owned(),
            }),
        }
    }

    /// An `OTEL_*`-style variable as the specification reads them: trimmed, and empty (or not
    /// UTF-8) is unset.
    pub(crate) fn trimmed(&self, name: &str) -> Option<String> {
        let value = match &self.0 {
            Source::Fixed(variables) => variables.get(name).cloned(),
            Source::Process => std::env::var(name).ok(),
        }?;
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: values may be secrets.
        match &self.0 {
            Source::Process => f.write_str("Environment::process()"),
            Source::Fixed(variables) => {
                f.debug_tuple("Environment").field(&variables.keys().collect::<Vec<_>>()).finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_variables_are_all_obs_sees() {
        let env = Environment::from_pairs([("OTEL_SERVICE_NAME", "  svc "), ("OTEL_X", " ")]);
        assert_eq!(env.trimmed("OTEL_SERVICE_NAME").as_deref(), Some("svc"));
        assert_eq!(env.trimmed("OTEL_X"), None, "blank is unset");
        assert_eq!(env.trimmed("PATH"), None);
        assert_eq!(env.var(OBS_SHUTDOWN_TIMEOUT).ok().flatten(), None);
        assert_eq!(format!("{env:?}"), r#"Environment(["OTEL_SERVICE_NAME", "OTEL_X"])"#);
    }
}
