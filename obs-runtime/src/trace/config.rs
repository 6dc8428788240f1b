//! The trace configuration: builder, `OTEL_*` variables, defaults (in that order).

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::TraceGuard;
use super::data::Value;
use super::export::{JsonLines, Resource, SpanExporter};
#[cfg(feature = "otlp")]
pub use super::otlp::Protocol;
use super::pipeline::{self, Settings};
use super::sampler::Sampler;
use crate::ConfigError;

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
/// environment variables, which win over the defaults; the one exception is the service name,
/// where `OTEL_SERVICE_NAME` (then `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) wins over the
/// name given to [`TraceConfig::new`], as operators expect.
///
/// | setting | builder | environment | default |
/// |---|---|---|---|
/// | OTLP endpoint (feature `otlp`) | `otlp_endpoint` | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is), `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/traces`) | none: JSON lines on stdout |
/// | transport | `protocol` | `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL` | `http/protobuf` |
/// | request headers | [`header`](Self::header) | `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `OTEL_EXPORTER_OTLP_HEADERS` | none |
/// | export timeout | [`export_timeout`](Self::export_timeout) | `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT` (ms) | 10 s |
/// | exporter | [`output`](Self::output) | `OTEL_TRACES_EXPORTER` = `otlp`, `console` or `none` | `otlp` with an endpoint, else stdout |
/// | sampler | [`sampler`](Self::sampler) | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | `parentbased_always_on` |
/// | resource | [`resource_attribute`](Self::resource_attribute) | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | `service.name`, `telemetry.sdk.*` |
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
///     .tracing(
///         // With feature `otlp`, `.otlp_endpoint("http://127.0.0.1:4318")` or
///         // OTEL_EXPORTER_OTLP_ENDPOINT sends them to a collector.
///         TraceConfig::new("user-service").sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.1)))),
///     )
///     .init()?;
/// # Ok::<(), obs_runtime::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct TraceConfig {
    service: String,
    endpoint: Option<String>,
    #[cfg(feature = "otlp")]
    protocol: Option<Protocol>,
    headers: Vec<(String, String)>,
    output: Option<SpanOutput>,
    sampler: Option<Sampler>,
    resource: Vec<(String, String)>,
    max_queue_size: Option<usize>,
    max_export_batch_size: Option<usize>,
    schedule_delay: Option<Duration>,
    export_timeout: Option<Duration>,
}

impl TraceConfig {
    /// The configuration of a service of this name (`service.name`).
    pub fn new(service: impl Into<String>) -> TraceConfig {
        TraceConfig {
            service: service.into(),
            endpoint: None,
            #[cfg(feature = "otlp")]
            protocol: None,
            headers: Vec::new(),
            output: None,
            sampler: None,
            resource: Vec::new(),
            max_queue_size: None,
            max_export_batch_size: None,
            schedule_delay: None,
            export_timeout: None,
        }
    }

    /// Exports over OTLP to this collector (`http://host:4318`; `/v1/traces` is appended for
    /// `http/protobuf` unless the URL ends with it already). `http://` only: run a collector or agent beside
    /// the service for TLS.
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

    /// A resource attribute (`deployment.environment.name`, `service.version`, ...).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> TraceConfig {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// The most ended spans waiting for export; past it, spans are dropped and counted (1 to 1,048,576).
    pub fn max_queue_size(mut self, spans: usize) -> TraceConfig {
        self.max_queue_size = Some(spans);
        self
    }

    /// The most spans in one export (1 to the queue size).
    pub fn max_export_batch_size(mut self, spans: usize) -> TraceConfig {
        self.max_export_batch_size = Some(spans);
        self
    }

    /// How long the export thread waits for a batch to fill (1 ms to 1 min).
    pub fn schedule_delay(mut self, delay: Duration) -> TraceConfig {
        self.schedule_delay = Some(delay);
        self
    }

    /// How long one export may take, retries included (1 ms to 10 min).
    pub fn export_timeout(mut self, timeout: Duration) -> TraceConfig {
        self.export_timeout = Some(timeout);
        self
    }

    /// Checks everything, then installs the pipeline.
    pub(crate) fn install(self) -> Result<TraceGuard, ConfigError> {
        self.install_with_env(|name| std::env::var(name).ok())
    }

    pub(crate) fn install_with_env(self, env: impl Fn(&str) -> Option<String>) -> Result<TraceGuard, ConfigError> {
        self.resolve(&env)?.install()
    }

    /// Checks everything against the process's environment; installs nothing yet.
    pub(crate) fn prepare(self) -> Result<Prepared, ConfigError> {
        self.resolve(&|name: &str| std::env::var(name).ok())
    }

    /// The checked configuration; `None` when tracing is off.
    fn resolve(self, env: &impl Fn(&str) -> Option<String>) -> Result<Prepared, ConfigError> {
        #[cfg(feature = "otlp")]
        let protocol = self.protocol;
        #[cfg(not(feature = "otlp"))]
        let protocol = None;
        let invalid = |field: &'static str, reason: String| ConfigError::Invalid { field, reason };
        let env = |name: &str| env(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty());
        if let Some(disabled) = env("OTEL_SDK_DISABLED") {
            match disabled.to_ascii_lowercase().as_str() {
                "true" => return Ok(Prepared(None)),
                "false" => {}
                _ => return Err(invalid("OTEL_SDK_DISABLED", format!("{disabled:?} is not true or false"))),
            }
        }
        let sampler = match self.sampler {
            Some(sampler) => {
                sampler.check().map_err(|reason| invalid("sampler", reason))?;
                sampler
            }
            None => match env("OTEL_TRACES_SAMPLER") {
                Some(name) => Sampler::from_env(&name, env("OTEL_TRACES_SAMPLER_ARG").as_deref())
                    .map_err(|(field, reason)| invalid(field, reason))?,
                None => Sampler::default(),
            },
        };
        let millis = |names: &[&'static str]| -> Result<Option<Duration>, ConfigError> {
            for name in names {
                if let Some(value) = env(name) {
                    let millis: u64 = value
                        .parse()
                        .map_err(|_| invalid(name, format!("{value:?} is not a number of milliseconds")))?;
                    return Ok(Some(Duration::from_millis(millis)));
                }
            }
            Ok(None)
        };
        let count = |name: &'static str| -> Result<Option<usize>, ConfigError> {
            env(name)
                .map(|value| value.parse().map_err(|_| invalid(name, format!("{value:?} is not a count"))))
                .transpose()
        };
        let max_queue_size = match self.max_queue_size {
            Some(size) => size,
            None => count("OTEL_BSP_MAX_QUEUE_SIZE")?.unwrap_or(2048),
        };
        if !(1..=1 << 20).contains(&max_queue_size) {
            return Err(invalid("max_queue_size", format!("{max_queue_size} is not between 1 and 1048576")));
        }
        let max_export_batch_size = match self.max_export_batch_size {
            Some(size) => size,
            None => count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")?.unwrap_or(512).min(max_queue_size),
        };
        if !(1..=max_queue_size).contains(&max_export_batch_size) {
            return Err(invalid(
                "max_export_batch_size",
                format!("{max_export_batch_size} is not between 1 and the queue size ({max_queue_size})"),
            ));
        }
        let schedule_delay = match self.schedule_delay {
            Some(delay) => delay,
            None => millis(&["OTEL_BSP_SCHEDULE_DELAY"])?.unwrap_or(Duration::from_secs(1)),
        };
        if !(Duration::from_millis(1)..=Duration::from_secs(60)).contains(&schedule_delay) {
            return Err(invalid("schedule_delay", format!("{schedule_delay:?} is not between 1 ms and 1 min")));
        }
        let export_timeout = match self.export_timeout {
            Some(timeout) => timeout,
            None => millis(&["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"])?
                .unwrap_or(Duration::from_secs(10)),
        };
        if !(Duration::from_millis(1)..=Duration::from_secs(600)).contains(&export_timeout) {
            return Err(invalid("export_timeout", format!("{export_timeout:?} is not between 1 ms and 10 min")));
        }
        let resource =
            resource(&self.service, &self.resource, &env).map_err(|(field, reason)| invalid(field, reason))?;
        let exporter: Box<dyn SpanExporter> = match self.output {
            Some(output) if self.endpoint.is_none() => {
                json_or_custom(output).map_err(|reason| invalid("output", reason))?
            }
            _ => {
                let kind = env("OTEL_TRACES_EXPORTER");
                let env_endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                    .map(|url| (url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", false))
                    .or_else(|| {
                        env("OTEL_EXPORTER_OTLP_ENDPOINT").map(|url| (url, "OTEL_EXPORTER_OTLP_ENDPOINT", true))
                    });
                let endpoint = match self.endpoint {
                    Some(url) => Some((url, "otlp_endpoint", true)),
                    None => match kind.as_deref() {
                        None | Some("otlp") => env_endpoint.or_else(|| {
                            // The specification's default: 4318 for HTTP, 4317 for gRPC.
                            let grpc =
                                first_env(&env, &["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"])
                                    .is_some_and(|protocol| protocol == "grpc");
                            let url = if grpc { "http://localhost:4317" } else { "http://localhost:4318" };
                            kind.is_some().then(|| (url.to_owned(), "OTEL_TRACES_EXPORTER", true))
                        }),
                        Some("none") => return Ok(Prepared(None)),
                        Some("console") => None,
                        Some(other) => {
                            return Err(invalid(
                                "OTEL_TRACES_EXPORTER",
                                format!("{other:?} is not otlp, console or none"),
                            ));
                        }
                    },
                };
                match endpoint {
                    None => json_or_custom(SpanOutput::Stdout).map_err(|reason| invalid("output", reason))?,
                    Some((url, field, append_path)) => {
                        otlp_exporter(protocol, &url, field, append_path, &self.headers, &env)?
                    }
                }
            }
        };
        let settings = Settings { max_queue_size, max_export_batch_size, schedule_delay, export_timeout };
        Ok(Prepared(Some(Resolved { sampler, settings, exporter, resource })))
    }
}

/// A checked configuration, ready to install; `None` when tracing is off.
pub(crate) struct Prepared(Option<Resolved>);

impl Prepared {
    pub(crate) fn install(self) -> Result<TraceGuard, ConfigError> {
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

#[cfg(feature = "otlp")]
fn otlp_exporter(
    protocol: Option<Protocol>,
    url: &str,
    field: &'static str,
    append_path: bool,
    headers: &[(String, String)],
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Box<dyn SpanExporter>, ConfigError> {
    let invalid = |field: &'static str, reason: String| ConfigError::Invalid { field, reason };
    let first = |names: [&'static str; 2]| names.into_iter().find_map(|name| env(name).map(|value| (name, value)));
    let protocol = match protocol {
        Some(protocol) => protocol,
        None => match first(["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
            None => Protocol::HttpProtobuf,
            Some((_, value)) if value == "http/protobuf" => Protocol::HttpProtobuf,
            Some((_, value)) if value == "grpc" => Protocol::Grpc,
            Some((name, value)) => {
                return Err(invalid(name, format!("{value:?} is not supported: use http/protobuf or grpc")));
            }
        },
    };
    if cfg!(not(feature = "otlp-grpc")) && protocol == Protocol::Grpc {
        return Err(invalid("protocol", "gRPC export needs the `otlp-grpc` feature of obs-runtime".to_owned()));
    }
    if let Some((name, value)) = first(["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"])
        && value != "none"
    {
        return Err(invalid(name, format!("{value:?} is not supported: spans are sent uncompressed (none)")));
    }
    // Messages show the URL's scheme, host and port only: its user and password, path and query
    // may hold secrets.
    let shown = crate::secret::url::for_humans(url);
    let uri: http::Uri = url.parse().map_err(|error| invalid(field, format!("{shown} is not a URL: {error}")))?;
    if shown == crate::secret::url::UNREADABLE {
        // `http` takes `host:99999` or `host:word` (and would connect to port 80).
        return Err(invalid(field, format!("{shown}: not a URL with a host and a port up to 65535")));
    }
    if uri.scheme_str() != Some("http") {
        return Err(invalid(
            field,
            format!("{shown}: only http:// is supported (send to a collector or agent beside the service for TLS)"),
        ));
    }
    let Some(authority) = uri.authority() else { return Err(invalid(field, format!("{shown} has no host"))) };
    if authority.as_str().contains('@') {
        return Err(invalid(field, format!("{shown}: credentials in the URL are not supported: use a header")));
    }
    let path = uri.path();
    // The OTLP specification appends `v1/traces` to the base endpoint; a URL that names the
    // path already (`.../v1/traces`) is used as it is.
    let path =
        if append_path && protocol == Protocol::HttpProtobuf && !path.trim_end_matches('/').ends_with("/v1/traces") {
            format!("{}/v1/traces", path.trim_end_matches('/'))
        } else {
            path.to_owned()
        };
    let uri = http::Uri::builder()
        .scheme("http")
        .authority(authority.as_str())
        .path_and_query(path)
        .build()
        .map_err(|error| invalid(field, format!("{shown}: {error}")))?;
    let mut checked = Vec::new();
    if let Some((name, list)) = first(["OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"]) {
        let pairs = parse_pairs(&list).map_err(|reason| invalid(name, reason))?;
        checked.extend(checked_headers(&pairs, "entry").map_err(|reason| invalid(name, reason))?);
    }
    checked.extend(checked_headers(headers, "header").map_err(|reason| invalid("headers", reason))?);
    Ok(Box::new(super::otlp::OtlpExporter::new(uri, protocol, checked)))
}

/// The headers, checked; an error names a header by its position (`entry 2`, `header 1`), never
/// by its name or value: a malformed entry (`Authorization: Basic ..`, with `:` for `=`) may have
/// its secret in the name.
#[cfg(feature = "otlp")]
fn checked_headers(
    pairs: &[(String, String)],
    what: &str,
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, String> {
    let mut checked = Vec::with_capacity(pairs.len());
    for (index, (name, value)) in pairs.iter().enumerate() {
        let position = index + 1;
        let header_name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            format!("{what} {position}: the name is not a header name (a header is name=value, not name: value)")
        })?;
        let header_value = http::HeaderValue::from_str(value)
            .map_err(|_| format!("{what} {position}: the value is not a valid header value"))?;
        checked.push((header_name, header_value));
    }
    Ok(checked)
}

#[cfg(not(feature = "otlp"))]
fn otlp_exporter(
    _: Option<()>,
    _: &str,
    field: &'static str,
    _: bool,
    _: &[(String, String)],
    _: &impl Fn(&str) -> Option<String>,
) -> Result<Box<dyn SpanExporter>, ConfigError> {
    Err(ConfigError::Invalid { field, reason: "OTLP export needs the `otlp` feature of obs-runtime".to_owned() })
}

fn first_env(env: &impl Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| env(name))
}

/// `service.name` first, then the SDK's attributes, `OTEL_RESOURCE_ATTRIBUTES`, and the builder's.
fn resource(
    service: &str,
    configured: &[(String, String)],
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Resource, (&'static str, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(list) = env("OTEL_RESOURCE_ATTRIBUTES") {
        pairs.extend(parse_pairs(&list).map_err(|reason| ("OTEL_RESOURCE_ATTRIBUTES", reason))?);
    }
    pairs.extend(configured.iter().cloned());
    let mut service_name = service.to_owned();
    if let Some((_, name)) = pairs.iter().rev().find(|(key, _)| key == "service.name") {
        service_name = name.clone();
    }
    if let Some(name) = env("OTEL_SERVICE_NAME") {
        service_name = name;
    }
    if service_name.is_empty() {
        return Err(("service", "the service name is empty".to_owned()));
    }
    let mut attributes: Vec<(Cow<'static, str>, Value)> = vec![
        (Cow::Borrowed("service.name"), Value::from(service_name)),
        (Cow::Borrowed("telemetry.sdk.name"), Value::from("obs")),
        (Cow::Borrowed("telemetry.sdk.language"), Value::from("rust")),
        (Cow::Borrowed("telemetry.sdk.version"), Value::from(env!("CARGO_PKG_VERSION"))),
    ];
    for (key, value) in pairs {
        if key == "service.name" {
            continue;
        }
        match attributes.iter_mut().find(|(existing, _)| *existing == key) {
            Some(slot) => slot.1 = Value::from(value),
            None => attributes.push((Cow::Owned(key), Value::from(value))),
        }
    }
    Ok(Resource { attributes })
}

/// `key=value,key2=value2`, percent-decoded (the W3C baggage form the `OTEL_*` lists use).
fn parse_pairs(list: &str) -> Result<Vec<(String, String)>, String> {
    // Messages name an entry by its position only, never a piece of its text: the list may hold
    // secrets (OTEL_EXPORTER_OTLP_HEADERS), and a malformed entry may have one in its key
    // (`Authorization: Basic dXNlcjpTM0NSRVQ=` splits at the base64 padding).
    list.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .enumerate()
        .map(|(index, pair)| {
            let entry = index + 1;
            let (key, value) = pair.split_once('=').ok_or_else(|| format!("entry {entry} has no `=` (key=value)"))?;
            let key = crate::percent::decode(key.trim())
                .ok_or_else(|| format!("entry {entry}: a malformed %-escape in the key"))?;
            let value = crate::percent::decode(value.trim())
                .ok_or_else(|| format!("entry {entry}: a malformed %-escape in the value"))?;
            if key.is_empty() {
                return Err(format!("entry {entry} has an empty key"));
            }
            Ok((key, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error `config` makes with these variables (the process's environment is not read).
    fn error_of(config: TraceConfig, vars: &[(&str, &str)]) -> Option<String> {
        let env = |name: &str| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned());
        config.resolve(&env).err().map(|error| error.to_string())
    }

    #[test]
    fn malformed_resource_attributes_are_named_by_position() {
        let error = error_of(TraceConfig::new("svc"), &[("OTEL_RESOURCE_ATTRIBUTES", "a=b,api_key: S3CRET")])
            .expect("entry 2 has no `=`");
        assert!(error.contains("OTEL_RESOURCE_ATTRIBUTES") && error.contains("entry 2"), "{error}");
        assert!(!error.contains("S3CRET") && !error.contains("api_key"), "{error}");
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn endpoint_credentials_are_never_shown() {
        for variable in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
            for url in [
                "https://user:P4SS@collector.example.com:4318",
                "http://user:P4SS@collector.example.com:4318/v1/traces?api_key=S3CRET",
                "https://collector.example.com/S3CRET?api_key=S3CRET",
                "http://user:P4SS/S3CRET@",
                "http://collector:99999/S3CRET",
                "user:P4SS S3CRET",
            ] {
                let error = error_of(TraceConfig::new("svc"), &[(variable, url)]).expect("refused");
                assert!(error.contains(variable), "{url}: {error}");
                for secret in ["P4SS", "S3CRET", "user", "api_key"] {
                    assert!(!error.contains(secret), "{url}: {error}");
                }
            }
        }
        // The issue's example, word for word.
        let error = error_of(TraceConfig::new("svc"), &[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:pw@collector")])
            .expect("refused");
        assert!(error.contains("https://collector:") && !error.contains("pw") && !error.contains("user"), "{error}");
        let error = error_of(TraceConfig::new("svc").otlp_endpoint("https://user:P4SS@collector:4318/x"), &[])
            .expect("refused");
        assert!(error.contains("https://collector:4318") && !error.contains("P4SS"), "{error}");
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn malformed_headers_never_show_their_token() {
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
                let error = error_of(TraceConfig::new("svc"), &[ENDPOINT, (variable, &list)]).expect("refused");
                assert!(error.contains(variable) && error.contains(reason), "{list}: {error}");
                for secret in [token, "dXNlcjpTM0NSRVQ=", "Basic", "Authorization", "S3CRET"] {
                    assert!(!error.contains(secret), "{list}: {error}");
                }
            }
        }
        let error =
            error_of(TraceConfig::new("svc").header(format!("Authorization: Basic {token}="), "x"), &[ENDPOINT])
                .expect("refused");
        assert!(error.contains("headers") && error.contains("header 1") && !error.contains(token), "{error}");
        // Well formed, the padding belongs to the value.
        let well_formed = format!("Authorization=Basic {token}=,x-team=obs");
        assert_eq!(error_of(TraceConfig::new("svc"), &[ENDPOINT, ("OTEL_EXPORTER_OTLP_HEADERS", &well_formed)]), None);
    }
}
