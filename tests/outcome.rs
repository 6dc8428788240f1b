//! The `status` label: what each kind of return value records, panics, and cancelled futures.

mod common;

use common::{duration_count, requests};
use obs_runtime::metrics::RequestOutcome;
use obs_runtime::track_request;

#[derive(Debug)]
enum ApiError {
    NotFound,
    Unauthorized,
}

impl RequestOutcome for ApiError {
    fn http_status(&self) -> u16 {
        match self {
            ApiError::NotFound => 404,
            ApiError::Unauthorized => 401,
        }
    }
}

#[derive(Debug)]
struct PlainError;

struct Created;

impl RequestOutcome for Created {
    fn http_status(&self) -> u16 {
        201
    }
}

#[track_request("GET", "/outcome/result")]
fn plain_result(ok: bool) -> Result<u32, PlainError> {
    if ok { Ok(1) } else { Err(PlainError) }
}

#[track_request("GET", "/outcome/unit")]
fn unit() {}

#[track_request("GET", "/outcome/explicit-unit")]
#[allow(clippy::unused_unit)]
fn explicit_unit() -> () {}

// `Ok(())` with an `Err` that is an outcome: 200, or the error's own code.
#[track_request("DELETE", "/outcome/unit-or-outcome")]
fn unit_or_outcome(ok: bool) -> Result<(), ApiError> {
    if ok { Ok(()) } else { Err(ApiError::NotFound) }
}

#[track_request("GET", "/outcome/value")]
fn plain_value() -> Vec<String> {
    Vec::new()
}

#[track_request("GET", "/outcome/status-code")]
fn status_code(code: u16) -> http::StatusCode {
    http::StatusCode::from_u16(code).expect("valid code")
}

#[track_request("GET", "/outcome/response")]
fn response() -> http::Response<String> {
    http::Response::builder().status(302).body(String::new()).expect("valid response")
}

#[track_request("GET", "/outcome/tuple")]
fn tuple() -> (http::StatusCode, &'static str) {
    (http::StatusCode::ACCEPTED, "queued")
}

#[track_request("GET", "/outcome/err-outcome")]
fn err_outcome(which: u8) -> Result<String, ApiError> {
    match which {
        0 => Ok("ok".into()),
        1 => Err(ApiError::NotFound),
        _ => Err(ApiError::Unauthorized),
    }
}

#[track_request("POST", "/outcome/ok-outcome")]
fn ok_outcome(ok: bool) -> Result<Created, PlainError> {
    if ok { Ok(Created) } else { Err(PlainError) }
}

#[track_request("POST", "/outcome/both")]
fn both(ok: bool) -> Result<Created, ApiError> {
    if ok { Ok(Created) } else { Err(ApiError::NotFound) }
}

// `()` says nothing of a failure: its `Err` is a failed call like any other.
#[track_request("GET", "/outcome/unit-error")]
fn unit_error(ok: bool) -> Result<u32, ()> {
    if ok { Ok(1) } else { Err(()) }
}

#[track_request("GET", "/outcome/unit-both")]
fn unit_both(ok: bool) -> Result<(), ()> {
    if ok { Ok(()) } else { Err(()) }
}

#[track_request("GET", "/outcome/status-or-unit")]
fn status_or_unit(ok: bool) -> Result<http::StatusCode, ()> {
    if ok { Ok(http::StatusCode::CREATED) } else { Err(()) }
}

#[track_request("GET", "/outcome/io-result")]
fn io_result() -> std::io::Result<()> {
    Err(std::io::Error::other("disk"))
}

#[track_request("GET", "/outcome/invalid-code")]
fn invalid_code() -> Custom {
    Custom(42)
}

struct Custom(u16);

impl RequestOutcome for Custom {
    fn http_status(&self) -> u16 {
        self.0
    }
}

#[track_request("GET", "/outcome/panic")]
fn panics(message: &str) -> Result<(), PlainError> {
    panic!("{message}");
}

fn explode(message: &str) -> Result<(), PlainError> {
    panic!("{message}");
}

// No `return`, `?` or macro: the body runs in place, without the closure; the guard still sees the
// panic.
#[track_request("GET", "/outcome/panic-in-place")]
fn panics_in_place(message: &str) -> Result<(), PlainError> {
    explode(message)
}

// A local macro by the name of a logging one, which returns: the body is not run in place.
macro_rules! error {
    ($error:expr) => {
        return Err($error)
    };
}

#[track_request("GET", "/outcome/local-macro")]
fn returns_through_a_local_macro(fail: bool) -> Result<u32, PlainError> {
    if fail {
        error!(PlainError);
    }
    Ok(1)
}

#[track_request("GET", "/outcome/cancelled")]
async fn never_finishes() -> Result<(), PlainError> {
    std::future::pending::<()>().await;
    Ok(())
}

#[test]
fn result_without_outcome_impls_is_200_or_500() {
    plain_result(true).ok();
    plain_result(false).ok();
    plain_result(false).ok();
    assert_eq!(requests("GET", "/outcome/result", "200"), 1.0);
    assert_eq!(requests("GET", "/outcome/result", "500"), 2.0);
    io_result().ok();
    assert_eq!(requests("GET", "/outcome/io-result", "500"), 1.0);
}

#[test]
fn an_err_of_unit_is_500() {
    for ok in [true, false, false] {
        unit_error(ok).ok();
        unit_both(ok).ok();
        status_or_unit(ok).ok();
    }
    assert_eq!(requests("GET", "/outcome/unit-error", "200"), 1.0);
    assert_eq!(requests("GET", "/outcome/unit-error", "500"), 2.0);
    assert_eq!(requests("GET", "/outcome/unit-both", "200"), 1.0);
    assert_eq!(requests("GET", "/outcome/unit-both", "500"), 2.0);
    assert_eq!(requests("GET", "/outcome/status-or-unit", "201"), 1.0);
    assert_eq!(requests("GET", "/outcome/status-or-unit", "500"), 2.0);
    for ok in [true, false] {
        unit_or_outcome(ok).ok();
    }
    assert_eq!(requests("DELETE", "/outcome/unit-or-outcome", "200"), 1.0);
    assert_eq!(requests("DELETE", "/outcome/unit-or-outcome", "404"), 1.0);
}

#[test]
fn unit_and_plain_values_are_200() {
    unit();
    explicit_unit();
    let _ = plain_value();
    assert_eq!(requests("GET", "/outcome/unit", "200"), 1.0);
    assert_eq!(requests("GET", "/outcome/explicit-unit", "200"), 1.0);
    assert_eq!(requests("GET", "/outcome/value", "200"), 1.0);
}

#[test]
fn http_types_give_their_own_code() {
    let _ = status_code(204);
    let _ = status_code(503);
    let _ = response();
    let _ = tuple();
    assert_eq!(requests("GET", "/outcome/status-code", "204"), 1.0);
    assert_eq!(requests("GET", "/outcome/status-code", "503"), 1.0);
    assert_eq!(requests("GET", "/outcome/response", "302"), 1.0);
    assert_eq!(requests("GET", "/outcome/tuple", "202"), 1.0);
}

#[test]
fn user_impls_on_either_side_of_a_result_are_used() {
    for which in [0, 1, 1, 2] {
        err_outcome(which).ok();
    }
    assert_eq!(requests("GET", "/outcome/err-outcome", "200"), 1.0);
    assert_eq!(requests("GET", "/outcome/err-outcome", "404"), 2.0);
    assert_eq!(requests("GET", "/outcome/err-outcome", "401"), 1.0);
    ok_outcome(true).ok();
    ok_outcome(false).ok();
    assert_eq!(requests("POST", "/outcome/ok-outcome", "201"), 1.0);
    assert_eq!(requests("POST", "/outcome/ok-outcome", "500"), 1.0);
    both(true).ok();
    both(false).ok();
    assert_eq!(requests("POST", "/outcome/both", "201"), 1.0);
    assert_eq!(requests("POST", "/outcome/both", "404"), 1.0);
}

#[test]
fn a_code_that_is_no_http_status_counts_as_500() {
    let _ = invalid_code();
    assert_eq!(requests("GET", "/outcome/invalid-code", "500"), 1.0);
    assert_eq!(requests("GET", "/outcome/invalid-code", "42"), 0.0);
}

#[test]
fn panic_counts_as_error_and_keeps_unwinding() {
    let caught = std::panic::catch_unwind(|| panics("boom"));
    let payload = caught.expect_err("the panic reaches the caller");
    assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("boom"));
    assert_eq!(requests("GET", "/outcome/panic", "500"), 1.0);
    assert_eq!(duration_count("GET", "/outcome/panic"), 1.0);

    let caught = std::panic::catch_unwind(|| panics_in_place("in place"));
    let payload = caught.expect_err("the panic reaches the caller");
    assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("in place"));
    assert_eq!(requests("GET", "/outcome/panic-in-place", "500"), 1.0);
    assert_eq!(requests("GET", "/outcome/panic-in-place", "200"), 0.0);
    assert_eq!(duration_count("GET", "/outcome/panic-in-place"), 1.0);
}

#[test]
fn a_return_hidden_in_a_local_macro_is_recorded_with_its_value() {
    assert!(returns_through_a_local_macro(true).is_err());
    assert_eq!(requests("GET", "/outcome/local-macro", "500"), 1.0);
    assert_eq!(requests("GET", "/outcome/local-macro", "499"), 0.0);
}

#[tokio::test]
async fn a_future_dropped_before_completion_is_recorded_as_499() {
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(20), never_finishes()).await;
    assert!(timed_out.is_err());
    assert_eq!(requests("GET", "/outcome/cancelled", "499"), 1.0);
    assert_eq!(duration_count("GET", "/outcome/cancelled"), 1.0);
}

#[test]
fn generic_return_types_use_the_bound_they_are_given() {
    #[track_request("GET", "/outcome/generic-bound")]
    fn bounded<T: RequestOutcome>(value: T) -> T {
        value
    }
    #[track_request("GET", "/outcome/generic-free")]
    fn unbounded<T>(value: T) -> T {
        value
    }
    let _ = bounded(http::StatusCode::NOT_FOUND);
    let _ = unbounded(http::StatusCode::NOT_FOUND);
    assert_eq!(requests("GET", "/outcome/generic-bound", "404"), 1.0);
    // Without the bound the concrete type is unknown where the rule is chosen: rule 5.
    assert_eq!(requests("GET", "/outcome/generic-free", "200"), 1.0);
}
