//! Grafana dashboards for what obs exports: [`grafana`] writes one for a service, its panels
//! reading the families obs serves (`http_requests_total`, `http_request_duration_seconds`, the
//! objectives' gauges, `health_check_status`, `alerts_firing`, the process's).
//!
//! ```
//! let json = obs_runtime::dashboards::grafana("user-service")
//!     .trace_url("http://127.0.0.1:16686/trace/${__value.raw}")?
//!     .json();
//! let dashboard: serde_json::Value = serde_json::from_str(&json)?;
//! assert_eq!(dashboard["title"], "user-service");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::{Value, json};

/// A dashboard being described; [`Grafana::json`] writes it. Made by [`grafana`].
///
/// What it shows, for the Prometheus data source and `job` chosen at the top:
/// - a row of golden signals per endpoint (the `endpoint` variable, every endpoint by default,
///   repeated): request rate, the share of 5xx answers, latency p50, p95 and p99 (the exemplars
///   on p99, linked to the trace backend with [`trace_url`](Grafana::trace_url)), requests in
///   flight;
/// - the service level objectives given with [`slos`](Grafana::slos) (feature `alerts`): the
///   error budget left and the burn rate over each window;
/// - health checks (`health_check_status`: 1 healthy, 0.5 degraded, 0 unhealthy), alert rules
///   (`alerts_firing`), and the process's CPU and resident memory.
#[derive(Debug, Clone)]
#[must_use = "a dashboard does nothing until written with `json`"]
pub struct Grafana {
    title: String,
    uid: String,
    trace_url: Option<String>,
    slos: Vec<String>,
}

/// A dashboard for `service` (its title; its `uid`, until [`Grafana::uid`], is made from it).
pub fn grafana(service: &str) -> Grafana {
    let uid: String = service
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .take(40)
        .collect();
    Grafana { title: service.to_owned(), uid, trace_url: None, slos: Vec::new() }
}

/// Why a dashboard setting is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardError(String);

impl std::fmt::Display for DashboardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DashboardError {}

/// The range of the panels' rates: Grafana's `$__rate_interval` (four scrape intervals at least).
const RANGE: &str = "$__rate_interval";

impl Grafana {
    /// The dashboard's `uid` (Grafana's: 1 to 40 letters, digits, `-` or `_`).
    pub fn uid(mut self, uid: &str) -> Result<Grafana, DashboardError> {
        if uid.is_empty() || uid.len() > 40 || !uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(DashboardError("a uid is 1 to 40 letters, digits, `-` or `_`".into()));
        }
        self.uid = uid.to_owned();
        Ok(self)
    }

    /// Where an exemplar's trace opens: a URL template holding `${__value.raw}`, which Grafana
    /// fills with the exemplar's `trace_id` (Jaeger: `http://jaeger:16686/trace/${__value.raw}`).
    pub fn trace_url(mut self, template: &str) -> Result<Grafana, DashboardError> {
        let web = template.starts_with("http://") || template.starts_with("https://");
        if !web || !template.contains("${__value.raw}") || template.chars().any(char::is_whitespace) {
            return Err(DashboardError(
                "the trace URL is an http:// or https:// template holding ${__value.raw}, with no spaces".into(),
            ));
        }
        self.trace_url = Some(template.to_owned());
        Ok(self)
    }

    /// A row for each of the manager's objectives: error budget left and burn rates.
    #[cfg(feature = "alerts")]
    pub fn slos(mut self, manager: &crate::alerts::AlertManager) -> Grafana {
        self.slos = manager.slos().into_iter().map(|slo| slo.name).collect();
        self
    }

    /// The dashboard as Grafana's JSON model (to import, or to provision from a file).
    pub fn json(&self) -> String {
        let mut layout = Layout::default();
        let mut panels = Vec::new();
        // Golden signals, a row per endpoint.
        panels.push(layout.row("Golden signals: $endpoint", Some("endpoint")));
        let requests = r#"http_requests_total{job=~"$job",endpoint=~"$endpoint"}"#;
        let failed = r#"http_requests_total{job=~"$job",endpoint=~"$endpoint",status=~"5.."}"#;
        panels.push(layout.panel(
            "timeseries",
            "Request rate",
            "reqps",
            vec![target(&format!("sum by (endpoint) (rate({requests}[{RANGE}]))"), "{{endpoint}}", false)],
        ));
        panels.push(layout.panel(
            "timeseries",
            "Errors (5xx share)",
            "percentunit",
            vec![target(
                &format!("sum by (endpoint) (rate({failed}[{RANGE}])) / sum by (endpoint) (rate({requests}[{RANGE}]))"),
                "{{endpoint}}",
                false,
            )],
        ));
        let buckets = r#"http_request_duration_seconds_bucket{job=~"$job",endpoint=~"$endpoint"}"#;
        let quantile = |q: &str| format!("histogram_quantile({q}, sum by (le) (rate({buckets}[{RANGE}])))");
        let mut latency = layout.panel(
            "timeseries",
            "Latency",
            "s",
            vec![
                target(&quantile("0.5"), "p50", false),
                target(&quantile("0.95"), "p95", false),
                target(&quantile("0.99"), "p99", true),
            ],
        );
        if let Some(url) = &self.trace_url {
            latency["fieldConfig"]["overrides"] = json!([{
                "matcher": {"id": "byName", "options": "trace_id"},
                "properties": [{"id": "links", "value": [{"title": "Open the trace", "url": url, "targetBlank": true}]}],
            }]);
        }
        panels.push(latency);
        panels.push(layout.panel(
            "timeseries",
            "In flight",
            "short",
            vec![target(r#"sum(http_requests_in_flight{job=~"$job",endpoint=~"$endpoint"})"#, "in flight", false)],
        ));
        // The objectives.
        if !self.slos.is_empty() {
            panels.push(layout.row("Service level objectives", None));
            for slo in &self.slos {
                let selector = format!(r#"{{job=~"$job",slo="{slo}"}}"#);
                panels.push(layout.panel(
                    "stat",
                    &format!("{slo}: error budget left"),
                    "percentunit",
                    vec![target(&format!("slo_error_budget_remaining_ratio{selector}"), slo, false)],
                ));
                panels.push(layout.panel(
                    "timeseries",
                    &format!("{slo}: burn rate"),
                    "short",
                    vec![target(&format!("slo_burn_rate{selector}"), "{{window}}", false)],
                ));
            }
        }
        // Health, alerts, the process.
        panels.push(layout.row("Health, alerts and the process", None));
        let mut health = layout.panel(
            "stat",
            "Health checks",
            "none",
            vec![target(r#"health_check_status{job=~"$job"}"#, "{{check}}", false)],
        );
        health["fieldConfig"]["defaults"]["mappings"] = json!([{
            "type": "value",
            "options": {
                "0": {"text": "unhealthy", "color": "red"},
                "0.5": {"text": "degraded", "color": "orange"},
                "1": {"text": "healthy", "color": "green"},
            },
        }]);
        panels.push(health);
        panels.push(layout.panel(
            "stat",
            "Alerts firing",
            "none",
            vec![target(r#"alerts_firing{job=~"$job"}"#, "{{alertname}} ({{severity}})", false)],
        ));
        panels.push(layout.panel(
            "timeseries",
            "CPU (cores)",
            "short",
            vec![target(&format!(r#"rate(process_cpu_seconds_total{{job=~"$job"}}[{RANGE}])"#), "{{instance}}", false)],
        ));
        panels.push(layout.panel(
            "timeseries",
            "Resident memory",
            "bytes",
            vec![target(r#"process_resident_memory_bytes{job=~"$job"}"#, "{{instance}}", false)],
        ));
        let datasource = json!({"type": "prometheus", "uid": "${datasource}"});
        let dashboard = json!({
            "uid": self.uid,
            "title": self.title,
            "tags": ["obs"],
            "timezone": "browser",
            "editable": true,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "refresh": "30s",
            "time": {"from": "now-1h", "to": "now"},
            "templating": {"list": [
                {
                    "type": "datasource",
                    "name": "datasource",
                    "label": "Data source",
                    "query": "prometheus",
                },
                {
                    "type": "query",
                    "name": "job",
                    "label": "Job",
                    "datasource": datasource,
                    "query": "label_values(http_requests_total, job)",
                    "refresh": 2,
                    "includeAll": true,
                    "multi": true,
                    "allValue": ".*",
                },
                {
                    "type": "query",
                    "name": "endpoint",
                    "label": "Endpoint",
                    "datasource": datasource,
                    "query": "label_values(http_requests_total{job=~\"$job\"}, endpoint)",
                    "refresh": 2,
                    "includeAll": true,
                    "multi": true,
                    "allValue": ".*",
                },
            ]},
            "panels": panels,
        });
        dashboard.to_string()
    }
}

/// A Prometheus query of a panel.
fn target(expr: &str, legend: &str, exemplar: bool) -> Value {
    json!({
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "exemplar": exemplar,
        "refId": "A",
    })
}

/// Places panels on Grafana's grid: 24 columns, four panels a line, rows across.
#[derive(Default)]
struct Layout {
    id: u32,
    x: u32,
    y: u32,
}

impl Layout {
    fn next_id(&mut self) -> u32 {
        self.id += 1;
        self.id
    }

    fn row(&mut self, title: &str, repeat: Option<&str>) -> Value {
        if self.x > 0 {
            self.x = 0;
            self.y += 8;
        }
        let mut row = json!({
            "type": "row",
            "id": self.next_id(),
            "title": title,
            "collapsed": false,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "panels": [],
        });
        if let Some(variable) = repeat {
            row["repeat"] = variable.into();
        }
        self.y += 1;
        row
    }

    fn panel(&mut self, kind: &str, title: &str, unit: &str, targets: Vec<Value>) -> Value {
        let mut targets = targets;
        for (index, target) in targets.iter_mut().enumerate() {
            target["refId"] = char::from(b'A' + index as u8).to_string().into();
        }
        let panel = json!({
            "type": kind,
            "id": self.next_id(),
            "title": title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 6, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": targets,
        });
        self.x += 6;
        if self.x >= 24 {
            self.x = 0;
            self.y += 8;
        }
        panel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert!(grafana("a").uid("").is_err());
        assert!(grafana("a").uid("has space").is_err());
        assert!(grafana("a").trace_url("http://jaeger/trace/").is_err());
        assert!(grafana("a").trace_url("ftp://jaeger/${__value.raw}").is_err());
        let dashboard: Value = serde_json::from_str(&grafana("user service/eu").json()).expect("JSON");
        assert_eq!(dashboard["uid"], "user-service-eu");
    }

    #[test]
    fn panels_sit_on_the_grid_without_overlapping() {
        let dashboard: Value = serde_json::from_str(&grafana("a").json()).expect("JSON");
        let boxes: Vec<(u64, u64, u64, u64)> = dashboard["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .map(|panel| {
                let at = &panel["gridPos"];
                let n = |key: &str| at[key].as_u64().expect("a number");
                (n("x"), n("y"), n("w"), n("h"))
            })
            .collect();
        for (index, a) in boxes.iter().enumerate() {
            assert!(a.0 + a.2 <= 24, "{a:?}");
            for b in &boxes[index + 1..] {
                let apart = a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
    }
}
