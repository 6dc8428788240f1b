//! Bodies of one short expression on one line (`async fn a() -> u32 { 1 }`): the expansion adds no
//! warning on the user's braces (this file denies warnings; rustfmt would spread the bodies over
//! lines, where rustc's `unused_braces` never fires, hence `rustfmt::skip`), and each call is
//! recorded as any other. `tests/ui/pass/no_warnings.rs` holds every shape, including
//! `#[health_check]`. With every feature off (`cargo test -p obs --no-default-features`), the
//! attributes leave each function as written: the same values, and no warning either.

#![deny(warnings)]

mod common;

#[cfg(all(feature = "metrics", feature = "trace"))]
use common::requests;
#[cfg(all(feature = "metrics", feature = "trace"))]
use common::spans::{install, of_trace, one};
#[cfg(all(feature = "metrics", feature = "trace"))]
use obs_runtime::trace::Span;
use obs_runtime::{trace_operation, track_request};

#[derive(Debug, PartialEq)]
struct ApiError;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("api error")
    }
}

#[rustfmt::skip]
mod one_line {
    use super::{ApiError, trace_operation, track_request};

    #[track_request("GET", "/one-line/literal")]
    pub async fn literal() -> u32 { 1 }

    #[track_request("GET", "/one-line/result")]
    pub async fn result() -> Result<u32, ApiError> { Ok(2) }

    #[track_request("GET", "/one-line/unit")]
    pub async fn unit() {}

    #[track_request("GET", "/one-line/sync")]
    pub fn sync() -> u32 { 3 }

    #[trace_operation("one_line_literal")]
    pub async fn traced_literal() -> u32 { 4 }

    #[trace_operation("one_line_result")]
    pub async fn traced_result() -> Result<u32, ApiError> { Ok(5) }

    #[track_request("GET", "/one-line/combined", trace = "one_line_combined")]
    pub async fn combined() -> Result<u32, ApiError> { Ok(6) }

    #[track_request("GET", "/one-line/request-outer")]
    #[trace_operation("one_line_request_outer")]
    pub async fn request_outer() -> u32 { 7 }

    #[trace_operation("one_line_trace_outer")]
    #[track_request("GET", "/one-line/trace-outer")]
    pub async fn trace_outer() -> Result<u32, ApiError> { Ok(8) }

    pub struct Service(pub u32);

    impl Service {
        #[track_request("GET", "/one-line/method")]
        pub async fn method(&self) -> u32 { self.0 }

        #[trace_operation("one_line_method")]
        pub async fn traced_method(&self) -> Result<u32, ApiError> { Ok(self.0) }
    }
}

/// Every function once, in order: what each returns.
async fn call_each() -> [u32; 10] {
    let service = one_line::Service(9);
    one_line::unit().await;
    [
        one_line::literal().await,
        one_line::result().await.unwrap_or(0),
        one_line::sync(),
        one_line::traced_literal().await,
        one_line::traced_result().await.unwrap_or(0),
        one_line::combined().await.unwrap_or(0),
        one_line::request_outer().await,
        one_line::trace_outer().await.unwrap_or(0),
        service.method().await,
        service.traced_method().await.unwrap_or(0),
    ]
}

// With the pillars on, the test below calls each function once and counts it: a second test
// calling them would change the counts.
#[cfg(not(all(feature = "metrics", feature = "trace")))]
#[tokio::test]
async fn one_expression_bodies_keep_their_values() {
    assert_eq!(call_each().await, [1, 2, 3, 4, 5, 6, 7, 8, 9, 9]);
}

#[cfg(all(feature = "metrics", feature = "trace"))]
#[tokio::test]
async fn one_expression_bodies_are_recorded_once() {
    install();
    let root = Span::new("one_line_root");
    let trace_id = root.context().expect("installed").trace_id();
    let values = root.scope_ref(call_each()).await;
    drop(root);
    assert_eq!(values, [1, 2, 3, 4, 5, 6, 7, 8, 9, 9]);
    for endpoint in ["literal", "result", "unit", "sync", "combined", "request-outer", "trace-outer", "method"] {
        assert_eq!(requests("GET", &format!("/one-line/{endpoint}"), "200"), 1.0, "{endpoint}");
    }
    let spans = of_trace(trace_id);
    for name in [
        "one_line_literal",
        "one_line_result",
        "one_line_combined",
        "one_line_request_outer",
        "one_line_trace_outer",
        "one_line_method",
    ] {
        one(&spans, name);
    }
}
