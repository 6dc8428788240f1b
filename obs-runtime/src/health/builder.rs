//! A [`HealthChecker`] configured in one expression, its mistakes returned by `build` (or by
//! `init`, given unbuilt to [`ObsBuilder::health`](crate::ObsBuilder::health)), as an alert
//! manager is.

use std::time::Duration;

use super::run::{DEFAULT_CACHE_TTL, DEFAULT_SLOW_FRACTION, check_slow_fraction};
use super::{HealthCheck, HealthChecker, HealthError};

/// The settings and checks of a [`HealthChecker`], checked by [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::health::{HealthCheck, HealthChecker};
///
/// # fn main() -> Result<(), obs_runtime::ConfigError> {
/// let health = HealthChecker::builder()
///     .check(HealthCheck::new("cache", || async { Ok::<_, std::io::Error>(()) }))
///     .check(HealthCheck::new("search", || async { Ok::<_, std::io::Error>(()) }).critical(false))
///     .readiness(["cache"])
///     .cache_ttl(Duration::from_millis(500));
/// // Checked with the rest of the configuration: a mistake is an `Err` naming `health`.
/// let obs = obs_runtime::Obs::builder().without_http_server().health(health).init()?;
/// # drop(obs); Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until it is built or given to `ObsBuilder::health`"]
pub struct HealthCheckerBuilder {
    cache_ttl: Duration,
    slow_fraction: f64,
    checks: Vec<HealthCheck>,
    readiness: Option<Vec<String>>,
}

impl HealthChecker {
    /// A checker configured in one expression; see [`HealthCheckerBuilder`]. (Checks can still
    /// be [registered](Self::register) on the built checker while it runs.)
    pub fn builder() -> HealthCheckerBuilder {
        HealthCheckerBuilder {
            cache_ttl: DEFAULT_CACHE_TTL,
            slow_fraction: DEFAULT_SLOW_FRACTION,
            checks: Vec::new(),
            readiness: None,
        }
    }
}

impl HealthCheckerBuilder {
    /// Adds a check. A second check of the same name, an empty name or a zero timeout makes
    /// `build` fail, naming it.
    pub fn check(mut self, check: HealthCheck) -> Self {
        self.checks.push(check);
        self
    }

    /// The checks `/health/ready` runs, instead of the critical ones; each counts as critical
    /// there. A name that is not one of the checks makes `build` fail, naming it.
    pub fn readiness<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.readiness = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// How long results are served from cache after a run finishes (default 1 s; zero: only
    /// callers that arrive while a run is in progress share it), so that a storm of probes does
    /// not hammer the dependencies.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// The fraction of its timeout past which a check is flagged `slow` (default 0.5); `build`
    /// fails unless it is in `(0, 1]`.
    pub fn slow_fraction(mut self, fraction: f64) -> Self {
        self.slow_fraction = fraction;
        self
    }

    /// The checker, or the first mistake: a setting out of range, then the checks in order, then
    /// the readiness group.
    pub fn build(self) -> Result<HealthChecker, HealthError> {
        check_slow_fraction(self.slow_fraction)?;
        let checker = HealthChecker::with_settings(self.cache_ttl, self.slow_fraction);
        for check in self.checks {
            checker.register(check)?;
        }
        if let Some(names) = self.readiness {
            checker.set_readiness(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        Ok(checker)
    }
}

/// What [`ObsBuilder::health`](crate::ObsBuilder::health) takes: a [`HealthChecker`], its
/// builder, or its builder's `build()`; an `Err` is `init`'s (one naming `health`).
pub trait IntoHealthChecker {
    /// The checker, or why it cannot be built.
    fn into_health_checker(self) -> Result<HealthChecker, HealthError>;
}

impl IntoHealthChecker for HealthChecker {
    fn into_health_checker(self) -> Result<HealthChecker, HealthError> {
        Ok(self)
    }
}

impl IntoHealthChecker for HealthCheckerBuilder {
    fn into_health_checker(self) -> Result<HealthChecker, HealthError> {
        self.build()
    }
}

impl IntoHealthChecker for Result<HealthChecker, HealthError> {
    fn into_health_checker(self) -> Result<HealthChecker, HealthError> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str) -> HealthCheck {
        HealthCheck::new(name, || async { Ok::<_, std::io::Error>(()) })
    }

    #[test]
    fn build_names_the_first_mistake() {
        let error = |builder: HealthCheckerBuilder| builder.build().map(|_| ()).expect_err("refused").to_string();
        assert_eq!(
            error(HealthChecker::builder().check(ok("db")).check(ok("db"))),
            r#"a health check named "db" is already registered"#
        );
        assert_eq!(error(HealthChecker::builder().check(ok(""))), "a health check needs a name");
        assert_eq!(
            error(HealthChecker::builder().check(ok("db")).readiness(["cache"])),
            r#"the readiness group names "cache", which is not a registered health check"#
        );
        assert_eq!(error(HealthChecker::builder().slow_fraction(1.5)), "invalid `slow_fraction`: 1.5 is not in (0, 1]");
    }

    #[test]
    fn build_keeps_the_checks_in_order() {
        let checker = HealthChecker::builder().check(ok("db")).check(ok("cache")).readiness(["db"]).build();
        assert_eq!(checker.expect("valid").names(), ["db", "cache"]);
    }
}
