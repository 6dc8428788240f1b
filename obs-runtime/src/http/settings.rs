//! The server's settings: the builder's values, then the `OBS_HTTP_*` variables, then defaults.

use std::net::SocketAddr;

use super::{
    DEFAULT_CONNECTION_LIFETIME, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_PEER,
    DEFAULT_WRITE_TIMEOUT, Limits, MAX_CONNECTIONS, MAX_HEADER_BYTES, MAX_TIMEOUT, MIN_HEADER_BYTES,
};
use crate::ConfigError;
use crate::config::ServerOptions;
use crate::env::{Environment, OBS_HTTP_ADDR, OBS_HTTP_MAX_CONNECTIONS_PER_PEER};

/// Where the server listens and its bounds, checked; an `Err` names the setting.
pub(crate) fn resolve(options: &ServerOptions, env: &Environment) -> Result<(SocketAddr, Limits), ConfigError> {
    let (addr, field) = match &options.addr {
        Some(addr) => (addr.clone(), "http_addr"),
        None => match env.var(OBS_HTTP_ADDR)? {
            Some(addr) => (addr, OBS_HTTP_ADDR),
            None => (crate::DEFAULT_HTTP_ADDR.to_owned(), "http_addr"),
        },
    };
    let addr = socket_addr(&addr, field)?;
    let max_connections_per_peer = match options.max_connections_per_peer {
        Some(max) => max,
        None => per_peer_from_env(env)?,
    };
    let limits = Limits {
        max_connections: options.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
        max_connections_per_peer,
        header_timeout: options.header_timeout.unwrap_or(DEFAULT_HEADER_TIMEOUT),
        write_timeout: options.write_timeout.unwrap_or(DEFAULT_WRITE_TIMEOUT),
        connection_lifetime: options.connection_lifetime.unwrap_or(DEFAULT_CONNECTION_LIFETIME),
        max_header_bytes: options.max_header_bytes.unwrap_or(MIN_HEADER_BYTES),
    };
    let invalid = |field: &'static str, reason: String| Err(ConfigError::Invalid { field, reason });
    if !(1..=MAX_CONNECTIONS).contains(&limits.max_connections) {
        return invalid("max_connections", format!("must be from 1 to {MAX_CONNECTIONS}"));
    }
    if let Some(max) = limits.max_connections_per_peer
        && !(1..=MAX_CONNECTIONS).contains(&max)
    {
        return invalid("max_connections_per_peer", format!("must be from 1 to {MAX_CONNECTIONS}, or None"));
    }
    for (field, timeout) in [
        ("header_timeout", limits.header_timeout),
        ("write_timeout", limits.write_timeout),
        ("connection_lifetime", limits.connection_lifetime),
    ] {
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return invalid(field, format!("must be more than zero and at most {MAX_TIMEOUT:?}"));
        }
    }
    if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&limits.max_header_bytes) {
        return invalid("max_header_bytes", format!("must be from {MIN_HEADER_BYTES} to {MAX_HEADER_BYTES}"));
    }
    Ok((addr, limits))
}

/// `OBS_HTTP_MAX_CONNECTIONS_PER_PEER`: a count, `0` for no cap; unset: the default.
fn per_peer_from_env(env: &Environment) -> Result<Option<usize>, ConfigError> {
    let invalid =
        |reason: &str| ConfigError::Invalid { field: OBS_HTTP_MAX_CONNECTIONS_PER_PEER, reason: reason.to_owned() };
    match env.var(OBS_HTTP_MAX_CONNECTIONS_PER_PEER)? {
        None => Ok(Some(DEFAULT_MAX_CONNECTIONS_PER_PEER)),
        Some(value) => match value.trim().parse::<usize>() {
            Ok(0) => Ok(None),
            Ok(max) if max <= MAX_CONNECTIONS => Ok(Some(max)),
            Ok(_) => Err(invalid("more than 65536")),
            Err(_) => Err(invalid("not a whole number (0 for no cap)")),
        },
    }
}

fn socket_addr(addr: &str, field: &'static str) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs as _;
    let invalid = |reason: String| ConfigError::Invalid { field, reason: format!("{addr:?}: {reason}") };
    if let Ok(addr) = addr.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !addr.contains(':') {
        return Err(invalid("expected host:port, e.g. 127.0.0.1:9464".to_owned()));
    }
    addr.to_socket_addrs()
        .map_err(|error| invalid(error.to_string()))?
        .next()
        .ok_or_else(|| invalid("resolves to no address".to_owned()))
}
