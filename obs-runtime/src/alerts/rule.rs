//! A rule: a name, a condition, a severity, a message template, labels and timings.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use super::AlertError;
use super::condition::{Condition, is_metric_name, is_placeholder_name};

/// How bad it is; Slack colours and Alertmanager's `severity` label follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Good to know.
    Info,
    /// Needs a look soon.
    Warning,
    /// Needs someone now.
    Critical,
}

impl Severity {
    /// `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The default cooldown: after a firing notification, the same rule does not notify again for
/// this long (a flapping rule shows as suppressed meanwhile).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);
/// How often a rule that keeps firing is announced again (Alertmanager's default).
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// An alerting rule. Build it with [`AlertRule::builder`]; everything is checked when it is built.
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::alerts::{AlertRule, Condition, Severity};
///
/// let rule = AlertRule::builder("high_error_rate")
///     .condition(Condition::error_rate_percent().window(Duration::from_secs(300)).above(5.0))
///     .severity(Severity::Critical)
///     .message("Error rate is {error_rate_percent:.1}% (threshold {threshold}%)")
///     .label("service", "api-gateway")
///     .for_duration(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(rule.name(), "high_error_rate");
///
/// // A placeholder nothing can fill is an error now, not when the alert fires.
/// let error = AlertRule::builder("high_cpu_usage")
///     .condition(Condition::cpu_usage_percent().above(80.0))
///     .message("CPU usage is {cpu_percent}%")
///     .build()
///     .unwrap_err();
/// assert!(error.to_string().contains("{cpu_percent}"));
/// # Ok::<(), obs_runtime::alerts::AlertError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub(crate) name: String,
    pub(crate) condition: Condition,
    pub(crate) severity: Severity,
    pub(crate) template: Template,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) for_duration: Duration,
    pub(crate) keep_firing_for: Duration,
    pub(crate) cooldown: Duration,
    pub(crate) repeat_interval: Option<Duration>,
    pub(crate) links: Links,
}

/// What a rule tells whoever it reaches besides its message: where the runbook and the dashboard
/// are, and a longer description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Links {
    pub(crate) runbook_url: Option<String>,
    pub(crate) dashboard_url: Option<String>,
    pub(crate) description: Option<String>,
}

impl AlertRule {
    /// Starts a rule named `name` (a Prometheus alert name: `[a-zA-Z_:][a-zA-Z0-9_:]*`).
    pub fn builder(name: impl Into<String>) -> AlertRuleBuilder {
        AlertRuleBuilder {
            name: name.into(),
            condition: None,
            severity: Severity::Warning,
            message: None,
            labels: Vec::new(),
            for_duration: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            cooldown: DEFAULT_COOLDOWN,
            repeat_interval: Some(DEFAULT_REPEAT_INTERVAL),
            links: Links::default(),
        }
    }

    /// A rule in one call: name, condition, severity, message template and labels (the other
    /// settings at their defaults; [`AlertRule::builder`] sets them all).
    pub fn new(
        name: impl Into<String>,
        condition: Condition,
        severity: Severity,
        message: impl Into<String>,
        labels: &[(&str, &str)],
    ) -> Result<AlertRule, AlertError> {
        let mut builder = AlertRule::builder(name).condition(condition).severity(severity).message(message);
        for (name, value) in labels {
            builder = builder.label(*name, *value);
        }
        builder.build()
    }

    /// The rule's name (the alert's `alertname`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule's severity.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The labels its alerts carry (besides `alertname` and `severity`).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
}

/// Builds an [`AlertRule`]; see there.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build`"]
pub struct AlertRuleBuilder {
    name: String,
    condition: Option<Condition>,
    severity: Severity,
    message: Option<String>,
    labels: Vec<(String, String)>,
    for_duration: Duration,
    keep_firing_for: Duration,
    cooldown: Duration,
    repeat_interval: Option<Duration>,
    links: Links,
}

impl AlertRuleBuilder {
    /// Where the runbook for this alert is (an `http://` or `https://` URL): in every channel's
    /// notification (a Slack button, a line of the e-mail, the webhook's `runbookUrl`,
    /// Alertmanager's `runbook_url` annotation), `/alerts`, and the exported Prometheus rules.
    pub fn runbook_url(mut self, url: impl Into<String>) -> Self {
        self.links.runbook_url = Some(url.into());
        self
    }

    /// Where the dashboard to look at is (an `http://` or `https://` URL): carried as
    /// [`runbook_url`](Self::runbook_url) is (`dashboardUrl`, `dashboard_url`).
    pub fn dashboard_url(mut self, url: impl Into<String>) -> Self {
        self.links.dashboard_url = Some(url.into());
        self
    }

    /// A longer description than the message (what the alert means, its likely causes), as it
    /// is: carried as [`runbook_url`](Self::runbook_url) is (`description`).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.links.description = Some(text.into());
        self
    }

    /// What makes the rule active (required).
    pub fn condition(mut self, condition: Condition) -> Self {
        self.condition = Some(condition);
        self
    }

    /// The severity (default `warning`).
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// The message template. Placeholders: `{value}` and the condition's own name for it (for
    /// example `{error_rate_percent}`), `{threshold}`, `{alertname}`, `{severity}` and
    /// `{labels.NAME}` for the rule's labels; numbers take a precision, `{value:.1}`; `{{` and
    /// `}}` are braces. The default says what crossed what.
    pub fn message(mut self, template: impl Into<String>) -> Self {
        self.message = Some(template.into());
        self
    }

    /// A label the alert carries (and Alertmanager routes on).
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((name.into(), value.into()));
        self
    }

    /// How long the condition must hold before the alert fires (Prometheus' `for`); until then it
    /// is pending. Default: at once.
    pub fn for_duration(mut self, duration: Duration) -> Self {
        self.for_duration = duration;
        self
    }

    /// How long the alert keeps firing after the condition stops holding (Prometheus'
    /// `keep_firing_for`), so that a flapping value does not resolve and re-fire. Default: none.
    pub fn keep_firing_for(mut self, duration: Duration) -> Self {
        self.keep_firing_for = duration;
        self
    }

    /// The least time between two firing notifications of this rule (default 5 minutes). An
    /// alert that fires again sooner is listed as suppressed and announced when the cooldown
    /// ends, if it still fires.
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How often an alert that keeps firing is announced again (default 4 hours).
    pub fn repeat_interval(mut self, interval: Duration) -> Self {
        self.repeat_interval = Some(interval);
        self
    }

    /// Announce a firing alert once, never again until it resolves.
    pub fn no_repeat(mut self) -> Self {
        self.repeat_interval = None;
        self
    }

    /// Checks everything and builds the rule. (Given unbuilt to
    /// [`AlertManagerBuilder::rule`](crate::alerts::AlertManagerBuilder::rule), its `Err` is the
    /// manager's.)
    pub fn build(self) -> Result<AlertRule, AlertError> {
        let name = self.name;
        let invalid = |reason: String| AlertError::Rule { rule: name.clone(), reason };
        if !is_metric_name(&name) {
            return Err(invalid("an alert name matches [a-zA-Z_:][a-zA-Z0-9_:]*".into()));
        }
        let condition = self.condition.ok_or_else(|| invalid("no condition".into()))?;
        condition.check().map_err(&invalid)?;
        let mut labels = BTreeMap::new();
        for (label, value) in self.labels {
            if !is_placeholder_name(&label) || label.starts_with("__") {
                return Err(invalid(format!("{label:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not `__`)")));
            }
            if label == "alertname" || label == "severity" {
                return Err(invalid(format!("the label {label:?} is set by obs")));
            }
            if labels.insert(label.clone(), value).is_some() {
                return Err(invalid(format!("the label {label:?} is given twice")));
            }
        }
        for (what, url) in [("runbook_url", &self.links.runbook_url), ("dashboard_url", &self.links.dashboard_url)] {
            // Never echoed (a link may carry a token); no braces, which Prometheus' templates
            // would read.
            // A host, no user or password (the link reaches chat, e-mail and logs).
            let usable = |url: &str| {
                let Some(("http" | "https", rest)) = url.split_once("://") else { return false };
                let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
                !authority.is_empty()
                    && !authority.starts_with(':')
                    && !authority.contains('@')
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '{' || c == '}')
            };
            if url.as_deref().is_some_and(|url| !usable(url)) {
                return Err(invalid(format!(
                    "{what} is not an http:// or https:// URL with a host (no user, spaces or braces)"
                )));
            }
        }
        if self.links.description.as_deref().is_some_and(|text| text.trim().is_empty()) {
            return Err(invalid("the description is empty".into()));
        }
        if let Some(interval) = self.repeat_interval
            && interval.is_zero()
        {
            return Err(invalid("the repeat interval is zero (use no_repeat)".into()));
        }
        let source = self.message.unwrap_or_else(|| {
            let operator = if condition.comparison == super::condition::Comparison::Above { "above" } else { "below" };
            format!("{{alertname}}: {} is {{value}}, {operator} {{threshold}}", condition.value_name())
        });
        let template = Template::parse(&source, condition.value_name(), &labels).map_err(|error| match error {
            TemplateError::Unknown(placeholder) => AlertError::Placeholder { rule: name.clone(), placeholder },
            TemplateError::Syntax(reason) => invalid(format!("message template: {reason}")),
        })?;
        Ok(AlertRule {
            name,
            condition,
            severity: self.severity,
            template,
            labels,
            for_duration: self.for_duration,
            keep_firing_for: self.keep_firing_for,
            cooldown: self.cooldown,
            repeat_interval: self.repeat_interval,
            links: self.links,
        })
    }
}

/// A parsed message template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text(String),
    Value(Option<usize>),
    Threshold(Option<usize>),
    AlertName,
    Severity,
    Label(String),
}

enum TemplateError {
    Unknown(String),
    Syntax(String),
}

impl Template {
    fn parse(source: &str, value_name: &str, labels: &BTreeMap<String, String>) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => return Err(TemplateError::Syntax(format!("a lone `}}` at byte {at} (write `}}}}`)"))),
                '{' => {
                    let rest = &source[at + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| TemplateError::Syntax(format!("the `{{` at byte {at} is never closed")))?;
                    let inner = &rest[..end];
                    for _ in 0..inner.chars().count() + 1 {
                        chars.next();
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Template::placeholder(inner, value_name, labels)?);
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { parts })
    }

    fn placeholder(inner: &str, value_name: &str, labels: &BTreeMap<String, String>) -> Result<Part, TemplateError> {
        let unknown = || TemplateError::Unknown(format!("{{{inner}}}"));
        // A precision is the last `:.N`; metric names may hold `:` themselves.
        let (key, precision) = match inner.rsplit_once(':') {
            Some((key, spec)) if inner != value_name => {
                let digits = spec.strip_prefix('.').ok_or_else(unknown)?;
                (key, Some(digits.parse::<usize>().ok().filter(|p| *p <= 17).ok_or_else(unknown)?))
            }
            _ => (inner, None),
        };
        let part = match key {
            "value" => Part::Value(precision),
            _ if key == value_name => Part::Value(precision),
            "threshold" => Part::Threshold(precision),
            "alertname" if precision.is_none() => Part::AlertName,
            "severity" if precision.is_none() => Part::Severity,
            _ => match key.strip_prefix("labels.") {
                Some(label) if precision.is_none() && labels.contains_key(label) => Part::Label(label.to_owned()),
                _ => return Err(unknown()),
            },
        };
        Ok(part)
    }

    /// The message for `value` (none: `n/a`).
    pub(crate) fn render(&self, rule: &AlertRule, value: Option<f64>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Value(precision) => match value {
                    Some(value) => push_number(&mut out, value, *precision),
                    None => out.push_str("n/a"),
                },
                Part::Threshold(precision) => push_number(&mut out, rule.condition.threshold, *precision),
                Part::AlertName => out.push_str(&rule.name),
                Part::Severity => out.push_str(rule.severity.as_str()),
                Part::Label(label) => out.push_str(rule.labels.get(label).map_or("", String::as_str)),
            }
        }
        out
    }
}

/// `value` with `precision` decimals; without one, at most two, trailing zeros dropped.
pub(crate) fn push_number(out: &mut String, value: f64, precision: Option<usize>) {
    match precision {
        Some(precision) => {
            let _ = write!(out, "{value:.precision$}");
        }
        None => {
            let start = out.len();
            let _ = write!(out, "{value:.2}");
            if out[start..].contains('.') {
                let trimmed = out[start..].trim_end_matches('0').trim_end_matches('.').len();
                out.truncate(start + trimmed);
            }
        }
    }
}

/// What [`AlertManagerBuilder::rule`](crate::alerts::AlertManagerBuilder::rule) takes: an
/// [`AlertRule`], its builder, or what [`AlertRule::new`] returns. An `Err` is kept for the
/// manager's `build` (and so for `init`), with every other mistake of the configuration.
pub trait IntoAlertRule {
    /// The rule, or why it cannot be built.
    fn into_alert_rule(self) -> Result<AlertRule, AlertError>;
}

impl IntoAlertRule for AlertRule {
    fn into_alert_rule(self) -> Result<AlertRule, AlertError> {
        Ok(self)
    }
}

impl IntoAlertRule for AlertRuleBuilder {
    fn into_alert_rule(self) -> Result<AlertRule, AlertError> {
        self.build()
    }
}

impl IntoAlertRule for Result<AlertRule, AlertError> {
    fn into_alert_rule(self) -> Result<AlertRule, AlertError> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(message: &str) -> Result<AlertRule, AlertError> {
        AlertRule::builder("high_error_rate")
            .condition(Condition::error_rate_percent().above(5.0))
            .severity(Severity::Critical)
            .label("service", "api")
            .message(message)
            .build()
    }

    #[test]
    fn runbook_and_dashboard_are_urls_never_echoed() {
        let with = |runbook: &str| {
            AlertRule::builder("high_error_rate")
                .condition(Condition::error_rate_percent().above(5.0))
                .runbook_url(runbook)
                .dashboard_url("https://grafana.example.com/d/x")
                .build()
        };
        assert!(with("https://runbooks.example.com/high-error-rate?team=api").is_ok());
        for bad in [
            "runbooks.example.com/x",
            "ftp://host/x",
            "https://",
            "https://?q",
            "https://:80/x",
            "https://user:pw@host/x",
            "https://host/a b",
            "https://h/{{x}}",
        ] {
            let error = with(bad).expect_err(bad).to_string();
            assert!(error.contains("runbook_url is not an http:// or https:// URL"), "{error}");
            assert!(bad == "https://" || !error.contains(bad), "the value is not shown: {error}");
        }
        let dashboard = AlertRule::builder("x")
            .condition(Condition::error_rate_percent().above(5.0))
            .dashboard_url("grafana/d/x")
            .build()
            .expect_err("not a URL");
        assert!(dashboard.to_string().contains("dashboard_url is not"), "{dashboard}");
        let empty =
            AlertRule::builder("x").condition(Condition::error_rate_percent().above(5.0)).description(" ").build();
        assert!(empty.expect_err("empty").to_string().contains("description is empty"));
    }

    #[test]
    fn templates_render_every_placeholder() {
        let rule =
            rule("{alertname} ({severity}, {labels.service}): {error_rate_percent}% > {threshold}% [{value:.3}] {{x}}")
                .expect("a valid template");
        assert_eq!(
            rule.template.render(&rule, Some(12.34567)),
            "high_error_rate (critical, api): 12.35% > 5% [12.346] {x}"
        );
        assert_eq!(rule.template.render(&rule, None), "high_error_rate (critical, api): n/a% > 5% [n/a] {x}");
    }

    #[test]
    fn unknown_placeholders_are_named() {
        for (template, placeholder) in [
            ("{cpu_usage_percent}", "{cpu_usage_percent}"),
            ("{labels.team}", "{labels.team}"),
            ("{value:x}", "{value:x}"),
            ("{alertname:.2}", "{alertname:.2}"),
        ] {
            match rule(template) {
                Err(AlertError::Placeholder { placeholder: found, rule }) => {
                    assert_eq!((found.as_str(), rule.as_str()), (placeholder, "high_error_rate"));
                }
                other => panic!("{template}: {other:?}"),
            }
        }
        for template in ["{value", "value}", "{"] {
            let error = rule(template).expect_err("this input is wrong").to_string();
            assert!(error.contains("message template"), "{error}");
        }
    }

    #[test]
    fn a_metric_name_with_colons_is_its_own_placeholder() {
        let rule = AlertRule::builder("recorded")
            .condition(Condition::gauge("job:errors:rate5m").above(1.0))
            .message("{job:errors:rate5m} and {job:errors:rate5m:.2}")
            .build()
            .expect("a valid rule");
        assert_eq!(rule.template.render(&rule, Some(1.5)), "1.5 and 1.50");
    }

    #[test]
    fn the_default_message_says_what_crossed_what() {
        let rule = AlertRule::builder("slow")
            .condition(Condition::latency_quantile(0.99).above(0.5))
            .build()
            .expect("a valid rule or manager");
        assert_eq!(rule.template.render(&rule, Some(0.75)), "slow: latency_seconds is 0.75, above 0.5");
    }

    #[test]
    fn bad_rules_are_errors() {
        let condition = || Condition::gauge("g").above(1.0);
        let cases = [
            AlertRule::builder("bad name").condition(condition()).build(),
            AlertRule::builder("no_condition").build(),
            AlertRule::builder("r").condition(condition()).label("severity", "x").build(),
            AlertRule::builder("r").condition(condition()).label("a", "1").label("a", "2").build(),
            AlertRule::builder("r").condition(condition()).label("bad-label", "1").build(),
            AlertRule::builder("r").condition(condition()).repeat_interval(Duration::ZERO).build(),
        ];
        for case in cases {
            assert!(matches!(case, Err(AlertError::Rule { .. })), "{case:?}");
        }
    }
}
