//! What the service gives obs at start-up: its health checks, its span export, its alert rules
//! and objectives.

use std::time::Duration;

use obs_runtime::alerts::{AlertManager, AlertRule, Condition, Log, Severity, Slo};
use obs_runtime::health::{CheckOutcome, HealthCheck, HealthChecker, HealthCheckerBuilder, checks};
use obs_runtime::trace::{SpanOutput, TraceConfig};

/// The checks: database, cache and external API, against what the environment names. (A URL
/// that does not parse is an `Err` here; a mistake in the checks themselves, at `init`.)
pub(crate) fn health_checks() -> Result<HealthCheckerBuilder, String> {
    let timeout = Duration::from_secs(2);
    let database = match env_url("DATABASE_URL")? {
        Some(url) => checks::postgres("database", &url).map_err(|error| format!("DATABASE_URL: {error}"))?,
        None => not_configured("database", "DATABASE_URL"),
    }
    .timeout(timeout);
    let cache = match env_url("REDIS_URL")? {
        Some(url) => checks::redis("cache", &url).map_err(|error| format!("REDIS_URL: {error}"))?,
        None => not_configured("cache", "REDIS_URL"),
    }
    .timeout(timeout);
    let external_api = match env_url("EXTERNAL_API_URL")? {
        Some(url) => {
            checks::http_get("external_api", &url, 200).map_err(|error| format!("EXTERNAL_API_URL: {error}"))?
        }
        None => not_configured("external_api", "EXTERNAL_API_URL"),
    }
    .timeout(Duration::from_secs(5))
    // An outside API being down degrades this service; it does not take it out of rotation.
    .critical(false);
    Ok(HealthChecker::builder().check(database).check(cache).check(external_api))
}

/// Spans to the OTLP collector of `OTEL_EXPORTER_OTLP_ENDPOINT` if set (obs reads the `OTEL_*`
/// variables), else JSON lines to `OBS_SPANS_FILE`, else to stdout. With
/// `OTEL_PROPAGATORS=tracecontext,baggage`, a caller's `tenant` baggage entry becomes an attribute
/// of the request's spans (here and, carried on, in the profile service); no other entry does.
pub(crate) fn trace_config() -> TraceConfig {
    let config = TraceConfig::new().baggage_attributes(["tenant"]);
    match std::env::var_os("OBS_SPANS_FILE") {
        Some(path) if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() => {
            config.output(SpanOutput::File(path.into()))
        }
        _ => config,
    }
}

/// The four rules and two objectives, with the log channel and the channels the environment names.
pub(crate) fn alert_rules() -> Result<AlertManager, String> {
    let duration = |name: &str, default: Duration| -> Result<Duration, String> {
        match env_url(name)? {
            Some(text) => {
                obs_runtime::parse_duration(&text).ok_or_else(|| format!("{name}: not a duration (1s, 500ms, 5m)"))
            }
            None => Ok(default),
        }
    };
    let window = duration("OBS_ERROR_RATE_WINDOW", Duration::from_secs(300))?;
    let pending = duration("OBS_ERROR_RATE_FOR", Duration::from_secs(60))?;
    let service = [("service", "user-service")];
    // The rules and objectives go in unbuilt: a mistake in any of them is an `Err` of `build`.
    AlertManager::builder()
        .rule(AlertRule::new(
            "high_cpu_usage",
            Condition::cpu_usage_percent().above(80.0),
            Severity::Warning,
            "CPU usage is {cpu_usage_percent:.1}%",
            &service,
        ))
        .rule(AlertRule::new(
            "high_memory_usage",
            Condition::memory_usage_percent().above(90.0),
            Severity::Critical,
            "Memory usage is {memory_usage_percent:.1}%",
            &service,
        ))
        .rule(
            AlertRule::builder("high_error_rate")
                .condition(Condition::error_rate_percent().window(window).above(5.0))
                .severity(Severity::Critical)
                .message("Error rate is {error_rate_percent:.1}%")
                .description("More than 5% of requests fail with a 5xx: users see errors.")
                .runbook_url("https://runbooks.example.com/user-service/high-error-rate")
                .dashboard_url("https://grafana.example.com/d/user-service")
                .label("service", "user-service")
                .for_duration(pending),
        )
        // Saturation: the runtime's workers busy nearly all the time for a minute.
        .rule(
            AlertRule::builder("runtime_saturated")
                .condition(Condition::runtime_busy_percent().above(90.0))
                .severity(Severity::Warning)
                .message("The runtime's workers are {runtime_busy_percent:.0}% busy")
                .label("service", "user-service")
                .for_duration(Duration::from_secs(60)),
        )
        // The objectives of `GET /users/{id}`, each with the workbook's four burn-rate alerts.
        .slo(
            Slo::availability("users_availability", 0.999)
                .endpoint("/users/{id}")
                .method("GET")
                .runbook_url("https://runbooks.example.com/user-service/users-availability")
                .dashboard_url("https://grafana.example.com/d/user-service")
                .label("service", "user-service"),
        )
        // 250 ms is a bound of the default buckets, which the site uses.
        .slo(
            Slo::latency("users_latency", 0.99, Duration::from_millis(250))
                .endpoint("/users/{id}")
                .method("GET")
                .label("service", "user-service"),
        )
        .channel(Log::new())
        .from_env()
        .build()
        .map_err(|error| format!("alerting: {error}"))
}

pub(crate) fn env_url(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(url) if url.is_empty() => Ok(None),
        Ok(url) => Ok(Some(url)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not UTF-8")),
    }
}

/// A dependency the environment does not name: degraded, saying which variable would name it.
fn not_configured(name: &'static str, variable: &'static str) -> HealthCheck {
    HealthCheck::new(name, move || async move { CheckOutcome::degraded(format!("{variable} is not set")) })
}
