//! Alerting as a pillar of [`ObsBuilder`](crate::ObsBuilder): the evaluator and `/alerts`.

use super::{AlertError, AlertManager, AlertManagerBuilder, AlertsGuard};
use crate::ConfigError;
use crate::core::{Context, Part};

/// What [`ObsBuilder::alerts`](crate::ObsBuilder::alerts) takes: an [`AlertManager`], its
/// builder, or its builder's `build()`; an `Err` (a bad rule, channel or `OBS_*` variable) is
/// `init`'s.
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

impl IntoAlertManager for Result<AlertManager, AlertError> {
    fn into_alert_manager(self) -> Result<AlertManager, AlertError> {
        self
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

    /// (`obs_alert_ack_requests_total` comes with its route, served only with a token.)
    fn self_metrics(&self, _: &Context<'_>) {
        super::channel::register_self_metrics();
        super::engine::register_self_metrics();
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
        if manager.shared.ack_token.is_some() {
            let manager = manager.clone();
            let counters = ack_counters();
            routes.add_write(
                ("/alerts/", "/ack"),
                "acknowledge a firing alert (a bearer token; ?by=NAME)",
                move |parts, name| {
                    let verdict = ack_request(&manager, parts);
                    let manager = manager.clone();
                    async move {
                        let count = |result: &str| {
                            if let Some(counter) = counters.and_then(|family| family.with_labels(&[result]).ok()) {
                                counter.inc();
                            }
                        };
                        let by = match verdict {
                            Ok(by) => by,
                            Err(refused) => {
                                let (result, reply) = *refused;
                                count(result);
                                return reply;
                            }
                        };
                        // Off the runtime's thread: the rules' lock may be held by a custom condition.
                        let acknowledged =
                            tokio::task::spawn_blocking(move || manager.acknowledge(&name, by.as_deref())).await;
                        match acknowledged {
                            Ok(Some(alert)) => {
                                count("acknowledged");
                                let body = super::channels::alert_json(&alert).to_string();
                                crate::http::json(http::StatusCode::OK, body.into_bytes())
                            }
                            Ok(None) => {
                                count("not_firing");
                                crate::http::text(http::StatusCode::NOT_FOUND, "no alert of that name is firing\n")
                            }
                            Err(_) => crate::http::text(
                                http::StatusCode::INTERNAL_SERVER_ERROR,
                                "the alert could not be acknowledged\n",
                            ),
                        }
                    }
                },
            );
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

/// `obs_alert_ack_requests_total{result}`: `acknowledged`, `not_firing`, `unauthorized`,
/// `bad_request`, each a series from the start.
#[cfg(feature = "http-server")]
fn ack_counters() -> Option<&'static crate::metrics::CounterVec> {
    static FAMILY: std::sync::OnceLock<Option<crate::metrics::CounterVec>> = std::sync::OnceLock::new();
    FAMILY
        .get_or_init(|| {
            let family = crate::metrics::CounterVec::register(
                "obs_alert_ack_requests_total",
                "Requests to acknowledge an alert on the embedded server, by result: acknowledged, not_firing, \
                 unauthorized (no or a wrong bearer token), bad_request",
                &["result"],
            )
            .ok()?;
            for result in ["acknowledged", "not_firing", "unauthorized", "bad_request"] {
                let _ = family.with_labels(&[result]);
            }
            Some(family)
        })
        .as_ref()
}

/// Checks an acknowledgement's token and reads who sends it (`?by=`): who, or the result to
/// count and the reply.
#[cfg(feature = "http-server")]
fn ack_request(
    manager: &AlertManager,
    parts: &http::request::Parts,
) -> Result<Option<String>, Box<(&'static str, crate::http::Reply)>> {
    use http::{StatusCode, header};
    let unauthorized = |challenge: &'static str| {
        let mut reply = crate::http::text(StatusCode::UNAUTHORIZED, "a valid bearer token is needed\n");
        reply.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static(challenge));
        Box::new(("unauthorized", reply))
    };
    let Some(token) = &manager.shared.ack_token else {
        return Err(unauthorized("Bearer"));
    };
    let offered = parts.headers.get(header::AUTHORIZATION).map(|value| value.as_bytes()).and_then(|value| {
        let (scheme, rest) = value.split_at_checked(7)?;
        scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
    });
    match offered {
        None => return Err(unauthorized("Bearer")),
        Some(offered) if !token.matches(offered) => return Err(unauthorized(r#"Bearer error="invalid_token""#)),
        Some(_) => {}
    }
    let by = parts.uri.query().unwrap_or("").split('&').find_map(|pair| pair.strip_prefix("by="));
    let Some(by) = by else { return Ok(None) };
    let usable = |by: &str| {
        !by.is_empty()
            && by.len() <= 64
            && by.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    };
    match crate::percent::decode(by) {
        Some(by) if usable(&by) => Ok(Some(by)),
        _ => Err(Box::new((
            "bad_request",
            crate::http::text(StatusCode::BAD_REQUEST, "`by` is up to 64 letters, digits, `.`, `_`, `-` or `@`\n"),
        ))),
    }
}
