//! Health checks as a pillar of [`ObsBuilder`](crate::ObsBuilder): `/health`, `/health/ready`, the
//! background refresher, and a scrape that never waits for a check.

use std::time::Duration;

use super::{HealthChecker, HealthError};
use crate::ConfigError;
use crate::core::{Context, Part};

/// The longest refresh interval accepted.
const MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);

/// The builder's health settings: [`ObsBuilder::health`](crate::ObsBuilder::health) and
/// [`ObsBuilder::health_refresh_interval`](crate::ObsBuilder::health_refresh_interval), in
/// either order.
#[derive(Debug, Default)]
pub(crate) struct Pillar {
    /// The checker, or why its builder failed (said by `prepare`).
    pub(crate) checker: Option<Result<HealthChecker, HealthError>>,
    pub(crate) refresh_interval: Option<Duration>,
}

impl crate::core::Pillar for Pillar {
    fn prepare(&mut self, _: &Context<'_>) -> Result<(), ConfigError> {
        if let Some(Err(error)) = &self.checker {
            return Err(ConfigError::Invalid { field: "health", reason: error.to_string() });
        }
        let invalid =
            |reason: &str| Err(ConfigError::Invalid { field: "health_refresh_interval", reason: reason.to_owned() });
        match self.refresh_interval {
            Some(_) if self.checker.is_none() => invalid("no health checks are configured (ObsBuilder::health)"),
            Some(interval) if interval.is_zero() || interval > MAX_REFRESH_INTERVAL => {
                invalid("must be more than zero and at most an hour")
            }
            _ => Ok(()),
        }
    }

    #[cfg(feature = "metrics")]
    fn self_metrics(&self, _: &Context<'_>) {
        if let Some(Ok(_)) = self.checker {
            super::register_metrics();
        }
    }

    #[cfg(feature = "http-server")]
    fn routes(&self, routes: &mut crate::http::Routes) {
        use crate::http::json;
        use http::StatusCode;
        let served = |report: super::HealthReport| {
            let status = StatusCode::from_u16(report.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            json(status, report.to_json().into_bytes())
        };
        let Some(Ok(checker)) = &self.checker else { return };
        let all = checker.clone();
        routes.add("/health", "every health check (200 healthy or degraded, 503 unhealthy)", move |_| {
            let checker = all.clone();
            async move { served((*checker.report().await).clone()) }
        });
        let ready = checker.clone();
        routes.add("/health/ready", "the readiness checks", move |_| {
            let checker = ready.clone();
            async move { served(checker.readiness().await) }
        });
        // A scrape never waits for a check: it serves the gauges of the last report (and its
        // age), and starts a run in the background when that report is stale.
        #[cfg(feature = "metrics")]
        {
            let checker = checker.clone();
            routes.before("/metrics", move || checker.refresh_in_background());
        }
    }

    fn start(self: Box<Self>, _: &Context<'_>) -> Result<Option<Box<dyn Part>>, ConfigError> {
        let Some(Ok(checker)) = self.checker else { return Ok(None) };
        // The first report is under way before the first scrape asks for it.
        let interval = self.refresh_interval.unwrap_or(super::DEFAULT_REFRESH_INTERVAL);
        Ok(Some(Box::new(checker.refresh_every(interval))))
    }
}

impl Part for super::run::Refresher {
    fn signal_stop(&mut self, _: crate::Deadline) {
        self.stop();
    }

    fn wait_stopped(&mut self, _: crate::Deadline) -> bool {
        true
    }
}
