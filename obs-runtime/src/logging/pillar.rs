//! Logging as a pillar of [`ObsBuilder`](crate::ObsBuilder): the global subscriber and its writer,
//! stopped last so that what the others log while they stop is written.

use super::{LogGuard, LoggingConfig};
use crate::ConfigError;
use crate::core::{Context, Part, Rank, Stage};

#[derive(Debug)]
pub(crate) struct Pillar {
    config: LoggingConfig,
    filter: Option<tracing_subscriber::EnvFilter>,
    #[cfg(feature = "tracing-bridge")]
    span_filter: Option<tracing_subscriber::EnvFilter>,
}

impl Pillar {
    pub(crate) fn new(config: LoggingConfig) -> Pillar {
        Pillar {
            config,
            filter: None,
            #[cfg(feature = "tracing-bridge")]
            span_filter: None,
        }
    }
}

impl crate::core::Pillar for Pillar {
    /// The global subscriber cannot be taken back: it is installed once the others have started.
    fn rank(&self) -> Rank {
        Rank::Subscriber
    }

    fn prepare(&mut self, cx: &Context<'_>) -> Result<(), ConfigError> {
        self.config.check()?;
        // Where events go (OTLP's settings checked) before anything starts.
        #[cfg(feature = "otlp")]
        {
            let destinations = super::otlp::destinations(self.config.otlp.take(), self.config.lines, cx.env)?;
            self.config.resolved = Some(destinations);
        }
        // The field named is where the directives came from: the builder's `filter`, or RUST_LOG.
        let (directives, field) = match self.config.filter.take() {
            Some(directives) => (directives, "filter"),
            None => match cx.env.trimmed(crate::env::RUST_LOG) {
                Some(directives) => (directives, crate::env::RUST_LOG),
                None => ("info".to_owned(), "filter"),
            },
        };
        let filter = tracing_subscriber::EnvFilter::try_new(&directives)
            .map_err(|error| ConfigError::Invalid { field, reason: format!("{directives:?}: {error}") })?;
        #[cfg(feature = "tracing-bridge")]
        {
            let span_directives = match self.config.span_filter.take() {
                Some(directives) => Some((directives, "span_filter")),
                None => cx
                    .env
                    .trimmed(crate::env::OBS_SPAN_FILTER)
                    .map(|directives| (directives, crate::env::OBS_SPAN_FILTER)),
            };
            if let Some((directives, field)) = span_directives {
                let filter = tracing_subscriber::EnvFilter::try_new(&directives)
                    .map_err(|error| ConfigError::Invalid { field, reason: format!("{directives:?}: {error}") })?;
                self.span_filter = Some(filter);
            }
        }
        if tracing::dispatcher::has_been_set() {
            return Err(super::already_set());
        }
        self.filter = Some(filter);
        Ok(())
    }

    #[cfg(feature = "metrics")]
    fn self_metrics(&self, _: &Context<'_>) {
        super::register_self_metrics(&self.config);
    }

    fn start(self: Box<Self>, cx: &Context<'_>) -> Result<Option<Box<dyn Part>>, ConfigError> {
        let filter = self.filter.unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
        Ok(Some(Box::new(super::install(
            self.config,
            filter,
            #[cfg(feature = "tracing-bridge")]
            self.span_filter,
            cx.service,
            cx.env,
        )?)))
    }
}

impl Part for LogGuard {
    fn stage(&self) -> Stage {
        Stage::Output
    }

    fn signal_stop(&mut self, _: crate::Deadline) {}

    fn wait_stopped(&mut self, deadline: crate::Deadline) -> bool {
        self.stop(deadline)
    }
}
