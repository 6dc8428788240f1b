use std::str::FromStr as _;
use std::sync::Arc;

use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::health::{CheckOutcome, HealthCheck, HealthError};

/// The chapter's database check: connects to PostgreSQL and runs `SELECT 1`. Details from the
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
    let config = tokio_postgres::Config::from_str(url).map_err(|error| HealthError::Invalid {
        field: "postgres url",
        reason: format!("not a PostgreSQL connection string: {error}"),
    })?;
    let config = Arc::new(config);
    Ok(HealthCheck::new(name, move || {
        let config = config.clone();
        async move {
            match select_one(&config).await {
                Ok(outcome) => outcome,
                Err(error) => CheckOutcome::unhealthy(format!("postgres: {error}")),
            }
        }
    }))
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
