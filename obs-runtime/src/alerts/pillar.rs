//! Alerting as a pillar of [`ObsBuilder`](crate::ObsBuilder): the evaluator and `/alerts`.

use super::{AlertError, AlertManager, AlertManagerBuilder, AlertsGuard};
use crate::ConfigError;
use crate::core::{Context, Part};

/// What [`ObsBuilder::alerts`](crate::ObsBuilder::alerts) takes: an [`AlertManager`], or its
/// builder, whose `Err` (a bad rule, channel or `OBS_*` variable) `init` then returns.
pub trait IntoAlertManager {
    /// The manager, or why it cannot be built.
    fn into_alert_manager(self) -> Result<AlertManager, AlertError>;
}

impl IntoAlertManager for AlertManager {
    fn into_alert_manager(self) -> Result<AlertManager, AlertError> {
        Ok(self)
    }
}

impl IntoAlertManager for AlertManagerBuilder {
    fn into_alert_manager(self) -> Result<AlertManager, AlertError> {
        self.build()
    }
}

#[derive(Debug)]
pub(crate) struct Pillar {
    manager: Result<AlertManager, AlertError>,
}

impl Pillar {
    pub(crate) fn new(manager: impl IntoAlertManager) -> Pillar {
        Pillar { manager: manager.into_alert_manager() }
    }

    /// The manager; `prepare` has returned the error if there is none.
    #[cfg(feature = "http-server")]
    fn manager(&self) -> Option<&AlertManager> {
        self.manager.as_ref().ok()
    }
}

impl crate::core::Pillar for Pillar {
    fn prepare(&mut self, _: &Context<'_>) -> Result<(), ConfigError> {
        match &self.manager {
            Ok(_) => Ok(()),
            Err(error) => Err(ConfigError::Invalid { field: "alerts", reason: error.to_string() }),
        }
    }

    #[cfg(feature = "http-server")]
    fn routes(&self, routes: &mut crate::http::Routes) {
        let Some(manager) = self.manager().cloned() else { return };
        if !manager.slos().is_empty() {
            let manager = manager.clone();
            routes.add("/slo", "the service level objectives: SLI, error budget left, burn rates (JSON)", move |_| {
                let manager = manager.clone();
                async move {
                    // Off the runtime's thread, as /alerts: the evaluator holds the objectives'
                    // locks while it runs the rules.
                    match tokio::task::spawn_blocking(move || super::slo_json(&manager)).await {
                        Ok(body) => crate::http::json(http::StatusCode::OK, body.into_bytes()),
                        Err(_) => crate::http::text(
                            http::StatusCode::INTERNAL_SERVER_ERROR,
                            "the objectives could not be read\n",
                        ),
                    }
                }
            });
        }
        routes.add("/alerts", "the alerts pending or firing (JSON)", move |_| {
            let manager = manager.clone();
            async move {
                // Off the runtime's thread: the rules' lock is held while a custom condition (the
                // user's code) runs, and one that blocks must not stall the probes with it.
                match tokio::task::spawn_blocking(move || super::active_json(&manager)).await {
                    Ok(body) => crate::http::json(http::StatusCode::OK, body.into_bytes()),
                    Err(_) => {
                        crate::http::text(http::StatusCode::INTERNAL_SERVER_ERROR, "the alerts could not be read\n")
                    }
                }
            }
        });
    }

    fn start(self: Box<Self>, _: &Context<'_>) -> Result<Option<Box<dyn Part>>, ConfigError> {
        let guard = self
            .manager
            .and_then(|manager| manager.start())
            .map_err(|error| ConfigError::Invalid { field: "alerts", reason: error.to_string() })?;
        Ok(Some(Box::new(guard)))
    }
}

impl Part for AlertsGuard {
    fn signal_stop(&mut self, deadline: crate::Deadline) {
        AlertsGuard::signal_stop(self, deadline);
    }

    fn wait_stopped(&mut self, deadline: crate::Deadline) -> bool {
        AlertsGuard::wait_stopped(self, deadline)
    }
}
