// The expansions add no warning to the user's code, whatever the body's shape: a crate built
// with `-D warnings` compiles. One-line, unit and expression bodies, sync and async, free fns and
// methods, under each attribute, the combined form and both stackings (issue 14: a
// one-expression `async fn` got `unused_braces` on the user's own braces).
#![deny(warnings)]

use std::future::Future;
use std::pin::Pin;

use obs_runtime::{health_check, trace_operation, track_request};

#[derive(Debug)]
struct ApiError;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("api error")
    }
}

impl std::error::Error for ApiError {}

// The README's quick start, as a new user writes it.
#[track_request("GET", "/quick")]
async fn quick() -> Result<u32, ApiError> {
    Ok(1)
}

// `#[track_request]`.
#[track_request("GET", "/r/one-line")]
fn r_one_line() -> u32 { 1 }

#[track_request("GET", "/r/unit")]
fn r_unit() {}

#[track_request("GET", "/r/expr")]
fn r_expr() -> Result<u32, ApiError> {
    Ok(1)
}

#[track_request("GET", "/r/block-expr")]
fn r_block_expr(x: u64) -> Result<u64, ()> {
    if x == 1 { Err(()) } else { Ok(x + 1) }
}

// A sync body with no way out but its end runs in place, not in a closure: one that diverges
// makes what follows it unreachable, which must not warn either. And one that may leave early
// (`?`, `return`, a macro that may hide either) still runs in a closure.
#[track_request("GET", "/r/diverges")]
#[allow(clippy::empty_loop)]
fn r_diverges() -> u32 { loop {} }

#[track_request("GET", "/r/exits")]
fn r_exits(code: i32) -> u32 { std::process::exit(code) }

#[trace_operation]
#[allow(clippy::empty_loop)]
fn t_diverges() -> u32 { loop {} }

#[track_request("GET", "/c/diverges", trace)]
fn c_diverges(code: i32) { std::process::exit(code) }

#[trace_operation]
#[allow(clippy::empty_loop)]
fn t_diverges_unit() { loop {} }

#[trace_operation("t_diverges_ret", ret, err)]
fn t_diverges_ret(code: i32) -> Result<u32, ApiError> { std::process::exit(code) }

#[track_request("GET", "/r/explicit-unit")]
#[allow(clippy::unused_unit)]
fn r_explicit_unit() -> () {}

#[trace_operation]
#[allow(clippy::unused_unit)]
fn t_explicit_unit() -> () {}

// A fn returning a boxed future whose arms box different futures: the body's value coerces to
// the declared type.
#[track_request("GET", "/r/boxed-arms")]
fn r_boxed_arms(fast: bool) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    if fast { Box::pin(async { 1 }) } else { Box::pin(std::future::ready(2)) }
}

#[trace_operation]
fn t_boxed_arms(fast: bool) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    if fast { Box::pin(async { 1 }) } else { Box::pin(std::future::ready(2)) }
}

#[track_request("GET", "/r/early")]
fn r_early(x: u64) -> Result<u64, ApiError> {
    if x == 0 {
        return Err(ApiError);
    }
    let y = x.checked_add(1).ok_or(ApiError)?;
    Ok(y)
}

#[trace_operation]
fn t_in_place_macros(x: u64) -> String {
    assert!(x < 10, "small");
    format!("{x}")
}

// benches/compile-time.sh's fn, as it generates it (a lib of 1,000 of these, no lint allowed).
#[obs_runtime::track_request("GET", "/f1")]
pub fn f1(x: u64) -> Result<u64, ()> { if x == 1 { Err(()) } else { Ok(x + 1) } }

#[track_request("GET", "/r/async-one-line")]
async fn r_async_one_line() -> u32 { 1 }

#[track_request("GET", "/r/async-expr-one-line")]
async fn r_async_expr_one_line() -> Result<u32, ApiError> { Ok(1) }

#[track_request("GET", "/r/async-unit")]
async fn r_async_unit() {}

#[track_request("GET", "/r/async-expr")]
async fn r_async_expr() -> Result<u32, ApiError> {
    Ok(1)
}

#[track_request("GET", "/r/async-block-expr")]
async fn r_async_block_expr(x: u64) -> Result<u64, ()> {
    if x == 1 { Err(()) } else { Ok(x + 1) }
}

#[track_request("GET", "/r/future")]
fn r_future() -> impl Future<Output = u32> {
    async { 1 }
}

#[track_request("GET", "/r/boxed-future")]
fn r_boxed_future() -> Pin<Box<dyn Future<Output = Result<u32, ApiError>> + Send>> {
    Box::pin(async { Ok(1) })
}

// `#[trace_operation]`.
#[trace_operation]
fn t_one_line() -> u32 { 1 }

#[trace_operation("t_unit")]
fn t_unit() {}

#[trace_operation("t_expr", err)]
fn t_expr() -> Result<u32, ApiError> {
    Ok(1)
}

#[trace_operation]
async fn t_async_one_line() -> u32 { 1 }

#[trace_operation]
async fn t_async_unit() {}

#[trace_operation("t_async_expr_one_line")]
async fn t_async_expr_one_line() -> Result<u32, ApiError> { Ok(1) }

#[trace_operation("t_async_expr", err, ret)]
async fn t_async_expr() -> Result<u32, ApiError> {
    Ok(1)
}

#[trace_operation(args)]
async fn t_async_block_expr(x: u64) -> Result<u64, ()> {
    if x == 1 { Err(()) } else { Ok(x + 1) }
}

#[trace_operation]
fn t_future() -> impl Future<Output = u32> {
    async { 1 }
}

// The combined form.
#[track_request("GET", "/c/one-line", trace)]
fn c_one_line() -> u32 { 1 }

#[track_request("GET", "/c/unit", trace = "c_unit")]
fn c_unit() {}

#[track_request("GET", "/c/async-unit", trace)]
async fn c_async_unit() {}

#[track_request("GET", "/c/async-one-line", trace)]
async fn c_async_one_line() -> Result<u32, ApiError> { Ok(1) }

#[track_request("GET", "/c/async-expr", trace)]
async fn c_async_expr() -> Result<u32, ApiError> {
    Ok(1)
}

// Stacked, in both orders.
#[track_request("GET", "/s/outer-request")]
#[trace_operation]
fn s_request_outer() -> Result<u32, ApiError> {
    Ok(1)
}

#[trace_operation]
#[track_request("GET", "/s/outer-trace")]
fn s_trace_outer() {}

#[track_request("GET", "/s/outer-request-async")]
#[trace_operation]
async fn s_request_outer_async() -> Result<u32, ApiError> {
    Ok(1)
}

#[trace_operation]
#[track_request("GET", "/s/outer-trace-async")]
async fn s_trace_outer_async() {}

#[track_request("GET", "/s/outer-request-one-line")]
#[trace_operation]
async fn s_request_outer_one_line() -> u32 { 1 }

#[trace_operation]
#[track_request("GET", "/s/outer-trace-one-line")]
async fn s_trace_outer_one_line() -> Result<u32, ApiError> { Ok(1) }

// Methods.
struct Service {
    base: u32,
}

impl Service {
    #[track_request("GET", "/m/one-line")]
    fn r_one_line(&self) -> u32 { self.base }

    #[track_request("GET", "/m/unit")]
    fn r_unit(&self) {}

    // A borrow of what the method was given, handed out: in place, and in a closure.
    #[track_request("GET", "/m/field")]
    fn r_field(&mut self) -> &mut u32 { &mut self.base }

    #[track_request("GET", "/m/field-early")]
    fn r_field_early(&mut self, reset: bool) -> &mut u32 {
        if reset {
            self.base = 0;
            return &mut self.base;
        }
        &mut self.base
    }

    #[track_request("GET", "/m/async-expr")]
    async fn r_async_expr(&self) -> Result<u32, ApiError> {
        Ok(self.base)
    }

    #[track_request("GET", "/m/async-one-line")]
    async fn r_async_one_line(&self) -> u32 { self.base }

    #[track_request("GET", "/m/async-unit")]
    async fn r_async_unit(&self) {}

    #[trace_operation]
    fn t_one_line(&self) -> u32 { self.base }

    #[trace_operation]
    async fn t_async_expr(&self) -> Result<u32, ApiError> {
        Ok(self.base)
    }

    #[trace_operation]
    async fn t_async_unit(&self) {}

    #[trace_operation]
    async fn t_async_one_line(&self) -> Result<u32, ApiError> { Ok(self.base) }

    #[track_request("GET", "/m/combined", trace)]
    async fn c_async_expr(&self) -> Result<u32, ApiError> {
        Ok(self.base)
    }

    #[trace_operation]
    #[track_request("GET", "/m/stacked")]
    async fn s_async_expr(&self) -> Result<u32, ApiError> {
        Ok(self.base)
    }
}

// `#[health_check]`.
#[health_check]
async fn h_unit_result() -> Result<(), ApiError> {
    Ok(())
}

#[health_check(name = "h_one_line")]
async fn h_one_line() -> Result<(), ApiError> { Ok(()) }

#[health_check(name = "h_arg", timeout = "1s")]
async fn h_arg(port: u16) -> Result<(), ApiError> {
    if port == 0 { Err(ApiError) } else { Ok(()) }
}

/// Polls a future that never waits to completion, without a runtime.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => unreachable!("the future waited"),
    }
}

fn main() {
    assert_eq!(ready(quick()).ok(), Some(1));
    assert_eq!(r_one_line(), 1);
    r_unit();
    assert_eq!(r_expr().ok(), Some(1));
    assert_eq!(r_block_expr(2), Ok(3));
    assert_eq!(f1(1), Err(()));
    assert_eq!(r_early(1).ok(), Some(2));
    assert_eq!(ready(r_boxed_arms(false)), 2);
    assert_eq!(ready(t_boxed_arms(true)), 1);
    assert!(r_early(0).is_err());
    assert_eq!(t_in_place_macros(3), "3");
    // Never called: they never return.
    let _: [fn() -> u32; 2] = [r_diverges, t_diverges];
    let _: [fn(i32) -> u32; 1] = [r_exits];
    let _: fn(i32) = c_diverges;
    let _: fn() = t_diverges_unit;
    let _: fn(i32) -> Result<u32, ApiError> = t_diverges_ret;
    r_explicit_unit();
    t_explicit_unit();
    assert_eq!(ready(r_async_one_line()), 1);
    assert_eq!(ready(r_async_expr_one_line()).ok(), Some(1));
    ready(r_async_unit());
    assert_eq!(ready(r_async_expr()).ok(), Some(1));
    assert_eq!(ready(r_async_block_expr(1)), Err(()));
    assert_eq!(ready(r_future()), 1);
    assert_eq!(ready(r_boxed_future()).ok(), Some(1));
    assert_eq!(t_one_line(), 1);
    t_unit();
    assert_eq!(t_expr().ok(), Some(1));
    assert_eq!(ready(t_async_one_line()), 1);
    ready(t_async_unit());
    assert_eq!(ready(t_async_expr_one_line()).ok(), Some(1));
    assert_eq!(ready(t_async_expr()).ok(), Some(1));
    assert_eq!(ready(t_async_block_expr(2)), Ok(3));
    assert_eq!(ready(t_future()), 1);
    assert_eq!(c_one_line(), 1);
    c_unit();
    ready(c_async_unit());
    assert_eq!(ready(c_async_one_line()).ok(), Some(1));
    assert_eq!(ready(c_async_expr()).ok(), Some(1));
    assert_eq!(s_request_outer().ok(), Some(1));
    s_trace_outer();
    assert_eq!(ready(s_request_outer_async()).ok(), Some(1));
    ready(s_trace_outer_async());
    assert_eq!(ready(s_request_outer_one_line()), 1);
    assert_eq!(ready(s_trace_outer_one_line()).ok(), Some(1));
    let mut service = Service { base: 7 };
    assert_eq!(service.r_one_line(), 7);
    service.r_unit();
    *service.r_field() += 1;
    *service.r_field_early(false) -= 1;
    assert_eq!(ready(service.r_async_expr()).ok(), Some(7));
    assert_eq!(ready(service.r_async_one_line()), 7);
    ready(service.r_async_unit());
    assert_eq!(service.t_one_line(), 7);
    assert_eq!(ready(service.t_async_expr()).ok(), Some(7));
    ready(service.t_async_unit());
    assert_eq!(ready(service.t_async_one_line()).ok(), Some(7));
    assert_eq!(ready(service.c_async_expr()).ok(), Some(7));
    assert_eq!(ready(service.s_async_expr()).ok(), Some(7));
    let _checks = (h_unit_result(), h_one_line(), h_arg(80));
}
