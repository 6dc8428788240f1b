//! The tower layer's routes share the request families' series limit (2,000 label sets by
//! default): a router fed raw paths (100,000 of them here) makes 2,000 series, and every request
//! after that is counted in the one overflow series `{otel_metric_overflow="true"}`, exactly, as
//! is each refusal in `obs_metric_series_overflow_total{family="http_requests_total"}`. Its own
//! process: the request series are the process's, and this test makes the only ones.

mod common;

use http::{Request, Response};
use obs_runtime::metrics::{DEFAULT_SERIES_LIMIT, Format, Samples, encode, series_count};
use obs_runtime::trace::tower::HttpLayer;
use tower::{Layer, ServiceExt};

#[derive(Clone)]
struct Template(String);

fn template_of(extensions: &http::Extensions) -> Option<&str> {
    extensions.get::<Template>().map(|template| template.0.as_str())
}

const ROUTES: usize = 100_000;

/// The requests of each route, once, in order; then the first route once more.
async fn send_every_route() {
    let ok = tower::service_fn(|_: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(())) });
    let service = HttpLayer::new(template_of).layer(ok);
    for index in (0..ROUTES).chain([0]) {
        let mut request = Request::builder().method("GET").uri("/").body(()).expect("a request");
        request.extensions_mut().insert(Template(format!("/overflow/{index}")));
        service.clone().oneshot(request).await.expect("infallible");
    }
}

fn routes_sent() -> &'static Samples {
    static SENT: std::sync::OnceLock<Samples> = std::sync::OnceLock::new();
    SENT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().build().expect("a runtime").block_on(send_every_route());
        Samples::take()
    })
}

#[test]
fn routes_past_the_limit_share_one_overflow_series_and_totals_stay_exact() {
    let samples = routes_sent();
    let limit = DEFAULT_SERIES_LIMIT;
    let overflowed = (ROUTES - limit) as f64;
    // Exactly the limit of ordinary series, each with its requests, and one overflow series.
    let ordinary: Vec<f64> = samples
        .iter()
        .filter(|(name, _, _)| *name == "http_requests_total")
        .filter_map(|(_, mut labels, value)| labels.any(|(label, _)| label == "endpoint").then_some(value))
        .collect();
    assert_eq!(ordinary.len(), limit);
    assert_eq!(samples.get("http_requests_total", &[("endpoint", "/overflow/0"), ("status", "200")]), 2.0);
    assert_eq!(samples.get("http_requests_total", &[("endpoint", "/overflow/1999")]), 1.0);
    assert_eq!(samples.get("http_requests_total", &[("endpoint", "/overflow/2000")]), 0.0);
    let overflow = [("otel_metric_overflow", "true")];
    let overflow_lines: Vec<f64> = samples
        .iter()
        .filter_map(|(name, labels, value)| {
            (name == "http_requests_total" && labels.eq([("otel_metric_overflow", "true")])).then_some(value)
        })
        .collect();
    assert_eq!(overflow_lines.len(), 1, "one overflow series, whose only label is otel_metric_overflow");
    assert_eq!(samples.get("http_requests_total", &overflow), overflowed);
    // The grand totals: every request, in the counter and in the histogram.
    assert_eq!(samples.get("http_requests_total", &[]), (ROUTES + 1) as f64);
    assert_eq!(samples.get("http_request_duration_seconds_count", &[]), (ROUTES + 1) as f64);
    assert_eq!(samples.get("http_request_duration_seconds_count", &overflow), overflowed);
    assert_eq!(
        samples.get("http_request_duration_seconds_bucket", &[("otel_metric_overflow", "true"), ("le", "+Inf")]),
        overflowed
    );
    // Each request of a route with no series of its own is one refusal.
    assert_eq!(samples.get("obs_metric_series_overflow_total", &[("family", "http_requests_total")]), overflowed);
    // Said once.
    assert_eq!(samples.get("obs_internal_errors_total", &[("component", "metrics"), ("reason", "series_limit")]), 1.0);
    // Bounded: the ordinary series and the overflow one, whatever the number of paths.
    assert_eq!(series_count("http_requests_total"), Some(limit + 1));
}

#[test]
#[ignore = "needs promtool: scripts/install-backends.sh"]
fn promtool_accepts_the_exposition_with_the_overflow_series() {
    routes_sent();
    let body = encode(Format::Text);
    let (clean, said) = common::promtool_check_metrics(&body);
    assert!(clean, "promtool check metrics: {said}");
}
