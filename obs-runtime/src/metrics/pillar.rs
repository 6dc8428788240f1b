//! Metrics as a pillar of [`ObsBuilder`](crate::ObsBuilder): `/metrics`, `target_info`, the
//! default buckets and the series limits.

use crate::ConfigError;
use crate::core::{Context, Part, Rank};

/// The metrics pillar; always there when the `metrics` feature is.
#[derive(Debug, Default)]
pub(crate) struct Pillar {
    pub(crate) default_buckets: Option<Vec<f64>>,
    pub(crate) limits: SeriesLimits,
}

/// The series limits given to the builder.
#[derive(Debug, Default, Clone)]
pub(crate) struct SeriesLimits {
    pub(crate) default: Option<usize>,
    pub(crate) per_family: Vec<(String, usize)>,
}

impl crate::core::Pillar for Pillar {
    /// Last: the default buckets change the process, so only once nothing else can fail.
    fn rank(&self) -> Rank {
        Rank::Commit
    }

    fn prepare(&mut self, _: &Context<'_>) -> Result<(), ConfigError> {
        if let Some(buckets) = &self.default_buckets {
            super::check_request_buckets(buckets)
                .map_err(|error| ConfigError::Invalid { field: "default_buckets", reason: error.to_string() })?;
        }
        if let Some(limit) = self.limits.default {
            super::limit::check_limit(None, limit)
                .map_err(|error| ConfigError::Invalid { field: "default_series_limit", reason: error.to_string() })?;
        }
        for (family, limit) in &self.limits.per_family {
            super::family::check_name(family)
                .and_then(|()| super::limit::check_limit(Some(family), *limit))
                .map_err(|error| ConfigError::Invalid { field: "series_limit", reason: error.to_string() })?;
        }
        Ok(())
    }

    #[cfg(feature = "http-server")]
    fn routes(&self, routes: &mut crate::http::Routes) {
        routes.add("/metrics", "Prometheus metrics", |parts| {
            // Repeated Accept lines are one list (RFC 9110 §5.3); a line that is not text is skipped.
            let lines: Vec<&str> =
                parts.headers.get_all(http::header::ACCEPT).iter().filter_map(|value| value.to_str().ok()).collect();
            let format = match lines.as_slice() {
                [] => super::Format::from_accept(None),
                [line] => super::Format::from_accept(Some(line)),
                lines => super::Format::from_accept(Some(&lines.join(","))),
            };
            async move {
                // Off the runtime's thread: a collector is anyone's code, and one that blocks must
                // not stall the health probes (or the rest of obs's work) with it.
                let Ok(body) = tokio::task::spawn_blocking(move || super::encode(format)).await else {
                    return crate::http::text(http::StatusCode::INTERNAL_SERVER_ERROR, "the scrape failed\n");
                };
                let mut response = http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(format.content_type()));
                response
            }
        });
    }

    /// `obs_build_info`, and the `target_info` family (its series, the service's identity, is set
    /// with the rest at `start`: it changes the process).
    fn self_metrics(&self, _: &Context<'_>) {
        super::target_info::register();
        super::build_info::register_obs_build_info();
    }

    fn start(self: Box<Self>, cx: &Context<'_>) -> Result<Option<Box<dyn Part>>, ConfigError> {
        super::warm_up();
        super::target_info::set(cx.service);
        // Checked in `prepare`: these cannot fail now.
        if let Some(limit) = self.limits.default {
            super::set_default_series_limit(limit)
                .map_err(|error| ConfigError::Invalid { field: "default_series_limit", reason: error.to_string() })?;
        }
        for (family, limit) in &self.limits.per_family {
            super::set_series_limit(family, *limit)
                .map_err(|error| ConfigError::Invalid { field: "series_limit", reason: error.to_string() })?;
        }
        if let Some(buckets) = &self.default_buckets {
            super::set_default_buckets(buckets)
                .map_err(|error| ConfigError::Invalid { field: "default_buckets", reason: error.to_string() })?;
        }
        Ok(None)
    }
}
