//! [`RequestOutcome`]'s rules, and the error text of a failed call, as autoref specialization:
//! the expansion calls `(&&&&&&Probe(&value)).__obs_status()` and method resolution takes the impl
//! with the most references whose bounds hold.
//!
//! One trait per question, with an impl per rule at its own depth of references: method
//! resolution then checks one candidate per step. (A trait per rule, all in scope, made it check
//! every trait at every step: with the closure, most of what 1,000 annotated fns cost to compile.)

use crate::__private::ErrorText;
use crate::metrics::RequestOutcome;

/// The value asked about.
#[allow(missing_debug_implementations)]
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// What the status probe gives for a value that is a future, in place of a status: a type error
/// naming the problem. A fn that returns a future of a type the macro does not recognise
/// (an alias, an associated type) would otherwise be timed while the future is built and
/// recorded from the future itself, not from its output.
#[allow(non_camel_case_types, missing_debug_implementations)]
pub struct track_request_cannot_see_this_future_make_the_fn_async_or_return_impl_Future;

/// The status of a call's value, by the first rule that applies: a future is refused; a
/// [`RequestOutcome`] gives its own; a `Result` takes its `Err`'s if that is one (else 500), its
/// `Ok`'s if that is one (else 200); anything else is 200.
pub trait Status {
    /// `u16`, or the refusal of a future.
    type Status;
    /// The status of the probed value.
    fn __obs_status(&self) -> Self::Status;
}

impl<T: std::future::Future + ?Sized> Status for &&&&&Probe<'_, T> {
    type Status = track_request_cannot_see_this_future_make_the_fn_async_or_return_impl_Future;
    #[inline]
    fn __obs_status(&self) -> Self::Status {
        track_request_cannot_see_this_future_make_the_fn_async_or_return_impl_Future
    }
}

impl<T: RequestOutcome + ?Sized> Status for &&&&Probe<'_, T> {
    type Status = u16;
    #[inline]
    fn __obs_status(&self) -> u16 {
        self.0.http_status()
    }
}

impl<T, E: RequestOutcome> Status for &&&Probe<'_, Result<T, E>> {
    type Status = u16;
    #[inline]
    fn __obs_status(&self) -> u16 {
        match self.0 {
            Ok(_) => 200,
            Err(error) => error.http_status(),
        }
    }
}

impl<T: RequestOutcome, E> Status for &&Probe<'_, Result<T, E>> {
    type Status = u16;
    #[inline]
    fn __obs_status(&self) -> u16 {
        match self.0 {
            Ok(value) => value.http_status(),
            Err(_) => 500,
        }
    }
}

impl<T, E> Status for &Probe<'_, Result<T, E>> {
    type Status = u16;
    #[inline]
    fn __obs_status(&self) -> u16 {
        match self.0 {
            Ok(_) => 200,
            Err(_) => 500,
        }
    }
}

impl<T: ?Sized> Status for Probe<'_, T> {
    type Status = u16;
    #[inline]
    fn __obs_status(&self) -> u16 {
        200
    }
}

/// The error of a call's value, for its log line and span: an `Err`'s `Display`, else its
/// `Debug`, else nothing.
pub trait Text<'a> {
    /// The error text of the probed value.
    fn __obs_error_text(&self) -> ErrorText<'a>;
}

impl<'a, T, E: std::fmt::Display> Text<'a> for &&Probe<'a, Result<T, E>> {
    #[inline]
    fn __obs_error_text(&self) -> ErrorText<'a> {
        match self.0 {
            Err(error) => ErrorText::Display(error),
            Ok(_) => ErrorText::Nothing,
        }
    }
}

impl<'a, T, E: std::fmt::Debug> Text<'a> for &Probe<'a, Result<T, E>> {
    #[inline]
    fn __obs_error_text(&self) -> ErrorText<'a> {
        match self.0 {
            Err(error) => ErrorText::Debug(error),
            Ok(_) => ErrorText::Nothing,
        }
    }
}

impl<'a, T: ?Sized> Text<'a> for Probe<'a, T> {
    #[inline]
    fn __obs_error_text(&self) -> ErrorText<'a> {
        ErrorText::Nothing
    }
}
