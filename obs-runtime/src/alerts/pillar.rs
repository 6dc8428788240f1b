//! Alerting as a pillar of [`ObsBuilder`](crate::ObsBuilder): the evaluator and `/alerts`.

use super::{AlertManager, AlertsGuard};
use crate::ConfigError;
use crate::core::{Context, Part};

#[derive(Debug)]
pub(crate) struct Pillar {
    manager: AlertManager,
}

impl Pillar {
    pub(crate) fn new(manager: AlertManager) -> Pillar {
        Pillar { manager }
    }
}

impl crate::core::Pillar for Pillar {
    fn prepare(&mut self, _: &Context<'_>) -> Result<(), ConfigError> {
        Ok(())
    }

    #[cfg(feature = "http-server")]
    fn routes(&self, routes: &mut crate::http::Routes) {
        let manager = self.manager.clone();
        routes.add("/alerts", "the alerts pending or firing (JSON)", move |_| {
            let body = super::active_json(&manager).into_bytes();
            async move { crate::http::json(http::StatusCode::OK, body) }
        });
    }

    fn start(self: Box<Self>, _: &Context<'_>) -> Result<Option<Box<dyn Part>>, ConfigError> {
        let guard = self
            .manager
            .start()
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
