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

/// The error of `$result`, for the log line of a failed call: its `Display`, else its `Debug`,
/// else nothing.
#[cfg(feature = "metrics")]
#[doc(hidden)]
#[macro_export]
macro_rules! __obs_error_text_of {
    ($result:ident) => {{
        #[allow(unused_imports)]
        use $crate::__private::rules::{TextByDebug as _, TextByDisplay as _, TextByNothing as _};
        (&&&$crate::__private::rules::Probe(&$result)).__obs_error_text()
    }};
}

#[cfg(feature = "metrics")]
pub use crate::__obs_error_text_of as error_text_of;

/// What a failed call's log line says of its error.
#[cfg(feature = "metrics")]
#[allow(missing_debug_implementations)]
pub enum ErrorText<'a> {
    /// The error's `Display`.
    Display(&'a dyn std::fmt::Display),
    /// The error's `Debug`.
    Debug(&'a dyn std::fmt::Debug),
    /// Not an `Err`, or an error that shows nothing.
    Nothing,
}

/// Logs a failed call (status 500 or more) as one ERROR line, in the current trace context.
/// Without the `logging` feature, nothing.
#[cfg(feature = "metrics")]
#[cold]
#[inline(never)]
pub fn log_request_error(site: &RequestSite, status: u16, error: ErrorText<'_>) {
    #[cfg(feature = "logging")]
    {
        let (method, endpoint) = (site.method(), site.endpoint());
        match error {
            ErrorText::Display(error) => {
                tracing::error!(target: "obs::request", method, endpoint, status, error = %error, "request failed");
            }
            ErrorText::Debug(error) => {
                tracing::error!(target: "obs::request", method, endpoint, status, error = ?error, "request failed");
            }
            ErrorText::Nothing => tracing::error!(target: "obs::request", method, endpoint, status, "request failed"),
        }
    }
    #[cfg(not(feature = "logging"))]
    let _ = (site, status, error);
}

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
