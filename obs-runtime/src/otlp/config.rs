//! An OTLP receiver as configured: the builder's values, then the signal's `OTEL_EXPORTER_OTLP_*`
//! variables, then the general ones, then the specification's defaults.

use std::time::Duration;

use super::{Compression, Protocol, Sender, Signal};
use crate::ConfigError;
use crate::service::parse_pairs;

/// How the exporter sends: what the builder said of it.
#[derive(Default, Clone)]
pub(crate) struct Transport {
    pub(crate) compression: Option<Compression>,
    pub(crate) headers: Vec<(String, String)>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::Tls>,
}

impl std::fmt::Debug for Transport {
    /// The headers by name only: their values are credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Transport");
        debug
            .field("compression", &self.compression)
            .field("headers", &self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>());
        #[cfg(feature = "tls")]
        debug.field("tls", &self.tls);
        debug.finish()
    }
}

/// An endpoint as `Debug` shows it: scheme, host and port (its path, user and query may hold
/// secrets).
pub(crate) fn shown_endpoint(endpoint: &Option<String>) -> Option<String> {
    endpoint.as_deref().map(crate::secret::url::for_humans)
}

/// The transport: the builder's, else the signal's variable or the general one
/// (case-insensitive), else http/protobuf. gRPC named by the environment in a build without
/// `otlp-grpc` is a warning (http/protobuf is used); named in code, an `Err`.
pub(crate) fn protocol_of(
    signal: &Signal,
    builder: Option<Protocol>,
    env: &impl Fn(&str) -> Option<String>,
    tolerate: &impl Fn(&'static str, &str),
) -> Result<Protocol, ConfigError> {
    let grpc_compiled = cfg!(feature = "otlp-grpc");
    if let Some(protocol) = builder {
        if protocol == Protocol::Grpc && !grpc_compiled {
            let reason = "gRPC export needs the `otlp-grpc` feature of obs-runtime".to_owned();
            return Err(ConfigError::Invalid { field: "protocol", reason });
        }
        return Ok(protocol);
    }
    let named = [signal.protocol, crate::env::OTEL_EXPORTER_OTLP_PROTOCOL]
        .into_iter()
        .find_map(|name| env(name).map(|value| (name, value.to_ascii_lowercase())));
    Ok(match named {
        None => Protocol::HttpProtobuf,
        Some((_, value)) if value == "http/protobuf" => Protocol::HttpProtobuf,
        Some((_, value)) if value == "grpc" && grpc_compiled => Protocol::Grpc,
        Some((name, value)) if value == "grpc" => {
            tolerate(name, "is grpc, which needs the `otlp-grpc` feature of obs-runtime: http/protobuf is used");
            Protocol::HttpProtobuf
        }
        Some((name, _)) => {
            tolerate(name, "is not supported (http/protobuf or grpc): http/protobuf is used");
            Protocol::HttpProtobuf
        }
    })
}

/// The endpoint: the builder's (`field` names it), else the signal's variable (used as it is),
/// else `OTEL_EXPORTER_OTLP_ENDPOINT` (the signal's path appended), as `(url, the name to blame,
/// whether the path is appended)`.
pub(crate) fn endpoint_of(
    signal: &Signal,
    builder: Option<String>,
    field: &'static str,
    env: &impl Fn(&str) -> Option<String>,
) -> Option<(String, &'static str, bool)> {
    if let Some(url) = builder {
        return Some((url, field, true));
    }
    env(signal.endpoint).map(|url| (url, signal.endpoint, false)).or_else(|| {
        env(crate::env::OTEL_EXPORTER_OTLP_ENDPOINT).map(|url| (url, crate::env::OTEL_EXPORTER_OTLP_ENDPOINT, true))
    })
}

/// The specification's default endpoint: 4318 for HTTP, 4317 for gRPC, on localhost.
pub(crate) fn default_endpoint(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::HttpProtobuf => "http://localhost:4318",
        Protocol::Grpc => "http://localhost:4317",
    }
}

/// The request timeout: the signal's variable, else the general one (milliseconds), else `None`
/// (the caller's default). A value that does not parse or is outside 1 ms..=10 min is a warning.
pub(crate) fn timeout_of(
    signal: &Signal,
    env: &impl Fn(&str) -> Option<String>,
    tolerate: &impl Fn(&'static str, &str),
) -> Option<Duration> {
    millis_of(&[signal.timeout, crate::env::OTEL_EXPORTER_OTLP_TIMEOUT], Duration::from_secs(600), env, tolerate)
}

/// The first of `names` that is set, as milliseconds from 1 ms to `most`; a value that is not
/// is a warning, and `None`.
pub(crate) fn millis_of(
    names: &[&'static str],
    most: Duration,
    env: &impl Fn(&str) -> Option<String>,
    tolerate: &impl Fn(&'static str, &str),
) -> Option<Duration> {
    let (name, value) = names.iter().find_map(|name| env(name).map(|value| (*name, value)))?;
    let range = Duration::from_millis(1)..=most;
    let taken = value.parse::<u64>().ok().map(Duration::from_millis).filter(|delay| range.contains(delay));
    if taken.is_none() {
        tolerate(name, "is not a number of milliseconds in range: the default is used");
    }
    taken
}

/// The exporters `OTEL_<SIGNAL>_EXPORTER` lists (a comma-separated list, case-insensitive), of
/// those `known`; a name obs does not know is a warning. `None` when the variable is not set.
pub(crate) fn exporters_of(
    signal: &Signal,
    known: &[&'static str],
    env: &impl Fn(&str) -> Option<String>,
    tolerate: &impl Fn(&'static str, &str),
) -> Option<Vec<&'static str>> {
    let list = env(signal.exporter)?;
    let kinds: Vec<String> =
        list.split(',').map(|kind| kind.trim().to_ascii_lowercase()).filter(|kind| !kind.is_empty()).collect();
    if kinds.iter().any(|kind| !known.contains(&kind.as_str())) {
        let instead = format!("names an exporter other than {}: it is ignored", known.join(", "));
        tolerate(signal.exporter, &instead);
    }
    Some(known.iter().copied().filter(|known| kinds.iter().any(|kind| kind == known)).collect())
}

/// The sender to `url` for `signal`. `field` is what a wrong URL is blamed on; `append_path`: the
/// signal's path is appended unless the URL ends with it already (`http/protobuf` only).
pub(crate) fn sender(
    signal: &'static Signal,
    transport: Transport,
    protocol: Protocol,
    (url, field, append_path): (&str, &'static str, bool),
    env: &impl Fn(&str) -> Option<String>,
    tolerate: &impl Fn(&'static str, &str),
) -> Result<Sender, ConfigError> {
    let invalid = |field: &'static str, reason: String| ConfigError::Invalid { field, reason };
    let first = |names: [&'static str; 2]| names.into_iter().find_map(|name| env(name).map(|value| (name, value)));
    let compression = match transport.compression {
        Some(compression) => compression,
        None => match first([signal.compression, crate::env::OTEL_EXPORTER_OTLP_COMPRESSION]) {
            None => Compression::None,
            Some((_, value)) if value.eq_ignore_ascii_case("none") => Compression::None,
            Some((_, value)) if value.eq_ignore_ascii_case("gzip") => Compression::Gzip,
            Some((name, _)) => {
                tolerate(name, "is not supported (gzip or none): requests are sent uncompressed");
                Compression::None
            }
        },
    };
    // Messages show the URL's scheme, host and port only: its user and password, path and query
    // may hold secrets.
    let shown = crate::secret::url::for_humans(url);
    let target =
        crate::egress::Target::parse(url).map_err(|why| invalid(field, format!("{shown}: {}", why.reason())))?;
    let path = target.path().split('?').next().unwrap_or("/");
    // The OTLP specification appends `v1/<signal>` to the base endpoint; a URL that names the
    // path already is used as it is.
    let path =
        if append_path && protocol == Protocol::HttpProtobuf && !path.trim_end_matches('/').ends_with(signal.path) {
            format!("{}{}", path.trim_end_matches('/'), signal.path)
        } else {
            target.path().to_owned()
        };
    let target = target.with_path(path);
    let mut checked = Vec::new();
    if let Some((name, list)) = first([signal.headers, crate::env::OTEL_EXPORTER_OTLP_HEADERS]) {
        // A malformed list is dropped whole (as the specification says of resource attributes):
        // half a set of credentials is no better than none.
        match parse_pairs(&list).and_then(|pairs| checked_headers(&pairs, "entry")) {
            Ok(headers) => checked.extend(headers),
            Err(reason) => tolerate(name, &format!("is not a list of name=value headers ({reason}): none is sent")),
        }
    }
    checked.extend(checked_headers(&transport.headers, "header").map_err(|reason| invalid("headers", reason))?);
    let version = match protocol {
        Protocol::HttpProtobuf => crate::egress::Version::Http1,
        #[cfg(feature = "otlp-grpc")]
        Protocol::Grpc => crate::egress::Version::Http2,
        #[cfg(not(feature = "otlp-grpc"))]
        Protocol::Grpc => unreachable!("refused by protocol_of without the `otlp-grpc` feature"),
    };
    let client = crate::egress::Client::new(version, concat!("obs/", env!("CARGO_PKG_VERSION")), &target, env)
        .map_err(|(name, reason)| invalid(name, reason))?;
    let certificate_variables = [
        [signal.certificate, crate::env::OTEL_EXPORTER_OTLP_CERTIFICATE],
        [signal.client_certificate, crate::env::OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE],
        [signal.client_key, crate::env::OTEL_EXPORTER_OTLP_CLIENT_KEY],
    ];
    #[cfg(feature = "tls")]
    let client = if target.is_https() {
        let tls = match transport.tls {
            Some(tls) => tls,
            None => tls_of_env(certificate_variables.map(first))?,
        };
        client.tls(&tls).map_err(|error| invalid("tls", error.to_string()))?
    } else {
        client
    };
    #[cfg(not(feature = "tls"))]
    for names in certificate_variables {
        if let Some((name, _)) = first(names) {
            tolerate(name, "is set, but obs-runtime was built without the `tls` feature: it is ignored");
        }
    }
    #[cfg(test)]
    LAST_TARGET.with(|last| {
        let names: Vec<&str> = checked.iter().map(|(name, _)| name.as_str()).collect();
        *last.borrow_mut() = Some(format!("{protocol:?} {}{} [{}]", target.shown(), target.path(), names.join(",")));
    });
    Ok(Sender::new(signal, client, target, protocol, compression, checked))
}

#[cfg(test)]
thread_local! {
    /// The protocol and URL of the last OTLP sender this thread's resolutions made.
    pub(crate) static LAST_TARGET: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The TLS settings of `OTEL_EXPORTER_OTLP_CERTIFICATE` (the only CA trusted; the Mozilla roots
/// without it), `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `OTEL_EXPORTER_OTLP_CLIENT_KEY` (both
/// or neither; each with its per-signal variable first), each given as `(variable, path)`: a file
/// that cannot be read or used is an `Err` naming the variable.
#[cfg(feature = "tls")]
fn tls_of_env([ca, certificate, key]: [Option<(&'static str, String)>; 3]) -> Result<crate::tls::Tls, ConfigError> {
    let read = |(name, path): &(&'static str, String)| {
        std::fs::read(path)
            .map_err(|error| ConfigError::Invalid { field: name, reason: format!("cannot read the file: {error}") })
    };
    let mut tls = match &ca {
        Some(variable) => crate::tls::Tls::trusting_only(&read(variable)?)
            .map_err(|error| ConfigError::Invalid { field: variable.0, reason: error.to_string() })?,
        None => crate::tls::Tls::new(),
    };
    match (&certificate, &key) {
        (None, None) => {}
        (Some(certificate), Some(key)) => {
            tls = tls.with_client_certificate_pem(&read(certificate)?, &read(key)?).map_err(|error| {
                // The variable of the file at fault: the key's when the key is.
                let field = if error.to_string().starts_with("the client key") { key.0 } else { certificate.0 };
                ConfigError::Invalid { field, reason: error.to_string() }
            })?;
        }
        (Some((name, _)), None) | (None, Some((name, _))) => {
            return Err(ConfigError::Invalid {
                field: name,
                reason: "a client certificate needs both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and \
                         OTEL_EXPORTER_OTLP_CLIENT_KEY"
                    .to_owned(),
            });
        }
    }
    Ok(tls)
}

/// The headers, checked; an error names a header by its position (`entry 2`, `header 1`), never
/// by its name or value: a malformed entry (`Authorization: Basic ..`, with `:` for `=`) may have
/// its secret in the name.
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
