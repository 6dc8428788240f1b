//! The rules as a Prometheus rules file: PromQL expressions, Go-template annotations, and YAML
//! written by hand.

use std::fmt::Write as _;
use std::time::Duration;

use super::condition::{Calls, Comparison, Kind};
use super::engine::AlertManager;
use super::rule::{AlertRule, Part, push_number};
use crate::metrics::rpc_names;

/// A manager's rules as a Prometheus rules file, from [`AlertManager::prometheus_rules`].
///
/// The file has one group. Each rule becomes an alerting rule with its PromQL expression, its
/// `for` and `keep_firing_for` (left out when zero; `keep_firing_for` needs Prometheus 2.42 or
/// later), its labels with `severity`, and its message as the `summary` annotation, turned into a
/// Go template: `{value}` is `{{ $value }}` (`{value:.1}` is `{{ printf "%.1f" $value }}`), and
/// `{threshold}`, `{alertname}`, `{severity}` and `{labels.NAME}` are written out, since they do
/// not change. Unlike obs, which shows at most two decimals, Prometheus shows a `{value}` without
/// a precision in full: give one. The rule's `description`, `runbook_url` and `dashboard_url` are
/// annotations too, as literal text (`{{` written so that Prometheus does not expand it).
///
/// A rule's cooldown and repeat interval are not in the file: they are Alertmanager's to apply,
/// in its route (`group_interval`, `repeat_interval`), not a rule's. Rules with no PromQL form
/// (memory use, which needs a limit no metric carries, and custom conditions, which are Rust
/// closures) are left out, listed in [`skipped`](PrometheusRules::skipped) and in a comment at
/// the top of the file.
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::alerts::{AlertManager, AlertRule, Condition, Severity};
///
/// let alerts = AlertManager::builder()
///     .rule(
///         AlertRule::builder("high_error_rate")
///             .condition(Condition::http_error_rate_percent().window(Duration::from_secs(300)).above(5.0))
///             .severity(Severity::Critical)
///             .message("Error rate is {error_rate_percent:.1}%")
///             .label("service", "api-gateway")
///             .for_duration(Duration::from_secs(60))
///             .build()?,
///     )
///     .rule(AlertRule::builder("high_memory_usage").condition(Condition::memory_usage_percent().above(90.0)).build()?)
///     .build()?;
///
/// let rules = alerts.prometheus_rules("api-gateway");
/// let yaml = rules.yaml();
/// assert!(yaml.contains(r#"  - name: "api-gateway""#));
/// assert!(yaml.contains(
///     r#"expr: "sum(rate(http_requests_total{status=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m])) * 100 > 5""#
/// ));
/// assert!(yaml.contains(r#"for: "1m""#));
/// assert!(yaml.contains(r#"summary: "Error rate is {{ printf \"%.1f\" $value }}%""#));
/// // Memory use has no PromQL form: it is left out, and said so.
/// assert_eq!(rules.skipped()[0].0, "high_memory_usage");
/// assert!(yaml.starts_with("# high_memory_usage: not rendered: "));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusRules {
    yaml: String,
    skipped: Vec<(String, String)>,
}

impl PrometheusRules {
    /// The rules file (for `rule_files` in `prometheus.yml`; `promtool check rules` accepts it).
    pub fn yaml(&self) -> &str {
        &self.yaml
    }

    /// The rules left out: (rule name, why it has no PromQL form).
    pub fn skipped(&self) -> &[(String, String)] {
        &self.skipped
    }
}

impl AlertManager {
    /// The rules as a Prometheus rules file with one group, named `group`; see
    /// [`PrometheusRules`]. Prometheus evaluates them (and Alertmanager notifies) instead of, or
    /// as well as, this manager.
    pub fn prometheus_rules(&self, group: &str) -> PrometheusRules {
        let slos: Vec<super::slo::Slo> = self.shared.slos.iter().map(|tracker| tracker.slo.clone()).collect();
        render(&self.rules(), &slos, group)
    }
}

impl AlertRule {
    /// The rule's condition as a PromQL expression, comparison included, such as
    /// `max(queue_depth{queue="email"}) > 1000`; or why it has none (memory use, custom
    /// conditions).
    ///
    /// ```
    /// use obs_runtime::alerts::{AlertRule, Condition};
    ///
    /// let rule = AlertRule::builder("high_cpu_usage").condition(Condition::cpu_usage_percent().above(80.0)).build()?;
    /// assert_eq!(rule.promql().as_deref(), Ok("rate(process_cpu_seconds_total[1m]) * 100 > 80"));
    /// # Ok::<(), obs_runtime::alerts::AlertError>(())
    /// ```
    pub fn promql(&self) -> Result<String, String> {
        let condition = &self.condition;
        let matchers = &condition.query.matchers;
        let window = duration(condition.window().unwrap_or_default());
        let value = match &condition.query.kind {
            Kind::Gauge(name) => {
                let aggregation = match condition.comparison {
                    Comparison::Above => "max",
                    Comparison::Below => "min",
                };
                format!("{aggregation}({})", selector(name, None, matchers))
            }
            Kind::CounterRate(name) => format!("sum(rate({}[{window}]))", selector(name, None, matchers)),
            Kind::ErrorRatePercent(calls) => {
                let http_errors = selector("http_requests_total", Some(("status", "=~", "5..")), matchers);
                let http_all = selector("http_requests_total", None, matchers);
                let rpc_count = format!("{}_count", rpc_names::SERVER_FAMILY);
                let rpc_errors = selector(
                    &rpc_count,
                    Some((rpc_names::STATUS_LABEL, "=~", rpc_names::SERVER_ERROR_CODES)),
                    matchers,
                );
                let rpc_all = selector(&rpc_count, None, matchers);
                let rate = |selector: &str| format!("sum(rate({selector}[{window}]))");
                match calls {
                    Calls::Http => format!("{} / {} * 100", rate(&http_errors), rate(&http_all)),
                    Calls::Rpc => format!("{} / {} * 100", rate(&rpc_errors), rate(&rpc_all)),
                    // Either kind may have no series: `or vector(0)` keeps the sum.
                    Calls::All => format!(
                        "(({} or vector(0)) + ({} or vector(0))) / (({} or vector(0)) + ({} or vector(0))) * 100",
                        rate(&http_errors),
                        rate(&rpc_errors),
                        rate(&http_all),
                        rate(&rpc_all)
                    ),
                }
            }
            Kind::Quantile { histogram, quantile } => {
                let buckets = selector(&format!("{histogram}_bucket"), None, matchers);
                format!("histogram_quantile({quantile}, sum by (le) (rate({buckets}[{window}])))")
            }
            Kind::CpuUsagePercent => format!("rate(process_cpu_seconds_total[{window}]) * 100"),
            // Per instance: one runtime per process, each with its own number of workers.
            Kind::RuntimeBusyPercent => format!(
                "sum without (worker) (rate({}[{window}])) / {} * 100",
                super::condition::RUNTIME_BUSY,
                super::condition::RUNTIME_WORKERS
            ),
            Kind::MemoryUsagePercent => {
                return Err("memory use is a share of the cgroup's or the machine's memory limit, \
                            and no metric carries the limit"
                    .into());
            }
            Kind::Custom { name, .. } => {
                return Err(format!("the custom condition {name:?} is a Rust closure, not a query"));
            }
            // Over the objective's recording rules, which `prometheus_rules` writes beside it.
            Kind::BurnRate { tracker, long, short } => {
                return Ok(super::slo::alert_expr(&tracker.slo, condition.threshold, *long, *short));
            }
        };
        Ok(format!("{value} {} {}", condition.comparison.operator(), condition.threshold))
    }
}

/// The rules file for `rules`, in one group named `group`, and a group of its own for each
/// objective's recording rules and burn-rate alerts.
fn render(rules: &[AlertRule], slos: &[super::slo::Slo], group: &str) -> PrometheusRules {
    let mut skipped = Vec::new();
    let mut body = String::new();
    // Each objective's group, its alerts with it (none, with `burn_rate_alerts([])`).
    let mut objectives: Vec<(&super::slo::Slo, Vec<&AlertRule>)> = slos.iter().map(|slo| (slo, Vec::new())).collect();
    for rule in rules {
        if let Kind::BurnRate { tracker, .. } = &rule.condition.query.kind {
            if let Some((_, alerts)) =
                objectives.iter_mut().find(|(slo, _)| std::sync::Arc::ptr_eq(&slo.inner, &tracker.slo.inner))
            {
                alerts.push(rule);
            }
            continue;
        }
        match rule.promql() {
            Ok(expr) => push_alert(&mut body, rule, &expr),
            Err(reason) => skipped.push((rule.name.clone(), reason)),
        }
    }

    let mut yaml = String::new();
    for (name, reason) in &skipped {
        let reason = reason.replace(['\n', '\r'], " ");
        let _ = writeln!(yaml, "# {name}: not rendered: {reason}");
    }
    yaml.push_str("groups:\n  - name: ");
    push_yaml_string(&mut yaml, group);
    if body.is_empty() {
        yaml.push_str("\n    rules: []\n");
    } else {
        yaml.push_str("\n    rules:\n");
        yaml.push_str(&body);
    }
    for (slo, alerts) in objectives {
        super::slo::render_group(&mut yaml, group, slo, &alerts);
    }
    PrometheusRules { yaml, skipped }
}

/// One alerting rule, `expr` its PromQL.
pub(crate) fn push_alert(body: &mut String, rule: &AlertRule, expr: &str) {
    body.push_str("      - alert: ");
    push_yaml_string(body, &rule.name);
    body.push_str("\n        expr: ");
    push_yaml_string(body, expr);
    body.push('\n');
    for (key, value) in [("for", rule.for_duration), ("keep_firing_for", rule.keep_firing_for)] {
        if !value.is_zero() {
            let _ = write!(body, "        {key}: ");
            push_yaml_string(body, &duration(value));
            body.push('\n');
        }
    }
    body.push_str("        labels:\n          severity: ");
    push_yaml_string(body, rule.severity.as_str());
    body.push('\n');
    for (label, value) in &rule.labels {
        // Prometheus expands label values as templates too. Names are quoted: `null`, `yes`
        // and `on` are not strings to YAML.
        let mut literal = String::new();
        push_go_literal(&mut literal, value, false);
        body.push_str("          ");
        push_yaml_string(body, label);
        body.push_str(": ");
        push_yaml_string(body, &literal);
        body.push('\n');
    }
    body.push_str("        annotations:\n          summary: ");
    push_yaml_string(body, &go_template(rule));
    body.push('\n');
    for (name, text) in [
        ("description", &rule.links.description),
        ("runbook_url", &rule.links.runbook_url),
        ("dashboard_url", &rule.links.dashboard_url),
    ] {
        if let Some(text) = text {
            // As it is: Prometheus expands annotations as templates, so `{{` is escaped.
            let mut literal = String::new();
            push_go_literal(&mut literal, text, false);
            let _ = write!(body, "          {name}: ");
            push_yaml_string(body, &literal);
            body.push('\n');
        }
    }
}

/// `name{extra,matchers}`: equality matchers, values as PromQL string literals.
fn selector(name: &str, extra: Option<(&str, &str, &str)>, matchers: &[(String, String)]) -> String {
    let matchers = matchers.iter().map(|(label, value)| (label.as_str(), "=", value.as_str()));
    labelled(name, extra.into_iter().chain(matchers))
}

/// `name{label<operator>"value",...}` (just `name` with no matcher), values as PromQL string
/// literals.
pub(crate) fn labelled<'a>(name: &str, matchers: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> String {
    let mut out = String::from(name);
    let mut matchers = matchers.into_iter().peekable();
    if matchers.peek().is_none() {
        return out;
    }
    out.push('{');
    for (index, (label, operator, value)) in matchers.enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(label);
        out.push_str(operator);
        push_promql_string(&mut out, value);
    }
    out.push('}');
    out
}

/// `value` as a double-quoted PromQL string literal.
pub(crate) fn push_promql_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A duration as Prometheus writes one: `1h30m`, `90s` is `1m30s`, `500ms`; sub-millisecond
/// parts round up (Prometheus counts in milliseconds), zero is `0s`.
fn duration(duration: Duration) -> String {
    let mut millis = duration.as_millis() + u128::from(!duration.subsec_nanos().is_multiple_of(1_000_000));
    if millis == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if millis >= size {
            let _ = write!(out, "{}{unit}", millis / size);
            millis %= size;
        }
    }
    out
}

/// The rule's message template as a Go template for Prometheus: the value is `$value`, the rest
/// is fixed for the rule and written out. (`$labels` holds the series' labels only, neither
/// `alertname` nor the rule's labels, so `{alertname}` is written out too.)
fn go_template(rule: &AlertRule) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    for part in &rule.template.parts {
        match part {
            Part::Text(text) => literal.push_str(text),
            Part::Threshold(precision) => push_number(&mut literal, rule.condition.threshold, *precision),
            Part::AlertName => literal.push_str(&rule.name),
            Part::Severity => literal.push_str(rule.severity.as_str()),
            Part::Label(label) => literal.push_str(rule.labels.get(label).map_or("", String::as_str)),
            Part::Value(precision) => {
                push_go_literal(&mut out, &std::mem::take(&mut literal), true);
                match precision {
                    Some(precision) => {
                        let _ = write!(out, "{{{{ printf \"%.{precision}f\" $value }}}}");
                    }
                    None => out.push_str("{{ $value }}"),
                }
            }
        }
    }
    push_go_literal(&mut out, &literal, false);
    out
}

/// Literal text in a Go template: `{{` would open an action, so it is written as the action
/// `{{ "{{" }}`; so is a last `{`, as `{{ "{" }}`, when an action follows.
fn push_go_literal(out: &mut String, text: &str, action_follows: bool) {
    let mut rest = text;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(after) = after.strip_prefix('{') {
            out.push_str(r#"{{ "{{" }}"#);
            rest = after;
        } else {
            if after.is_empty() && action_follows {
                out.push_str(r#"{{ "{" }}"#);
            } else {
                out.push('{');
            }
            rest = after;
        }
    }
    out.push_str(rest);
}

/// `value` as a double-quoted YAML scalar: `"` and `\` escaped, and every character YAML does
/// not allow as is (or would read as a line break) as an escape.
pub(crate) fn push_yaml_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' | '\u{a0}'..='\u{2027}' | '\u{202a}'..='\u{d7ff}' | '\u{e000}'..='\u{fefe}' => out.push(c),
            '\u{ff00}'..='\u{fffd}' | '\u{10000}'.. => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{Condition, Severity};

    fn rule(condition: Condition) -> AlertRule {
        AlertRule::builder("r").condition(condition).build().expect("a valid rule")
    }

    fn expr(condition: Condition) -> String {
        rule(condition).promql().expect("a PromQL form")
    }

    #[test]
    fn expressions_for_every_kind() {
        let five_minutes = Duration::from_secs(300);
        assert_eq!(expr(Condition::gauge("queue_depth").above(1000.0)), "max(queue_depth) > 1000");
        assert_eq!(
            expr(Condition::gauge("pool_free").with_label("pool", "db").below(2.5)),
            r#"min(pool_free{pool="db"}) < 2.5"#
        );
        assert_eq!(
            expr(Condition::counter_rate("job_retries_total").method("POST").above(0.1)),
            r#"sum(rate(job_retries_total{method="POST"}[5m])) > 0.1"#
        );
        // HTTP 5xx and gRPC server errors, out of both (either may have no series).
        assert_eq!(
            expr(Condition::error_rate_percent().window(five_minutes).above(5.0)),
            concat!(
                r#"((sum(rate(http_requests_total{status=~"5.."}[5m])) or vector(0)) + "#,
                r#"(sum(rate(rpc_server_duration_seconds_count{rpc_grpc_status_code=~"2|4|12|13|14|15"}[5m])) or vector(0))) / "#,
                r#"((sum(rate(http_requests_total[5m])) or vector(0)) + "#,
                r#"(sum(rate(rpc_server_duration_seconds_count[5m])) or vector(0))) * 100 > 5"#
            )
        );
        assert_eq!(
            expr(Condition::rpc_error_rate_percent().with_label("rpc_service", "shop.Cart").above(1.0)),
            concat!(
                r#"sum(rate(rpc_server_duration_seconds_count{rpc_grpc_status_code=~"2|4|12|13|14|15",rpc_service="shop.Cart"}[5m])) / "#,
                r#"sum(rate(rpc_server_duration_seconds_count{rpc_service="shop.Cart"}[5m])) * 100 > 1"#
            )
        );
        assert_eq!(
            expr(Condition::http_error_rate_percent().endpoint("/users/{id}").method("GET").above(1.0)),
            r#"sum(rate(http_requests_total{status=~"5..",endpoint="/users/{id}",method="GET"}[5m])) / sum(rate(http_requests_total{endpoint="/users/{id}",method="GET"}[5m])) * 100 > 1"#
        );
        assert_eq!(
            expr(Condition::latency_quantile(0.99).window(Duration::from_secs(600)).above(0.5)),
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[10m]))) > 0.5"
        );
        assert_eq!(
            expr(Condition::histogram_quantile("job_seconds", 0.5).with_label("job", "mail").below(-1.0)),
            r#"histogram_quantile(0.5, sum by (le) (rate(job_seconds_bucket{job="mail"}[5m]))) < -1"#
        );
        assert_eq!(expr(Condition::cpu_usage_percent().above(80.0)), "rate(process_cpu_seconds_total[1m]) * 100 > 80");
        assert_eq!(
            expr(Condition::cpu_usage_percent().window(Duration::from_secs(90)).above(80.0)),
            "rate(process_cpu_seconds_total[1m30s]) * 100 > 80"
        );
    }

    #[test]
    fn memory_and_custom_conditions_have_no_expression() {
        let memory = rule(Condition::memory_usage_percent().above(90.0)).promql().expect_err("no PromQL form");
        assert!(memory.contains("no metric carries the limit"), "{memory}");
        let custom = rule(Condition::custom("free_slots", |_| None).below(2.0)).promql().expect_err("no PromQL form");
        assert!(custom.contains("\"free_slots\" is a Rust closure"), "{custom}");
    }

    #[test]
    fn matcher_values_are_escaped_promql_strings() {
        assert_eq!(
            expr(Condition::gauge("g").with_label("path", "C:\\tmp \"x\"\n\t\u{1}é").above(1.0)),
            r#"max(g{path="C:\\tmp \"x\"\n\t\u0001é"}) > 1"#
        );
    }

    #[test]
    fn durations_in_prometheus_format() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(48 * 3600 + 1), "48h1s"),
            (Duration::from_millis(61_001), "1m1s1ms"),
            (Duration::from_micros(1), "1ms"),
            (Duration::from_micros(1_500), "2ms"),
        ];
        for (value, expected) in cases {
            assert_eq!(duration(value), expected, "{value:?}");
        }
    }

    fn summary(message: &str) -> String {
        let rule = AlertRule::builder("high_error_rate")
            .condition(Condition::error_rate_percent().above(5.0))
            .severity(Severity::Critical)
            .label("service", "api {{x}}")
            .message(message)
            .build()
            .expect("a valid rule");
        go_template(&rule)
    }

    #[test]
    fn templates_become_go_templates() {
        assert_eq!(
            summary("Error rate is {error_rate_percent:.1}% (threshold {threshold}%)"),
            r#"Error rate is {{ printf "%.1f" $value }}% (threshold 5%)"#
        );
        assert_eq!(
            summary("{alertname} [{severity}] on {labels.service}: {value} > {threshold:.2}"),
            r#"high_error_rate [critical] on api {{ "{{" }}x}}: {{ $value }} > 5.00"#
        );
        // The default message.
        let rule = AlertRule::builder("slow")
            .condition(Condition::latency_quantile(0.99).above(0.5))
            .build()
            .expect("a valid rule");
        assert_eq!(go_template(&rule), "slow: latency_seconds is {{ $value }}, above 0.5");
    }

    #[test]
    fn literal_braces_cannot_open_an_action() {
        // `{{` in a template is one literal `{`.
        assert_eq!(summary("a {{{{ b }}}} c"), r#"a {{ "{{" }} b }} c"#);
        assert_eq!(summary("{{{{{{x"), r#"{{ "{{" }}{x"#);
        // A `{` just before the value would make `{{{ $value }}`.
        assert_eq!(summary("{{{value}"), r#"{{ "{" }}{{ $value }}"#);
        assert_eq!(summary("{{{{{{{value}"), r#"{{ "{{" }}{{ "{" }}{{ $value }}"#);
        assert_eq!(summary("{{ {value}"), r#"{ {{ $value }}"#);
        // At the end nothing follows.
        assert_eq!(summary("{value}{{"), r#"{{ $value }}{"#);
    }

    #[test]
    fn yaml_strings_are_escaped() {
        let mut out = String::new();
        push_yaml_string(&mut out, "a\"b\\c\nd\te\r\u{0}\u{7f}\u{85}\u{2028}\u{feff}\u{fffe}é€😀: #'");
        assert_eq!(out, r#""a\"b\\c\nd\te\r\u0000\u007F\u0085\u2028\uFEFF\uFFFEé€😀: #'""#);
    }

    #[test]
    fn a_rules_file() {
        let manager = AlertManager::builder()
            .rule(
                AlertRule::builder("high_error_rate")
                    .condition(Condition::http_error_rate_percent().window(Duration::from_secs(300)).above(5.0))
                    .severity(Severity::Critical)
                    .message("Error rate is {error_rate_percent:.1}%")
                    .label("service", "api-gateway")
                    .label("null", "{{x}}\"")
                    .for_duration(Duration::from_secs(60))
                    .keep_firing_for(Duration::from_secs(90))
                    .build()
                    .expect("a valid rule"),
            )
            .rule(rule(Condition::memory_usage_percent().above(90.0)))
            .rule(
                AlertRule::builder("queue_backlog")
                    .condition(Condition::gauge("queue_depth").with_label("queue", "e\"mail").above(1000.0))
                    .message("{value} waiting")
                    .description("a \"b\"\n{{c}}\\d")
                    .runbook_url("https://runbooks.example.com/q?team=a&x=1")
                    .dashboard_url("https://grafana.example.com/d/q")
                    .build()
                    .expect("a valid rule"),
            )
            .build()
            .expect("a manager");
        let rules = manager.prometheus_rules("api \"gw\"");
        let expected = concat!(
            "# r: not rendered: memory use is a share of the cgroup's or the machine's memory limit, and no metric carries the limit\n",
            "groups:\n",
            "  - name: \"api \\\"gw\\\"\"\n",
            "    rules:\n",
            "      - alert: \"high_error_rate\"\n",
            "        expr: \"sum(rate(http_requests_total{status=~\\\"5..\\\"}[5m])) / sum(rate(http_requests_total[5m])) * 100 > 5\"\n",
            "        for: \"1m\"\n",
            "        keep_firing_for: \"1m30s\"\n",
            "        labels:\n",
            "          severity: \"critical\"\n",
            "          \"null\": \"{{ \\\"{{\\\" }}x}}\\\"\"\n",
            "          \"service\": \"api-gateway\"\n",
            "        annotations:\n",
            "          summary: \"Error rate is {{ printf \\\"%.1f\\\" $value }}%\"\n",
            "      - alert: \"queue_backlog\"\n",
            "        expr: \"max(queue_depth{queue=\\\"e\\\\\\\"mail\\\"}) > 1000\"\n",
            "        labels:\n",
            "          severity: \"warning\"\n",
            "        annotations:\n",
            "          summary: \"{{ $value }} waiting\"\n",
            "          description: \"a \\\"b\\\"\\n{{ \\\"{{\\\" }}c}}\\\\d\"\n",
            "          runbook_url: \"https://runbooks.example.com/q?team=a&x=1\"\n",
            "          dashboard_url: \"https://grafana.example.com/d/q\"\n",
        );
        assert_eq!(rules.yaml(), expected);
        assert_eq!(rules.skipped().len(), 1);
        assert_eq!(rules.skipped()[0].0, "r");
    }

    #[test]
    fn a_file_with_nothing_to_render_has_an_empty_group() {
        let manager = AlertManager::builder()
            .rule(rule(Condition::custom("free_slots", |_| None).below(2.0)))
            .build()
            .expect("a manager");
        let rules = manager.prometheus_rules("obs");
        assert_eq!(
            rules.yaml(),
            "# r: not rendered: the custom condition \"free_slots\" is a Rust closure, not a query\n\
             groups:\n  - name: \"obs\"\n    rules: []\n"
        );
    }
}
