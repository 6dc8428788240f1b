//! The only items expanded code may call. Not public API: it changes with every release, which is
//! why `obs-runtime` pins `obs-macros` to the exact same version.

#[cfg(feature = "metrics")]
pub use crate::metrics::request::{RequestGuard, RequestSite};
#[cfg(feature = "metrics")]
pub use crate::metrics::rules;

/// The status of `$result`, by the most specific rule of `RequestOutcome` that applies.
#[cfg(feature = "metrics")]
#[doc(hidden)]
#[macro_export]
macro_rules! __obs_status_of {
    ($result:ident) => {{
        #[allow(unused_imports)]
        use $crate::__private::rules::{
            ByDefault as _, ByErrOutcome as _, ByFuture as _, ByOkOutcome as _, ByOutcome as _, ByResult as _,
        };
        (&&&&&&$crate::__private::rules::Probe(&$result)).__obs_status()
    }};
}

#[cfg(feature = "metrics")]
pub use crate::__obs_status_of as status_of;

/// Calls `body` once. Taking it as `FnOnce` (rather than calling the closure in place) makes the
/// compiler infer an `FnOnce` closure, which may return borrows of what it captured: a body that
/// returns `&mut self.field` from a `&mut self` method compiles as it did unwrapped.
#[cfg(feature = "metrics")]
#[inline(always)]
pub fn call_once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// The check `#[health_check]` makes of a function: `run` is called for each run.
#[cfg(feature = "health")]
pub fn health_check<F, Fut, O>(
    name: &'static str,
    timeout_nanos: u64,
    critical: bool,
    run: F,
) -> crate::health::HealthCheck
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = O> + Send + 'static,
    O: crate::health::IntoCheckOutcome,
{
    crate::health::HealthCheck::new(name, run)
        .timeout(std::time::Duration::from_nanos(timeout_nanos))
        .critical(critical)
}
