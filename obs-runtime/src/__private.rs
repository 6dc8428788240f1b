//! The only items expanded code may call. Not public API: it changes with every release, which is
//! why `obs-runtime` pins `obs-runtime-macros` to the exact same version. One item never changes:
//! [`expect_macros`], its path, name and signature, which every expansion calls first to check
//! that the two crates are of one version.

#[cfg(any(feature = "metrics", feature = "trace"))]
pub mod rules;
#[cfg(feature = "metrics")]
pub use crate::metrics::request::{RequestGuard, RequestSite};

/// What each `#[track_request]` expansion calls, on its site (a method call on the `static` is
/// fewer tokens than a path: the expansion is in each of the user's functions, and its size is
/// what a debug rebuild of many of them costs). Prefixed names: a method of a trait the user has
/// in scope, taking `self` for every type, would be found before an inherent `&self` method of
/// the same name.
#[cfg(feature = "metrics")]
impl RequestSite {
    /// Starts timing a call. In a debug build a plain call, so that the guard's always-inlined
    /// body (the clock read, the per-thread shard) is compiled once, not into each of the user's
    /// functions (the debug rebuild of 1,000 of them is what users wait for); in a release build
    /// inlined exactly as before, so the hot path does not change.
    #[cfg_attr(debug_assertions, inline(never))]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn __obs_start(&'static self) -> RequestGuard {
        RequestGuard::start(self)
    }

    /// Records the call as finished with `status`, and logs it as failed (status 500 or more) if
    /// the site or the logging configuration asks for that; inlined as
    /// [`RequestSite::__obs_start`] is. The decision to log is made here rather than in each
    /// expansion: one branch fewer to compile into each of the user's functions.
    #[cfg_attr(debug_assertions, inline(never))]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn __obs_finish(&self, guard: RequestGuard, status: u16, error: ErrorText<'_>) {
        guard.finish(status);
        if status >= 500 && self.logs_errors() {
            log_request_error(self, status, error);
        }
    }

    /// The server span of `#[track_request(.., trace)]`: `http.request.method` and `http.route`
    /// from the site's literals.
    #[cfg(feature = "trace")]
    #[inline]
    pub fn __obs_start_span(&self, name: &'static str) -> Span {
        let span = Span::builder(name).kind(SpanKind::Server).start();
        if span.is_recording() {
            span.set_attribute("http.request.method", self.method());
            span.set_attribute("http.route", self.endpoint());
        }
        span
    }

    /// Finishes a `#[track_request(.., trace)]` call: its metrics in its server span (so that
    /// their exemplar and its error line are the request's), then the span.
    #[cfg(feature = "trace")]
    #[inline]
    pub fn __obs_finish_traced(&self, guard: RequestGuard, span: &Span, status: u16, error: ErrorText<'_>) {
        span.in_scope(|| self.__obs_finish(guard, status, error));
        finish_request_span(span, status, error);
    }
}

/// What a failed call's log line says of its error.
#[cfg(any(feature = "metrics", feature = "trace"))]
#[allow(missing_debug_implementations)]
#[derive(Clone, Copy)]
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
fn log_request_error(site: &RequestSite, status: u16, error: ErrorText<'_>) {
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
#[cfg(any(feature = "metrics", feature = "trace"))]
#[inline(always)]
pub fn call_once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

#[cfg(feature = "health")]
pub use crate::health::HealthCheck;

/// The check `#[health_check]` makes of a function: `run` is called for each run. Without a
/// `timeout = ".."`, the macro passes `None` and the check keeps [`HealthCheck`]'s default, so
/// the default is written in one place.
#[cfg(feature = "health")]
pub fn health_check<F, Fut, O>(name: &'static str, timeout_nanos: Option<u64>, critical: bool, run: F) -> HealthCheck
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = O> + Send + 'static,
    O: crate::health::IntoCheckOutcome,
{
    let check = HealthCheck::new(name, run).critical(critical);
    match timeout_nanos {
        Some(nanos) => check.timeout(std::time::Duration::from_nanos(nanos)),
        None => check,
    }
}

#[cfg(feature = "trace")]
pub use crate::secret::{REDACTED, is_secret_name};
#[cfg(feature = "trace")]
pub use crate::trace::{Span, SpanKind};

/// The span of a `#[trace_operation]` call: a static name, no allocation for it.
#[cfg(feature = "trace")]
#[inline]
pub fn start_operation(name: &'static str, kind: SpanKind) -> Span {
    Span::of_site(name, kind, true)
}

#[cfg(any(feature = "metrics", feature = "trace"))]
impl std::fmt::Display for ErrorText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorText::Display(error) => error.fmt(f),
            ErrorText::Debug(error) => error.fmt(f),
            ErrorText::Nothing => f.write_str("error"),
        }
    }
}

/// Ends a `#[trace_operation]` call: an `Err` or a status of 500 or more is an error (with its
/// text); with `log_error`, it is also logged as one ERROR line inside the span.
#[cfg(feature = "trace")]
#[inline]
pub fn finish_operation(span: Span, name: &'static str, status: u16, error: ErrorText<'_>, log_error: bool) {
    if !span.is_recording() {
        return;
    }
    let failed = status >= 500 || !matches!(error, ErrorText::Nothing);
    if failed {
        operation_failed(&span, name, status, error, log_error);
    } else {
        span.end_ok();
    }
}

#[cfg(feature = "trace")]
#[cold]
#[inline(never)]
fn operation_failed(span: &Span, name: &'static str, status: u16, error: ErrorText<'_>, log_error: bool) {
    match error {
        ErrorText::Nothing => span.record_error(&format_args!("status {status}")),
        ref text => span.record_error(text),
    }
    #[cfg(feature = "logging")]
    if log_error {
        let _in_span = span.enter();
        tracing::error!(target: "obs::trace", operation = name, error = %error, "operation failed");
    }
    #[cfg(not(feature = "logging"))]
    let _ = (name, log_error);
}

/// An attribute value of `$value`, by reference: its own type when it has one, else `Debug`.
#[cfg(feature = "trace")]
#[doc(hidden)]
#[macro_export]
macro_rules! __obs_attribute_value {
    ($value:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::{ValueByDebug as _, ValueByType as _};
        (&$crate::__private::ValueProbe(&$value)).__obs_value()
    }};
}

#[cfg(feature = "trace")]
pub use crate::__obs_attribute_value as attribute_value;

/// Sets one attribute of `span_attributes!`: a secret's name gets `[REDACTED]`, decided at compile
/// time; any other value its own type, else its `Debug`.
#[cfg(feature = "trace")]
#[doc(hidden)]
#[macro_export]
macro_rules! __obs_set_attribute {
    ($span:ident, $key:ident, $value:expr) => {
        $crate::__private::set_attribute!($span, ::core::stringify!($key), $value)
    };
    ($span:ident, $key:expr, $value:expr) => {{
        const __OBS_KEY: &str = $key;
        if const { $crate::__private::is_secret_name(__OBS_KEY) } {
            $crate::__private::Span::set_attribute(&$span, __OBS_KEY, $crate::__private::REDACTED);
        } else {
            $crate::__private::Span::set_attribute(&$span, __OBS_KEY, $crate::__private::attribute_value!($value));
        }
    }};
}

#[cfg(feature = "trace")]
pub use crate::__obs_set_attribute as set_attribute;

/// See `attribute_value!`.
#[cfg(feature = "trace")]
#[allow(missing_debug_implementations)]
pub struct ValueProbe<'a, T: ?Sized>(pub &'a T);

#[cfg(feature = "trace")]
pub trait ValueByType {
    fn __obs_value(&self) -> crate::trace::Value;
}

#[cfg(feature = "trace")]
impl<T: crate::trace::ToValue + ?Sized> ValueByType for ValueProbe<'_, T> {
    #[inline]
    fn __obs_value(&self) -> crate::trace::Value {
        self.0.to_value()
    }
}

#[cfg(feature = "trace")]
pub trait ValueByDebug {
    fn __obs_value(&self) -> crate::trace::Value;
}

#[cfg(feature = "trace")]
impl<T: std::fmt::Debug + ?Sized> ValueByDebug for &ValueProbe<'_, T> {
    fn __obs_value(&self) -> crate::trace::Value {
        crate::trace::Value::Str(format!("{:?}", self.0).into())
    }
}

/// Ends the span of `#[track_request(.., trace)]` with the call's status: 500 or more is an
/// error, with the error's text.
#[cfg(all(feature = "metrics", feature = "trace"))]
#[inline]
fn finish_request_span(span: &Span, status: u16, error: ErrorText<'_>) {
    if !span.is_recording() {
        return;
    }
    span.record_response(status);
    if status >= 500 && !matches!(error, ErrorText::Nothing) {
        span.record_error(&error);
    }
}

/// This crate's own expansions pass the check (and it stays a `const fn` of one `&str`).
const _: () = expect_macros(env!("CARGO_PKG_VERSION"));

/// Checks, at compile time, that the expansion was written by the `obs-runtime-macros` of this
/// release. Frozen: its path, name and signature must never change, or a mismatched pair would
/// fail on its absence instead.
/// Every expansion starts with `const _: () = expect_macros("<obs-runtime-macros' version>");`; a pair
/// of different versions (a service that depends on another `obs-runtime-macros` directly) fails to
/// compile there, with a message naming both versions.
pub const fn expect_macros(macros: &str) {
    const RUNTIME: &str = env!("CARGO_PKG_VERSION");
    if !same(macros.as_bytes(), RUNTIME.as_bytes()) {
        let mut message = Message { bytes: [0; 512], len: 0 };
        message.push("obs-runtime-macros ");
        message.push(macros);
        message.push(" wrote this expansion, but the obs-runtime it calls is ");
        message.push(RUNTIME);
        message.push(
            ": the two crates are released together and must be the same version. Depend on \
             obs-runtime alone and take the attributes from it (`use obs_runtime::track_request;`), \
             or give obs-runtime-macros the same version as obs-runtime",
        );
        panic!("{}", message.as_str());
    }
}

/// `a == b`, in a `const fn`.
const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A message assembled at compile time (`const fn` has no `format!`).
struct Message {
    bytes: [u8; 512],
    len: usize,
}

impl Message {
    /// Appends `text`, truncated at the buffer's end (on a character boundary: `as_str` checks).
    const fn push(&mut self, text: &str) {
        let text = text.as_bytes();
        let mut i = 0;
        while i < text.len() && self.len < self.bytes.len() {
            self.bytes[self.len] = text[i];
            self.len += 1;
            i += 1;
        }
    }

    const fn as_str(&self) -> &str {
        let (written, _) = self.bytes.split_at(self.len);
        match core::str::from_utf8(written) {
            Ok(text) => text,
            Err(_) => "obs-runtime-macros and obs-runtime are of different versions and must be the same",
        }
    }
}
