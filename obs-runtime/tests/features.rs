//! A service's code compiles and behaves the same whichever features are on. CI also runs this
//! file with `--no-default-features`, where the attribute must leave each function as written and
//! the user's `RequestOutcome` impls must still compile.

use obs_runtime::metrics::RequestOutcome;
use obs_runtime::track_request;

#[derive(Debug, PartialEq)]
enum ApiError {
    NotFound,
}

impl RequestOutcome for ApiError {
    fn http_status(&self) -> u16 {
        404
    }
}

/// Delegates to the `http` crate's impl, which exists whatever the features.
struct Teapot;

impl RequestOutcome for Teapot {
    fn http_status(&self) -> u16 {
        http::StatusCode::IM_A_TEAPOT.http_status()
    }
}

struct Store {
    items: Vec<u32>,
}

impl Store {
    #[track_request("GET", "/features/items", buckets = [0.1, 1], track_concurrency)]
    fn get(&self, index: usize) -> Result<u32, ApiError> {
        self.items.get(index).copied().ok_or(ApiError::NotFound)
    }

    #[track_request(method = "POST", endpoint = "/features/items")]
    async fn push(&mut self, item: u32) -> &mut Vec<u32> {
        self.items.push(item);
        &mut self.items
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

#[test]
fn instrumented_code_runs_with_or_without_the_metrics_feature() {
    let mut store = Store { items: vec![1] };
    assert_eq!(store.get(0), Ok(1));
    assert_eq!(store.get(4), Err(ApiError::NotFound));
    assert_eq!(block_on(store.push(2)).len(), 2);
    assert_eq!(ApiError::NotFound.http_status(), 404);
    assert_eq!(Teapot.http_status(), 418);
}

#[cfg(feature = "metrics")]
#[test]
fn with_the_metrics_feature_the_calls_are_recorded() {
    #[track_request("GET", "/features/recorded")]
    fn recorded() -> Result<(), ApiError> {
        Err(ApiError::NotFound)
    }
    let _ = recorded();
    let body = obs_runtime::metrics::encode(obs_runtime::metrics::Format::Text);
    assert!(
        body.contains(r#"http_requests_total{method="GET",endpoint="/features/recorded",status="404"} 1"#),
        "{body}"
    );
}

#[cfg(not(feature = "metrics"))]
#[test]
fn without_the_metrics_feature_nothing_is_served() {
    // The server and the registry are compiled out; asking for them is an error naming why.
    let error = obs_runtime::Obs::builder().default_buckets(&[0.1]).init().expect_err("metrics are off");
    assert!(error.to_string().contains("`metrics` feature is off"), "{error}");
}

// Traced code compiles whatever the features: without `trace` the attribute leaves the function
// as written and `span_attributes!` is nothing.
#[obs_runtime::trace_operation("features_traced", args, fields(db.system = "postgresql"), err)]
fn traced(user_id: u32) -> Result<u32, ApiError> {
    obs_runtime::span_attributes!(user_id = user_id, "cache.hit" = true);
    if user_id == 0 { Err(ApiError::NotFound) } else { Ok(user_id * 2) }
}

#[test]
fn traced_functions_behave_the_same() {
    assert_eq!(traced(2), Ok(4));
    assert_eq!(traced(0), Err(ApiError::NotFound));
}
