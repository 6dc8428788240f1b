//! An objective as Prometheus rules, as Sloth writes them: a recording rule for the share of bad
//! calls over each window (`slo:sli_error:ratio_rate5m{slo="..."}`), the objective and the budget
//! left, and the burn-rate alerts over the recorded shares; one group per objective, so that its
//! alerts read the shares recorded in the same evaluation.

use std::time::Duration;

use super::{Objective, Sli, Slo, window_name};
use crate::alerts::condition::Calls;
use crate::alerts::promql::{labelled, push_alert, push_promql_string, push_yaml_string};
use crate::alerts::rule::AlertRule;
use crate::metrics::rpc_names;

/// The recorded share of bad calls over `window`.
fn recorded(slo: &Objective, window: Duration) -> String {
    let mut out = format!("slo:sli_error:ratio_rate{}{{slo=", window_name(window));
    push_promql_string(&mut out, &slo.name);
    out.push('}');
    out
}

/// The burn-rate alert's expression: both windows' recorded shares, over the budget, above the
/// factor. Its value (what `$value` shows) is the long window's burn rate.
pub(crate) fn alert_expr(slo: &Slo, factor: f64, long: Duration, short: Duration) -> String {
    let slo = &slo.inner;
    let budget = slo.budget;
    format!("{} / {budget} > {factor} and {} / {budget} > {factor}", recorded(slo, long), recorded(slo, short))
}

/// `name{matchers}`, values as PromQL string literals.
fn selector(name: &str, matchers: &[(&str, &str, String)]) -> String {
    labelled(name, matchers.iter().map(|(label, operator, value)| (*label, *operator, value.as_str())))
}

/// Characters RE2 reads as operators, written literally.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The objective's own matchers: its endpoints (one exactly, several as a regular expression)
/// and its exact labels.
fn matchers(slo: &Objective) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    match slo.endpoints.as_slice() {
        [] => {}
        [endpoint] => out.push(("endpoint", "=", endpoint.clone())),
        endpoints => {
            let alternatives: Vec<String> = endpoints.iter().map(|endpoint| regex_literal(endpoint)).collect();
            out.push(("endpoint", "=~", alternatives.join("|")));
        }
    }
    for (label, value) in &slo.matchers {
        out.push((*label, "=", value.clone()));
    }
    out
}

/// A bucket bound as obs writes the `le` label: `0.25`, `1.0`.
fn le(bound: f64) -> String {
    let mut out = String::new();
    crate::metrics::push_le(&mut out, bound);
    out
}

/// The share of bad calls over `window`, from the raw series.
pub(crate) fn bad_share(slo: &Objective, window: Duration) -> String {
    let window = window_name(window);
    let rate = |selector: String| format!("sum(rate({selector}[{window}]))");
    let own = matchers(slo);
    let with = |extra: Option<(&'static str, &'static str, String)>| {
        let mut all = own.clone();
        all.extend(extra);
        all
    };
    match &slo.sli {
        Sli::Availability { calls, bad } => {
            let http_bad =
                bad.regex().map(|regex| rate(selector("http_requests_total", &with(Some(("status", "=~", regex))))));
            let http_all = rate(selector("http_requests_total", &with(None)));
            let rpc_count = format!("{}_count", rpc_names::SERVER_FAMILY);
            let rpc_bad = rate(selector(
                &rpc_count,
                &with(Some((rpc_names::STATUS_LABEL, "=~", rpc_names::SERVER_ERROR_CODES.to_owned()))),
            ));
            let rpc_all = rate(selector(&rpc_count, &with(None)));
            // A kind of error with no series yet is no error, not no value: `or vector(0)`.
            let http_bad = http_bad.map_or_else(|| "vector(0)".to_owned(), |bad| format!("({bad} or vector(0))"));
            match calls {
                Calls::Http => format!("{http_bad} / {http_all}"),
                Calls::Rpc => format!("({rpc_bad} or vector(0)) / {rpc_all}"),
                Calls::All => format!(
                    "({http_bad} + ({rpc_bad} or vector(0))) / (({http_all} or vector(0)) + ({rpc_all} or vector(0)))"
                ),
            }
        }
        Sli::Latency { histogram, threshold } => {
            // Only the series that have a bucket at the threshold, as obs counts them: their
            // `+Inf` buckets, where the threshold's bucket exists beside them.
            let bucket = format!("{histogram}_bucket");
            let at_bound = format!("rate({}[{window}])", selector(&bucket, &with(Some(("le", "=", le(*threshold))))));
            let all = format!("rate({}[{window}])", selector(&bucket, &with(Some(("le", "=", "+Inf".to_owned())))));
            let total = format!("sum({all} and ignoring (le) {at_bound})");
            format!("({total} - sum({at_bound})) / {total}")
        }
    }
}

/// The objective's group (`{group}-slo-{name}`): its recording rules, then `alerts`.
pub(crate) fn render_group(out: &mut String, group: &str, slo: &Slo, alerts: &[&AlertRule]) {
    let objective = &slo.inner;
    out.push_str("  - name: ");
    push_yaml_string(out, &format!("{group}-slo-{}", objective.name));
    out.push_str("\n    rules:\n");
    let mut record = |name: &str, expr: &str| {
        out.push_str("      - record: ");
        push_yaml_string(out, name);
        out.push_str("\n        expr: ");
        push_yaml_string(out, expr);
        out.push_str("\n        labels:\n          slo: ");
        push_yaml_string(out, &objective.name);
        out.push('\n');
    };
    for window in objective.windows() {
        record(&format!("slo:sli_error:ratio_rate{}", window_name(window)), &bad_share(objective, window));
    }
    record("slo:objective:ratio", &format!("vector({})", objective.objective));
    record(
        "slo:error_budget_remaining:ratio",
        &format!("1 - {} / {}", recorded(objective, objective.window), objective.budget),
    );
    for rule in alerts {
        if let Ok(expr) = rule.promql() {
            push_alert(out, rule, &expr);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn shares_of_bad_calls_read_the_raw_series() {
        let hour = Duration::from_secs(3600);
        let slo = Slo::availability("a", 0.999).endpoint("/users/{id}").method("GET").build().expect("valid");
        assert_eq!(
            bad_share(&slo.inner, hour),
            r#"(sum(rate(http_requests_total{endpoint="/users/{id}",method="GET",status=~"5.."}[1h])) or vector(0)) / sum(rate(http_requests_total{endpoint="/users/{id}",method="GET"}[1h]))"#
        );
        let both =
            Slo::availability("b", 0.999).endpoint("/a.b").endpoint("/c/{id}").error_status(|s| s == 429 || s >= 500);
        assert_eq!(
            bad_share(&both.build().expect("valid").inner, hour),
            r#"(sum(rate(http_requests_total{endpoint=~"/a\\.b|/c/\\{id\\}",status=~"429|5.."}[1h])) or vector(0)) / sum(rate(http_requests_total{endpoint=~"/a\\.b|/c/\\{id\\}"}[1h]))"#
        );
        let rpc = Slo::availability("c", 0.99).rpc_service("shop.Cart").build().expect("valid");
        assert_eq!(
            bad_share(&rpc.inner, Duration::from_secs(300)),
            r#"(sum(rate(rpc_server_duration_seconds_count{rpc_service="shop.Cart",rpc_grpc_status_code=~"2|4|12|13|14|15"}[5m])) or vector(0)) / sum(rate(rpc_server_duration_seconds_count{rpc_service="shop.Cart"}[5m]))"#
        );
        let latency = Slo::latency("d", 0.99, Duration::from_secs(1)).endpoint("/x").build().expect("valid");
        let all = r#"rate(http_request_duration_seconds_bucket{endpoint="/x",le="+Inf"}[1d])"#;
        let good = r#"rate(http_request_duration_seconds_bucket{endpoint="/x",le="1.0"}[1d])"#;
        assert_eq!(
            bad_share(&latency.inner, Duration::from_secs(86_400)),
            format!("(sum({all} and ignoring (le) {good}) - sum({good})) / sum({all} and ignoring (le) {good})")
        );
        assert_eq!(
            alert_expr(&slo, 14.4, hour, Duration::from_secs(300)),
            r#"slo:sli_error:ratio_rate1h{slo="a"} / 0.001 > 14.4 and slo:sli_error:ratio_rate5m{slo="a"} / 0.001 > 14.4"#
        );
        assert_eq!(
            slo.inner.windows().into_iter().map(window_name).collect::<Vec<_>>(),
            ["30d", "5m", "30m", "1h", "2h", "6h", "1d", "3d"]
        );
    }

    #[test]
    fn an_objective_without_alerts_keeps_its_recording_rules() {
        let slo = Slo::availability("quiet", 0.99).burn_rate_alerts([]).build().expect("valid");
        let manager = crate::alerts::AlertManager::builder().slo(slo).build().expect("valid");
        let rules = manager.prometheus_rules("g");
        let yaml = rules.yaml();
        assert!(yaml.contains("  - name: \"g-slo-quiet\"\n"), "{yaml}");
        assert!(yaml.contains("record: \"slo:sli_error:ratio_rate30d\""), "{yaml}");
        assert!(yaml.contains("record: \"slo:error_budget_remaining:ratio\""), "{yaml}");
        assert!(!yaml.contains("alert:"), "{yaml}");
    }
}
