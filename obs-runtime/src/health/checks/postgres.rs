use std::str::FromStr as _;
use std::sync::Arc;

use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::health::{CheckOutcome, HealthCheck, HealthError};

/// A database check: connects to PostgreSQL and runs `SELECT 1`. Details from the
/// server: `active_connections` (client backends in `pg_stat_activity`), `max_connections` and
/// `server_version`.
///
/// `url` is a libpq connection string or URL (`postgres://user:password@host:port/db`, or
/// `host=.. user=..`); a malformed one is an `Err`. Each run opens one connection (no TLS) and
/// closes it; the password is never shown in messages.
///
/// ```
/// use obs_runtime::health::checks::postgres;
///
/// assert!(postgres("database", "postgres://app@127.0.0.1:5432/app").is_ok());
/// assert!(postgres("database", "postgres://app@127.0.0.1:notaport/app").is_err());
/// ```
pub fn postgres(name: impl Into<String>, url: &str) -> Result<HealthCheck, HealthError> {
    // tokio-postgres's reason is left out: it may quote a piece of the string (a password with
    // a space, read as the next option's name).
    let config = tokio_postgres::Config::from_str(url).map_err(|_| HealthError::Invalid {
        field: "postgres url",
        reason:
            "not a PostgreSQL connection string (`host=.. user=..`) or URL (`postgres://user:password@host:port/db`)"
                .to_owned(),
    })?;
    let shown: Arc<str> = shown(url, &config).into();
    let config = Arc::new(config);
    Ok(HealthCheck::new(name, move || {
        let (config, shown) = (config.clone(), shown.clone());
        async move {
            match select_one(&config).await {
                Ok(outcome) => outcome,
                Err(error) => CheckOutcome::unhealthy(format!("postgres: {error} (at {shown})")),
            }
        }
    }))
}

/// The server as messages show it: scheme, host and port, never the user, password or options.
fn shown(url: &str, config: &tokio_postgres::Config) -> String {
    if url.contains("://") {
        return crate::secret::url::for_humans(url);
    }
    // A `key=value` string: the first host and port it names.
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) if host.contains(':') => format!("[{host}]"),
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => return format!("the socket in {}", path.display()),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    crate::secret::url::for_humans(&format!("postgres://{host}:{port}"))
}

async fn select_one(config: &tokio_postgres::Config) -> Result<CheckOutcome, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    // The connection's driver is stopped with this run, also when the run is aborted at its
    // timeout: a hung server must not collect one open connection per run.
    struct AbortOnDrop(tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut driver = AbortOnDrop(tokio::spawn(connection));
    let messages = client
        .simple_query(
            "SELECT 1; \
             SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'; \
             SHOW max_connections; SHOW server_version",
        )
        .await;
    // Closing the client sends Terminate; the driver then ends by itself.
    drop(client);
    let _ = (&mut driver.0).await;
    let values: Vec<Option<String>> = messages?
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
            _ => None,
        })
        .collect();
    if values.first().and_then(Option::as_deref) != Some("1") {
        return Ok(CheckOutcome::unhealthy(format!("SELECT 1 answered {:?}", values.first())));
    }
    let mut outcome = CheckOutcome::healthy();
    let number = |index: usize| values.get(index).and_then(Option::as_deref).and_then(|v| v.parse::<u64>().ok());
    if let Some(active) = number(1) {
        outcome = outcome.with_detail("active_connections", active);
    }
    if let Some(max) = number(2) {
        outcome = outcome.with_detail("max_connections", max);
    }
    if let Some(Some(version)) = values.get(3) {
        outcome = outcome.with_detail("server_version", version.as_str());
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_strings_and_targets_show_no_secret() {
        for url in [
            "host=db password=s3cret word port=5432",
            "postgres://app:s3cret@db:notaport/app",
            "postgres://app:s3cret@db/app?sslmode=s3cret",
        ] {
            let error = postgres("database", url).expect_err("not usable").to_string();
            assert!(error.contains("postgres url") && !error.contains("s3cret"), "{url}: {error}");
        }
        for (url, target) in [
            ("postgres://app:s3cret@db:6543/app?password=s3cret", "postgres://db:6543"),
            ("host=db port=6543 user=app password=s3cret", "postgres://db:6543"),
            ("host=::1 password=s3cret", "postgres://[::1]:5432"),
            ("password=s3cret", "postgres://localhost:5432"),
        ] {
            let config = tokio_postgres::Config::from_str(url).expect("valid");
            assert_eq!(shown(url, &config), target, "{url}");
        }
    }
}
