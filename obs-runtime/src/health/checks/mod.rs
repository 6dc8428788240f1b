//! Built-in checks for common dependencies, each behind its own Cargo feature:
//!
//! | check | feature | healthy when | details |
//! |---|---|---|---|
//! | [`tcp`] | `health-tcp` | a TCP connection opens | `address` |
//! | [`http_get`] | `health-http` | `GET url` answers the expected status (other: degraded) | `status` |
//! | [`redis`] | `health-redis` | `PING` answers `PONG` | `connected_clients`, `memory_usage`, `redis_version` |
//! | [`postgres`] | `health-postgres` | `SELECT 1` answers 1 | `active_connections`, `max_connections`, `server_version` |
//!
//! Each returns a [`HealthCheck`](super::HealthCheck) to register, with the default timeout and
//! critical; change either with its builder methods. A URL that cannot be used is an `Err` here,
//! when the check is made, not a failure at each run. Messages, here and on `/health`, show a
//! URL's scheme, host and port only: never its user and password, path or query.

#[cfg(feature = "health-http")]
mod http;
#[cfg(feature = "health-postgres")]
mod postgres;
#[cfg(feature = "health-redis")]
mod redis;
#[cfg(feature = "health-tcp")]
mod tcp;

#[cfg(feature = "health-http")]
pub use http::http_get;
#[cfg(all(feature = "health-http", feature = "tls"))]
pub use http::http_get_with_tls;
#[cfg(feature = "health-postgres")]
pub use postgres::postgres;
#[cfg(feature = "health-redis")]
pub use redis::redis;
#[cfg(feature = "health-tcp")]
pub use tcp::tcp;

#[cfg(any(feature = "health-http", feature = "health-redis"))]
use super::HealthError;

/// An `Err` naming the setting, the URL (its scheme, host and port only: the rest may hold a
/// secret) and what is wrong with it.
#[cfg(any(feature = "health-http", feature = "health-redis"))]
fn invalid_url(field: &'static str, url: &str, reason: &str) -> HealthError {
    HealthError::Invalid { field, reason: format!("{}: {reason}", crate::secret::url::for_humans(url)) }
}
