//! obs's own diagnostics, through one channel: what went wrong is counted in
//! `obs_internal_errors_total{component, reason}` (when metrics are compiled in) and said as a
//! `tracing` event under the `obs` target when a global subscriber is installed (its filter
//! decides whether it is written); else on stderr, at most [`STDERR_BURST`] lines a minute (the
//! last resort: before the logging pillar is installed, or when `tracing` is not compiled in,
//! nothing else would see it). A diagnostic never
//! carries a configured value: it may be a secret.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Something obs could not do, or a value it did not take (and what it did instead).
///
/// `reason` is a fixed word for the counter (`invalid_env`, `export_failed`); `message` names what
/// is concerned and says what obs does instead, never quoting a configured value.
pub(crate) fn warn(component: &'static str, reason: &'static str, message: &str) {
    #[cfg(feature = "metrics")]
    count(component, reason);
    // A subscriber is installed: it decides, by its filter, whether the event is written.
    #[cfg(any(feature = "logging", feature = "alerts", feature = "tracing-bridge"))]
    if tracing::dispatcher::has_been_set() {
        tracing::warn!(target: "obs", component, reason, "{message}");
        return;
    }
    // Nobody listens to events (at start-up the logging pillar is not installed yet): stderr.
    last_resort(&format!("warning: {message}"));
    #[cfg(not(feature = "metrics"))]
    let _ = (component, reason);
}

/// A problem that went away (an exporter that works again): said, not counted.
#[cfg_attr(not(feature = "trace"), allow(dead_code))]
pub(crate) fn recovered(component: &'static str, message: &str) {
    #[cfg(any(feature = "logging", feature = "alerts", feature = "tracing-bridge"))]
    if tracing::dispatcher::has_been_set() {
        tracing::info!(target: "obs", component, "{message}");
        return;
    }
    last_resort(message);
    let _ = component;
}

/// The most lines written to stderr in a minute; the rest are left out (they are counted).
pub(crate) const STDERR_BURST: u32 = 10;

/// `message` on stderr, unless [`STDERR_BURST`] lines were written in the current minute: for
/// what no subscriber can be told (the log output itself is stuck, or none is installed).
pub(crate) fn last_resort(message: &str) {
    static MINUTE: AtomicU64 = AtomicU64::new(0);
    static WRITTEN: AtomicU32 = AtomicU32::new(0);
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() / 60);
    if MINUTE.swap(now, Ordering::Relaxed) != now {
        WRITTEN.store(0, Ordering::Relaxed);
    }
    if WRITTEN.fetch_add(1, Ordering::Relaxed) < STDERR_BURST {
        eprintln!("obs: {message}");
    }
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
