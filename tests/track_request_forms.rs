//! `#[track_request]` on every kind of function a service has: the signature and the body keep
//! their meaning, and each call is recorded once.

#![deny(warnings)]

mod common;

#[cfg(feature = "metrics")]
use common::{duration_count, requests};
use obs_runtime::track_request;

#[derive(Debug, PartialEq)]
struct ApiError(&'static str);

#[track_request("GET", "/forms/free")]
fn free_fn(x: u32) -> Result<u32, ApiError> {
    Ok(x + 1)
}

#[track_request("GET", "/forms/question-mark")]
fn uses_question_mark(input: &str) -> Result<u32, std::num::ParseIntError> {
    let parsed: u32 = input.parse()?;
    Ok(parsed * 2)
}

#[track_request("GET", "/forms/early-return")]
fn early_return(x: i32) -> Result<i32, ApiError> {
    if x < 0 {
        return Err(ApiError("negative"));
    }
    Ok(x)
}

/// Doc comments and other attributes stay on the function.
#[must_use]
#[inline]
#[track_request("GET", "/forms/attributes")]
fn with_attributes() -> u8 {
    7
}

#[track_request("GET", "/forms/generic")]
fn generic<T, U: Into<T>>(value: U) -> Vec<T>
where
    T: Clone + std::fmt::Debug,
{
    vec![value.into()]
}

#[track_request("GET", "/forms/lifetimes")]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

#[track_request("GET", "/forms/impl-trait")]
fn impl_trait(items: impl IntoIterator<Item = u32>) -> impl Iterator<Item = u32> {
    items.into_iter().map(|x| x * 10)
}

#[track_request("GET", "/forms/unsafe")]
unsafe fn read_raw(ptr: *const u32) -> u32 {
    // SAFETY: callers pass a valid pointer.
    unsafe { *ptr }
}

#[track_request("GET", "/forms/mut-args")]
fn mut_args(mut total: u32, items: &[u32]) -> u32 {
    for item in items {
        total += item;
    }
    total
}

struct Store {
    items: Vec<String>,
}

impl Store {
    #[track_request("GET", "/forms/assoc")]
    fn new() -> Self {
        Store { items: Vec::new() }
    }

    #[track_request("GET", "/forms/ref-self")]
    fn first(&self) -> Option<&String> {
        self.items.first()
    }

    #[track_request(method = "POST", endpoint = "/forms/mut-self")]
    fn push(&mut self, item: &str) -> usize {
        self.items.push(item.to_owned());
        self.items.len()
    }

    #[track_request("DELETE", "/forms/self")]
    fn into_items(self) -> Vec<String> {
        self.items
    }

    #[track_request("GET", "/forms/async-method")]
    async fn count(&self) -> Result<usize, ApiError> {
        std::future::ready(()).await;
        Ok(self.items.len())
    }
}

trait Repository {
    fn find(&self, id: u32) -> Result<String, ApiError>;
    fn describe(&self) -> String {
        "repo".to_owned()
    }
}

impl Repository for Store {
    #[track_request("GET", "/forms/trait-impl")]
    fn find(&self, id: u32) -> Result<String, ApiError> {
        self.items.get(id as usize).cloned().ok_or(ApiError("missing"))
    }
}

#[track_request("GET", "/forms/async")]
async fn async_fn(fail: bool) -> Result<&'static str, ApiError> {
    tokio::task::yield_now().await;
    if fail {
        return Err(ApiError("failed"));
    }
    Ok("done")
}

#[track_request("GET", "/forms/async-question-mark")]
async fn async_question_mark(input: String) -> Result<u64, std::num::ParseIntError> {
    let value: u64 = input.parse()?;
    tokio::task::yield_now().await;
    Ok(value)
}

#[test]
fn free_fn_keeps_its_result_and_counts_once() {
    assert_eq!(free_fn(1), Ok(2));
    common::assert_recorded!(requests("GET", "/forms/free", "200"), 1.0);
    common::assert_recorded!(duration_count("GET", "/forms/free"), 1.0);
}

#[test]
fn question_mark_returns_early_with_the_error() {
    assert_eq!(uses_question_mark("21"), Ok(42));
    assert!(uses_question_mark("x").is_err());
    common::assert_recorded!(requests("GET", "/forms/question-mark", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/forms/question-mark", "500"), 1.0);
}

#[test]
fn early_return_is_recorded_as_its_value() {
    assert_eq!(early_return(-1), Err(ApiError("negative")));
    assert_eq!(early_return(3), Ok(3));
    common::assert_recorded!(requests("GET", "/forms/early-return", "500"), 1.0);
    common::assert_recorded!(requests("GET", "/forms/early-return", "200"), 1.0);
}

#[test]
fn attributes_generics_lifetimes_and_impl_trait_compile_and_run() {
    assert_eq!(with_attributes(), 7);
    assert_eq!(generic::<u64, u32>(5), vec![5u64]);
    assert_eq!(longest("abc", "de"), "abc");
    assert_eq!(impl_trait([1, 2]).collect::<Vec<_>>(), vec![10, 20]);
    let value = 9u32;
    // SAFETY: a valid pointer to a local.
    assert_eq!(unsafe { read_raw(&value) }, 9);
    assert_eq!(mut_args(1, &[2, 3]), 6);
    #[cfg(feature = "metrics")]
    for endpoint in [
        "/forms/attributes",
        "/forms/generic",
        "/forms/lifetimes",
        "/forms/impl-trait",
        "/forms/unsafe",
        "/forms/mut-args",
    ] {
        common::assert_recorded!(requests("GET", endpoint, "200"), 1.0, "{endpoint}");
    }
}

#[test]
fn methods_with_every_receiver() {
    let mut store = Store::new();
    assert_eq!(store.first(), None);
    assert_eq!(store.push("ada"), 1);
    assert_eq!(store.find(0), Ok("ada".to_owned()));
    assert_eq!(store.find(5), Err(ApiError("missing")));
    assert_eq!(store.describe(), "repo");
    assert_eq!(store.into_items(), vec!["ada".to_owned()]);
    common::assert_recorded!(requests("GET", "/forms/assoc", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/forms/ref-self", "200"), 1.0);
    common::assert_recorded!(requests("POST", "/forms/mut-self", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/forms/trait-impl", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/forms/trait-impl", "500"), 1.0);
    common::assert_recorded!(requests("DELETE", "/forms/self", "200"), 1.0);
}

#[tokio::test]
async fn async_fns_record_when_the_future_completes() {
    assert_eq!(async_fn(false).await, Ok("done"));
    assert_eq!(async_fn(true).await, Err(ApiError("failed")));
    assert_eq!(async_question_mark("12".into()).await, Ok(12));
    assert!(async_question_mark("x".into()).await.is_err());
    let store = Store { items: vec!["a".into()] };
    assert_eq!(store.count().await, Ok(1));
    common::assert_recorded!(requests("GET", "/forms/async", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/forms/async", "500"), 1.0);
    common::assert_recorded!(requests("GET", "/forms/async-question-mark", "200"), 1.0);
    common::assert_recorded!(requests("GET", "/forms/async-question-mark", "500"), 1.0);
    common::assert_recorded!(requests("GET", "/forms/async-method", "200"), 1.0);
}

#[tokio::test]
async fn an_async_call_is_not_recorded_until_it_is_polled() {
    let future = async_fn_never_polled();
    common::assert_recorded!(duration_count("GET", "/forms/not-polled"), 0.0);
    drop(future);
    // A future dropped before its first poll never started: nothing to record.
    common::assert_recorded!(duration_count("GET", "/forms/not-polled"), 0.0);
}

#[track_request("GET", "/forms/not-polled")]
async fn async_fn_never_polled() {}
