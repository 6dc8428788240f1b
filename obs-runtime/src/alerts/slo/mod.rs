//! Service level objectives: an availability or latency objective over a window, its error
//! budget, and the multi-window, multi-burn-rate alerts of the SRE workbook (chapter 5), evaluated
//! by the [`AlertManager`](crate::alerts::AlertManager) and written as Prometheus rules.
//!
//! One concept a file: the objective and its builder (here), the counts kept in time buckets
//! ([`tracker`]), and the PromQL of the recording and alerting rules ([`rules`]).

mod rules;
mod tracker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub(crate) use rules::{alert_expr, render_group};
pub(crate) use tracker::Tracker;

use super::AlertError;
use super::condition::{Calls, is_metric_name, is_placeholder_name};
use super::rule::Severity;

/// The default window of an objective: 30 days.
pub const DEFAULT_SLO_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// A service level objective: which calls are good, what share of them must be, over what window;
/// and the burn-rate alerts that watch its error budget. Built with [`Slo::availability`] or
/// [`Slo::latency`], handed to [`AlertManagerBuilder::slo`](crate::alerts::AlertManagerBuilder::slo).
///
/// The error budget is the share of calls that may be bad (`1 - objective`: 0.1% for 99.9%); the
/// burn rate over a window is the share that was bad over it divided by the budget (1 spends the
/// budget exactly over the objective's window, 14.4 spends 2% of 30 days' budget in one hour).
/// Each [`BurnRateAlert`] fires while the burn rate is above its factor over both its long and its
/// short window (the short one makes it resolve soon after the burn stops).
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::alerts::{AlertManager, Slo};
///
/// // 99.9% of GET /users/{id} requests succeed (status below 500), over 30 days.
/// let availability = Slo::availability("users_availability", 0.999).endpoint("/users/{id}").method("GET").build()?;
/// // 99% are served in under 250 ms (a bucket bound of the request histogram).
/// let latency = Slo::latency("users_latency", 0.99, Duration::from_millis(250)).endpoint("/users/{id}").build()?;
/// // A threshold between two bucket bounds cannot be measured: refused.
/// let error = Slo::latency("bad", 0.99, Duration::from_millis(300)).build().unwrap_err();
/// assert!(error.to_string().contains("not a bucket bound"), "{error}");
///
/// let alerts = AlertManager::builder().slo(availability).slo(latency).build()?;
/// // Each objective brings the workbook's four alerts.
/// let names: Vec<String> = alerts.rules().iter().map(|rule| rule.name().to_owned()).collect();
/// assert_eq!(&names[..4], [
///     "users_availability_burn_rate_1h",
///     "users_availability_burn_rate_6h",
///     "users_availability_burn_rate_1d",
///     "users_availability_burn_rate_3d",
/// ]);
/// # Ok::<(), obs_runtime::alerts::AlertError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Slo {
    pub(crate) inner: Arc<Objective>,
}

#[derive(Debug)]
pub(crate) struct Objective {
    pub(crate) name: String,
    pub(crate) objective: f64,
    /// `1 - objective`, rounded so that 0.999 gives 0.001 and not 0.0010000000000000009.
    pub(crate) budget: f64,
    pub(crate) window: Duration,
    pub(crate) sli: Sli,
    pub(crate) endpoints: Vec<String>,
    pub(crate) matchers: Vec<(&'static str, String)>,
    pub(crate) alerts: Vec<BurnRateAlert>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) links: super::rule::Links,
    /// The share of an alert's long window the evaluator must have seen before the alert may fire.
    pub(crate) min_coverage: f64,
}

impl Objective {
    /// Every window the objective counts over: its own first, then its alerts' (long and short),
    /// shortest first, each once.
    pub(crate) fn windows(&self) -> Vec<Duration> {
        let mut windows: Vec<Duration> =
            self.alerts.iter().flat_map(|alert| [alert.short_window, alert.long_window]).collect();
        windows.sort();
        windows.dedup();
        windows.retain(|window| *window != self.window);
        windows.insert(0, self.window);
        windows
    }
}

/// What makes a call good.
#[derive(Debug)]
pub(crate) enum Sli {
    /// HTTP requests whose status `bad` does not hold for, and gRPC calls that did not end in a
    /// server error.
    Availability { calls: Calls, bad: StatusSet },
    /// Calls faster than `threshold` seconds, a bucket bound of `histogram`.
    Latency { histogram: String, threshold: f64 },
}

/// Which HTTP statuses (100 to 599) are errors, decided once from the user's classifier: the
/// in-process count and the PromQL regular expression come from the same table.
#[derive(Debug, Clone)]
pub(crate) struct StatusSet {
    bad: Vec<bool>,
}

impl StatusSet {
    fn of(classify: impl Fn(u16) -> bool) -> StatusSet {
        StatusSet { bad: (100..=599).map(classify).collect() }
    }

    /// Whether the status label `status` is an error (anything outside 100 to 599 is not).
    pub(crate) fn is_bad(&self, status: &str) -> bool {
        status
            .parse::<u16>()
            .ok()
            .and_then(|code| code.checked_sub(100))
            .is_some_and(|index| self.bad.get(usize::from(index)).copied().unwrap_or(false))
    }

    /// The statuses as a regular expression over the `status` label: a whole class as `5..`, the
    /// rest one by one (`429|5..`); `None` if no status is an error.
    pub(crate) fn regex(&self) -> Option<String> {
        let mut parts = Vec::new();
        for (class, codes) in self.bad.chunks(100).enumerate() {
            if codes.iter().all(|bad| *bad) {
                parts.push(format!("{}..", class + 1));
            } else {
                parts.extend(
                    codes
                        .iter()
                        .enumerate()
                        .filter(|(_, bad)| **bad)
                        .map(|(code, _)| (100 * (class + 1) + code).to_string()),
                );
            }
        }
        (!parts.is_empty()).then(|| parts.join("|"))
    }
}

/// One multi-window burn-rate alert: it fires while the error budget burns faster than `factor`
/// times the objective's pace over both `long_window` and `short_window`.
///
/// [`BurnRateAlert::workbook`] gives the SRE workbook's four, for a 30-day objective: page on
/// 14.4x over 1 h (2% of the budget gone in an hour) checked over 5 m, and on 6x over 6 h (5% in
/// six hours) checked over 30 m; ticket on 3x over 1 d (10% in a day) checked over 2 h, and on 1x
/// over 3 d checked over 6 h.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BurnRateAlert {
    /// [`Severity::Critical`] for a page, [`Severity::Warning`] for a ticket.
    pub severity: Severity,
    /// The burn rate above which it fires.
    pub factor: f64,
    /// The window the burn is measured over.
    pub long_window: Duration,
    /// The window that confirms it is still burning (a twelfth of the long one in the workbook).
    pub short_window: Duration,
    /// How long both must hold before it fires (default: at once, as in the workbook: the
    /// windows already smooth the signal).
    pub for_duration: Duration,
}

impl BurnRateAlert {
    /// A page (severity critical): fires above `factor` over `long_window` and `short_window`.
    pub const fn page(factor: f64, long_window: Duration, short_window: Duration) -> BurnRateAlert {
        BurnRateAlert { severity: Severity::Critical, factor, long_window, short_window, for_duration: Duration::ZERO }
    }

    /// A ticket (severity warning): fires above `factor` over `long_window` and `short_window`.
    pub const fn ticket(factor: f64, long_window: Duration, short_window: Duration) -> BurnRateAlert {
        BurnRateAlert { severity: Severity::Warning, factor, long_window, short_window, for_duration: Duration::ZERO }
    }

    /// The alert with a `for` duration.
    pub const fn for_duration(mut self, duration: Duration) -> BurnRateAlert {
        self.for_duration = duration;
        self
    }

    /// The SRE workbook's four alerts (see the type's documentation).
    pub const fn workbook() -> [BurnRateAlert; 4] {
        const HOUR: u64 = 3600;
        [
            BurnRateAlert::page(14.4, Duration::from_secs(HOUR), Duration::from_secs(300)),
            BurnRateAlert::page(6.0, Duration::from_secs(6 * HOUR), Duration::from_secs(1800)),
            BurnRateAlert::ticket(3.0, Duration::from_secs(24 * HOUR), Duration::from_secs(2 * HOUR)),
            BurnRateAlert::ticket(1.0, Duration::from_secs(72 * HOUR), Duration::from_secs(6 * HOUR)),
        ]
    }
}

/// Builds a [`Slo`]; see there. Everything is checked by [`build`](SloBuilder::build).
#[must_use = "a builder does nothing until `build`"]
pub struct SloBuilder {
    name: String,
    objective: f64,
    window: Duration,
    kind: BuilderKind,
    endpoints: Vec<String>,
    method: Option<String>,
    rpc_service: Option<String>,
    /// `None`: the workbook's, scaled to the window.
    alerts: Option<Vec<BurnRateAlert>>,
    labels: Vec<(String, String)>,
    links: super::rule::Links,
    min_coverage: f64,
    misuse: Option<&'static str>,
}

enum BuilderKind {
    Availability { bad: Option<StatusSet> },
    Latency { threshold: Duration, histogram: Option<String>, buckets: Vec<f64> },
}

impl std::fmt::Debug for SloBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SloBuilder")
            .field("name", &self.name)
            .field("objective", &self.objective)
            .finish_non_exhaustive()
    }
}

impl Slo {
    fn builder(name: String, objective: f64, kind: BuilderKind) -> SloBuilder {
        SloBuilder {
            name,
            objective,
            window: DEFAULT_SLO_WINDOW,
            kind,
            endpoints: Vec::new(),
            method: None,
            rpc_service: None,
            alerts: None,
            labels: Vec::new(),
            links: super::rule::Links::default(),
            min_coverage: 0.0,
            misuse: None,
        }
    }

    /// An availability objective named `name` (`[a-zA-Z_][a-zA-Z0-9_]*`): `objective` (0.999 for
    /// 99.9%) of the calls succeed. HTTP requests (`http_requests_total`) succeed unless their
    /// status is 500 or more ([`error_status`](SloBuilder::error_status) says otherwise); gRPC
    /// calls served (`rpc_server_duration_seconds`) unless they end in a server error (`UNKNOWN`,
    /// `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`). Both count,
    /// unless [`endpoint`](SloBuilder::endpoint) or [`method`](SloBuilder::method) narrow it to
    /// HTTP requests or [`rpc_service`](SloBuilder::rpc_service) to gRPC calls.
    pub fn availability(name: impl Into<String>, objective: f64) -> SloBuilder {
        Slo::builder(name.into(), objective, BuilderKind::Availability { bad: None })
    }

    /// A latency objective named `name`: `objective` (0.99 for 99%) of the requests
    /// (`http_request_duration_seconds`, or [`histogram`](SloBuilder::histogram)) take at most
    /// `threshold`, which must be one of the histogram's bucket bounds (the default buckets, or
    /// those given with [`buckets`](SloBuilder::buckets)): a count between two bounds cannot be
    /// known.
    pub fn latency(name: impl Into<String>, objective: f64, threshold: Duration) -> SloBuilder {
        Slo::builder(name.into(), objective, BuilderKind::Latency { threshold, histogram: None, buckets: Vec::new() })
    }

    /// The objective's name (the `slo` label of its alerts and gauges).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The share of calls that must be good (0.999).
    pub fn objective(&self) -> f64 {
        self.inner.objective
    }

    /// The window the objective holds over.
    pub fn window(&self) -> Duration {
        self.inner.window
    }

    /// The burn-rate alerts.
    pub fn burn_rate_alerts(&self) -> &[BurnRateAlert] {
        &self.inner.alerts
    }
}

impl SloBuilder {
    /// Only the requests of this endpoint (a route template, the `endpoint` label); call it again
    /// for a set of endpoints. HTTP requests only.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// Only the requests with this method. HTTP requests only.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Only the gRPC calls of this service (the `rpc_service` label, `shop.Cart`). gRPC calls only.
    pub fn rpc_service(mut self, service: impl Into<String>) -> Self {
        self.rpc_service = Some(service.into());
        self
    }

    /// Which HTTP statuses are errors, for an availability objective (default: 500 and above).
    /// Asked here, once for each status from 100 to 599, so the exported rules match exactly what
    /// obs counts: `|status| status >= 500 || status == 429`.
    pub fn error_status(mut self, is_error: impl Fn(u16) -> bool) -> Self {
        match &mut self.kind {
            BuilderKind::Availability { bad } => *bad = Some(StatusSet::of(is_error)),
            BuilderKind::Latency { .. } => self.misuse = Some("error_status applies to availability objectives"),
        }
        self
    }

    /// The histogram a latency objective reads (default `http_request_duration_seconds`; any
    /// histogram family of the registry, such as one you registered).
    pub fn histogram(mut self, name: impl Into<String>) -> Self {
        match &mut self.kind {
            BuilderKind::Latency { histogram, .. } => *histogram = Some(name.into()),
            BuilderKind::Availability { .. } => self.misuse = Some("histogram applies to latency objectives"),
        }
        self
    }

    /// The bucket bounds of that histogram, when they are not the default ones (a
    /// `#[track_request(buckets = ..)]` site, a histogram of your own): the threshold must be one.
    pub fn buckets(mut self, bounds: &[f64]) -> Self {
        match &mut self.kind {
            BuilderKind::Latency { buckets, .. } => *buckets = bounds.to_vec(),
            BuilderKind::Availability { .. } => self.misuse = Some("buckets apply to latency objectives"),
        }
        self
    }

    /// The window the objective holds over (default 30 days). The workbook's alerts keep what
    /// share of the budget they fire at (2% in an hour, ...): their factors scale with the window
    /// (14.4 over 30 days is 3.36 over 7), as Sloth's do. An alert's long window may not be longer
    /// than the objective's: under 3 days, give alerts of your own.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The burn-rate alerts, instead of [`BurnRateAlert::workbook`]'s four (none: an objective
    /// with its gauges and `/slo` but no alerts).
    pub fn burn_rate_alerts(mut self, alerts: impl IntoIterator<Item = BurnRateAlert>) -> Self {
        self.alerts = Some(alerts.into_iter().collect());
        self
    }

    /// The share (0 to 1) of an alert's long window the evaluator must have seen before the
    /// alert may fire in process (default 0: it uses what it has). After a restart the evaluator
    /// has seen minutes, and with the default those minutes weigh as the whole hour of the 1-hour
    /// page; `min_coverage(0.5)` waits for half of each long window (30 minutes for that page,
    /// a day and a half for the 3-day ticket). The exported Prometheus rules are not affected.
    pub fn min_coverage(mut self, share: f64) -> Self {
        self.min_coverage = share;
        self
    }

    /// A label every alert of the objective carries.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((name.into(), value.into()));
        self
    }

    /// The runbook of the objective's alerts (see [`AlertRuleBuilder::runbook_url`](crate::alerts::AlertRuleBuilder::runbook_url)).
    pub fn runbook_url(mut self, url: impl Into<String>) -> Self {
        self.links.runbook_url = Some(url.into());
        self
    }

    /// The dashboard of the objective's alerts.
    pub fn dashboard_url(mut self, url: impl Into<String>) -> Self {
        self.links.dashboard_url = Some(url.into());
        self
    }

    /// The description of the objective's alerts.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.links.description = Some(text.into());
        self
    }

    /// Checks everything and builds the objective.
    pub fn build(self) -> Result<Slo, AlertError> {
        let name = self.name;
        let invalid = |reason: String| AlertError::Rule { rule: name.clone(), reason: format!("SLO: {reason}") };
        if !is_placeholder_name(&name) {
            return Err(invalid("an objective's name matches [a-zA-Z_][a-zA-Z0-9_]*".into()));
        }
        if let Some(misuse) = self.misuse {
            return Err(invalid(misuse.into()));
        }
        if !(self.objective > 0.0 && self.objective < 1.0) {
            return Err(invalid(format!("the objective {} is not between 0 and 1 (0.999 for 99.9%)", self.objective)));
        }
        let budget = ((1.0 - self.objective) * 1e12).round() / 1e12;
        if budget <= 0.0 {
            return Err(invalid(format!("the objective {} leaves no error budget", self.objective)));
        }
        check_window(self.window, "the window").map_err(&invalid)?;
        let http = !self.endpoints.is_empty() || self.method.is_some();
        if http && self.rpc_service.is_some() {
            return Err(invalid("endpoints and methods select HTTP requests, rpc_service gRPC calls: not both".into()));
        }
        let mut matchers = Vec::new();
        if let Some(method) = self.method {
            matchers.push(("method", method));
        }
        if let Some(service) = self.rpc_service.clone() {
            matchers.push(("rpc_service", service));
        }
        let sli = match self.kind {
            BuilderKind::Availability { bad } => {
                let calls = match (http, self.rpc_service.is_some()) {
                    (true, _) => Calls::Http,
                    (false, true) => Calls::Rpc,
                    (false, false) => Calls::All,
                };
                let bad = bad.unwrap_or_else(|| StatusSet::of(|status| status >= 500));
                if calls.http() && bad.regex().is_none() && calls == Calls::Http {
                    return Err(invalid("error_status holds for no status: no request could fail".into()));
                }
                Sli::Availability { calls, bad }
            }
            BuilderKind::Latency { threshold, histogram, buckets } => {
                let histogram = histogram.unwrap_or_else(|| "http_request_duration_seconds".to_owned());
                if !is_metric_name(&histogram) {
                    return Err(invalid(format!("{histogram:?} is not a metric name")));
                }
                let bounds: &[f64] =
                    if buckets.is_empty() { &crate::metrics::DEFAULT_BUCKETS } else { buckets.as_slice() };
                let seconds = threshold.as_secs_f64();
                let Some(bound) = bounds.iter().copied().find(|bound| same_bound(*bound, seconds)) else {
                    return Err(invalid(format!(
                        "the threshold {seconds}s is not a bucket bound of {histogram} ({bounds:?}): give one, or \
                         the histogram's own bounds with `buckets`"
                    )));
                };
                Sli::Latency { histogram, threshold: bound }
            }
        };
        let explicit = self.alerts.is_some();
        let alerts = self.alerts.unwrap_or_else(|| {
            let scale = self.window.as_secs_f64() / DEFAULT_SLO_WINDOW.as_secs_f64();
            let mut alerts = BurnRateAlert::workbook();
            for alert in &mut alerts {
                alert.factor = (alert.factor * scale * 1e9).round() / 1e9;
            }
            alerts.to_vec()
        });
        let mut long_windows = Vec::new();
        for alert in &alerts {
            let what = format!("the burn-rate alert over {}", window_name(alert.long_window));
            if !(alert.factor.is_finite() && alert.factor > 0.0) {
                return Err(invalid(format!("{what}: the factor {} is not a positive number", alert.factor)));
            }
            check_window(alert.long_window, "a long window").map_err(&invalid)?;
            check_window(alert.short_window, "a short window").map_err(&invalid)?;
            if alert.short_window >= alert.long_window {
                return Err(invalid(format!("{what}: the short window is not shorter than the long one")));
            }
            if alert.long_window > self.window {
                return Err(invalid(format!("{what}: its window is longer than the objective's")));
            }
            // At most every call fails: a burn rate of 1 / budget.
            if alert.factor * budget >= 1.0 {
                let scaled = if explicit { "" } else { " (the workbook's, scaled to the window)" };
                return Err(invalid(format!(
                    "{what}: a burn rate of {}{scaled} would need more than every call to fail (the budget is {budget}); \
                     give alerts of your own with `burn_rate_alerts`",
                    alert.factor
                )));
            }
            if long_windows.contains(&alert.long_window) {
                return Err(invalid(format!(
                    "two burn-rate alerts have the long window {}",
                    window_name(alert.long_window)
                )));
            }
            long_windows.push(alert.long_window);
        }
        if !(0.0..=1.0).contains(&self.min_coverage) {
            return Err(invalid(format!("the minimum coverage {} is not between 0 and 1", self.min_coverage)));
        }
        let mut labels = BTreeMap::new();
        for (label, value) in self.labels {
            if ["slo", "long_window", "short_window"].contains(&label.as_str()) {
                return Err(invalid(format!("the label {label:?} is set by obs")));
            }
            if labels.insert(label.clone(), value).is_some() {
                return Err(invalid(format!("the label {label:?} is given twice")));
            }
        }
        Ok(Slo {
            inner: Arc::new(Objective {
                name,
                objective: self.objective,
                budget,
                window: self.window,
                sli,
                endpoints: self.endpoints,
                matchers,
                alerts,
                labels,
                links: self.links,
                min_coverage: self.min_coverage,
            }),
        })
    }
}

fn same_bound(bound: f64, seconds: f64) -> bool {
    (bound - seconds).abs() <= 1e-9 * bound.abs().max(1e-9)
}

fn check_window(window: Duration, what: &str) -> Result<(), String> {
    if window.is_zero() || window.subsec_nanos() != 0 {
        return Err(format!("{what} must be a whole number of seconds, more than zero"));
    }
    if window > Duration::from_secs(366 * 86_400) {
        return Err(format!("{what} is longer than a year"));
    }
    Ok(())
}

/// A window as a Prometheus duration in its largest whole unit: `5m`, `1h`, `1d`, `30d`.
pub(crate) fn window_name(window: Duration) -> String {
    let seconds = window.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds > 0 && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// What an objective looks like now, from [`AlertManager::slos`](crate::alerts::AlertManager::slos)
/// and `/slo`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SloStatus {
    /// The objective's name.
    pub name: String,
    /// `availability` or `latency`.
    pub kind: &'static str,
    /// The share of calls that must be good.
    pub objective: f64,
    /// The objective's window.
    pub window: Duration,
    /// The share of calls that were good over the window, or over what of it the evaluator has
    /// seen (`covered`); `None` before any call.
    pub sli: Option<f64>,
    /// The share of the error budget left (1 untouched, 0 spent, below 0 overspent).
    pub error_budget_remaining: f64,
    /// How much of the window the evaluator has seen (it counts from its first evaluation; the
    /// exported Prometheus rules are the durable form).
    pub covered: Duration,
    /// The burn rate over each window the alerts use, shortest first.
    pub burn_rates: Vec<WindowStatus>,
    /// The evaluation these figures come from; `None` before the first.
    pub as_of: Option<SystemTime>,
}

/// A burn rate over one window.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WindowStatus {
    /// The window.
    pub window: Duration,
    /// The share of bad calls over it divided by the error budget; `None` with no call in it.
    pub burn_rate: Option<f64>,
    /// How much of the window the evaluator has seen.
    pub covered: Duration,
}

impl SloStatus {
    /// As `/slo` shows it.
    #[cfg(feature = "http-server")]
    pub(crate) fn json(&self) -> serde_json::Value {
        let seconds = |duration: Duration| duration.as_secs();
        serde_json::json!({
            "name": self.name,
            "kind": self.kind,
            "objective": self.objective,
            "window": window_name(self.window),
            "sli": self.sli,
            "errorBudgetRemaining": self.error_budget_remaining,
            "coveredSeconds": seconds(self.covered),
            "complete": self.covered >= self.window,
            "burnRates": self.burn_rates.iter().map(|window| serde_json::json!({
                "window": window_name(window.window),
                "burnRate": window.burn_rate,
                "coveredSeconds": seconds(window.covered),
                "complete": window.covered >= window.window,
            })).collect::<Vec<_>>(),
            "asOf": self.as_of.map(crate::time::rfc3339_micros),
        })
    }
}

/// What [`AlertManagerBuilder::slo`](crate::alerts::AlertManagerBuilder::slo) takes: an [`Slo`],
/// its builder, or its builder's `build()`. An `Err` is kept for the manager's `build` (and so
/// for `init`), with every other mistake of the configuration.
pub trait IntoSlo {
    /// The objective, or why it cannot be built.
    fn into_slo(self) -> Result<Slo, AlertError>;
}

impl IntoSlo for Slo {
    fn into_slo(self) -> Result<Slo, AlertError> {
        Ok(self)
    }
}

impl IntoSlo for SloBuilder {
    fn into_slo(self) -> Result<Slo, AlertError> {
        self.build()
    }
}

impl IntoSlo for Result<Slo, AlertError> {
    fn into_slo(self) -> Result<Slo, AlertError> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An objective given unbuilt: its mistake is the manager's `build`'s, as a rule's is; the
    /// objective given built and its `Result` are taken too.
    #[test]
    fn an_unbuilt_objective_s_mistake_is_the_manager_s() {
        use crate::alerts::AlertManager;
        let error = AlertManager::builder().slo(Slo::availability("users", 1.5)).build().map(|_| ()).expect_err("1.5");
        assert_eq!(
            error.to_string(),
            AlertError::Rule {
                rule: "users".into(),
                reason: "SLO: the objective 1.5 is not between 0 and 1 (0.999 for 99.9%)".into()
            }
            .to_string()
        );
        let built = Slo::availability("users", 0.999).build().expect("valid");
        let manager =
            AlertManager::builder().slo(built).slo(Slo::latency("fast", 0.99, Duration::from_millis(250)).build());
        assert_eq!(manager.build().expect("valid").slos().len(), 2);
    }

    #[test]
    fn statuses_become_the_shortest_regex() {
        assert_eq!(StatusSet::of(|status| status >= 500).regex().as_deref(), Some("5.."));
        assert_eq!(StatusSet::of(|status| status >= 500 || status == 429).regex().as_deref(), Some("429|5.."));
        assert_eq!(StatusSet::of(|status| status == 503 || status == 504).regex().as_deref(), Some("503|504"));
        assert_eq!(StatusSet::of(|_| false).regex(), None);
        let set = StatusSet::of(|status| status >= 500 || status == 429);
        assert!(set.is_bad("429") && set.is_bad("500") && set.is_bad("599"));
        assert!(
            !set.is_bad("200") && !set.is_bad("428") && !set.is_bad("000") && !set.is_bad("600") && !set.is_bad("x")
        );
    }

    #[test]
    fn windows_are_named_in_their_largest_unit() {
        let names: Vec<String> = [300, 1800, 3600, 7200, 21_600, 86_400, 259_200, 2_592_000, 90]
            .into_iter()
            .map(|seconds| window_name(Duration::from_secs(seconds)))
            .collect();
        assert_eq!(names, ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d", "90s"]);
    }

    #[test]
    fn bad_objectives_say_what_is_wrong() {
        let ms = Duration::from_millis;
        let cases: Vec<(SloBuilder, &str)> = vec![
            (Slo::availability("has space", 0.999), "matches [a-zA-Z_]"),
            (Slo::availability("a", 1.0), "not between 0 and 1"),
            (Slo::availability("a", f64::NAN), "not between 0 and 1"),
            (Slo::latency("a", 0.99, ms(300)), "not a bucket bound"),
            (Slo::latency("a", 0.99, ms(300)).buckets(&[0.1, 0.2]), "not a bucket bound"),
            (Slo::availability("a", 0.999).endpoint("/x").rpc_service("s"), "not both"),
            (Slo::latency("a", 0.99, ms(250)).error_status(|_| true), "error_status applies"),
            (Slo::availability("a", 0.999).histogram("h"), "histogram applies"),
            (Slo::availability("a", 0.999).endpoint("/x").error_status(|_| false), "no request could fail"),
            (Slo::availability("a", 0.999).window(ms(1500)), "whole number of seconds"),
            // A 90% objective burns at most 10x: a 14.4x page can never fire.
            (Slo::availability("a", 0.9), "more than every call to fail"),
            (
                Slo::availability("a", 0.999).burn_rate_alerts([BurnRateAlert::page(
                    2.0,
                    Duration::from_secs(60),
                    Duration::from_secs(60),
                )]),
                "not shorter",
            ),
            (
                Slo::availability("a", 0.999).burn_rate_alerts([
                    BurnRateAlert::page(2.0, Duration::from_secs(3600), Duration::from_secs(60)),
                    BurnRateAlert::ticket(1.0, Duration::from_secs(3600), Duration::from_secs(300)),
                ]),
                "two burn-rate alerts",
            ),
            (Slo::availability("a", 0.999).label("slo", "x"), "set by obs"),
            (Slo::availability("a", 0.999).min_coverage(1.5), "not between 0 and 1"),
            (Slo::availability("a", 0.999).window(Duration::from_secs(86_400)), "longer than the objective's"),
        ];
        for (builder, expected) in cases {
            let error = builder.build().expect_err(expected).to_string();
            assert!(error.contains(expected), "{error}");
        }
        let ok = Slo::latency("ok", 0.99, ms(300)).buckets(&[0.1, 0.3, 1.0]).build().expect("0.3 is a bound");
        assert!(matches!(ok.inner.sli, Sli::Latency { threshold, .. } if threshold == 0.3));
        assert_eq!(Slo::availability("b", 0.999).build().expect("valid").inner.budget, 0.001);
        // Over 7 days, the workbook's alerts fire at the same shares of the budget.
        let week = Slo::availability("c", 0.999).window(Duration::from_secs(7 * 86_400)).build().expect("valid");
        let factors: Vec<f64> = week.burn_rate_alerts().iter().map(|alert| alert.factor).collect();
        assert_eq!(factors, [3.36, 1.4, 0.7, 0.233333333]);
    }
}
