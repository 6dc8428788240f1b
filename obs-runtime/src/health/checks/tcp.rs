use crate::health::{CheckOutcome, HealthCheck};

/// Healthy when a TCP connection to `address` (`host:port`) opens; the connection is closed at
/// once. The address is resolved at each run, so a DNS change is followed.
///
/// ```
/// let check = obs_runtime::health::checks::tcp("database-port", "127.0.0.1:5432");
/// assert_eq!(check.name(), "database-port");
/// ```
pub fn tcp(name: impl Into<String>, address: impl Into<String>) -> HealthCheck {
    let address: std::sync::Arc<str> = address.into().into();
    HealthCheck::new(name, move || {
        let address = address.clone();
        async move {
            match tokio::net::TcpStream::connect(&*address).await {
                Ok(_) => CheckOutcome::healthy().with_detail("address", &*address),
                Err(error) => CheckOutcome::unhealthy(format!("cannot connect to {address}: {error}"))
                    .with_detail("address", &*address),
            }
        }
    })
}
