//! Grafana dashboards for what obs exports: [`grafana`] writes one for a service, its panels
//! reading the families obs serves (`http_requests_total`, `http_request_duration_seconds`,
//! `health_check_status`, `alerts_firing`, the process's) and the objectives' recording rules
//! that [`AlertManager::prometheus_rules`](crate::alerts::AlertManager::prometheus_rules) writes.
//! [`Grafana::datasource_yaml`] provisions the Prometheus data source with exemplar links to the
//! trace backend (Grafana reads those links from the data source, not from the dashboard).
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
///   the row repeated for each): request rate, the share of 5xx answers (0 where there are none),
///   latency p50, p95 and p99 (with the exemplars of p99), requests in flight;
/// - the service level objectives given with [`slos`](Grafana::slos) (feature `alerts`), from
///   their recording rules (so across replicas and restarts, as Prometheus keeps them): the error
///   budget left and the burn rate over each window;
/// - health checks (`health_check_status`: 1 healthy, 0.5 degraded, 0 unhealthy), alert rules
///   (`alerts_firing`), and the process's CPU and resident memory.
#[derive(Debug, Clone)]
#[must_use = "a dashboard does nothing until written with `json`"]
pub struct Grafana {
    title: String,
    uid: String,
    trace_url: Option<String>,
    /// Each objective's name, error budget and windows (`5m`, ...).
    slos: Vec<(String, f64, Vec<String>)>,
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
    /// fills with the exemplar's `trace_id` (Jaeger: `http://jaeger:16686/trace/${__value.raw}`),
    /// for [`datasource_yaml`](Grafana::datasource_yaml).
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

    /// Panels for each of the manager's objectives: error budget left and burn rates, read from
    /// the recording rules of its `prometheus_rules` (load them into Prometheus).
    #[cfg(feature = "alerts")]
    pub fn slos(mut self, manager: &crate::alerts::AlertManager) -> Grafana {
        self.slos = manager
            .shared
            .slos
            .iter()
            .map(|tracker| {
                let objective = &tracker.slo.inner;
                // Its alerts' windows (the first is the objective's own: its budget is a panel).
                let windows = objective.windows().into_iter().skip(1).map(crate::alerts::window_name).collect();
                (objective.name.clone(), objective.budget, windows)
            })
            .collect();
        self
    }

    /// A Grafana provisioning file (`provisioning/datasources/*.yaml`) for the Prometheus data
    /// source at `url`, named `name`, whose exemplars link their `trace_id` to the
    /// [`trace_url`](Grafana::trace_url) (Grafana's `exemplarTraceIdDestinations`; `$$` keeps
    /// Grafana's provisioning from reading `${__value.raw}` as an environment variable).
    pub fn datasource_yaml(&self, name: &str, url: &str) -> String {
        let quoted = |text: &str| serde_json::Value::from(text).to_string();
        let mut yaml = format!(
            "apiVersion: 1\ndatasources:\n  - name: {}\n    type: prometheus\n    access: proxy\n    url: {}\n",
            quoted(name),
            quoted(url)
        );
        if let Some(template) = &self.trace_url {
            yaml.push_str(
                "    jsonData:\n      exemplarTraceIdDestinations:\n        - name: trace_id\n          url: ",
            );
            yaml.push_str(&quoted(&template.replace('$', "$$")));
            yaml.push('\n');
        }
        yaml
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
            // An endpoint with no 5xx series yet is at 0, not "No data".
            vec![target(
                &format!(
                    "(sum by (endpoint) (rate({failed}[{RANGE}])) or 0 * sum by (endpoint) (rate({requests}[{RANGE}]))) \
                     / sum by (endpoint) (rate({requests}[{RANGE}]))"
                ),
                "{{endpoint}}",
                false,
            )],
        ));
        let buckets = r#"http_request_duration_seconds_bucket{job=~"$job",endpoint=~"$endpoint"}"#;
        let quantile = |q: &str| format!("histogram_quantile({q}, sum by (le) (rate({buckets}[{RANGE}])))");
        let latency = layout.panel(
            "timeseries",
            "Latency",
            "s",
            vec![
                target(&quantile("0.5"), "p50", false),
                target(&quantile("0.95"), "p95", false),
                target(&quantile("0.99"), "p99", true),
            ],
        );
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
            for (slo, budget, windows) in &self.slos {
                let selector = format!(r#"{{slo="{slo}"}}"#);
                panels.push(layout.panel(
                    "stat",
                    &format!("{slo}: error budget left"),
                    "percentunit",
                    vec![target(&format!("slo:error_budget_remaining:ratio{selector}"), slo, false)],
                ));
                let burn_rates = windows
                    .iter()
                    .map(|window| {
                        target(&format!("slo:sli_error:ratio_rate{window}{selector} / {budget}"), window, false)
                    })
                    .collect();
                panels.push(layout.panel("timeseries", &format!("{slo}: burn rate"), "short", burn_rates));
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
            vec![target(
                r#"max by (alertname, severity) (alerts_firing{job=~"$job"})"#,
                "{{alertname}} ({{severity}})",
                false,
            )],
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
    fn the_data_source_links_exemplars_to_the_trace_backend() {
        let dashboard = grafana("a").trace_url("http://127.0.0.1:16686/trace/${__value.raw}").expect("a template");
        assert_eq!(
            dashboard.datasource_yaml("Prometheus", "http://127.0.0.1:9090"),
            "apiVersion: 1\ndatasources:\n  - name: \"Prometheus\"\n    type: prometheus\n    access: proxy\n    \
             url: \"http://127.0.0.1:9090\"\n    jsonData:\n      exemplarTraceIdDestinations:\n        - name: trace_id\n          \
             url: \"http://127.0.0.1:16686/trace/$${__value.raw}\"\n"
        );
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
