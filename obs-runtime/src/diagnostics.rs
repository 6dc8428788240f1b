//! obs's own warnings: counted in `obs_internal_errors_total{component, reason}` (when metrics
//! are compiled in), and said once as a `tracing` event under the `obs` target when a subscriber
//! listens, else on stderr. A warning never carries a configured value: it may be a secret.

/// A configuration value obs did not take (and what it did instead).
///
/// `reason` is a fixed word for the counter (`invalid_env`); `message` names the variable and says
/// what obs does instead, never quoting the value.
pub(crate) fn warn(component: &'static str, reason: &'static str, message: &str) {
    #[cfg(feature = "metrics")]
    count(component, reason);
    // Only when someone will see it: a subscriber whose filter lets WARN events of `obs` through.
    #[cfg(any(feature = "logging", feature = "alerts"))]
    if tracing::dispatcher::has_been_set() && tracing::enabled!(target: "obs", tracing::Level::WARN) {
        tracing::warn!(target: "obs", component, reason, "{message}");
        return;
    }
    // Nobody listens to events (at start-up the logging pillar is not installed yet): stderr.
    eprintln!("obs: warning: {message}");
    #[cfg(not(feature = "metrics"))]
    let _ = (component, reason);
}

#[cfg(feature = "metrics")]
fn count(component: &'static str, reason: &'static str) {
    static ERRORS: std::sync::OnceLock<Option<crate::metrics::CounterVec>> = std::sync::OnceLock::new();
    let errors = ERRORS.get_or_init(|| {
        crate::metrics::CounterVec::register(
            "obs_internal_errors_total",
            "Problems obs met in its own work, by component and reason (e.g. config/invalid_env: an \
             OTEL_* value that was not taken, the default used instead)",
            &["component", "reason"],
        )
        .ok()
    });
    if let Some(errors) = errors
        && let Ok(counter) = errors.with_labels(&[component, reason])
    {
        counter.inc();
    }
}
