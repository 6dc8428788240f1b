//! obs's registry over OTLP/gRPC to a real decoder (the official `opentelemetry-proto` types
//! behind grpcio): cumulative sums, gauges and explicit-bucket histograms with the values the test
//! recorded, the request metrics with the exemplar of the sampled call (the trace and span the
//! same receiver got over OTLP), the spans' resource, and a last export when obs stops. One obs
//! per process: this file holds one test.

mod common;

use std::time::Duration;

use common::otlp::Sink;
use obs_runtime::metrics::otlp::OtlpMetrics;
use obs_runtime::metrics::{CounterVec, Gauge, Histogram};
use obs_runtime::trace::{Compression, Protocol, Span, TraceConfig};
use serde_json::Value;

#[obs_runtime::track_request("GET", "/otlp-metrics", trace)]
fn handler() -> Result<&'static str, String> {
    Ok("ok")
}

/// The points named `name` whose attributes hold `attributes`.
fn points<'a>(points: &'a [Value], name: &str, attributes: &[(&str, &str)]) -> Vec<&'a Value> {
    points
        .iter()
        .filter(|point| point["name"] == name)
        .filter(|point| attributes.iter().all(|(key, value)| point["attributes"][key] == *value))
        .collect()
}

#[test]
fn the_registry_reaches_a_real_decoder_over_grpc_with_exemplars_and_a_last_export_on_stop() {
    let sink = Sink::start(0);
    let jobs = CounterVec::register("otlp_test_jobs_total", "Jobs done", &["queue"]).expect("registers");
    jobs.with_labels(&["mail"]).expect("series").inc_by(3.0);
    jobs.with_labels(&["sms"]).expect("series").inc_by(2.0);
    Gauge::register("otlp_test_temperature", "Degrees").expect("registers").set(7.5);
    let latency = Histogram::register("otlp_test_latency_seconds", "Latency", &[0.1, 1.0]).expect("registers");
    for value in [0.05, 0.5, 5.0] {
        latency.observe(value);
    }
    let endpoint = format!("http://127.0.0.1:{}", sink.grpc_port);
    let guard = obs_runtime::Obs::builder()
        .service("otlp-metrics-test")
        .environment(obs_runtime::Environment::from_pairs([(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test",
        )]))
        .without_http_server()
        .tracing(
            TraceConfig::new()
                .otlp_endpoint(&endpoint)
                .protocol(Protocol::Grpc)
                .schedule_delay(Duration::from_millis(20)),
        )
        .otlp_metrics(
            OtlpMetrics::new()
                .endpoint(&endpoint)
                .protocol(Protocol::Grpc)
                .compression(Compression::Gzip)
                .header("x-tenant", "obs")
                .interval(Duration::from_millis(100)),
        )
        .init()
        .expect("installs");
    // Two calls in one sampled span: the request series' exemplar is the last one.
    let root = Span::new("otlp_metrics_root");
    let (trace_id, span_id) = {
        let context = root.context().expect("sampled");
        (context.trace_id().to_string(), context.span_id().to_string())
    };
    root.in_scope(|| {
        handler().expect("ok");
        handler().expect("ok");
    });
    drop(root);

    let received = sink.wait_for_metrics(|received| {
        !points(received, "http_requests", &[("endpoint", "/otlp-metrics")]).is_empty()
            && !points(received, "otlp_test_latency_seconds", &[]).is_empty()
    });
    let first = points(&received, "otlp_test_jobs", &[("queue", "mail")])[0];
    assert_eq!(first["type"], "sum", "{first:#}");
    assert_eq!(first["monotonic"], true);
    assert_eq!(first["temporality"], 2, "cumulative");
    assert_eq!(first["value"], 3.0);
    assert_eq!(first["value_type"], "double");
    assert_eq!(first["description"], "Jobs done");
    assert_eq!(first["transport"], "grpc");
    assert_eq!(first["resource"]["service.name"], "otlp-metrics-test");
    assert_eq!(first["resource"]["deployment.environment.name"], "test");
    assert_eq!(first["resource"]["telemetry.sdk.name"], "obs");
    assert_eq!(first["scope"], "obs");
    let (start, time) =
        (first["start_time_unix_nano"].as_u64().expect("a start"), first["time_unix_nano"].as_u64().expect("a time"));
    assert!(start > 0 && start <= time, "{first:#}");
    assert_eq!(points(&received, "otlp_test_jobs", &[("queue", "sms")])[0]["value"], 2.0);

    let gauge = points(&received, "otlp_test_temperature", &[])[0];
    assert_eq!(
        (gauge["type"].as_str(), gauge["value"].as_f64(), gauge["temporality"].is_null()),
        (Some("gauge"), Some(7.5), true)
    );

    let histogram = points(&received, "otlp_test_latency_seconds", &[])[0];
    assert_eq!(histogram["type"], "histogram", "{histogram:#}");
    assert_eq!(histogram["unit"], "s");
    assert_eq!(histogram["temporality"], 2);
    assert_eq!(histogram["bounds"], serde_json::json!([0.1, 1.0]));
    assert_eq!(histogram["bucket_counts"], serde_json::json!([1, 1, 1]));
    assert_eq!(histogram["count"], 3);
    assert_eq!(histogram["sum"], 5.55);

    // The request metrics: two calls, the counter's exemplar and the duration's (in one of the
    // buckets) are the sampled span's.
    let requests = points(&received, "http_requests", &[("endpoint", "/otlp-metrics"), ("status", "200")])[0];
    assert_eq!((requests["value"].as_f64(), requests["attributes"]["method"].as_str()), (Some(2.0), Some("GET")));
    let exemplar = &requests["exemplars"][0];
    assert_eq!(exemplar["trace_id"], trace_id.as_str(), "{requests:#}");
    let durations = points(&received, "http_request_duration_seconds", &[("endpoint", "/otlp-metrics")])[0];
    assert_eq!(durations["count"], 2);
    // One exemplar per bucket the calls fell in (one or two), all in the root's trace; the
    // counter's is one of them (the latest call's).
    let exemplars = durations["exemplars"].as_array().expect("exemplars");
    assert!(matches!(exemplars.len(), 1 | 2), "{durations:#}");
    assert!(exemplars.iter().all(|each| each["trace_id"] == trace_id.as_str()), "{durations:#}");
    assert!(exemplars.iter().any(|each| each["span_id"] == exemplar["span_id"]), "{durations:#}");
    // The exemplar's span is the call's: a child of the root the test made, as the receiver got it.
    let spans = sink.wait_for(|spans| spans.iter().any(|span| span["span_id"] == exemplar["span_id"]));
    let call = spans.iter().find(|span| span["span_id"] == exemplar["span_id"]).expect("the call's span");
    assert_eq!(
        (call["trace_id"].as_str(), call["parent_span_id"].as_str()),
        (Some(trace_id.as_str()), Some(span_id.as_str())),
        "{call:#}"
    );

    // An export asked for is done when `export_now` returns: the receiver has it.
    jobs.with_labels(&["mail"]).expect("series").inc_by(4.0);
    let sent = guard.metrics_export().expect("the export runs").export_now().expect("exported");
    let now = sink.metrics();
    let mail = points(&now, "otlp_test_jobs", &[("queue", "mail")]);
    assert_eq!(mail.last().map(|point| point["value"].clone()), Some(Value::from(7.0)), "{mail:#?}");
    let time = &mail.last().expect("a point")["time_unix_nano"];
    assert_eq!(now.iter().filter(|point| point["time_unix_nano"] == *time).count(), sent, "its points, all received");
    // What was counted after the last export is in the one made when obs stops.
    jobs.with_labels(&["mail"]).expect("series").inc_by(1.0);
    assert!(guard.shutdown(), "stopped in time");
    let last = sink.metrics();
    let mail = points(&last, "otlp_test_jobs", &[("queue", "mail")]);
    assert_eq!(mail.last().map(|point| point["value"].clone()), Some(Value::from(8.0)), "{mail:#?}");
    // Every request was gRPC, gzip-compressed, and accepted.
    let requests = sink.requests();
    let metrics: Vec<&Value> = requests.iter().filter(|request| request["signal"] == "metrics").collect();
    assert!(!metrics.is_empty());
    assert!(
        metrics
            .iter()
            .all(|request| request["transport"] == "grpc" && request["encoding"] == "gzip" && request["status"] == 0),
        "{metrics:#?}"
    );
}
