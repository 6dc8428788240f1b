//! obs's registry over OTLP/HTTP configured by the environment alone (`OTEL_METRICS_EXPORTER`,
//! the metrics signal's endpoint and headers, `OTEL_METRIC_EXPORT_INTERVAL`, delta temporality),
//! to a real decoder (the official `opentelemetry-proto` types): each export carries what changed
//! since the last one that succeeded, a series that did not change is not sent, and an export the
//! receiver refused loses nothing (the next one carries its change) while its points are counted
//! as dropped. One obs per process: this file holds one test.

mod common;

use common::otlp::Sink;
use obs_runtime::metrics::{Counter, Snapshot};
use serde_json::Value;

fn named<'a>(points: &'a [Value], name: &str) -> Vec<&'a Value> {
    points.iter().filter(|point| point["name"] == name).collect()
}

#[test]
fn delta_exports_carry_what_changed_and_a_refused_export_loses_nothing() {
    // The first request is refused for good (HTTP 400: no retry).
    let sink = Sink::builder().fail_first(1).fail_status(400).start();
    let orders = Counter::register("otlp_delta_orders_total", "Orders").expect("registers");
    let marker =
        Counter::register("otlp_delta_marker_total", "Moves when the test wants an export to show").expect("registers");
    orders.inc_by(5.0);
    let endpoint = format!("http://127.0.0.1:{}/v1/metrics", sink.http_port);
    let environment = obs_runtime::Environment::from_pairs([
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9/not-this-one"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=obs"),
    ]);
    let guard = obs_runtime::Obs::builder()
        .service("otlp-delta-test")
        .environment(environment)
        .without_http_server()
        .init()
        .expect("installs");
    // The refused export's 5 come with the next one, from the exporter's start.
    let received = sink.wait_for_metrics(|points| !named(points, "otlp_delta_orders").is_empty());
    let first = named(&received, "otlp_delta_orders");
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!((first[0]["value"].as_f64(), first[0]["temporality"].as_i64()), (Some(5.0), Some(1)), "{:#}", first[0]);
    assert_eq!(first[0]["monotonic"], true);
    let dropped = Snapshot::take().sum("obs_otlp_metric_points_dropped_total", &[]);
    assert!(dropped.is_some_and(|dropped| dropped >= 1.0), "the refused export's points are counted: {dropped:?}");

    // 2 more: the next point is 2, starting where the last one ended.
    orders.inc_by(2.0);
    let received = sink.wait_for_metrics(|points| named(points, "otlp_delta_orders").len() == 2);
    let second = named(&received, "otlp_delta_orders")[1];
    assert_eq!(second["value"], 2.0, "{second:#}");
    // It starts where the export before it (the last that succeeded: every one after the refused
    // one did) ended.
    let before = received
        .iter()
        .filter_map(|point| point["time_unix_nano"].as_u64())
        .filter(|time| Some(*time) < second["time_unix_nano"].as_u64())
        .max();
    assert_eq!(second["start_time_unix_nano"].as_u64(), before, "{second:#}");

    // Nothing changed: an export that carries the marker carries no orders.
    marker.inc();
    let moved =
        |points: &[Value]| named(points, "otlp_delta_marker").into_iter().find(|point| point["value"] == 1.0).cloned();
    let received = sink.wait_for_metrics(|points| moved(points).is_some());
    let time = moved(&received).expect("the marker's 1")["time_unix_nano"].clone();
    assert!(named(&received, "otlp_delta_orders").iter().all(|point| point["time_unix_nano"] != time), "{received:#?}");
    assert!(guard.shutdown(), "stopped in time");

    let requests = sink.requests();
    let metrics: Vec<&Value> = requests.iter().filter(|request| request["signal"] == "metrics").collect();
    assert_eq!(metrics[0]["status"], 400, "{metrics:#?}");
    assert!(
        metrics[1..].iter().all(|request| request["status"] == 200 && request["transport"] == "http"),
        "{metrics:#?}"
    );
}
