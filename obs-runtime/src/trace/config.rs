//! The trace configuration: builder, `OTEL_*` variables, defaults (in that order).

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::TraceGuard;
use super::data::Value;
use super::export::{JsonLines, Resource, SpanExporter};
use super::pipeline::{self, Settings};
use super::propagation::{HeaderPropagator, Propagator};
use super::sampler::Sampler;
use crate::ConfigError;
use crate::env::Environment;
#[cfg(feature = "otlp")]
pub use crate::otlp::{Compression, Protocol};
use crate::service::Identity;

/// Where spans go when no OTLP endpoint is configured, or instead of it.
pub enum SpanOutput {
    /// JSON lines on stdout.
    Stdout,
    /// JSON lines appended to a file.
    File(PathBuf),
    /// Your exporter.
    Exporter(Box<dyn SpanExporter>),
}

impl fmt::Debug for SpanOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpanOutput::Stdout => f.write_str("Stdout"),
            SpanOutput::File(path) => f.debug_tuple("File").field(path).finish(),
            SpanOutput::Exporter(_) => f.write_str("Exporter(..)"),
        }
    }
}

/// How spans are sampled, batched and exported. Values set here win over the `OTEL_*`
/// environment variables, which win over the defaults. The spans' resource is the service's
/// identity, given once to [`ObsBuilder::service`](crate::ObsBuilder::service) (with
/// `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, see [`Service`](crate::Service)), and the
/// SDK's `telemetry.sdk.*` attributes.
///
/// | setting | builder | environment | default |
/// |---|---|---|---|
/// | OTLP endpoint (feature `otlp`) | `otlp_endpoint` | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is), `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/traces`) | none: JSON lines on stdout |
/// | transport | `protocol` | `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL` | `http/protobuf` |
/// | request headers | [`header`](Self::header) | `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS` | none |
/// | request timeout | [`export_timeout`](Self::export_timeout) | `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms) | 10 s |
/// | batch timeout (retries included) | [`batch_export_timeout`](Self::batch_export_timeout) | `OTEL_BSP_EXPORT_TIMEOUT` (ms) | 30 s |
/// | compression (feature `otlp`) | `compression` | `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip`, `none`) | none |
/// | TLS of an `https://` endpoint (feature `tls`) | `tls` | `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` (the only CA trusted), `_CLIENT_CERTIFICATE` and `_CLIENT_KEY` (PEM files) | the Mozilla roots |
/// | proxy | | `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` (or lowercase) | none |
/// | exporter | [`output`](Self::output) | `OTEL_TRACES_EXPORTER` = `otlp`, `console` or `none` | `otlp` with an endpoint, else stdout |
/// | sampler | [`sampler`](Self::sampler) | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | `parentbased_always_on` |
/// | baggage entries in spans | [`baggage_attributes`](Self::baggage_attributes) | | none |
/// | longest string attribute value | [`attribute_value_length_limit`](Self::attribute_value_length_limit) | `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` | no limit |
/// | propagation | [`propagators`](Self::propagators) | `OTEL_PROPAGATORS` (`tracecontext`, `baggage`, `b3`, `b3multi`, `none`) | `tracecontext` |
/// | queue | [`max_queue_size`](Self::max_queue_size) | `OTEL_BSP_MAX_QUEUE_SIZE` | 2048 spans |
/// | batch | [`max_export_batch_size`](Self::max_export_batch_size) | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | 512 spans |
/// | batch delay | [`schedule_delay`](Self::schedule_delay) | `OTEL_BSP_SCHEDULE_DELAY` (ms) | 1 s |
/// | off | | `OTEL_SDK_DISABLED=true` | on |
///
/// Jaeger ingests OTLP natively (port 4318 for HTTP, 4317 for gRPC): point the endpoint at it.
///
/// ```no_run
/// use obs_runtime::trace::{Sampler, TraceConfig};
///
/// let guard = obs_runtime::Obs::builder()
///     .service("user-service")
///     .tracing(
///         // With feature `otlp`, `.otlp_endpoint("http://127.0.0.1:4318")` or
///         // OTEL_EXPORTER_OTLP_ENDPOINT sends them to a collector.
///         TraceConfig::new().sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.1)))),
///     )
///     .init()?;
/// # Ok::<(), obs_runtime::ConfigError>(())
/// ```
#[derive(Default)]
pub struct TraceConfig {
    endpoint: Option<String>,
    #[cfg(feature = "otlp")]
    protocol: Option<Protocol>,
    headers: Vec<(String, String)>,
    output: Option<SpanOutput>,
    sampler: Option<Sampler>,
    max_queue_size: Option<usize>,
    max_export_batch_size: Option<usize>,
    schedule_delay: Option<Duration>,
    export_timeout: Option<Duration>,
    batch_export_timeout: Option<Duration>,
    propagators: Option<Vec<Propagator>>,
    custom_propagator: Option<Arc<dyn HeaderPropagator>>,
    baggage_attributes: Vec<String>,
    attribute_value_length_limit: Option<usize>,
    #[cfg(feature = "otlp")]
    compression: Option<Compression>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::Tls>,
}

impl fmt::Debug for TraceConfig {
    /// The endpoint as `scheme://host:port` and the headers by name: their values (an API key)
    /// and a URL's user info or path may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TraceConfig");
        // Without `otlp` there is no endpoint to set.
        #[cfg(feature = "otlp")]
        debug
            .field("endpoint", &self.endpoint.as_deref().map(crate::secret::url::for_humans))
            .field("protocol", &self.protocol);
        debug
            .field("headers", &self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .field("output", &self.output)
            .field("sampler", &self.sampler)
            .field("max_queue_size", &self.max_queue_size)
            .field("max_export_batch_size", &self.max_export_batch_size)
            .field("schedule_delay", &self.schedule_delay)
            .field("export_timeout", &self.export_timeout)
            .field("batch_export_timeout", &self.batch_export_timeout)
            .field("propagators", &self.propagators)
            .field("custom_propagator", &self.custom_propagator.is_some())
            .field("baggage_attributes", &self.baggage_attributes)
            .field("attribute_value_length_limit", &self.attribute_value_length_limit);
        #[cfg(feature = "otlp")]
        debug.field("compression", &self.compression);
        #[cfg(feature = "tls")]
        debug.field("tls", &self.tls);
        debug.finish()
    }
}

impl TraceConfig {
    /// Every setting from the environment or its default.
    pub fn new() -> TraceConfig {
        TraceConfig::default()
    }

    /// Exports over OTLP to this collector (`http://host:4318`; `/v1/traces` is appended for
    /// `http/protobuf` unless the URL ends with it already). `https://` needs the `tls` feature.
    #[cfg(feature = "otlp")]
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> TraceConfig {
        self.endpoint = Some(url.into());
        self
    }

    /// The OTLP transport.
    #[cfg(feature = "otlp")]
    pub fn protocol(mut self, protocol: Protocol) -> TraceConfig {
        self.protocol = Some(protocol);
        self
    }

    /// A header sent with every OTLP request (an API key of the collector, say).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> TraceConfig {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Writes spans here instead (JSON lines, or your exporter).
    pub fn output(mut self, output: SpanOutput) -> TraceConfig {
        self.output = Some(output);
        self
    }

    /// The sampler.
    pub fn sampler(mut self, sampler: Sampler) -> TraceConfig {
        self.sampler = Some(sampler);
        self
    }

    /// The most ended spans waiting for export; past it, spans are dropped and counted (1 to 1,048,576).
    /// Half of it (at least a batch) is the high-water mark at which a push wakes the export thread
    /// while it paces itself under load (see [`schedule_delay`](Self::schedule_delay)).
    pub fn max_queue_size(mut self, spans: usize) -> TraceConfig {
        self.max_queue_size = Some(spans);
        self
    }

    /// The most spans in one export (1 to the queue size).
    pub fn max_export_batch_size(mut self, spans: usize) -> TraceConfig {
        self.max_export_batch_size = Some(spans);
        self
    }

    /// How long the export thread waits for a batch to fill (1 ms to 1 min). Once it takes a full
    /// batch it paces itself: it sleeps until the next batch should be full at that rate, and no
    /// push wakes it before the queue is half full, so a full batch may wait for its timer, never
    /// longer than this delay. The pacing ends when the timer finds less than a batch.
    pub fn schedule_delay(mut self, delay: Duration) -> TraceConfig {
        self.schedule_delay = Some(delay);
        self
    }

    /// How long one export request may take (1 ms to 10 min).
    pub fn export_timeout(mut self, timeout: Duration) -> TraceConfig {
        self.export_timeout = Some(timeout);
        self
    }

    /// How long exporting one batch may take, its retries and their pauses included (1 ms to
    /// 10 min); at shutdown, the stopping deadline caps it.
    pub fn batch_export_timeout(mut self, timeout: Duration) -> TraceConfig {
        self.batch_export_timeout = Some(timeout);
        self
    }

    /// The formats trace context crosses processes in, in order: [`extract`](super::extract)
    /// takes the first that finds a context, [`inject`](super::inject) writes them all (as the
    /// tower layer and [`client_request`](super::client_request) do). None: no context crosses.
    ///
    /// ```
    /// use obs_runtime::trace::{Propagator, TraceConfig};
    ///
    /// // A mesh that speaks B3 on one side and W3C on the other.
    /// let config = TraceConfig::new().propagators([Propagator::TraceContext, Propagator::B3Multi]);
    /// # drop(config);
    /// ```
    pub fn propagators(mut self, propagators: impl IntoIterator<Item = Propagator>) -> TraceConfig {
        self.propagators = Some(propagators.into_iter().collect());
        self
    }

    /// A propagator of your own instead of the built-in formats: it alone reads and writes trace
    /// context and baggage at every boundary ([`propagators`](Self::propagators) and
    /// `OTEL_PROPAGATORS` are then not used). `obs_opentelemetry::OtelPropagator` makes any
    /// OpenTelemetry `TextMapPropagator` one.
    pub fn propagator(mut self, propagator: impl HeaderPropagator) -> TraceConfig {
        self.custom_propagator = Some(Arc::new(propagator));
        self
    }

    /// The exporter this configuration resolves to, built as [`init`](crate::init) would build it
    /// (the OTLP endpoint with its transport, headers, compression and TLS, or the
    /// [`output`](Self::output)), from these settings and `environment`'s `OTEL_*` variables,
    /// without installing anything: to wrap it in an exporter of your own (one that also sends
    /// each batch elsewhere, say) given back as [`SpanOutput::Exporter`]. An `Err` names what is
    /// wrong, or says that tracing is off (`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER=none`).
    ///
    /// ```
    /// use obs_runtime::Environment;
    /// use obs_runtime::trace::{SpanOutput, TraceConfig};
    ///
    /// let console = TraceConfig::new().output(SpanOutput::Stdout).exporter(&Environment::empty())?;
    /// # drop(console);
    /// # Ok::<(), obs_runtime::ConfigError>(())
    /// ```
    pub fn exporter(self, environment: &Environment) -> Result<Box<dyn SpanExporter>, ConfigError> {
        match self.prepare(environment, &Identity::named("unknown_service"))? {
            Prepared(Some(resolved), ..) => Ok(resolved.exporter),
            Prepared(None, ..) => Err(ConfigError::Invalid {
                field: "tracing",
                reason: "tracing is off (OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none): there is no exporter".into(),
            }),
        }
    }

    /// Copies these baggage entries into the attributes of each span that starts while they are
    /// in the current baggage (the key as the attribute's name; a secret-named key's value
    /// redacted). No other baggage entry ever reaches a span. A key that is not an HTTP token is
    /// an `Err` naming this method.
    ///
    /// ```
    /// use obs_runtime::trace::{Propagator, TraceConfig};
    ///
    /// let config = TraceConfig::new()
    ///     .propagators([Propagator::TraceContext, Propagator::Baggage])
    ///     .baggage_attributes(["tenant"]);
    /// # drop(config);
    /// ```
    pub fn baggage_attributes<K: Into<String>>(mut self, keys: impl IntoIterator<Item = K>) -> TraceConfig {
        self.baggage_attributes = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Cuts every string attribute value of a span and of its events to at most `characters`
    /// characters (Unicode scalar values: the OpenTelemetry specification's attribute value
    /// length limit), so that one large value (a query, a body, a `Debug` dump through the
    /// `tracing` bridge) cannot make an export large. Done on the export thread as spans are
    /// exported: the instrumented code pays nothing for it (the queue holds values whole until
    /// then). At least 1 (0 is an `Err` naming this method; in a variable, a warning); no limit by
    /// default. Log records over OTLP are not cut by it.
    ///
    /// ```
    /// use obs_runtime::trace::TraceConfig;
    ///
    /// let config = TraceConfig::new().attribute_value_length_limit(4096);
    /// # drop(config);
    /// ```
    pub fn attribute_value_length_limit(mut self, characters: usize) -> TraceConfig {
        self.attribute_value_length_limit = Some(characters);
        self
    }

    /// Compresses OTLP request bodies.
    ///
    /// ```
    /// use obs_runtime::trace::{Compression, TraceConfig};
    ///
    /// let config = TraceConfig::new().otlp_endpoint("http://127.0.0.1:4318").compression(Compression::Gzip);
    /// # drop(config);
    /// ```
    #[cfg(feature = "otlp")]
    pub fn compression(mut self, compression: Compression) -> TraceConfig {
        self.compression = Some(compression);
        self
    }

    /// The TLS settings of an `https://` endpoint (the servers trusted, a client certificate);
    /// they replace those of `OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`
    /// and `OTEL_EXPORTER_OTLP_CLIENT_KEY`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::Tls) -> TraceConfig {
        self.tls = Some(tls);
        self
    }

    /// The checked configuration (`None` inside when tracing is off); installs nothing yet.
    pub(crate) fn prepare(self, environment: &Environment, service: &Identity) -> Result<Prepared, ConfigError> {
        #[cfg(feature = "otlp")]
        let protocol = self.protocol;
        #[cfg(not(feature = "otlp"))]
        let protocol = None;
        let invalid = |field: &'static str, reason: String| ConfigError::Invalid { field, reason };
        let env = |name: &str| environment.trimmed(name);
        // The configuration rule: a builder value that is wrong is an `Err` naming the method; an
        // `OTEL_*` value the specification says to tolerate (a number, boolean, list or choice
        // that does not parse or is not supported) is a warning, counted, and the default; a
        // destination that cannot be used as given (an endpoint that is not an http:// URL, or
        // one with credentials in it) is an `Err` naming the variable.
        let warnings = std::cell::RefCell::new(Vec::<Warning>::new());
        let tolerate = |variable: &'static str, instead: &str| {
            warnings.borrow_mut().push(Warning { variable, instead: instead.to_owned() });
        };
        // Off by the environment: still, every value given in code is checked below (a wrong one
        // is an Err whatever the environment says); nothing is opened or built.
        let disabled = match env(crate::env::OTEL_SDK_DISABLED).map(|value| value.to_ascii_lowercase()).as_deref() {
            Some("true") => true,
            None | Some("false") => false,
            Some(_) => {
                tolerate(crate::env::OTEL_SDK_DISABLED, "is not true or false: tracing stays on");
                false
            }
        };
        let sampler = match self.sampler {
            Some(sampler) => {
                sampler.check().map_err(|reason| invalid("sampler", reason))?;
                sampler
            }
            None => match env(crate::env::OTEL_TRACES_SAMPLER) {
                Some(name) => Sampler::from_env(&name, env(crate::env::OTEL_TRACES_SAMPLER_ARG).as_deref())
                    .unwrap_or_else(|(variable, _)| {
                        tolerate(variable, "is not a sampler (or its argument): parentbased_always_on is used");
                        Sampler::default()
                    }),
                None => Sampler::default(),
            },
        };
        // An environment number that does not parse, or is outside `range`, is the default.
        let millis = |names: &[&'static str], range: std::ops::RangeInclusive<Duration>| -> Option<Duration> {
            let (name, value) = names.iter().find_map(|name| env(name).map(|value| (*name, value)))?;
            let taken = value.parse::<u64>().ok().map(Duration::from_millis).filter(|delay| range.contains(delay));
            if taken.is_none() {
                tolerate(name, "is not a number of milliseconds in range: the default is used");
            }
            taken
        };
        let count = |name: &'static str, range: std::ops::RangeInclusive<usize>| -> Option<usize> {
            let value = env(name)?;
            let taken = value.parse::<usize>().ok().filter(|count| range.contains(count));
            if taken.is_none() {
                tolerate(name, "is not a count in range: the default is used");
            }
            taken
        };
        let max_queue_size = match self.max_queue_size {
            Some(size) => size,
            None => count(crate::env::OTEL_BSP_MAX_QUEUE_SIZE, 1..=1 << 20).unwrap_or(2048),
        };
        if !(1..=1 << 20).contains(&max_queue_size) {
            return Err(invalid("max_queue_size", format!("{max_queue_size} is not between 1 and 1048576")));
        }
        let max_export_batch_size = match self.max_export_batch_size {
            Some(size) => size,
            None => count(crate::env::OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 1..=1 << 20).unwrap_or(512).min(max_queue_size),
        };
        if !(1..=max_queue_size).contains(&max_export_batch_size) {
            return Err(invalid(
                "max_export_batch_size",
                format!("{max_export_batch_size} is not between 1 and the queue size ({max_queue_size})"),
            ));
        }
        let schedule_delay = match self.schedule_delay {
            Some(delay) => delay,
            None => millis(&[crate::env::OTEL_BSP_SCHEDULE_DELAY], Duration::from_millis(1)..=Duration::from_secs(60))
                .unwrap_or(Duration::from_secs(1)),
        };
        if !(Duration::from_millis(1)..=Duration::from_secs(60)).contains(&schedule_delay) {
            return Err(invalid("schedule_delay", format!("{schedule_delay:?} is not between 1 ms and 1 min")));
        }
        let export_timeout = match self.export_timeout {
            Some(timeout) => timeout,
            None => millis(
                &[crate::env::OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, crate::env::OTEL_EXPORTER_OTLP_TIMEOUT],
                Duration::from_millis(1)..=Duration::from_secs(600),
            )
            .unwrap_or(Duration::from_secs(10)),
        };
        if !(Duration::from_millis(1)..=Duration::from_secs(600)).contains(&export_timeout) {
            return Err(invalid("export_timeout", format!("{export_timeout:?} is not between 1 ms and 10 min")));
        }
        let batch_export_timeout = match self.batch_export_timeout {
            Some(timeout) => timeout,
            None => millis(&[crate::env::OTEL_BSP_EXPORT_TIMEOUT], Duration::from_millis(1)..=Duration::from_secs(600))
                .unwrap_or(Duration::from_secs(30)),
        };
        if !(Duration::from_millis(1)..=Duration::from_secs(600)).contains(&batch_export_timeout) {
            return Err(invalid(
                "batch_export_timeout",
                format!("{batch_export_timeout:?} is not between 1 ms and 10 min"),
            ));
        }
        let resource = resource(service);
        if let Some(position) = self.baggage_attributes.iter().position(|key| !crate::baggage::is_key(key)) {
            return Err(invalid(
                "baggage_attributes",
                format!("key {} is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)", position + 1),
            ));
        }
        let baggage_attributes: Box<[String]> = self.baggage_attributes.into();
        // The span-specific variable first, then the one for every signal (the specification's
        // precedence).
        let value_length_limit = match self.attribute_value_length_limit {
            Some(0) => {
                return Err(invalid(
                    "attribute_value_length_limit",
                    "0 would empty every string attribute: give at least 1 character".into(),
                ));
            }
            Some(characters) => Some(characters),
            None => match env(crate::env::OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT)
                .map(|value| value.parse::<usize>().ok().filter(|n| *n >= 1))
            {
                Some(Some(characters)) => Some(characters),
                unusable => {
                    if unusable.is_some() {
                        tolerate(
                            crate::env::OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
                            "is not a count of at least 1: OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT applies if set, else no limit",
                        );
                    }
                    count(crate::env::OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, 1..=usize::MAX)
                }
            },
        };
        if self.custom_propagator.is_some() && self.propagators.is_some() {
            return Err(invalid(
                "propagator",
                "a propagator of your own replaces the built-in formats: give it or `propagators`, not both".into(),
            ));
        }
        if self.custom_propagator.is_some() && env(crate::env::OTEL_PROPAGATORS).is_some() {
            tolerate(crate::env::OTEL_PROPAGATORS, "is not used: the configuration gives a propagator of its own");
        }
        let propagators = match self.propagators {
            Some(propagators) => propagators,
            None => env(crate::env::OTEL_PROPAGATORS)
                .map_or_else(|| vec![Propagator::TraceContext], |list| propagators_of(&list, &tolerate)),
        };
        if disabled {
            return Ok(Prepared(None, Vec::new(), propagators, self.custom_propagator));
        }
        #[cfg(feature = "otlp")]
        let protocol = crate::otlp::config::protocol_of(&crate::otlp::TRACES, protocol, &env, &tolerate)?;
        #[cfg(feature = "otlp")]
        let grpc = protocol == Protocol::Grpc;
        #[cfg(not(feature = "otlp"))]
        let grpc = false;
        let exporter: Box<dyn SpanExporter> = match self.output {
            Some(output) if self.endpoint.is_none() => {
                json_or_custom(output).map_err(|reason| invalid("output", reason))?
            }
            _ => {
                // A comma-separated list, case-insensitive (the specification's form): obs has
                // one span exporter, so otlp if listed, else console, else none.
                let kind = env(crate::env::OTEL_TRACES_EXPORTER).and_then(|list| {
                    let kinds: Vec<String> = list
                        .split(',')
                        .map(|kind| kind.trim().to_ascii_lowercase())
                        .filter(|kind| !kind.is_empty())
                        .collect();
                    if kinds.iter().any(|kind| !matches!(kind.as_str(), "otlp" | "console" | "none")) {
                        tolerate(
                            crate::env::OTEL_TRACES_EXPORTER,
                            "names an exporter other than otlp, console or none: it is ignored",
                        );
                    }
                    ["otlp", "console", "none"].into_iter().find(|known| kinds.iter().any(|kind| kind == known))
                });
                let env_endpoint = env(crate::env::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
                    .map(|url| (url, crate::env::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, false))
                    .or_else(|| {
                        env(crate::env::OTEL_EXPORTER_OTLP_ENDPOINT)
                            .map(|url| (url, crate::env::OTEL_EXPORTER_OTLP_ENDPOINT, true))
                    });
                let endpoint = match self.endpoint {
                    Some(url) => Some((url, "otlp_endpoint", true)),
                    None => match kind {
                        None | Some("otlp") => env_endpoint.or_else(|| {
                            // The specification's default: 4318 for HTTP, 4317 for gRPC.
                            let url = if grpc { "http://localhost:4317" } else { "http://localhost:4318" };
                            kind.is_some().then(|| (url.to_owned(), crate::env::OTEL_TRACES_EXPORTER, true))
                        }),
                        Some("none") => {
                            return Ok(Prepared(None, warnings.into_inner(), propagators, self.custom_propagator));
                        }
                        _ => None,
                    },
                };
                match endpoint {
                    None => json_or_custom(SpanOutput::Stdout).map_err(|reason| invalid("output", reason))?,
                    Some((url, field, append_path)) => {
                        #[cfg(feature = "otlp")]
                        let transport = crate::otlp::config::Transport {
                            compression: self.compression,
                            headers: self.headers,
                            #[cfg(feature = "tls")]
                            tls: self.tls,
                        };
                        #[cfg(not(feature = "otlp"))]
                        let transport = ();
                        otlp_exporter(transport, protocol, &url, field, append_path, &env, &tolerate)?
                    }
                }
            }
        };
        let settings = Settings {
            max_queue_size,
            max_export_batch_size,
            schedule_delay,
            export_timeout,
            batch_export_timeout,
            baggage_attributes,
            value_length_limit,
        };
        Ok(Prepared(
            Some(Resolved { sampler, settings, exporter, resource }),
            warnings.into_inner(),
            propagators,
            self.custom_propagator,
        ))
    }
}

/// `OTEL_PROPAGATORS`: a comma-separated list, case-insensitive; `none` is no propagator; a name
/// obs does not know is left out with a warning, and a list left empty so is W3C Trace Context.
fn propagators_of(list: &str, tolerate: &impl Fn(&'static str, &str)) -> Vec<Propagator> {
    const NAME: &str = crate::env::OTEL_PROPAGATORS;
    let mut propagators = Vec::new();
    let mut none = false;
    for name in list.split(',').map(|name| name.trim().to_ascii_lowercase()).filter(|name| !name.is_empty()) {
        match name.as_str() {
            "tracecontext" => propagators.push(Propagator::TraceContext),
            "b3" => propagators.push(Propagator::B3),
            "b3multi" => propagators.push(Propagator::B3Multi),
            "none" => none = true,
            "baggage" => propagators.push(Propagator::Baggage),
            _ => tolerate(
                NAME,
                "names a propagator obs does not have (tracecontext, baggage, b3, b3multi, none): it is left out",
            ),
        }
    }
    if none {
        if !propagators.is_empty() {
            tolerate(NAME, "names none with other propagators: none is used");
        }
        return Vec::new();
    }
    if propagators.is_empty() {
        tolerate(NAME, "names no propagator obs has: tracecontext is used");
        propagators.push(Propagator::TraceContext);
    }
    propagators
}

/// An `OTEL_*` value not taken: the variable, and what is wrong and what obs does instead (never
/// a piece of the value: an entry of a list is named by its position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    variable: &'static str,
    instead: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.variable, self.instead)
    }
}

/// A checked configuration, ready to install (`None` when tracing is off), the environment
/// values it did not take, and the propagators (in use even when tracing is off: the context of
/// a request still reaches its log lines and the services it calls).
pub(crate) struct Prepared(Option<Resolved>, Vec<Warning>, Vec<Propagator>, Option<Arc<dyn HeaderPropagator>>);

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Prepared(on)" } else { "Prepared(off)" })
    }
}

impl Prepared {
    /// Spans are recorded and exported (not switched off by `OTEL_SDK_DISABLED` or
    /// `OTEL_TRACES_EXPORTER=none`).
    #[cfg(feature = "metrics")]
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    pub(crate) fn install(self) -> Result<TraceGuard, ConfigError> {
        for warning in &self.1 {
            crate::diagnostics::warn("config", "invalid_env", &warning.to_string());
        }
        super::propagation::set_propagators(&self.2);
        super::propagation::set_custom(self.3);
        let Some(resolved) = self.0 else { return Ok(TraceGuard::disabled()) };
        let handle = pipeline::install(resolved.sampler, resolved.settings, resolved.exporter, resolved.resource)
            .map_err(|reason| ConfigError::Invalid { field: "tracing", reason })?;
        Ok(TraceGuard::new(handle))
    }
}

struct Resolved {
    sampler: Sampler,
    settings: Settings,
    exporter: Box<dyn SpanExporter>,
    resource: Resource,
}

fn json_or_custom(output: SpanOutput) -> Result<Box<dyn SpanExporter>, String> {
    Ok(match output {
        SpanOutput::Stdout => Box::new(JsonLines { out: Box::new(std::io::stdout()), buffer: Vec::new() }),
        SpanOutput::File(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
            Box::new(JsonLines { out: Box::new(file), buffer: Vec::new() })
        }
        SpanOutput::Exporter(exporter) => exporter,
    })
}

/// The OTLP exporter to `url`: `field` is what a wrong URL is blamed on; `append_path`: whether
/// `/v1/traces` is appended.
#[cfg(feature = "otlp")]
fn otlp_exporter(
    transport: crate::otlp::config::Transport,
    protocol: Protocol,
    url: &str,
    field: &'static str,
    append_path: bool,
    env: &impl Fn(&str) -> Option<String>,
    tolerate: &impl Fn(&'static str, &str),
) -> Result<Box<dyn SpanExporter>, ConfigError> {
    let sender = crate::otlp::config::sender(
        &crate::otlp::TRACES,
        transport,
        protocol,
        (url, field, append_path),
        env,
        tolerate,
    )?;
    Ok(Box::new(super::otlp::OtlpExporter::new(sender)))
}

#[cfg(not(feature = "otlp"))]
fn otlp_exporter(
    _: (),
    _: Option<()>,
    _: &str,
    field: &'static str,
    _: bool,
    _: &impl Fn(&str) -> Option<String>,
    _: &impl Fn(&'static str, &str),
) -> Result<Box<dyn SpanExporter>, ConfigError> {
    Err(ConfigError::Invalid { field, reason: "OTLP export needs the `otlp` feature of obs-runtime".to_owned() })
}

/// The service's identity (`service.name` first), with the SDK's attributes after the name.
pub(crate) fn resource(service: &Identity) -> Resource {
    let mut attributes: Vec<(Cow<'static, str>, Value)> = Vec::with_capacity(service.attributes().len() + 3);
    for (index, (key, value)) in service.attributes().iter().enumerate() {
        // An attribute named like a secret is sent as such, never its value (as span attributes).
        let value = if crate::secret::is_secret_name(key) { crate::secret::REDACTED } else { value.as_str() };
        attributes.push((Cow::Owned(key.clone()), Value::from(value.to_owned())));
        if index == 0 {
            attributes.extend([
                (Cow::Borrowed("telemetry.sdk.name"), Value::from("obs")),
                (Cow::Borrowed("telemetry.sdk.language"), Value::from("rust")),
                (Cow::Borrowed("telemetry.sdk.version"), Value::from(env!("CARGO_PKG_VERSION"))),
            ]);
        }
    }
    Resource { attributes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "otlp")]
    use crate::otlp::config::LAST_TARGET;

    /// Where spans go with these variables: `Some("HttpProtobuf http://..")`, or `None` when not
    /// over OTLP.
    #[cfg(feature = "otlp")]
    fn target_of(config: TraceConfig, vars: &[(&str, &str)]) -> Option<String> {
        LAST_TARGET.with(|target| target.borrow_mut().take());
        resolved(config, vars);
        LAST_TARGET.with(|target| target.borrow_mut().take())
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn endpoints_follow_the_specification() {
        let target = |vars: &[(&str, &str)]| target_of(TraceConfig::new(), vars);
        // The general endpoint gets the signal's path; the per-signal one is used as it is.
        assert_eq!(
            target(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]).as_deref(),
            Some("HttpProtobuf http://collector:4318/v1/traces []")
        );
        assert_eq!(
            target(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base/")]).as_deref(),
            Some("HttpProtobuf http://collector:4318/base/v1/traces []")
        );
        assert_eq!(
            target(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom"),
            ])
            .as_deref(),
            Some("HttpProtobuf http://traces:4318/custom []")
        );
        // OTEL_TRACES_EXPORTER=otlp with no endpoint: the specification's default.
        assert_eq!(
            target(&[("OTEL_TRACES_EXPORTER", "otlp")]).as_deref(),
            Some("HttpProtobuf http://localhost:4318/v1/traces []")
        );
        // No endpoint and no exporter named: JSON lines, not OTLP; console too.
        assert_eq!(target(&[]), None);
        assert_eq!(
            target(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_TRACES_EXPORTER", "console")]),
            None
        );
        // The builder's endpoint wins over the environment's.
        assert_eq!(
            target_of(
                TraceConfig::new().otlp_endpoint("http://code:4318"),
                &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://env:4318/v1/traces")]
            )
            .as_deref(),
            Some("HttpProtobuf http://code:4318/v1/traces []")
        );
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn headers_are_sent_the_per_signal_list_wins_and_escapes_are_decoded() {
        const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let target = |config: TraceConfig, vars: &[(&str, &str)]| target_of(config, vars).expect("OTLP");
        assert!(
            target(TraceConfig::new(), &[ENDPOINT, ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=obs,x-tenant=a%2Cb")])
                .ends_with("[x-team,x-tenant]")
        );
        assert!(
            target(
                TraceConfig::new(),
                &[
                    ENDPOINT,
                    ("OTEL_EXPORTER_OTLP_HEADERS", "x-general=1"),
                    ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-traces=1")
                ]
            )
            .ends_with("[x-traces]")
        );
        assert!(
            target(TraceConfig::new().header("x-code", "1"), &[ENDPOINT, ("OTEL_EXPORTER_OTLP_HEADERS", "x-env=1")])
                .ends_with("[x-env,x-code]")
        );
    }

    #[test]
    fn choices_are_case_insensitive_and_the_exporter_is_a_list() {
        let (on, _) = resolved_env(&[("OTEL_TRACES_SAMPLER", "ALWAYS_OFF")]);
        assert_eq!(on.sampler, Sampler::AlwaysOff);
        let (off, warnings) = resolved(TraceConfig::new(), &[("OTEL_TRACES_EXPORTER", "None")]);
        assert!(off.is_none() && warnings.is_empty(), "{warnings:?}");
        #[cfg(feature = "otlp")]
        {
            let target = |vars: &[(&str, &str)]| target_of(TraceConfig::new(), vars);
            assert!(target(&[("OTEL_TRACES_EXPORTER", "OTLP")]).is_some());
            assert!(target(&[("OTEL_TRACES_EXPORTER", "console,otlp")]).is_some(), "otlp, if listed");
            let (_, warnings) = resolved(TraceConfig::new(), &[("OTEL_TRACES_EXPORTER", "otlp,zipkin")]);
            assert!(warnings.len() == 1 && warnings[0].starts_with("OTEL_TRACES_EXPORTER"), "{warnings:?}");
            assert_eq!(
                target(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_COMPRESSION", "NONE")])
                    .as_deref(),
                Some("HttpProtobuf http://c:4318/v1/traces []")
            );
        }
    }

    #[test]
    fn values_in_code_are_checked_even_when_the_environment_turns_tracing_off() {
        let off = [("OTEL_SDK_DISABLED", "true")];
        assert_eq!(field_of(TraceConfig::new().max_queue_size(0), &off), "max_queue_size");
        assert!(resolved(TraceConfig::new(), &off).0.is_none());
    }

    #[cfg(all(feature = "otlp", not(feature = "otlp-grpc")))]
    #[test]
    fn grpc_without_its_feature_warns_from_the_environment_and_is_an_err_in_code() {
        let (resolved, warnings) = resolved(
            TraceConfig::new(),
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
        );
        assert!(resolved.is_some());
        assert!(warnings.len() == 1 && warnings[0].starts_with("OTEL_EXPORTER_OTLP_PROTOCOL"), "{warnings:?}");
        let code = TraceConfig::new().otlp_endpoint("http://c:4317").protocol(Protocol::Grpc);
        assert_eq!(field_of(code, &[]), "protocol");
    }

    #[cfg(feature = "otlp-grpc")]
    #[test]
    fn grpc_in_code_picks_the_grpc_default_port() {
        assert_eq!(
            target_of(TraceConfig::new().protocol(Protocol::Grpc), &[("OTEL_TRACES_EXPORTER", "otlp")]).as_deref(),
            Some("Grpc http://localhost:4317/ []")
        );
    }

    #[cfg(feature = "otlp-grpc")]
    #[test]
    fn grpc_endpoints_keep_their_path_and_default_to_4317() {
        let target = |vars: &[(&str, &str)]| target_of(TraceConfig::new(), vars);
        assert_eq!(
            target(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            ])
            .as_deref(),
            Some("Grpc http://collector:4317/ []")
        );
        assert_eq!(
            target(&[("OTEL_TRACES_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]).as_deref(),
            Some("Grpc http://localhost:4317/ []")
        );
    }

    /// The error `config` makes with these variables (the process's environment is not read).
    #[cfg(feature = "otlp")]
    fn error_of(config: TraceConfig, vars: &[(&str, &str)]) -> Option<String> {
        config
            .prepare(&Environment::from_pairs(vars.iter().copied()), &Identity::named("svc"))
            .err()
            .map(|error| error.to_string())
    }

    #[test]
    fn the_value_length_limit_comes_from_code_then_the_span_variable_then_the_general_one() {
        // Catches: the precedence of the specification turned round, the builder's value losing
        // to the environment, a bad variable not warned about or not falling back, 0 accepted.
        const SPAN: &str = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT";
        const ALL: &str = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT";
        let limit = |config: TraceConfig, vars: &[(&str, &str)]| {
            let (resolved, warnings) = resolved(config, vars);
            (resolved.expect("on").settings.value_length_limit, warnings.len())
        };
        assert_eq!(limit(TraceConfig::new(), &[]), (None, 0));
        assert_eq!(limit(TraceConfig::new(), &[(ALL, "64")]), (Some(64), 0));
        assert_eq!(limit(TraceConfig::new(), &[(ALL, "64"), (SPAN, "32")]), (Some(32), 0));
        assert_eq!(
            limit(TraceConfig::new().attribute_value_length_limit(16), &[(ALL, "64"), (SPAN, "32")]),
            (Some(16), 0)
        );
        assert_eq!(limit(TraceConfig::new(), &[(ALL, "64"), (SPAN, "lots")]), (Some(64), 1));
        assert_eq!(limit(TraceConfig::new(), &[(SPAN, "0")]), (None, 1));
        let (_, warnings) = resolved(TraceConfig::new(), &[(SPAN, "-1")]);
        assert!(warnings[0].contains(SPAN) && !warnings[0].contains("-1"), "{warnings:?}");
        assert_eq!(
            field_of(TraceConfig::new().attribute_value_length_limit(0), &[(ALL, "64")]),
            "attribute_value_length_limit"
        );
    }

    /// What `config` resolves to with these variables, and the warnings it gives; panics on `Err`.
    fn resolved(config: TraceConfig, vars: &[(&str, &str)]) -> (Option<Resolved>, Vec<String>) {
        match config.prepare(&Environment::from_pairs(vars.iter().copied()), &Identity::named("svc")) {
            Ok(Prepared(resolved, warnings, ..)) => (resolved, warnings.iter().map(ToString::to_string).collect()),
            Err(error) => panic!("{vars:?}: {error}"),
        }
    }

    fn field_of(config: TraceConfig, vars: &[(&str, &str)]) -> &'static str {
        match config.prepare(&Environment::from_pairs(vars.iter().copied()), &Identity::named("svc")) {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("{vars:?}: not an Invalid error: {:?}", other.err()),
        }
    }

    #[test]
    fn tolerated_environment_values_warn_name_the_variable_and_take_the_default() {
        type Check = fn(&Resolved) -> bool;
        let cases: [(&str, &str, Check); 9] = [
            ("OTEL_SDK_DISABLED", "maybe", |_| true),
            ("OTEL_TRACES_SAMPLER", "sometimes", |r| r.sampler == Sampler::default()),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "lots", |r| r.settings.max_queue_size == 2048),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0", |r| r.settings.max_queue_size == 2048),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "-1", |r| r.settings.max_export_batch_size == 512),
            ("OTEL_BSP_SCHEDULE_DELAY", "1s", |r| r.settings.schedule_delay == Duration::from_secs(1)),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "ten", |r| r.settings.export_timeout == Duration::from_secs(10)),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "99999999", |r| r.settings.export_timeout == Duration::from_secs(10)),
            ("OTEL_TRACES_EXPORTER", "zipkin", |_| true),
        ];
        for (variable, value, check) in cases {
            let (resolved, warnings) = resolved(TraceConfig::new(), &[(variable, value)]);
            let resolved = resolved.expect("tracing stays on");
            assert!(check(&resolved), "{variable}={value}: not the default");
            assert_eq!(warnings.len(), 1, "{variable}={value}: {warnings:?}");
            assert!(warnings[0].starts_with(variable), "{warnings:?}");
            assert!(!warnings[0].contains(value), "the value is never repeated: {warnings:?}");
        }
        // A sampler's bad argument: the default sampler, the argument named.
        let (resolved, warnings) =
            resolved(TraceConfig::new(), &[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "2")]);
        assert_eq!(resolved.expect("on").sampler, Sampler::default());
        assert!(warnings.len() == 1 && warnings[0].starts_with("OTEL_TRACES_SAMPLER_ARG"), "{warnings:?}");
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn unsupported_transport_settings_warn_and_export_anyway() {
        const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        for (variable, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd"),
        ] {
            let (resolved, warnings) = resolved(TraceConfig::new(), &[ENDPOINT, (variable, value)]);
            assert!(resolved.is_some(), "{variable}");
            assert!(warnings.len() == 1 && warnings[0].starts_with(variable), "{variable}: {warnings:?}");
        }
        for value in ["gzip", "GZIP", "none"] {
            let (resolved, warnings) =
                resolved(TraceConfig::new(), &[ENDPOINT, ("OTEL_EXPORTER_OTLP_COMPRESSION", value)]);
            assert!(resolved.is_some() && warnings.is_empty(), "{value}: {warnings:?}");
        }
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn certificate_files_that_cannot_be_used_are_an_err_naming_the_variable() {
        const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:4318");
        let missing = "/nonexistent/obs-test/ca.pem";
        let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[ENDPOINT, ("OTEL_EXPORTER_OTLP_CERTIFICATE", missing)], "OTEL_EXPORTER_OTLP_CERTIFICATE"),
            (&[ENDPOINT, ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", not_pem)], "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"),
            (&[ENDPOINT, ("OTEL_EXPORTER_OTLP_CLIENT_KEY", not_pem)], "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
            (
                &[
                    ENDPOINT,
                    ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", not_pem),
                    ("OTEL_EXPORTER_OTLP_CLIENT_KEY", not_pem),
                ],
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            ),
            (&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("HTTP_PROXY", "https://proxy:3128")], "HTTP_PROXY"),
        ];
        for (vars, variable) in cases {
            if cfg!(feature = "tls") || *variable == "HTTP_PROXY" {
                assert_eq!(field_of(TraceConfig::new(), vars), *variable, "{vars:?}");
            }
        }
    }

    #[test]
    fn values_given_in_code_win_and_a_bad_one_is_an_err_naming_the_method() {
        let (resolved, warnings) = resolved(
            TraceConfig::new().max_queue_size(100).sampler(Sampler::AlwaysOff),
            &[("OTEL_BSP_MAX_QUEUE_SIZE", "5"), ("OTEL_TRACES_SAMPLER", "always_on")],
        );
        let resolved = resolved.expect("on");
        assert_eq!((resolved.settings.max_queue_size, resolved.sampler), (100, Sampler::AlwaysOff));
        assert!(warnings.is_empty(), "{warnings:?}");
        // The environment's own value, when the builder says nothing.
        let (resolved, _) = resolved_env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "5"), ("OTEL_BSP_SCHEDULE_DELAY", "250")]);
        assert_eq!(resolved.settings.max_queue_size, 5);
        assert_eq!(resolved.settings.max_export_batch_size, 5, "a batch is at most the queue");
        assert_eq!(resolved.settings.schedule_delay, Duration::from_millis(250));
        assert_eq!(field_of(TraceConfig::new().max_queue_size(0), &[]), "max_queue_size");
        assert_eq!(field_of(TraceConfig::new().max_export_batch_size(0), &[]), "max_export_batch_size");
        assert_eq!(field_of(TraceConfig::new().schedule_delay(Duration::ZERO), &[]), "schedule_delay");
        assert_eq!(field_of(TraceConfig::new().export_timeout(Duration::from_secs(601)), &[]), "export_timeout");
        assert_eq!(field_of(TraceConfig::new().sampler(Sampler::TraceIdRatio(2.0)), &[]), "sampler");
    }

    fn resolved_env(vars: &[(&str, &str)]) -> (Resolved, Vec<String>) {
        let (resolved, warnings) = resolved(TraceConfig::new(), vars);
        (resolved.expect("on"), warnings)
    }

    #[test]
    fn a_resource_attribute_named_like_a_secret_is_sent_redacted() {
        let identity = crate::Service::new("svc")
            .attribute("api_key", "S3CRET")
            .resolve(&Environment::empty(), &mut |_, _| {})
            .expect("valid");
        let resource = resource(&identity);
        let api_key = resource.attributes().iter().find(|(key, _)| key == "api_key").map(|(_, value)| value);
        assert_eq!(api_key, Some(&Value::from(crate::secret::REDACTED)));
    }

    #[test]
    fn debug_shows_headers_by_name_and_endpoints_without_credentials() {
        let config = TraceConfig::new().header("authorization", "Bearer S3CRET");
        #[cfg(feature = "otlp")]
        let config = config.otlp_endpoint("http://user:PW@collector:4318/v1/traces?token=T0K");
        let shown = format!("{config:?}");
        assert!(shown.contains(r#"headers: ["authorization"]"#), "{shown}");
        for secret in ["S3CRET", "PW", "T0K", "user"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn the_resource_is_the_service_then_the_sdk_and_the_switches_follow_the_specification() {
        let (on, _) = resolved_env(&[]);
        let keys: Vec<&str> = on.resource.attributes().iter().map(|(key, _)| key.as_ref()).collect();
        assert_eq!(keys, ["service.name", "telemetry.sdk.name", "telemetry.sdk.language", "telemetry.sdk.version"]);
        assert_eq!(on.resource.service_name(), "svc");
        // Off, by the variables the specification names.
        for vars in
            [[("OTEL_SDK_DISABLED", "true")], [("OTEL_SDK_DISABLED", "TRUE")], [("OTEL_TRACES_EXPORTER", "none")]]
        {
            let (resolved, warnings) = resolved(TraceConfig::new(), &vars);
            assert!(resolved.is_none() && warnings.is_empty(), "{vars:?}");
        }
        assert!(resolved(TraceConfig::new(), &[("OTEL_SDK_DISABLED", "false")]).0.is_some());
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn malformed_header_lists_are_dropped_whole_and_named_by_position_only() {
        const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        let token = "dXNlcjpTM0NSRVQ";
        for variable in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            for (list, reason) in [
                // `:` for `=`; padded, the first `=` is the base64 padding: a bad header name.
                (format!("x-team=obs,Authorization: Basic {token}="), "entry 2: the name is not a header name"),
                // Unpadded: no `=` at all.
                (format!("x-team=obs,Authorization: Basic {token}"), "entry 2 has no `=`"),
                (format!("Authorization: Basic {token}%zz=="), "entry 1: a malformed %-escape in the key"),
                (format!("Authorization=Basic {token}%zz"), "entry 1: a malformed %-escape in the value"),
                (format!("Authorization=Basic {token}%0A"), "entry 1: the value is not a valid header value"),
            ] {
                let (resolved, warnings) = resolved(TraceConfig::new(), &[ENDPOINT, (variable, &list)]);
                assert!(resolved.is_some(), "{list}");
                assert!(warnings.len() == 1 && warnings[0].starts_with(variable), "{list}: {warnings:?}");
                assert!(warnings[0].contains(reason), "{list}: {warnings:?}");
                for secret in [token, "dXNlcjpTM0NSRVQ=", "Basic", "Authorization", "S3CRET"] {
                    assert!(!warnings[0].contains(secret), "{list}: {warnings:?}");
                }
            }
        }
        // In code it is an Err, named by position too.
        let error = error_of(TraceConfig::new().header(format!("Authorization: Basic {token}="), "x"), &[ENDPOINT])
            .expect("refused");
        assert!(error.contains("headers") && error.contains("header 1") && !error.contains(token), "{error}");
        // Well formed, the padding belongs to the value.
        let well_formed = format!("Authorization=Basic {token}=,x-team=obs");
        let (_, warnings) = resolved(TraceConfig::new(), &[ENDPOINT, ("OTEL_EXPORTER_OTLP_HEADERS", &well_formed)]);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn endpoint_credentials_are_never_shown() {
        for variable in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
            for url in [
                "https://user:P4SS@collector.example.com:4318",
                "http://user:P4SS@collector.example.com:4318/v1/traces?api_key=S3CRET",
                "ftp://collector.example.com/S3CRET?api_key=S3CRET",
                "http://user:P4SS/S3CRET@",
                "http://collector:99999/S3CRET",
                "user:P4SS S3CRET",
            ] {
                let error = error_of(TraceConfig::new(), &[(variable, url)]).expect("refused");
                assert!(error.contains(variable), "{url}: {error}");
                for secret in ["P4SS", "S3CRET", "user", "api_key"] {
                    assert!(!error.contains(secret), "{url}: {error}");
                }
            }
        }
        // The issue's example, word for word.
        let error = error_of(TraceConfig::new(), &[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:pw@collector")])
            .expect("refused");
        assert!(error.contains("https://collector:") && !error.contains("pw") && !error.contains("user"), "{error}");
        let error =
            error_of(TraceConfig::new().otlp_endpoint("https://user:P4SS@collector:4318/x"), &[]).expect("refused");
        assert!(error.contains("https://collector:4318") && !error.contains("P4SS"), "{error}");
    }

    #[test]
    fn otel_propagators_is_a_list_of_names_and_the_builder_wins() {
        use Propagator::{B3, B3Multi, TraceContext};
        let run = |list: &str| {
            let warned = std::cell::RefCell::new(Vec::new());
            let got = propagators_of(list, &|variable, instead: &str| {
                warned.borrow_mut().push(format!("{variable} {instead}"))
            });
            (got, warned.into_inner())
        };
        assert_eq!(run(" b3multi , TraceContext,B3"), (vec![B3Multi, TraceContext, B3], vec![]));
        assert_eq!(run("none"), (vec![], vec![]));
        assert_eq!(run("tracecontext,baggage"), (vec![TraceContext, Propagator::Baggage], vec![]));
        let (got, warned) = run("xray");
        assert!(
            got == [TraceContext] && warned.len() == 2 && warned.iter().all(|w| w.starts_with("OTEL_PROPAGATORS")),
            "{warned:?}"
        );
        let (got, warned) = run("b3,none");
        assert!(got.is_empty() && warned.len() == 1, "{warned:?}");
        let prepared = |config: TraceConfig, vars: &[(&str, &str)]| match config
            .prepare(&Environment::from_pairs(vars.iter().copied()), &Identity::named("svc"))
        {
            Ok(Prepared(_, _, propagators, _)) => propagators,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(prepared(TraceConfig::new(), &[]), [TraceContext], "the default");
        assert_eq!(prepared(TraceConfig::new(), &[("OTEL_PROPAGATORS", "b3")]), [B3]);
        assert_eq!(prepared(TraceConfig::new().propagators([B3Multi]), &[("OTEL_PROPAGATORS", "b3")]), [B3Multi]);
        // A baggage key that is not an HTTP token is refused, by the method's name.
        assert_eq!(
            field_of(TraceConfig::new().baggage_attributes(["tenant", "not a token"]), &[]),
            "baggage_attributes"
        );
        // Off by the environment, the context still crosses processes as configured.
        assert_eq!(prepared(TraceConfig::new(), &[("OTEL_PROPAGATORS", "b3"), ("OTEL_SDK_DISABLED", "true")]), [B3]);
    }

    /// A propagator of one's own: with `propagators` too, an `Err` naming `propagator`; with
    /// `OTEL_PROPAGATORS`, a warning that the variable is not used.
    #[test]
    fn a_propagator_of_ones_own_replaces_the_built_in_formats() {
        struct Silent;
        impl HeaderPropagator for Silent {
            fn extract(&self, _: &http::HeaderMap) -> Option<crate::trace::RemoteParent> {
                None
            }
            fn inject(
                &self,
                _: Option<(&crate::context::SpanContext, Option<&str>)>,
                _: &crate::baggage::Baggage,
                _: &mut http::HeaderMap,
            ) {
            }
        }
        assert_eq!(field_of(TraceConfig::new().propagator(Silent).propagators([Propagator::B3]), &[]), "propagator");
        let (resolved, warned) = resolved(TraceConfig::new().propagator(Silent), &[("OTEL_PROPAGATORS", "b3")]);
        assert!(resolved.is_some());
        assert_eq!(warned, ["OTEL_PROPAGATORS is not used: the configuration gives a propagator of its own"]);
    }
}
