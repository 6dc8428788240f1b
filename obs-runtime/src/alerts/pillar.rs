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
        routes.add("/alerts", "the alerts pending or firing (JSON)", move |_| {
            let body = super::active_json(&manager).into_bytes();
            async move { crate::http::json(http::StatusCode::OK, body) }
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
