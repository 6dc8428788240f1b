//! Tracing as a pillar of [`ObsBuilder`](crate::ObsBuilder): the span pipeline, its resource the
//! service's identity.

use super::TraceConfig;
use super::config::Prepared;
use crate::ConfigError;
use crate::core::{Context, Part};

#[derive(Debug)]
pub(crate) struct Pillar {
    config: Option<TraceConfig>,
    prepared: Option<Prepared>,
}

impl Pillar {
    pub(crate) fn new(config: TraceConfig) -> Pillar {
        Pillar { config: Some(config), prepared: None }
    }
}

impl crate::core::Pillar for Pillar {
    fn prepare(&mut self, cx: &Context<'_>) -> Result<(), ConfigError> {
        if let Some(config) = self.config.take() {
            self.prepared = Some(config.prepare(cx.env, cx.service)?);
        }
        Ok(())
    }

    #[cfg(feature = "metrics")]
    fn self_metrics(&self, _: &Context<'_>) {
        if self.prepared.as_ref().is_some_and(Prepared::is_on) {
            super::pipeline::register_self_metrics();
        }
    }

    fn start(self: Box<Self>, _: &Context<'_>) -> Result<Option<Box<dyn Part>>, ConfigError> {
        let Some(prepared) = self.prepared else { return Ok(None) };
        Ok(Some(Box::new(prepared.install()?)))
    }
}

impl Part for super::TraceGuard {
    fn signal_stop(&mut self, deadline: crate::Deadline) {
        super::TraceGuard::signal_stop(self, deadline);
    }

    fn wait_stopped(&mut self, deadline: crate::Deadline) -> bool {
        super::TraceGuard::wait_stopped(self, deadline)
    }
}
